"""The arithmetic a figure is read in, named and reproducible.

A run trains in its Trainer's precision (`trainer.precision`: 32-true, bf16-mixed, bf16-true,
16-true, ...) and scores its final figures with its weights as they are: in that type for a
"-true" precision, in float32 for a "-mixed" one. metrics.json names both (`precision`, the
figures'; `trainer_precision`). `charlm-eval precision=` reads a checkpoint in any of them
through Lightning's own precision plugins (`precision=run`: as metrics.json did), so the run's
figures and the command's can be read in one arithmetic; each names the one it was read in.
"""

from __future__ import annotations

from typing import Any

from charlm.errors import CharlmError

# What charlm-eval reads in, and how a run's metrics.json names the arithmetic of its figures.
PRECISIONS = ("32-true", "64-true", "bf16-true", "16-true", "bf16-mixed", "16-mixed")
# Where the largest float16 lies: past it, a float16 number is infinite.
FLOAT16_MAX = 65504


def precision_plugin(precision: str, device: Any) -> Any:
    """Lightning's plugin for `precision` (one of PRECISIONS) on `device`: its
    `convert_module(model)` and `forward_context()` read the model as a run in that
    precision does."""
    from lightning.fabric.plugins import (
        DoublePrecision,
        HalfPrecision,
        MixedPrecision,
        Precision,
    )

    if precision not in PRECISIONS:
        raise CharlmError(
            f"precision={precision!r}: one of {', '.join(PRECISIONS)}, or run (the run's own)"
        )
    if precision == "32-true":
        return Precision()
    if precision == "64-true":
        return DoublePrecision()
    if precision.endswith("-true"):
        return HalfPrecision(precision)  # type: ignore[arg-type]
    return MixedPrecision(precision, str(getattr(device, "type", device)))  # type: ignore[arg-type]


def figures_precision(trainer_precision: str | None) -> str:
    """The arithmetic a run's own figures (metrics.json) are read in, for a run trained in
    `trainer_precision`: its weights' type for a "-true" precision; float32 for a "-mixed"
    one, whose weights are float32 and whose final scoring runs outside the Trainer's
    autocast."""
    value = str(trainer_precision or "32-true")
    # Lightning's short names: 32, 64, 16 and bf16 (the last two mixed).
    value = {"32": "32-true", "64": "64-true", "16": "16-mixed", "bf16": "bf16-mixed"}.get(
        value, value
    )
    return "32-true" if value.endswith("-mixed") else value


def run_precision(config: dict[str, Any] | None) -> str:
    """`figures_precision` of the run whose stored config is `config`."""
    return figures_precision(((config or {}).get("trainer") or {}).get("precision"))


def non_finite_fix(precision: str | None) -> str:
    """What a run whose loss or weights became non-finite should change: in float16, the
    arithmetic (it overflows past 65504); otherwise the learning rate or the data."""
    if precision is not None and str(precision).startswith("16"):
        return (
            f"float16 (trainer.precision={precision}) overflows past {FLOAT16_MAX}: train in "
            "trainer.precision=bf16-mixed or 32-true"
        )
    return "lower the learning rate (model.optimizer.lr) or check the data"
