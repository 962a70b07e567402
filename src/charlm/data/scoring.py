"""How scored rows are shown: an aligned table, CSV or JSON; sorted and cut as asked.

The kinds of data (`charlm.data.kinds`) score their own rows; this is what their tables share.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from charlm.errors import CharlmError

FORMATS = ("table", "csv", "json")


def arrange(
    rows: list[dict[str, Any]],
    sort: str | None,
    descending: bool,
    top: int | None,
    keys: Sequence[str] = ("nll", "nll_per_char"),
) -> list[dict[str, Any]]:
    """Rows sorted on `sort`, one of `keys` (unscored rows last, whatever the order), then
    the first `top`."""
    if sort is not None:
        if sort not in keys:
            raise CharlmError(f"sort={sort!r}: one of {', '.join(keys)}, or null (input order)")
        scored = sorted(
            (r for r in rows if r[sort] is not None), key=lambda r: r[sort], reverse=descending
        )
        rows = scored + [r for r in rows if r[sort] is None]
    if top is not None:
        if not isinstance(top, int) or top < 1:
            raise CharlmError(f"top={top!r}: must be an integer >= 1, or null for every row")
        rows = rows[:top]
    return rows


def cell(value: Any) -> str:
    """A value as a table shows it: floats to 4 places, a missing one as '-'."""
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def rows_out(
    rows: Sequence[Mapping[str, Any]],
    totals: Mapping[str, Any],
    fmt: str,
    columns: Sequence[str],
    name: str,
    show: Callable[[Mapping[str, Any], str], str] | None = None,
) -> str | list[str]:
    """JSON ({name: rows, "summary": totals}) or CSV, whole; or a table's aligned lines, to
    which the caller adds its totals line."""
    if fmt == "json":
        return json.dumps({name: list(rows), "summary": dict(totals)}, indent=2, ensure_ascii=False)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in columns} for r in rows)
        return buffer.getvalue().rstrip("\n")
    if fmt not in FORMATS:
        raise CharlmError(f"format={fmt!r}: one of {', '.join(FORMATS)}")
    show = show or (lambda row, column: cell(row.get(column)))
    table = [tuple(columns)] + [tuple(show(r, c) for c in columns) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return [
        "  ".join(t.ljust(w) for t, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]
