"""What a notification says, independent of the channel: :class:`AlertMessage`.

A message is built once, when the transition happens, stored as JSON in the alert history, and rendered
per channel (Slack blocks, email, webhook JSON) by :mod:`agentledger.alerts.channels`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from agentledger.alerts.evaluate import group_by_of
from agentledger.alerts.rules import (
    BudgetRule,
    Rule,
    RunawayRule,
    SpikeRule,
    ThresholdRule,
    UnpricedModelRule,
)
from agentledger.alerts.state import Transition
from agentledger.analytics.report_render import dashboard_link, format_value

_EVENT_WORDS = {
    "fired": "FIRING",
    "escalated": "ESCALATED",
    "reminder": "STILL FIRING",
    "resolved": "RESOLVED",
    "test": "TEST",
}


def unit_of(metric: str) -> str:
    """How a metric's values read: ``usd``, ``ratio`` or ``count``."""
    if metric.endswith("_usd"):
        return "usd"
    if metric.endswith(("_rate", "_ratio", "_share")):
        return "ratio"
    return "count"


@dataclass(frozen=True)
class Offender:
    """A session or trace that contributes most to the alert, with a link to it on the dashboard."""

    kind: str  # "trace" or "session"
    id: str
    cost_usd: float | None
    calls: int
    agent: str | None = None
    task_type: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class AlertMessage:
    """Everything a channel needs to say about one alert event."""

    event: str  # fired | escalated | reminder | resolved | test
    rule: str
    kind: str
    severity: str
    alert_key: str
    metric: str
    unit: str
    op: str
    value: float | None
    threshold: float | None
    since: datetime
    until: datetime
    at: datetime
    project_id: str = "default"
    description: str | None = None
    group_by: str | None = None
    group: str | None = None
    scope: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    offenders: list[Offender] = field(default_factory=list)
    dashboard_url: str | None = None

    @property
    def event_word(self) -> str:
        """FIRING, ESCALATED, STILL FIRING, RESOLVED or TEST."""
        return _EVENT_WORDS.get(self.event, self.event.upper())

    def subject(self) -> str:
        """One line: ``FIRING: support-p95 (agent=support-bot): p95_session_cost_usd $0.62 > $0.50``."""
        where = f" ({self.group_by}={self.group})" if self.group_by else ""
        return f"{self.event_word}: {self.rule}{where}: {self.summary()}"

    def summary(self) -> str:
        """The measured value against the threshold, in words."""
        value = format_value(self.value, self.unit)
        if self.event == "resolved":
            return f"{self.metric} back to {value} (threshold {self.op} {format_value(self.threshold, self.unit)})"
        if self.kind == "budget":
            share = self.details.get("share")
            pct = f" ({share * 100:.0f}% of the budget)" if share is not None else ""
            budget = format_value(self.details.get("amount_usd"), "usd")
            unpriced = self.details.get("unpriced_calls") or 0
            left_out = f"; {plural(unpriced, 'call')} without a price not counted" if unpriced else ""
            return f"{self.details.get('period_label', 'period')} spend {value} of {budget}{pct}{left_out}"
        if self.kind == "runaway":
            return f"{value} runaway task(s) over the limit ({self.details.get('limits', '')})"
        if self.kind == "unpriced_model":
            return f"{value} model(s) without a price: {', '.join(self.details.get('models', []))}"
        if self.kind == "spike":
            return f"{self.metric} {value} on {self.details.get('day')}, expected about {format_value(self.details.get('expected'), self.unit)}"
        return f"{self.metric} {value} {self.op} {format_value(self.threshold, self.unit)}"

    def forecast_text(self) -> str | None:
        """A budget's spend at the period's end at the current run rate (None for other alerts); it covers
        the priced calls only when some calls have no price, and says so."""
        forecast = self.details.get("forecast_usd")
        if forecast is None:
            return None
        partial = " (priced calls only)" if self.details.get("unpriced_calls") else ""
        return f"{format_value(forecast, 'usd')}{partial}"

    def window_text(self) -> str:
        """``2026-11-23 10:00 → 2026-11-24 10:00 UTC``."""
        return f"{self.since:%Y-%m-%d %H:%M} → {self.until:%Y-%m-%d %H:%M} UTC"

    def link(self) -> str | None:
        """The dashboard page for this alert's window and scope."""
        return dashboard_link(self.dashboard_url, "overview", self.since, self.until, self.filters())

    def filters(self) -> dict[str, str]:
        """The scope plus the group, as dashboard filters."""
        extra = {self.group_by: self.group} if self.group_by and self.group is not None else {}
        return {**self.scope, **extra}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO strings)."""
        data = asdict(self)
        for key in ("since", "until", "at"):
            data[key] = getattr(self, key).isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertMessage:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        for key in ("since", "until", "at"):
            values[key] = datetime.fromisoformat(values[key])
        values["offenders"] = [Offender(**o) for o in values.get("offenders", [])]
        return cls(**values)


def metric_of(rule: Rule) -> str:
    """The metric a rule watches (budgets watch spend, runaway rules count tasks)."""
    if isinstance(rule, ThresholdRule | SpikeRule):
        return rule.metric
    if isinstance(rule, BudgetRule):
        return "total_cost_usd"
    if isinstance(rule, RunawayRule):
        return "runaway_tasks"
    if isinstance(rule, UnpricedModelRule):
        return "unpriced_models"
    raise TypeError(f"unknown rule type {type(rule).__name__}")


def op_of(rule: Rule) -> str:
    """How a rule compares: its own operator, ``>=`` for budget levels, ``>`` for counts of offenders."""
    if isinstance(rule, ThresholdRule):
        return rule.op
    return ">=" if isinstance(rule, BudgetRule) else ">"


def plural(n: int, word: str) -> str:
    """``1 call``, ``3 calls``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def build_message(
    transition: Transition,
    rule: Rule,
    *,
    now: datetime,
    project_id: str,
    offenders: list[Offender],
    dashboard_url: str | None,
) -> AlertMessage:
    """The message of a notifying transition (its evaluation, or its last state when it was not measured)."""
    ev = transition.evaluation
    state = transition.state
    obs = ev.observation if ev is not None else None
    metric = metric_of(rule)
    return AlertMessage(
        event=transition.event or "fired",
        rule=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        alert_key=state.alert_key,
        metric=metric,
        unit=unit_of(metric),
        op=op_of(rule),
        value=obs.value if obs is not None else state.value,
        threshold=ev.threshold if ev is not None else state.threshold,
        since=obs.since if obs is not None else now,
        until=obs.until if obs is not None else now,
        at=now,
        project_id=project_id,
        description=rule.description,
        group_by=group_by_of(rule),
        group=state.group_key,
        scope=rule.scope.given(),
        details=dict(obs.details) if obs is not None else {},
        offenders=offenders,
        dashboard_url=dashboard_url,
    )
