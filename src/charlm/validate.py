"""Checks of a composed run config that no constructor makes, before any data is read.

The data module, the network and the schedule check their own values when they are built
(`charlm.errors.check_positive_ints` and friends), and the training entry point prefixes the
config path of the key, so a new model's keys are checked without a list here.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from charlm.data.corpus import check_fractions
from charlm.errors import CharlmError, ConfigError

__all__ = ["ConfigError", "validate_config"]

# Lightning Trainer options a charlm run cannot honour: (allowed values, what to use instead).
REFUSED_TRAINER_OPTIONS: dict[str, tuple[tuple[Any, ...], str]] = {
    "accumulate_grad_batches": (
        (None, 1),
        "each update takes one minibatch: raise data.batch_size",
    ),
    "max_epochs": ((None, -1), "a run is counted in updates: set trainer.max_steps"),
    "min_epochs": ((None, 0), "a run is counted in updates: set trainer.min_steps"),
    "check_val_every_n_epoch": (
        (None,),
        "a run is one epoch: set trainer.val_check_interval (in updates)",
    ),
    "limit_train_batches": ((None, 1.0), "a run is counted in updates: set trainer.max_steps"),
}


def _get(cfg: DictConfig, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return None
        node = node[part]
    return node


# The longest time budget: Lightning's max_time counts days, and a run of a year is no budget.
MAX_BUDGET_S = 365 * 24 * 3600


def validate_config(cfg: DictConfig) -> None:
    """Raise `ConfigError` for the first impossible value of a `charlm-train` config."""
    _check_trainer(cfg)
    lr = _get(cfg, "model.optimizer.lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, int | float) or lr <= 0):
        raise ConfigError(
            f"model.optimizer.lr={lr!r}: the learning rate must be a number > 0",
            key="model.optimizer.lr",
        )
    split = _get(cfg, "data.split")
    if split is not None:
        try:
            check_fractions(list(split))
        except (CharlmError, TypeError, ValueError) as err:
            message = str(err) if isinstance(err, CharlmError) else (
                f"data.split={split!r}: three fractions (train, val, test) adding up to 1, "
                "e.g. [0.8,0.1,0.1]"
            )  # fmt: skip
            raise ConfigError(message, key="data.split") from None
    _check_one_cycle(cfg)
    _check_run_options(cfg)


def _check_trainer(cfg: DictConfig) -> None:
    """The Trainer's options charlm reads: updates, refused options, gradient clipping."""
    max_steps = _get(cfg, "trainer.max_steps")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ConfigError(
            f"trainer.max_steps={max_steps!r}: must be an integer >= 1 (optimiser updates)",
            key="trainer.max_steps",
        )
    for key, (allowed, instead) in REFUSED_TRAINER_OPTIONS.items():
        value = _get(cfg, f"trainer.{key}")
        if isinstance(value, bool) or value not in allowed:  # True == 1, but is no count
            raise ConfigError(
                f"trainer.{key}={value!r} is not supported: {instead}", key=f"trainer.{key}"
            )
    for key in ("devices", "num_nodes"):
        value = _get(cfg, f"trainer.{key}")
        if isinstance(value, bool):
            raise ConfigError(
                f"trainer.{key}={value!r}: a count (an integer >= 1), "
                + ("a list of device ids, or auto" if key == "devices" else "not true or false"),
                key=f"trainer.{key}",
            )
    clip = _get(cfg, "trainer.gradient_clip_val")
    if clip is not None and (
        isinstance(clip, bool) or not isinstance(clip, int | float) or clip < 0
    ):
        raise ConfigError(
            f"trainer.gradient_clip_val={clip!r}: must be a number >= 0, or null for no clipping",
            key="trainer.gradient_clip_val",
        )
    algorithm = _get(cfg, "trainer.gradient_clip_algorithm")
    if algorithm not in (None, "norm", "value"):
        raise ConfigError(
            f"trainer.gradient_clip_algorithm={algorithm!r}: 'norm' or 'value'",
            key="trainer.gradient_clip_algorithm",
        )


def _check_run_options(cfg: DictConfig) -> None:
    """The run's own top-level options: seed, final_eval, time budget, threads, switches."""
    seed = cfg.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed={seed!r}: must be an integer >= 0, or null", key="seed")
    final = cfg.get("final_eval")
    if final is not None and (
        isinstance(final, str | bytes)
        or not all(s in ("train", "val", "test") for s in final)
        or not len(final)
    ):
        raise ConfigError(
            f"final_eval={final!r}: a list of splits among train, val, test, e.g. [val,test]",
            key="final_eval",
        )
    budget = cfg.get("time_budget_s")
    if budget is not None and (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not 0 < budget <= MAX_BUDGET_S  # NaN fails too
    ):
        raise ConfigError(
            f"time_budget_s={budget!r}: seconds of training, a number > 0 and at most "
            f"{MAX_BUDGET_S:.0f} (a year), or null for none",
            key="time_budget_s",
        )
    threads = cfg.get("num_threads")
    if threads not in (None, "auto") and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ConfigError(
            f"num_threads={threads!r}: must be auto (this run's share of the cores), an integer "
            ">= 1, or null (torch's default: every core)",
            key="num_threads",
        )
    if not isinstance(cfg.get("lightning_update", False), bool):
        raise ConfigError(
            f"lightning_update={cfg.lightning_update!r}: must be true or false",
            key="lightning_update",
        )
    if "report_ensemble" in cfg and not isinstance(cfg.report_ensemble, bool):
        raise ConfigError(
            f"report_ensemble={cfg.report_ensemble!r}: must be true or false", key="report_ensemble"
        )


def _check_one_cycle(cfg: DictConfig) -> None:
    """OneCycleLR divides by its warm-up's length: refuse a warm-up of at most one update."""
    target = str(_get(cfg, "model.scheduler._target_") or "")
    if not target.endswith("OneCycleLR"):
        return
    pct = _get(cfg, "model.scheduler.pct_start")
    pct = 0.3 if pct is None else pct
    total = _get(cfg, "model.scheduler.total_steps")
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct < 1:
        raise ConfigError(
            f"model.scheduler.pct_start={pct!r}: the warm-up's share of the run, in (0, 1)",
            key="model.scheduler.pct_start",
        )
    if isinstance(total, int) and not isinstance(total, bool) and pct * total <= 1:
        need = int(1 / pct) + 1
        raise ConfigError(
            f"model.scheduler.pct_start={pct} of {total} updates is a warm-up of "
            f"{pct * total:.2g} update(s): the one-cycle schedule needs more than one. Raise "
            f"trainer.max_steps to at least {need}, raise model.scheduler.pct_start, or use "
            "model/scheduler=cosine",
            key="model.scheduler.pct_start",
        )
