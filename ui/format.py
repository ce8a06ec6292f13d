"""Numbers for people: dollars, shares, token counts and durations as a FinOps lead reads them.

Every formatter takes ``None`` (an unknown value: an unpriced model, a ratio over nothing) and shows it as
"—" rather than as zero, because an unknown cost is not a free one.
"""

from __future__ import annotations

from datetime import datetime

from agentledger.analytics._common import dollars

UNKNOWN = "—"


def usd(value: float | None) -> str:
    """Dollars: cents from $1 up ($1,234.56), four significant digits below a dollar ($0.0042)."""
    return UNKNOWN if value is None else dollars(value)


def usd_delta(value: float | None) -> str | None:
    """A signed dollar change for ``st.metric(delta=...)``; None (no delta shown) when unknown."""
    if value is None:
        return None
    return ("+" if value >= 0 else "") + usd(value)


def pct(value: float | None, digits: int = 1) -> str:
    """A share or rate in [0, 1] as a percentage with a thin space: 0.123 -> "12.3 %"."""
    if value is None:
        return UNKNOWN
    return f"{value * 100:.{digits}f} %"


def pct_points_delta(value: float | None) -> str | None:
    """A change of a rate, in percentage points, signed; None when unknown."""
    if value is None:
        return None
    return f"{value * 100:+.1f} pp"


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change from ``previous`` to ``current``; None when either is unknown or previous is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / abs(previous)


def pct_change(value: float | None) -> str:
    """A relative change, signed: 0.25 -> "+25.0 %"; unknown (no previous period) -> "new"."""
    if value is None:
        return "new"
    return f"{value * 100:+.1f} %"


def count(value: int | float | None) -> str:
    """A count with thousands separators: 12,345."""
    if value is None:
        return UNKNOWN
    return f"{value:,.0f}"


def plural(n: int | None, noun: str) -> str:
    """A count and its noun, pluralized with a final s: 1 trace, 3 traces."""
    return f"{count(n)} {noun}" + ("" if n == 1 else "s")


def tokens(value: int | float | None) -> str:
    """A token volume, abbreviated: 950, 12.3 k, 1.2 M, 3.4 B."""
    if value is None:
        return UNKNOWN
    magnitude = abs(value)
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= threshold:
            return f"{value / threshold:.1f} {suffix}"
    return f"{value:,.0f}"


def duration_ms(value: float | None) -> str:
    """A latency: 850 ms, 2.4 s, 3.1 min."""
    if value is None:
        return UNKNOWN
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    return f"{value / 60_000:.1f} min"


def when(value: datetime | None) -> str:
    """A timestamp in UTC to the minute: 2026-11-23 14:05 UTC; never synced -> "never"."""
    if value is None:
        return "never"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def label(value: str | None, missing: str = "unknown") -> str:
    """A dimension value for display; a missing agent or task type reads as "unknown", not blank."""
    return missing if value is None or value == "" else str(value)
