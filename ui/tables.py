"""What the pages show, shaped from analytics results (pure: no Streamlit, no I/O, unit-testable).

Tiles with their deltas against the previous period, the week's top cost drivers, and the per-group metric
tables of the Breakdown page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from agentledger.ui import format as fmt

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

Row = Mapping[str, Any]
NO_DELTA = "no earlier data"


@dataclass(frozen=True)
class Tile:
    """One headline number: its formatted value and change, and whether a rise is good or bad."""

    key: str
    label: str
    value: str
    delta: str | None
    delta_color: Literal["normal", "inverse", "off"]
    help: str

    @property
    def delta_known(self) -> bool:
        """Whether the previous period gives a comparison (else the delta reads "no earlier data")."""
        return self.delta != NO_DELTA


def _diff(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    return current - previous


def _money_delta(current: float | None, previous: float | None) -> str | None:
    diff = _diff(current, previous)
    if diff is None:
        return None
    relative = fmt.change(current, previous)
    return (
        f"{fmt.usd_delta(diff)} ({fmt.pct_change(relative)})" if relative is not None else fmt.usd_delta(diff)
    )


def _rate_delta(current: float | None, previous: float | None) -> str | None:
    return fmt.pct_points_delta(_diff(current, previous))


# key, label, formatter, delta builder, colour (inverse: a rise is bad), help
_TILES: tuple[tuple[str, str, Callable[[Any], str], Callable[[Any, Any], str | None], str, str], ...] = (
    ("total_cost_usd", "Spend", fmt.usd, _money_delta, "inverse", "Sum of the cost of priced calls"),
    (
        "cost_per_completed_task_usd",
        "Cost/completed task",
        fmt.usd,
        _money_delta,
        "inverse",
        "All spend divided by the tasks that succeeded: failures are paid for by the successes",
    ),
    (
        "waste_ratio",
        "Waste ratio",
        fmt.pct,
        _rate_delta,
        "inverse",
        "Cost of failed tasks and of failed calls in other tasks, as a share of spend",
    ),
    (
        "cache_hit_rate",
        "Cache hit rate",
        fmt.pct,
        _rate_delta,
        "normal",
        "Input tokens read from the provider's prompt cache, as a share of all input tokens",
    ),
    (
        "p95_session_cost_usd",
        "P95 session cost",
        fmt.usd,
        _money_delta,
        "inverse",
        "95th percentile of the cost of a session (linear interpolation)",
    ),
)

TILE_KEYS = tuple(t[0] for t in _TILES)


def overview_tiles(current: Row, previous: Row) -> list[Tile]:
    """The Overview's headline tiles from two ``compute_metrics`` results (this period, the one before).

    The deltas compare with the previous period only when it had calls at all.
    """
    tiles = []
    # With no call in the previous period there is nothing to compare with (not a rise from $0).
    compare = bool(previous.get("calls"))
    for key, label, value_fmt, delta, color, help_ in _TILES:
        change = delta(current.get(key), previous.get(key)) if compare else None
        # A tile without a comparison still shows a (grey) delta line, so every tile has the same height.
        tiles.append(
            Tile(
                key, label, value_fmt(current.get(key)), change or NO_DELTA, color if change else "off", help_
            )  # type: ignore[arg-type]
        )
    return tiles


def top_drivers(current: Mapping[Any, Row], previous: Mapping[Any, Row], limit: int = 5) -> pl.DataFrame:
    """The groups that cost most this period, with last period's cost and the change.

    ``current`` and ``previous`` map a group key to a row with ``total_cost_usd`` (as
    ``metrics.call_totals`` returns); groups whose cost is unknown (all unpriced) are left out.
    """
    rows = []
    for key, row in current.items():
        cost = row.get("total_cost_usd")
        if cost is None:
            continue
        before = (previous.get(key) or {}).get("total_cost_usd")
        # Absent from a period that had calls: a rise from $0. A period without any: nothing to compare with.
        before = 0.0 if before is None and key not in previous and previous else before
        rows.append(
            {
                "key": fmt.label(key),
                "cost_usd": float(cost),
                "previous_cost_usd": None if before is None else float(before),
                "change_usd": None if before is None else float(cost) - float(before),
                "change": fmt.change(float(cost), None if before is None else float(before)),
            }
        )
    schema = {
        "key": pl.String,
        "cost_usd": pl.Float64,
        "previous_cost_usd": pl.Float64,
        "change_usd": pl.Float64,
        "change": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema)
    return frame.sort("cost_usd", "key", descending=[True, False]).head(limit)


def sum_groups(groups: Sequence[Row], keys: Sequence[str]) -> dict[str, float | int | None]:
    """Column sums over groups, where unknown is not zero: a sum is None only when every value is None
    (all unpriced), and 0 over no groups."""
    sums: dict[str, float | int | None] = {}
    for key in keys:
        known = [g[key] for g in groups if g.get(key) is not None]
        sums[key] = sum(known) if known or not groups else None
    return sums


# -- breakdown -------------------------------------------------------------------------------------

# metric key -> (label, kind) where kind is how it reads: usd, pct, count or tokens
METRICS: dict[str, tuple[str, str]] = {
    "total_cost_usd": ("Spend", "usd"),
    "calls": ("Calls", "count"),
    "unpriced_calls": ("Unpriced calls", "count"),
    "tasks": ("Tasks", "count"),
    "completed_tasks": ("Completed tasks", "count"),
    "failed_tasks": ("Failed tasks", "count"),
    "cost_per_completed_task_usd": ("Cost per completed task", "usd"),
    "avg_completed_task_cost_usd": ("Average completed task cost", "usd"),
    "waste_usd": ("Waste", "usd"),
    "waste_ratio": ("Waste ratio", "pct"),
    "cache_hit_rate": ("Cache hit rate", "pct"),
    "response_cache_hit_rate": ("Response cache hit rate", "pct"),
    "sessions": ("Sessions", "count"),
    "p95_session_cost_usd": ("P95 session cost", "usd"),
    "input_tokens": ("Input tokens", "tokens"),
    "output_tokens": ("Output tokens", "tokens"),
    "cache_read_tokens": ("Cache read tokens", "tokens"),
}

_DTYPES = {"usd": pl.Float64, "pct": pl.Float64, "count": pl.Int64, "tokens": pl.Int64}


def metrics_table(groups: Sequence[Row], dimension_label: str) -> pl.DataFrame:
    """One row per group with every metric (ratios as fractions), most expensive first."""
    schema: dict[str, Any] = {dimension_label: pl.String}
    schema.update({key: _DTYPES[kind] for key, (_, kind) in METRICS.items()})
    rows = [{dimension_label: fmt.label(g.get("key")), **{k: g.get(k) for k in METRICS}} for g in groups]
    frame = pl.DataFrame(rows, schema=schema)
    return frame.sort("total_cost_usd", dimension_label, descending=[True, False], nulls_last=True)


def csv_table(frame: pl.DataFrame) -> bytes:
    """The table as CSV, with the column names of the metrics JSON (units in the names: _usd, _rate)."""
    return frame.write_csv().encode("utf-8")


def dollars(frame: pl.DataFrame, columns: Iterable[str]) -> Styler:
    """``frame`` for ``st.dataframe`` with its dollar ``columns`` written as :func:`format.usd` does ($1,234.56,
    $0.0042). A column's "dollar" format would round a known $0.004 to "$0.00", which reads as free; the cells
    keep their numbers, so sorting a column still sorts by value. (Streamlit shows an unknown cell as "None".)
    """
    data = frame.to_pandas()
    shown = [c for c in columns if c in data.columns]
    return data.style.format(fmt.usd, subset=shown, na_rep=fmt.UNKNOWN)
