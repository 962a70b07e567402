"""The training step shared by every charlm task: chunks of minibatches, one update each."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from torch import nn

from charlm.data.batches import Chunk
from charlm.errors import CharlmError, NonFiniteError, check_choice
from charlm.lit import schedule
from charlm.lit.schedule import UpdateSchedule
from charlm.lit.update import needs_lightning_update, update_function
from charlm.models.registry import build_net
from charlm.models.sampling import non_finite_weights
from charlm.precision import non_finite_fix

log = logging.getLogger(__name__)

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]

# A logged training loss this many times the run's first one is reported as divergence.
DIVERGENCE_FACTOR = 3.0


class NonFiniteLossError(NonFiniteError):
    """The training loss, the validation loss or the weights became NaN or infinite."""


def _factory(config: Any, module: Any, what: str) -> Callable[..., Any] | None:
    """An optimiser or scheduler factory: a callable as given, or one rebuilt from stored config.

    A checkpoint stores them as plain config (`{"_target_": "torch.optim.AdamW", "lr": ...}`);
    only classes of `module` (torch.optim or its lr_scheduler) and charlm's own schedulers
    (`charlm.lit.schedule`) are rebuilt from it.
    """
    if config is None or callable(config):
        return config
    if not isinstance(config, Mapping) or not config:
        return None  # model/scheduler=none composes to an empty mapping: no schedule
    target = str(config.get("_target_", ""))
    name = target.rsplit(".", 1)[-1]
    if module is torch.optim.lr_scheduler and target == f"{schedule.__name__}.{name}":
        module = schedule
    cls = getattr(module, name, None)
    if target != f"{module.__name__}.{name}" or not isinstance(cls, type):
        raise CharlmError(f"{what} {target!r} is not a class of {module.__name__}")
    return functools.partial(cls, **{k: v for k, v in config.items() if not k.startswith("_")})


class StepTask(L.LightningModule):
    """Trains `net` by optimiser updates over chunks of minibatches (see `RandomBatches`).

    Each Lightning batch holds a chunk of minibatches; the step runs one optimiser update per
    minibatch with manual optimisation, so `trainer.global_step` counts updates exactly as the
    notebooks' loops count iterations. Every update goes through `update` (backward, gradient
    clipping, optimiser step, scheduler step), and Lightning's per-update hooks
    (`on_before_backward`, `on_after_backward`, `on_before_optimizer_step`) run once per
    update. Validation, last.ckpt and training scalars follow `schedule`, in updates.

    `net`, `optimizer` and `scheduler` may be given as objects (as Hydra builds them) or as
    the plain config a checkpoint stores, so `Task.load_from_checkpoint(path)` works.
    Subclasses give `objective` and the eval metrics.
    """

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        optimizer: OptimizerFactory | Mapping[str, Any] | None = None,
        scheduler: SchedulerFactory | Mapping[str, Any] | None = None,
        weight_decay_on: str = "all",
    ) -> None:
        super().__init__()
        check_choice("weight_decay_on", weight_decay_on, ("all", "matrices"))
        self.weight_decay_on = weight_decay_on
        self.automatic_optimization = False
        self.net = build_net(net) if isinstance(net, Mapping) else net
        self.optimizer_factory = _factory(optimizer, torch.optim, "optimizer")
        self.scheduler_factory = _factory(scheduler, torch.optim.lr_scheduler, "scheduler")
        # The composed run config, stored with every checkpoint (set by charlm.train).
        self.run_config: dict[str, Any] = {}
        # What the run's split was drawn from (the DataModule's `data_identity()`), stored with
        # every checkpoint so that evaluation can refuse a word list changed since.
        self.data_identity: dict[str, Any] | None = None
        # Set by charlm.train from trainer.val_check_interval and log_every_n_steps (in updates);
        # derived from the Trainer's own settings when a run starts without one.
        self.schedule: UpdateSchedule | None = None
        # trainer.gradient_clip_val / gradient_clip_algorithm, applied on every update.
        self.gradient_clip_val: float | None = None
        self.gradient_clip_algorithm: str = "norm"
        self._since_log: list[float] = []
        self._first_loss: float | None = None
        self._warned_divergence = False
        self._through_lightning = True
        # lightning_update=true: every update through Lightning's own backward and step.
        self.lightning_update = False
        # Something that watches some updates (charlm.lit.Diagnostics): `due(step)`, then
        # `before(step)` ahead of that update's forward and `after(step, loss)` after its step.
        self.update_probe: Any = None

    def connect(
        self,
        *,
        run_config: dict[str, Any],
        data_identity: dict[str, Any] | None,
        schedule: UpdateSchedule,
        gradient_clip_val: float | None,
        gradient_clip_algorithm: str = "norm",
        lightning_update: bool = False,
    ) -> None:
        """What only the run knows, given once before training (by `charlm.train.build_run`):
        its completed config and data's identity (stored with every checkpoint), its schedule in
        updates and the gradient clipping each update applies."""
        self.run_config, self.data_identity = run_config, data_identity
        self.schedule = schedule
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.lightning_update = lightning_update

    @property
    def first_loss(self) -> float | None:
        """The reported loss of this process's first update (None before it)."""
        return self._first_loss

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to minimise, loss to report) of one minibatch."""
        raise NotImplementedError

    def training_scalars(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Extra training scalars logged with train/loss, from the minibatch just trained on."""
        return {}

    def _eval_step(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Update the `stage` ('val' or 'test') metrics with one batch."""
        raise NotImplementedError

    def _eval_values(self, stage: str) -> dict[str, float]:
        """Compute and reset the `stage` metrics."""
        raise NotImplementedError

    def _eval_epoch_end(self, stage: str) -> None:
        values = self._eval_values(stage)
        if stage == "val" and not math.isfinite(values.get("loss", 0.0)):
            # Before the checkpoints that follow a validation are written.
            raise NonFiniteLossError(
                f"validation loss became {values['loss']} at step {self.global_step}; "
                + self.non_finite_fix()
            )
        # Plotted against optimiser updates (Lightning takes a logged "step" as the x value).
        self.log("step", float(self.global_step))
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name in ("loss", "acc"))

    def _global_batch_size(self) -> int | None:
        batch = ((self.run_config or {}).get("data") or {}).get("batch_size")
        return batch * self.trainer.world_size if isinstance(batch, int) else None

    def non_finite_fix(self) -> str:
        """What a non-finite stop of this run tells the user to change (float16's range in a
        16-bit run, else the learning rate or the data)."""
        try:
            precision = str(self.trainer.precision)
        except RuntimeError:  # not attached to a Trainer
            precision = None
        return non_finite_fix(precision)

    def check_finite_weights(self) -> None:
        """Stop the run if a weight holds a NaN or an infinity. Called after each chunk, before
        each validation and before each checkpoint: an update whose loss was finite can still
        make the weights non-finite, and no checkpoint may keep them."""
        bad = non_finite_weights(self.net)
        if bad is not None:
            name, value = bad
            raise NonFiniteLossError(
                f"weights became {value} at step {self.global_step} (net.{name}); {self.non_finite_fix()}"
            )

    def on_validation_start(self) -> None:
        if not self.trainer.sanity_checking:
            self.check_finite_weights()

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
        if self.optimizer_factory is None:
            raise CharlmError(
                "this task has no optimizer: give optimizer=... (e.g. functools.partial("
                "torch.optim.AdamW, lr=3e-3)) to train it"
            )
        self._trained = [p for p in self.net.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params=self._parameter_groups())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def _parameter_groups(self) -> list[dict[str, Any]]:
        """The trained parameters; with `weight_decay_on="matrices"`, two groups: the weight
        matrices of linear and recurrent layers, decayed as the optimiser says, and the rest
        (biases, norms, embedding tables) without decay."""
        if self.weight_decay_on == "all":
            return [{"params": self._trained}]
        tables = {id(m.weight) for m in self.net.modules() if isinstance(m, nn.Embedding)}
        table = getattr(self.net, "embeddings", None)
        if table is not None:
            tables.add(id(table))
        decayed = [p for p in self._trained if p.ndim >= 2 and id(p) not in tables]
        kept = [p for p in self._trained if p.ndim < 2 or id(p) in tables]
        return [{"params": decayed}, {"params": kept, "weight_decay": 0.0}]

    # --- the update ---------------------------------------------------------------------------

    def on_train_start(self) -> None:
        trainer = self.trainer
        if self.schedule is None:
            chunk = getattr(trainer.datamodule, "steps_per_batch", 1)
            batches = trainer.val_check_batch
            self.schedule = UpdateSchedule(
                max_steps=max(trainer.max_steps, 1),
                val_every=int(batches * chunk) if math.isfinite(batches) else trainer.max_steps,
                log_every=max(trainer.log_every_n_steps, 1) * chunk,
                chunk=chunk,
            )
        self._through_lightning = self.lightning_update or needs_lightning_update(self, StepTask)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Gradient clipping (trainer.gradient_clip_val), after any loss scaling was undone."""
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, self.gradient_clip_val, self.gradient_clip_algorithm)

    def training_step(self, batch: Chunk, batch_idx: int) -> torch.Tensor:
        first = self.global_step
        updates = batch.updates
        if self.trainer.max_steps > 0:
            updates = min(updates, self.trainer.max_steps - first)
        # The loop runs hundreds of thousands of times: look everything up once.
        update = update_function(self, self._through_lightning)
        objective, minibatch = self.objective, batch.minibatch
        log_every, since_log = self.schedule.log_every, self._since_log
        probe = self.update_probe
        deadline = self._time_budget_deadline()
        several = self.trainer.world_size > 1
        non_finite: str | None = None  # this process's first non-finite loss, with several
        total = 0.0
        for i in range(updates):
            if deadline is not None and i and time.monotonic() >= deadline:
                # The time budget ran out inside the chunk: stop at this update, and
                # Lightning's Timer ends the run after this batch (validation, last.ckpt).
                updates = i
                break
            probing = probe is not None and probe.due(first + i + 1)
            if probing:
                probe.before(first + i + 1)
            x, y = minibatch(i)
            loss, report = objective(x, y)
            value = report.item()
            if not math.isfinite(value):
                message = f"training loss became {value} at step {first + i + 1}"
                if not several:
                    # Stop before this update: the weights are still the last finite ones.
                    raise NonFiniteLossError(f"{message}; {self.non_finite_fix()}")
                # One process stopping alone would leave the others waiting in this update's
                # gradient all-reduce: the chunk goes on (the all-reduce spreads the
                # non-finite gradient), and every process stops together at its end.
                non_finite = non_finite or f"{message} on this process"
            update(loss)
            if probing:
                probe.after(first + i + 1, value)
            if self._first_loss is None:
                self._first_loss = value
            total += value
            since_log.append(value)
            if (first + i + 1) % log_every == 0:
                self._log_training(first + i + 1, x, y)
        if several:
            # One exchange a chunk, not an update: every process stops after the same update.
            bad = non_finite is not None or non_finite_weights(self.net) is not None
            if self.trainer.strategy.reduce_boolean_decision(bad, all=False):
                if non_finite is not None:
                    raise NonFiniteLossError(f"{non_finite}; {self.non_finite_fix()}")
                self.check_finite_weights()
                raise NonFiniteLossError(
                    f"training of another process became non-finite by step "
                    f"{first + updates}; {self.non_finite_fix()}"
                )
        # The chunk's last update may have made the weights non-finite with a finite loss.
        self.check_finite_weights()
        mean_loss = torch.tensor(total / max(updates, 1))
        self.log("train/loss", mean_loss, prog_bar=True, logger=False)
        return mean_loss  # read by the Tuner's learning-rate finder

    def _time_budget_deadline(self) -> float | None:
        """The `time.monotonic()` at which a run bounded by time (`time_budget_s`) has spent
        its budget, or None. Lightning's Timer looks at the clock between Lightning batches
        only; a chunk of many updates on a slow or busy machine would overrun it by a chunk.

        A multi-process run stops where the Timer says, between batches, on every process
        at once: one that stopped alone inside a chunk would leave the others waiting.
        """
        if self.trainer.world_size > 1:
            return None
        from lightning.pytorch.callbacks import Timer

        for callback in self.trainer.callbacks:
            if isinstance(callback, Timer) and callback.time_remaining() is not None:
                return time.monotonic() + callback.time_remaining()
        return None

    def _log_training(self, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """train/loss (mean since the last point), train/lr and `training_scalars` at `step`.

        Written to the loggers directly: Lightning's `self.log` records one value per
        Lightning batch, and a chunk holds many logging points.
        """
        mean = sum(self._since_log) / len(self._since_log)
        self._since_log.clear()
        if self.trainer.world_size > 1:
            mean = float(self.trainer.strategy.reduce(torch.tensor(mean), reduce_op="mean"))
        scalars = {
            "train/loss": mean,
            "train/lr": float(self.optimizers().param_groups[0]["lr"]),
            **self.training_scalars(x, y),
        }
        for logger in self.loggers:
            logger.log_metrics(scalars, step=step)
        start = self._first_loss
        if start is not None and mean > DIVERGENCE_FACTOR * start and not self._warned_divergence:
            self._warned_divergence = True
            log.warning(
                "training loss %.4g at step %d is over %g times its first value (%.4g): "
                "the run is diverging; lower the learning rate (model.optimizer.lr) or clip "
                "gradients (trainer.gradient_clip_val)",
                mean, step, DIVERGENCE_FACTOR, start,
            )  # fmt: skip

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.trainer.max_steps > 0 and self.global_step >= self.trainer.max_steps:
            # The run's last update: stopping here makes Lightning validate once more after
            # this batch unless it just did, so every run ends with a validation of its final
            # weights and a last.ckpt holding them.
            self.trainer.should_stop = True

    # --- checkpoints --------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Raised while Lightning assembles the checkpoint, before any file is written: no
        # best or last checkpoint ever holds non-finite weights.
        self.check_finite_weights()
        # Plain strings and numbers only, so the checkpoint loads with weights_only=True.
        from omegaconf import OmegaConf

        from charlm.data.vocab import vocab_kind

        vocab = getattr(self.net, "vocab", None)
        checkpoint["charlm"] = {
            "vocab": vocab.to_string() if vocab is not None else None,
            "vocab_kind": vocab_kind(vocab) if vocab is not None else None,
            "config": OmegaConf.to_yaml(self.run_config),
            "data": self.data_identity,
            # Processes and the minibatch of one update across them: a resume must keep the
            # latter (`charlm.checkpoint.check_resume_processes`).
            "world_size": self.trainer.world_size,
            "global_batch_size": self._global_batch_size(),
        }
        model = self.run_config.get("model") or {}
        # What `load_from_checkpoint` passes back to __init__: the task's own config.
        checkpoint["hyper_parameters"] = {k: v for k, v in model.items() if k != "_target_"}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        import yaml

        from charlm.data.vocab import stored_vocabulary

        meta = checkpoint.get("charlm") or {}
        if meta.get("vocab") and hasattr(self.net, "vocab"):
            self.net.vocab = stored_vocabulary(meta["vocab"], meta.get("vocab_kind"))
        if meta.get("config") and not self.run_config:
            self.run_config = yaml.safe_load(meta["config"]) or {}
        if meta.get("data") and self.data_identity is None:
            self.data_identity = meta["data"]
