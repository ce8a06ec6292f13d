"""Small helpers shared by the analytics modules: bind parameters, result clean-up, allow-lists, dollars.

Backends return the same columns with slightly different types (DuckDB sums integers into HUGEINT, which
polars reads as ``Decimal(38, 0)``; ClickHouse casts only some of them), so every frame handed to a caller
goes through :func:`normalized`: integers as Int64, decimals and floats as Float64, NaN as null.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import polars as pl

from agentledger.analytics.filters import Filters
from agentledger.core.errors import InputError


def params(filters: Filters, **extra: Any) -> dict[str, Any]:
    """The canonical queries' bind parameters: every filter, plus the query's own values."""
    return {**filters.params(), **extra}


def _clean(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Decimal):
        return column.cast(pl.Int64) if dtype.scale == 0 else column.cast(pl.Float64)
    if dtype.is_float():
        # NaN never leaves the analytics layer: an undefined number is null (JSON has no NaN).
        return pl.when(column.is_nan()).then(None).otherwise(column).cast(pl.Float64).alias(name)
    if dtype.is_integer():
        return column.cast(pl.Int64)
    return column


def normalized(frame: pl.DataFrame, drop: Iterable[str] = ()) -> pl.DataFrame:
    """``frame`` with integer columns as Int64, decimals and floats as Float64 and NaN as null."""
    frame = frame.drop([c for c in drop if c in frame.columns])
    return frame.with_columns([_clean(name, dtype) for name, dtype in frame.schema.items()])


def check_choice(name: str, value: str | None, allowed: Iterable[str | None]) -> None:
    """Raise an :class:`InputError` naming ``name`` when ``value`` is not one of ``allowed``."""
    options = tuple(allowed)
    if value not in options:
        shown = ", ".join("none" if o is None else o for o in options)
        raise InputError(f"{name}={value!r} is not supported; choose one of {shown}")


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dollars(value: float) -> str:
    """Cents from $1 up ($1,234.56), four decimals below a dollar ($0.0042), and two significant digits below a
    cent ($0.000049): a small known cost never reads as $0."""
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude >= 1 or magnitude == 0:
        return f"{sign}${magnitude:,.2f}"
    if magnitude >= 0.01:
        return f"{sign}${magnitude:.4f}"
    decimals = min(10, 1 - math.floor(math.log10(magnitude)))  # never scientific notation
    return f"{sign}${magnitude:.{decimals}f}"
