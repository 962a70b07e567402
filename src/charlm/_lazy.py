"""Module-level `__getattr__` (PEP 562) for packages whose names load on first use.

`import charlm` must stay light: a notebook that loads a checkpoint and samples words should
not pay for (or have its process changed by) Lightning, Hydra or torchmetrics. Python has no
built-in lazy `from x import y`, hence this helper.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public `name` lives in `homes[name]`."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted(set(homes) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
