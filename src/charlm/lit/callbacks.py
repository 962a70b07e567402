"""Callbacks: what a model has learned, shown in TensorBoard; stopping and resuming cleanly."""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from charlm.errors import CharlmError


def model_checkpoint(trainer: L.Trainer) -> ModelCheckpoint | None:
    """The run's first `ModelCheckpoint` (the best checkpoint's), or None without one."""
    return next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)


def tensorboard_writer(trainer: L.Trainer):
    """The SummaryWriter of the run's TensorBoard logger, or None when TensorBoard is off."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


class SampleWords(L.Callback):
    """Logs a few sampled words as TensorBoard text after every validation."""

    def __init__(self, n: int = 10, seed: int = 2147483647, max_len: int = 30) -> None:
        self.n, self.seed, self.max_len = n, seed, max_len

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        g = torch.Generator().manual_seed(self.seed)
        words = pl_module.net.sample(self.n, generator=g, max_len=self.max_len)
        writer.add_text("samples", "  \n".join(words), trainer.global_step)


class EmbeddingPlot(L.Callback):
    """The character embeddings: a 2-D scatter (as the notebook draws it) or the projector.

    Two-dimensional tables are drawn every `every_n_validations` validations and at the end, so
    the clustering of vowels and consonants can be watched; larger ones go to TensorBoard's
    projector at the end of training.
    """

    def __init__(self, every_n_validations: int = 5) -> None:
        self.every_n_validations = every_n_validations
        self._validations = 0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._validations += 1
        last = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if self._validations % self.every_n_validations and not last:
            return
        table = _embedding_table(pl_module)
        writer = tensorboard_writer(trainer)
        if writer is None or table is None or table.shape[1] != 2:
            return
        if trainer.is_global_zero:
            writer.add_figure(
                "embeddings", embedding_figure(table, pl_module.net.vocab.itos), trainer.global_step
            )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        table = _embedding_table(pl_module)
        writer = tensorboard_writer(trainer)
        if writer is None or table is None or table.shape[1] == 2 or not trainer.is_global_zero:
            return
        labels = [repr(c) for c in pl_module.net.vocab.itos]
        writer.add_embedding(table, metadata=labels, global_step=trainer.global_step, tag="C")


def _embedding_table(pl_module: L.LightningModule) -> torch.Tensor | None:
    net = getattr(pl_module, "net", None)
    table = getattr(net, "embeddings", None)
    if table is None or net.vocab is None:
        return None
    return table.detach().float().cpu()


def embedding_figure(table: torch.Tensor, labels: list[str]):
    """Scatter of a (V, 2) embedding table with each point labelled by its character."""
    # A Figure of its own, not pyplot's: the user's matplotlib backend is left as it is.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.scatter(table[:, 0], table[:, 1], s=200, color="lightsteelblue")
    for (x, y), label in zip(table.tolist(), labels, strict=True):
        ax.text(x, y, label, ha="center", va="center", color="black")
    ax.grid(True, alpha=0.3)
    ax.set_title("character embeddings C")
    return fig


class DecisionBoundary(L.Callback):
    """Heatmap of P(class 1) over the input plane of a 2-input classifier, with the table's points.

    Drawn after every validation, as the course draws the regions a network has learned.
    """

    def __init__(self, resolution: int = 100, margin: float = 0.5) -> None:
        self.resolution, self.margin = resolution, margin

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        datamodule = trainer.datamodule
        if writer is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        x, y = datamodule.splits["train"]
        if x.shape[1] != 2:
            return
        fig = decision_boundary_figure(pl_module.net, x, y, self.resolution, self.margin)
        writer.add_figure("decision_boundary", fig, trainer.global_step)


def decision_boundary_figure(net, x: torch.Tensor, y: torch.Tensor, resolution: int, margin: float):
    """P(class 1) on a grid spanning the points' range plus `margin`, points coloured by class."""
    from matplotlib.figure import Figure

    lo, hi = x.min(0).values - margin, x.max(0).values + margin
    g0 = torch.linspace(float(lo[0]), float(hi[0]), resolution)
    g1 = torch.linspace(float(lo[1]), float(hi[1]), resolution)
    grid = torch.cartesian_prod(g0, g1)
    p1 = net.predict(grid).probs[:, 1].view(resolution, resolution).T
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    image = ax.imshow(
        p1, origin="lower", extent=extent, cmap="RdBu_r", vmin=0, vmax=1, aspect="auto"
    )
    ax.contour(g0, g1, p1, levels=[0.5], colors="black", linewidths=1)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", vmin=0, vmax=1, edgecolors="black", s=120)
    fig.colorbar(image, ax=ax, label="P(class 1)")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return fig


class FizzBuzzReport(L.Callback):
    """After testing: the predicted fizzbuzz output for the test numbers and the confusion matrix."""

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torchmetrics.classification import MulticlassConfusionMatrix

        from charlm.data.tables import FIZZBUZZ_CLASSES, fizzbuzz_text

        writer = tensorboard_writer(trainer)
        datamodule = trainer.datamodule
        if writer is None or not trainer.is_global_zero:
            return
        x, y = datamodule.splits["test"]
        labels = pl_module.net.predict(x.to(pl_module.device)).labels.cpu()
        numbers = datamodule.numbers["test"]
        text = " ".join(fizzbuzz_text(n, int(k)) for n, k in zip(numbers, labels, strict=True))
        writer.add_text("fizzbuzz/predicted", text, trainer.global_step)
        confusion = MulticlassConfusionMatrix(num_classes=len(FIZZBUZZ_CLASSES))
        confusion.update(labels, y)
        fig, _ = confusion.plot(labels=list(FIZZBUZZ_CLASSES))
        writer.add_figure("fizzbuzz/confusion_matrix", fig, trainer.global_step)


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
    """

    def __init__(self) -> None:
        self.requested: int | None = None
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
        self._after_validation = False
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
        trainer.save_checkpoint(path)
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
        if self.requested is None:
            return
        validates = trainer.limit_val_batches != 0 and pl_module.schedule is not None
        if validates and pl_module.schedule.validation_due(trainer.global_step):
            self._after_validation = True
            return
        self._stop(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.requested is not None and self._after_validation:
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
