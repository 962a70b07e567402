"""The update path: one place for how each optimiser update runs, and the only code that
touches Lightning's loop objects.

Each update is zero the gradients, backward, `on_before_optimizer_step` (gradient clipping),
the optimiser step and the scheduler step. Through Lightning (`manual_backward`,
`LightningOptimizer.step`) when something needs its wrappers (several processes, a
loss-scaling precision plugin, a callback or a subclass listening to the update hooks) or when
`lightning_update=true` asks for it; otherwise the same computation directly, which on a model
of a few thousand parameters is most of the time of a run. The direct path advances Lightning's
update counter itself, so `trainer.global_step`, checkpoints and resuming see every update.
Lightning Fabric would own the whole loop instead; see docs/performance.md for why the Trainer
and this one direct path were kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.utilities.model_helpers import is_overridden

from charlm.errors import CharlmError

# Hooks Lightning runs around each optimiser update (backward, then the step).
UPDATE_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def plain_sgd_update(optimizer: torch.optim.Optimizer) -> Callable[[], None] | None:
    """For SGD without momentum, weight decay or maximize: the update `p -= lr * p.grad` itself.

    That is all such an SGD step computes, and the notebooks' loop writes it so; calling it
    directly skips `Optimizer.step`'s per-call machinery (profiler range, hook dispatch,
    grouping of tensors by device), which costs as much as a small model's whole update.
    The learning rates are read from `param_groups` at each call, so schedulers still apply.
    Hooks registered on the torch optimiser itself (`register_step_pre_hook`) do not run.
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


def needs_lightning_update(task: L.LightningModule, base: type) -> bool:
    """Whether Lightning's own backward and step add anything to the plain computation.

    They do with several processes (the strategy's backward), with a precision plugin that
    scales the loss (16-mixed) or is not one of the two plain ones, and when a callback or
    a subclass listens to the per-update hooks. Otherwise `update` computes the same thing
    without Lightning's per-call wrappers, which cost more than a small model's own update.
    """
    trainer = task.trainer
    plugin = trainer.precision_plugin
    if trainer.world_size > 1 or type(plugin) not in (Precision, MixedPrecision):
        return True
    if getattr(plugin, "scaler", None) is not None:
        return True
    if any(is_overridden(h, c, L.Callback) for c in trainer.callbacks for h in UPDATE_HOOKS):
        return True
    return any(is_overridden(h, task, base) for h in (*UPDATE_HOOKS, "backward"))


def update_counter(trainer: L.Trainer) -> Any:
    """Lightning's count of completed optimiser steps under manual optimisation: what
    `trainer.global_step` reads. The one reference to Lightning's loop objects in charlm."""
    try:
        return trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
    except AttributeError:
        raise CharlmError(
            "this Lightning release no longer keeps its update counter at trainer.fit_loop."
            "epoch_loop.manual_optimization.optim_step_progress, which charlm's direct update "
            "advances: train with lightning_update=true (Lightning's own update path), or "
            "install the lightning version pyproject.toml names"
        ) from None


def update_function(task: Any, through_lightning: bool) -> Callable[[torch.Tensor], None]:
    """`update(loss)`: the one path of every optimiser update of the run."""
    optimizer = task.optimizers()
    scheduler = task.lr_schedulers()
    schedule = scheduler.step if scheduler is not None else None
    if through_lightning:

        def update(loss: torch.Tensor) -> None:
            optimizer.zero_grad(set_to_none=True)
            task.manual_backward(loss)
            optimizer.step()  # runs on_before_optimizer_step after unscaling
            if schedule is not None:
                schedule()

        return update

    raw = optimizer.optimizer
    # The run's first update takes the optimiser's own step: schedulers check that it
    # was called before their first step.
    step = (plain_sgd_update(raw) if task.global_step > 0 else None) or raw.step
    trained, before_step = task._trained, task.on_before_optimizer_step
    progress = update_counter(task.trainer)

    def update(loss: torch.Tensor) -> None:
        for p in trained:
            p.grad = None
        loss.backward()
        before_step(raw)
        progress.increment_ready()
        step()
        progress.increment_completed()
        if schedule is not None:
            schedule()

    return update
