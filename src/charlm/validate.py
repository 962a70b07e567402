"""Checks of a composed run config, before any data is read or any training starts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig

from charlm.data.corpus import check_fractions
from charlm.errors import CharlmError


class ConfigError(CharlmError):
    """A config value is impossible; the message names the key, the value and what is allowed."""


POSITIVE_INTS = (
    "data.context_size",
    "data.batch_size",
    "data.steps_per_batch",
    "data.eval_batch_size",
    "model.net.emb_size",
    "model.net.hidden_size",
    "trainer.max_steps",
)


def _get(cfg: DictConfig, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return None
        node = node[part]
    return node


def _positive_int(key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}={value!r}: must be an integer >= 1")


def _positive_ints(key: str, values: Iterable[Any] | None) -> None:
    for value in values or ():
        _positive_int(key, value)


def validate_config(cfg: DictConfig) -> None:
    """Raise `ConfigError` for the first impossible value of a `charlm-train` config."""
    for key in POSITIVE_INTS:
        _positive_int(key, _get(cfg, key))
    _positive_ints("model.net.hidden_sizes", _get(cfg, "model.net.hidden_sizes"))
    lr = _get(cfg, "model.optimizer.lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, int | float) or lr <= 0):
        raise ConfigError(f"model.optimizer.lr={lr!r}: the learning rate must be a number > 0")
    split = _get(cfg, "data.split")
    if split is not None:
        try:
            check_fractions(list(split))
        except CharlmError as err:
            raise ConfigError(str(err)) from None
    interval = _get(cfg, "trainer.val_check_interval")
    if isinstance(interval, int) and not isinstance(interval, bool) and interval < 1:
        raise ConfigError(
            f"trainer.val_check_interval={interval}: must be >= 1 (Lightning batches)"
        )
    seed = cfg.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed={seed!r}: must be an integer >= 0, or null")
