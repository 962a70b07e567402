"""Networks built from stored configs, looked up by name among `charlm.models` only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from charlm.errors import CharlmError


def net_class(target: str) -> type[nn.Module]:
    """The class a config's `_target_` names, if it is one of `charlm.models`' networks.

    A stored config could name any callable; only charlm's own network classes are built, so
    reading a checkpoint never imports or runs anything else.
    """
    from charlm import models

    cls = getattr(models, str(target).rsplit(".", 1)[-1], None)
    if not str(target).startswith("charlm.models.") or not (
        isinstance(cls, type) and issubclass(cls, nn.Module)
    ):
        raise CharlmError(
            f"model class {target!r} is not one of charlm.models ({', '.join(models.__all__)})"
        )
    return cls


def build_net(config: Mapping[str, Any]) -> nn.Module:
    """`charlm.models.X(**kwargs)` from `{"_target_": "charlm.models.X", **kwargs}`."""
    cls = net_class(str(config.get("_target_", "")))
    return cls(**{k: v for k, v in config.items() if not str(k).startswith("_")})
