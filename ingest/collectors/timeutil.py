"""Timestamps and read windows shared by the pull collectors.

A timestamp cursor means "every record that started before this instant has been written". Each run reads
again from ``cursor - overlap`` so records that reach the source late (buffered SDKs, slow ingestion queues)
are still picked up; re-reading is harmless because writes are idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

# A call reaches Helicone, Langfuse (exported when its span ends) and LiteLLM's spend logs when it ends, while
# the windows are by start time: a call that ran longer than the overlap (the OpenAI and Anthropic SDKs wait
# 10 minutes before they time out; reasoning and deep-research calls run longer) would fall behind the cursor
# and never be read. An hour covers them, at the price of reading that hour again on every run.
DEFAULT_OVERLAP = timedelta(minutes=60)


def parse_timestamp(value: object) -> datetime:
    """A timezone-aware UTC datetime from ISO-8601 (``Z`` or offset), ClickHouse ``YYYY-MM-DD HH:MM:SS.fff``
    (read as UTC) or a datetime. Raises ``ValueError`` for anything else."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_optional_timestamp(value: object) -> datetime | None:
    """Like :func:`parse_timestamp` but None/empty stays None."""
    if value is None or value == "":
        return None
    return parse_timestamp(value)


def format_timestamp(dt: datetime) -> str:
    """The one cursor spelling: UTC, microseconds, ``Z`` (sorts lexically in time order)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_start(
    cursor: str | None,
    *,
    since: datetime | None,
    overlap: timedelta,
    initial_lookback: timedelta | None,
    now: datetime,
) -> datetime | None:
    """Where a run starts reading: ``since`` when given (a backfill), else the cursor minus the overlap, else
    ``now - initial_lookback`` on a first run (None = from the beginning of the source's history)."""
    if since is not None:
        return parse_timestamp(since)
    if cursor:
        return parse_timestamp(cursor) - overlap
    if initial_lookback is not None:
        return now - initial_lookback
    return None


def windows(start: datetime, end: datetime, size: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive half-open windows ``[a, b)`` covering ``[start, end)``, oldest first."""
    if size <= timedelta(0):
        raise ValueError("window size must be positive")
    lo = start
    while lo < end:
        hi = min(lo + size, end)
        yield lo, hi
        lo = hi
