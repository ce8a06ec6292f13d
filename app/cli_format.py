"""How the CLI's tables show values: money, shares, counts, times, lists. One formatter for every command.

``--json`` output never goes through here: it keeps the raw values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Col", "fmt", "frame_table", "usd"]

NONE = "—"


def fmt(value: Any, key: str) -> str:
    """``value`` for a table cell, by what its column ``key`` holds: ``*_usd`` as dollars (``$1.50``, below a
    dollar ``$0.0412``), ``*_rate``/``*_ratio``/``*_share`` as a percentage, ``*_ms`` as a duration, date-times
    as ``YYYY-MM-DD HH:MM`` (UTC), lists joined; unknown (None, NaN) as ``—``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NONE
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v, key) for v in value) or NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if key.endswith("_usd"):
        return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"
    if key.endswith(("_rate", "_ratio", "_share")):
        return f"{value:.1%}"
    if key.endswith("_ms"):
        return _duration(value / 1000)
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def usd(value: float | None) -> str:
    """Dollars as every table shows them (see :func:`fmt`)."""
    return fmt(value, "usd")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass(frozen=True)
class Col:
    """One column of a table made from a frame: the frame's column ``name`` under ``header``, formatted as
    ``key`` says (default: ``name``, see :func:`fmt`), or by ``show`` from the whole row."""

    name: str
    header: str
    key: str | None = None
    show: Callable[[dict[str, Any]], str] | None = None
    no_wrap: bool = False

    def cell(self, row: dict[str, Any]) -> str:
        if self.show is not None:
            return self.show(row)
        return fmt(row.get(self.name), self.key or self.name)


def frame_table(frame: pl.DataFrame, columns: Sequence[Col], title: str) -> Table:
    """The rows of ``frame`` as a table of the chosen ``columns`` (those the frame has), numbers right-aligned."""
    chosen = [c for c in columns if c.show is not None or c.name in frame.columns]
    table = Table(title=title)
    for col in chosen:
        dtype = frame.schema.get(col.name)
        numeric = dtype is not None and dtype.is_numeric()
        table.add_column(
            col.header,
            justify="right" if numeric else "left",
            no_wrap=col.no_wrap,
            overflow="fold",
        )
    for row in frame.iter_rows(named=True):
        table.add_row(*(col.cell(row) for col in chosen))
    return table
