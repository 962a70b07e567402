"""When a run validates, checkpoints and logs, counted in optimiser updates."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from charlm.errors import ConfigError, check_positive_ints

# A run validates (and refreshes last.ckpt) about this many times when no interval is given.
DEFAULT_VALIDATIONS = 20


@dataclass(frozen=True)
class UpdateSchedule:
    """Every interval of a run in optimiser updates, and the chunk size that honours them.

    `chunk` is the number of updates in one Lightning batch. It divides `val_every`, so
    validations (and the last.ckpt written after each) fall on exactly the updates asked for,
    whatever `data.steps_per_batch` is; the last validation comes after the run's last update.
    Training scalars are logged every `log_every` updates, independently of the chunks.
    """

    max_steps: int
    val_every: int
    log_every: int
    chunk: int

    @classmethod
    def plan(
        cls,
        max_steps: Any,
        steps_per_batch: Any,
        val_check_interval: Any = None,
        log_every_n_steps: Any = 100,
    ) -> UpdateSchedule:
        """The schedule of `trainer.max_steps` updates with the given intervals (in updates).

        `val_check_interval`: updates between validations, a fraction in (0, 1] of the run, or
        None for about `DEFAULT_VALIDATIONS` validations at multiples of `steps_per_batch`.
        """
        check_positive_ints(max_steps=max_steps, steps_per_batch=steps_per_batch)
        check_positive_ints(log_every_n_steps=log_every_n_steps)
        interval = val_check_interval
        if interval is None:
            per_validation = math.ceil(max_steps / DEFAULT_VALIDATIONS)
            val_every = math.ceil(per_validation / steps_per_batch) * steps_per_batch
        elif isinstance(interval, float) and 0 < interval <= 1:
            val_every = max(1, round(max_steps * interval))
        elif isinstance(interval, int) and not isinstance(interval, bool) and interval >= 1:
            val_every = interval
        else:
            raise ConfigError(
                f"val_check_interval={interval!r}: must be a number of updates >= 1, a fraction "
                "of max_steps in (0, 1], or null (about 20 validations a run)",
                key="val_check_interval",
            )
        val_every = min(val_every, max_steps)
        return cls(max_steps, val_every, log_every_n_steps, math.gcd(steps_per_batch, val_every))

    def validation_due(self, step: int) -> bool:
        """Whether a validation follows the update that brought the run to `step`."""
        return step % self.val_every == 0 or step >= self.max_steps

    def trainer_kwargs(self) -> dict[str, Any]:
        """Lightning's own interval arguments, which count Lightning batches (chunks)."""
        return {
            "val_check_interval": self.val_every // self.chunk,
            "check_val_every_n_epoch": None,
            # charlm logs the training scalars itself, every `log_every` updates.
            "log_every_n_steps": 1,
        }


class TimeBudgetLR(torch.optim.lr_scheduler.LRScheduler):
    """A learning rate that spans a wall-clock budget instead of a count of updates.

    Linear warm-up over `warmup_steps` updates, then a cosine from the optimiser's lr down to
    `final_ratio` times it, reached when `budget_s` seconds of training have passed (the
    run's `trainer.max_time`). A run bounded by time then anneals fully on any machine, fast
    or slow; the updates it makes depend on the machine. The clock counts from the first
    update; a resumed run goes on from the time its checkpoint had spent.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        budget_s: float,
        warmup_steps: int = 100,
        final_ratio: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        if isinstance(budget_s, bool) or not isinstance(budget_s, int | float) or budget_s <= 0:
            raise ConfigError(f"budget_s={budget_s!r}: must be a number of seconds > 0", "budget_s")
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ConfigError(f"warmup_steps={warmup_steps!r}: an integer >= 0", "warmup_steps")
        if not 0 <= final_ratio <= 1:
            raise ConfigError(f"final_ratio={final_ratio!r}: must be in [0, 1]", "final_ratio")
        self.budget_s, self.warmup_steps, self.final_ratio = budget_s, warmup_steps, final_ratio
        self.elapsed_s = 0.0
        self._clock: float | None = None
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        now = time.monotonic()
        if self._clock is not None and self.last_epoch > 0:
            self.elapsed_s += now - self._clock
        self._clock = now
        warm = min(1.0, (self.last_epoch + 1) / (self.warmup_steps + 1))
        done = min(1.0, self.elapsed_s / self.budget_s)
        factor = self.final_ratio + (1 - self.final_ratio) * 0.5 * (1 + math.cos(math.pi * done))
        return [base * warm * factor for base in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["_clock"] = None  # another process's clock means nothing here
        return state
