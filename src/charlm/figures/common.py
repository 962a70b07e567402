"""What every figure shares: a Figure of its own (never pyplot's), symbols shown visibly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# A run's curves: metric name (train/loss, val/loss) -> (update, value) points.
Curves = Mapping[str, Sequence[tuple[int, float]]]


def _figure(**kwargs: Any) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _shown(symbol: str) -> str:
    """A symbol as a cell or a label shows it: the space and the newline made visible."""
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(symbol, symbol)
