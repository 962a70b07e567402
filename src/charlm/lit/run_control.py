"""Stopping and resuming cleanly: signals finish the batch and write last.ckpt; resumed runs
keep their best checkpoint."""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

from charlm.errors import CharlmError


def model_checkpoint(trainer: L.Trainer) -> ModelCheckpoint | None:
    """The run's first `ModelCheckpoint` (the best checkpoint's), or None without one."""
    return next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)


class GracefulStop(Checkpoint):
    """Ctrl-C (SIGINT) or SIGTERM: finish the current batch, write last.ckpt, then stop.

    Stopping between batches keeps the checkpoint consistent (weights, optimiser, schedule,
    step and batch stream), so resuming with `ckpt_path=.../last.ckpt` ends exactly where an
    uninterrupted run would. When a validation is due after the batch, the stop waits for it
    and for the model checkpoints it updates: a checkpoint written before it would be resumed
    as if it had run, and its result would be missing from the record of the best. A second
    Ctrl-C stops at once, without a checkpoint.

    A `Checkpoint` callback, because it writes one: Lightning calls those after all others, in
    list order, and this one must come after the model checkpoints.

    In a run of several processes a signal may reach one of them only (`kill` of one rank,
    a scheduler's preemption of one node): the stop is agreed after each batch by every rank
    (`Strategy.reduce_boolean_decision`), so all of them stop after the same update and write
    the checkpoint together, instead of one waiting in the checkpoint while the others wait
    in the next update.
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self._stopping = False
        self._after_validation = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signum
        print(f"\nsignal {signal.Signals(signum).name}: stopping after this batch", flush=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        after = trainer.callbacks[trainer.callbacks.index(self) + 1 :]
        if any(isinstance(c, ModelCheckpoint) for c in after):
            raise CharlmError(
                "callbacks: graceful_stop must come after the model checkpoint callbacks "
                "(it saves last.ckpt after they have saved theirs); list it after them"
            )
        if threading.current_thread() is not threading.main_thread():
            return
        self.requested = None
        self._stopping = self._after_validation = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handler)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _stop(self, trainer: L.Trainer) -> None:
        checkpoint = model_checkpoint(trainer)
        dirpath = checkpoint.dirpath if checkpoint else None
        dirpath = Path(dirpath) if dirpath else Path(trainer.default_root_dir) / "checkpoints"
        path = dirpath / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # all of it: the run resumes from it
        print(
            f"interrupted at step {trainer.global_step}: saved {path}; "
            f"resume with ckpt_path={path}",
            flush=True,
        )
        self._restore()
        raise KeyboardInterrupt

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any
    ) -> None:
        stop = self.requested is not None
        if trainer.world_size > 1:
            # Any rank's signal stops them all, after this same batch.
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        self._stopping = True
        validates = trainer.limit_val_batches != 0 and pl_module.schedule is not None
        if validates and pl_module.schedule.validation_due(trainer.global_step):
            self._after_validation = True
            return
        self._stop(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._stopping and self._after_validation:
            self._stop(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore()


class ResumableCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` that keeps its record of the best checkpoints across a resume.

    A resumed run writes into a directory of its own. Lightning's `ModelCheckpoint` then
    forgets the best score it had, and the first validation after resuming counts as the best
    whatever its loss. Here the best checkpoints of the interrupted run are copied into the
    new directory (the originals are left as they are) and the record continues with the
    copies, so the resumed run keeps and reports the same best checkpoint as an uninterrupted
    one would.
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, *args)
        # A run without a validation split (data.split=[0.9,0,0.1]) never validates: the
        # checkpoint written after each validation is written where one would fall instead,
        # and where the run stops between those points (its time budget spent, Ctrl-C: the
        # callbacks that stop it run before checkpoints), as a validating run's last
        # validation does.
        schedule = getattr(pl_module, "schedule", None)
        if (
            self.monitor is None
            and trainer.limit_val_batches == 0
            and schedule is not None
            and (schedule.validation_due(trainer.global_step) or trainer.should_stop)
        ):
            path = self.format_checkpoint_name({})
            trainer.save_checkpoint(path, weights_only=self.save_weights_only)
            self.best_model_path = self.last_model_path = path

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old_dir = state_dict.get("dirpath")
        if self.dirpath is None or old_dir is None or Path(old_dir) == Path(self.dirpath):
            super().load_state_dict(state_dict)
            return
        copies: dict[str, str] = {}
        for path in state_dict.get("best_k_models", {}):
            source, target = Path(path), Path(self.dirpath) / Path(path).name
            if not source.is_file():
                # The record cannot be carried over without its files: start it afresh.
                super().load_state_dict(state_dict)
                return
            if rank_zero_only.rank == 0:  # one copy; the other processes only record it
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    shutil.copy2(source, target)
            copies[path] = str(target)
        super().load_state_dict(
            {
                **state_dict,
                "dirpath": self.dirpath,
                "best_k_models": {copies[p]: s for p, s in state_dict["best_k_models"].items()},
                "best_model_path": copies.get(state_dict["best_model_path"], ""),
                "kth_best_model_path": copies.get(state_dict.get("kth_best_model_path", ""), ""),
                "last_model_path": "",
            }
        )
