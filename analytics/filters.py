"""What a metric is computed over: a time window and optional equality filters on calls."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args

from agentledger.core.errors import InputError

# The dashboard's default window: the last 30 days of data (see last_days).
DASHBOARD_DAYS = 30

# Dimensions every metric can be grouped by (the warehouse maps each to an allow-listed expression).
GroupBy = Literal[
    "day",
    "week",
    "agent",
    "task_type",
    "user",
    "feature",
    "model",
    "provider",
    "source",
    "environment",
]
GROUP_BY: tuple[GroupBy, ...] = get_args(GroupBy)


@dataclass(frozen=True)
class Filters:
    """Calls whose ``started_at`` is in [since, until) and whose columns equal the given values."""

    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    task_type: str | None = None
    user: str | None = None
    feature: str | None = None
    model: str | None = None
    provider: str | None = None
    source: str | None = None
    environment: str | None = None
    project_id: str = "default"

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InputError(f"{name}={value.isoformat()} has no time zone; give it in UTC")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InputError(
                f"empty window: since {self.since.isoformat()} is not before until {self.until.isoformat()}"
            )

    def params(self) -> dict[str, object]:
        """Bind parameters of the canonical queries (every filter, None when unset)."""
        return asdict(self)


def check_group_by(group_by: str | None) -> str:
    """The template value for ``{group}``: the dimension itself, or "none" when not grouping."""
    if group_by is None:
        return "none"
    if group_by not in GROUP_BY:
        raise InputError(f"cannot group by {group_by!r}; choose one of {', '.join(GROUP_BY)}")
    return group_by


def day_window(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end + 1 day 00:00) in UTC: the calls of the days ``start`` to ``end``, both inclusive."""
    return (
        datetime.combine(start, time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    )


def last_days(last_call_at: datetime | None, today: date, days: int) -> tuple[date, date]:
    """The first and last of the ``days`` days (UTC) that end on the day of the newest call, or on ``today``
    when there is none: the dashboard's default window."""
    end = last_call_at.astimezone(UTC).date() if last_call_at is not None else today
    return end - timedelta(days=days - 1), end
