"""The training progress bar, counting optimiser updates as every other charlm setting does."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Timer, TQDMProgressBar


def time_budget(trainer: L.Trainer) -> Timer | None:
    """The Trainer's Timer when the run is bounded by time (trainer.max_time), else None."""
    for callback in trainer.callbacks:
        if isinstance(callback, Timer) and callback.time_remaining() is not None:
            return callback
    return None


class UpdateProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, its count and total in updates (`trainer.global_step` out of
    `trainer.max_steps`) instead of Lightning batches, each of which holds a chunk of
    `data.steps_per_batch` updates; the postfix shows the training loss. A run bounded by
    time has no total of updates: the postfix shows the seconds left instead."""

    def init_train_tqdm(self) -> Any:
        bar = super().init_train_tqdm()
        bar.unit = " updates"
        bar.set_description("training", refresh=False)
        return bar

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        # Not Lightning's: it would count and name the run's one epoch.
        bar = self.train_progress_bar
        bounded = trainer.max_steps > 0 and time_budget(trainer) is None
        bar.reset(total=trainer.max_steps if bounded else None)
        bar.n = bar.initial = trainer.global_step
        bar.refresh()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        bar = self.train_progress_bar
        if bar is None or bar.disable:
            return
        bar.n = trainer.global_step
        bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        bar.refresh()

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the logger's version number says nothing here
        timer = time_budget(trainer)
        if timer is not None:
            metrics["time_left"] = f"{max(timer.time_remaining(), 0.0):.0f}s"
        return metrics
