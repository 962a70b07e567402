"""Callbacks the multi-process tests add to a run by config (`+callbacks.NAME._target_=...`),
with `tests/` on PYTHONPATH: each process of a torchrun or srun launch loads them itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch


class SaveRankWeights(L.Callback):
    """Every process writes to `dir/rank<N>.pt` the rows of its first minibatch and, at the end
    of training, its weights."""

    def __init__(self, dir: str) -> None:
        self.dir = Path(dir)
        self.batches: torch.Tensor | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, i: int) -> None:
        if self.batches is None:
            self.batches = batch.minibatch(0)[0].clone()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        saved = {"batches": self.batches, "weights": pl_module.state_dict()}
        torch.save(saved, self.dir / f"rank{trainer.global_rank}.pt")


class DieAt(L.Callback):
    """Every process raises at update `step`, as a run killed there would stop."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError(f"killed at step {trainer.global_step}")


class SignalAt(L.Callback):
    """Process `rank` alone sends itself SIGTERM once at the end of the batch that reaches
    update `step`, as a scheduler preempting one node does."""

    def __init__(self, step: int, rank: int) -> None:
        self.step, self.rank, self.sent = step, rank, False

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if not self.sent and trainer.global_rank == self.rank and trainer.global_step >= self.step:
            import os
            import signal

            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)


class PoisonRank(L.Callback):
    """Process `rank` alone writes a NaN into its own copy of a weight once, at the end of the
    batch that reaches update `step`: its next loss is NaN, the other ranks' finite."""

    def __init__(self, step: int, rank: int) -> None:
        self.step, self.rank, self.done = step, rank, False

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: object) -> None:
        if not self.done and trainer.global_rank == self.rank and trainer.global_step >= self.step:
            self.done = True
            with torch.no_grad():
                next(pl_module.net.parameters()).view(-1)[0] = float("nan")
