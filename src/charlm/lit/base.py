"""The training step shared by every charlm task: chunks of minibatches, one update each."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn

from charlm.data.batches import Chunk
from charlm.errors import CharlmError

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class NonFiniteLossError(CharlmError):
    """The training loss became NaN or infinite."""


def plain_sgd_update(optimizer: torch.optim.Optimizer) -> Callable[[], None] | None:
    """For SGD without momentum, weight decay or maximize: the update `p -= lr * p.grad` itself.

    That is all such an SGD step computes, and the notebooks' loop writes it so; calling it
    directly skips `Optimizer.step`'s per-call machinery (profiler range, hook dispatch,
    grouping of tensors by device), which costs as much as a small model's whole update.
    The learning rates are read from `param_groups` at each call, so schedulers still apply.
    Hooks registered on the torch optimiser (`register_step_pre_hook` and the like) do not run
    for these updates: they run on each chunk's last update, which goes through Lightning, and
    on every update of a run's first chunk.
    Returns None for any other optimiser.
    """
    if type(optimizer) is not torch.optim.SGD:
        return None
    groups = optimizer.param_groups
    if any(g["momentum"] or g["weight_decay"] or g["maximize"] for g in groups):
        return None

    @torch.no_grad()
    def update() -> None:
        for group in groups:
            params = [p for p in group["params"] if p.grad is not None]
            torch._foreach_add_(params, [p.grad for p in params], alpha=-group["lr"])

    return update


class StepTask(L.LightningModule):
    """Trains `net` by optimiser updates over chunks of minibatches (see `RandomBatches`).

    Each Lightning batch holds `steps` minibatches; the step runs one optimiser update per
    minibatch with manual optimisation, so `trainer.global_step` counts updates exactly as the
    notebooks' loops count iterations. Subclasses give `objective` and the eval metrics.
    """

    def __init__(
        self, net: nn.Module, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None = None
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net = net
        self.optimizer_factory = optimizer
        # model/scheduler=none composes to an empty mapping: no schedule.
        self.scheduler_factory = scheduler if callable(scheduler) else None
        # The composed run config, stored with every checkpoint (set by charlm.train).
        self.run_config: dict[str, Any] = {}

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to minimise, loss to report) of one minibatch."""
        raise NotImplementedError

    def _eval_step(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Update the `stage` ('val' or 'test') metrics with one batch."""
        raise NotImplementedError

    def _eval_values(self, stage: str) -> dict[str, float]:
        """Compute and reset the `stage` metrics."""
        raise NotImplementedError

    def _eval_epoch_end(self, stage: str) -> None:
        values = self._eval_values(stage)
        if stage == "val":
            self.log("step", float(self.global_step))
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name in ("loss", "acc"))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def configure_optimizers(self) -> Any:
        self._trained = [p for p in self.net.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params=self._trained)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def training_step(self, batch: Chunk, batch_idx: int) -> torch.Tensor:
        optimizer = self.optimizers()
        scheduler = self.lr_schedulers()
        updates = batch.updates
        if self.trainer.max_steps > 0:
            updates = min(updates, self.trainer.max_steps - self.global_step)
        # The loop runs hundreds of thousands of times: look everything up once.
        objective, trained, minibatch = self.objective, self._trained, batch.minibatch
        # The run's first chunk takes the optimiser's own step (schedulers check that it was
        # called before their first step); later ones the direct update where there is one.
        direct = plain_sgd_update(optimizer.optimizer) if self.global_step > 0 else None
        raw_step = direct or optimizer.optimizer.step
        count_before, count_after = optimizer._on_before_step, optimizer._on_after_step
        schedule = scheduler.step if scheduler is not None else None
        reported = []
        for i in range(updates):
            loss, report = objective(*minibatch(i))
            value = report.item()
            if not math.isfinite(value):
                # Stop before this update: the weights are still the last finite ones.
                raise NonFiniteLossError(
                    f"training loss became {value} at step {self.global_step + 1}; "
                    "lower the learning rate (model.optimizer.lr) or check the data"
                )
            if i == updates - 1:
                # The chunk's last update goes through Lightning, so callbacks' backward and
                # optimiser-step hooks run once per chunk.
                optimizer.zero_grad(set_to_none=True)
                self.manual_backward(loss)
                optimizer.step()
            else:
                # The bare update: Lightning's per-update wrappers (precision plugin, callback
                # hooks, profiler) cost more than these small models' own step. The step
                # counter hooks are those the manual optimisation loop installs.
                for p in trained:
                    p.grad = None
                loss.backward()
                count_before()
                raw_step()
                count_after()
            if schedule is not None:
                schedule()
            reported.append(value)
        mean_loss = torch.tensor(reported).mean()
        # Logged against optimiser updates, not Lightning batches.
        self.log("step", float(self.global_step))
        self.log("train/loss", mean_loss, prog_bar=True, sync_dist=self.trainer.world_size > 1)
        self.log("train/lr", float(optimizer.param_groups[0]["lr"]))
        return mean_loss  # read by the Tuner's learning-rate finder

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Plain strings only, so the checkpoint loads with torch.load(weights_only=True).
        from omegaconf import OmegaConf

        vocab = getattr(self.net, "vocab", None)
        checkpoint["charlm"] = {
            "vocab": vocab.to_string() if vocab is not None else None,
            "config": OmegaConf.to_yaml(self.run_config),
        }
