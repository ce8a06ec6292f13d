"""The alert state machine: what to notify, given the previous state of an instance and its new evaluation.

States are ``firing`` and ``resolved``. Transitions and the notification each one sends:

| before            | now breaching                      | event        | notified            |
|-------------------|------------------------------------|--------------|---------------------|
| none / resolved   | yes                                | ``fired``    | yes                 |
| firing            | yes, at a higher level (budgets)   | ``escalated``| yes, cooldown or not|
| firing            | yes, cooldown passed since notified| ``reminder`` | yes                 |
| firing            | yes, within the cooldown           | —            | no                  |
| firing            | no (or no longer measured)         | ``resolved`` | if notify_resolved  |
| none / resolved   | no                                 | —            | no                  |

An alert that stays firing is therefore sent once per cooldown, and a resolved alert sends one notice.
Everything here is pure; time comes in as ``now`` (see :class:`Clock`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from agentledger.alerts.evaluate import Evaluation
from agentledger.alerts.rules import Rule

Event = Literal["fired", "escalated", "reminder", "resolved"]
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, in UTC (the default :data:`Clock`; tests pass their own)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class AlertState:
    """The stored state of one alert instance (a row of ``alert_state``)."""

    alert_key: str
    rule_name: str
    group_key: str | None
    status: Literal["firing", "resolved"]
    evaluated_at: datetime
    level: float | None = None
    value: float | None = None
    threshold: float | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    notified_at: datetime | None = None
    notified_level: float | None = None

    @property
    def firing(self) -> bool:
        """Whether the instance is firing."""
        return self.status == "firing"


@dataclass(frozen=True)
class Transition:
    """The new state of an instance and the notification it calls for (``notify``), if any."""

    state: AlertState
    event: Event | None
    notify: bool
    evaluation: Evaluation | None  # None when the instance was not measured this time (it resolves)


def _reminder_due(prev: AlertState, now: datetime, cooldown: timedelta | None) -> bool:
    return cooldown is not None and prev.notified_at is not None and now - prev.notified_at >= cooldown


def step(prev: AlertState | None, ev: Evaluation, now: datetime, rule: Rule) -> Transition | None:
    """The transition of one measured instance (None: nothing changed worth storing)."""
    obs = ev.observation
    if not ev.breaching:
        if prev is None or not prev.firing:
            return None
        return resolve(prev, now, notify=rule.notify_resolved, evaluation=ev)
    base = AlertState(
        alert_key=ev.alert_key,
        rule_name=ev.rule_name,
        group_key=obs.group,
        status="firing",
        evaluated_at=now,
        level=ev.level,
        value=obs.value,
        threshold=ev.threshold,
    )
    if prev is None or not prev.firing:
        state = replace(base, fired_at=now, notified_at=now, notified_level=ev.level)
        return Transition(state, "fired", True, ev)
    kept = replace(
        base, fired_at=prev.fired_at, notified_at=prev.notified_at, notified_level=prev.notified_level
    )
    if ev.level is not None and (prev.notified_level is None or ev.level > prev.notified_level):
        return Transition(replace(kept, notified_at=now, notified_level=ev.level), "escalated", True, ev)
    if _reminder_due(prev, now, rule.cooldown):
        return Transition(replace(kept, notified_at=now), "reminder", True, ev)
    return Transition(kept, None, False, ev)


def resolve(
    prev: AlertState, now: datetime, *, notify: bool, evaluation: Evaluation | None = None
) -> Transition:
    """A firing instance clears; ``notify`` says whether a resolution notice goes out."""
    obs = evaluation.observation if evaluation is not None else None
    state = replace(
        prev,
        status="resolved",
        evaluated_at=now,
        resolved_at=now,
        value=obs.value if obs is not None else prev.value,
    )
    return Transition(state, "resolved" if notify else None, notify, evaluation)


def plan(
    states: Mapping[str, AlertState],
    evaluations: Iterable[Evaluation],
    rules: Mapping[str, Rule],
    now: datetime,
) -> list[Transition]:
    """Every transition of one evaluation round.

    ``rules`` are the rules evaluated this round. A firing instance of one of them that was not measured
    (its group had no calls, its budget period ended) resolves; a firing instance whose rule is gone or
    disabled resolves silently, since nobody asks for it any more.
    """
    out: list[Transition] = []
    seen: set[str] = set()
    for ev in evaluations:
        seen.add(ev.alert_key)
        transition = step(states.get(ev.alert_key), ev, now, rules[ev.rule_name])
        if transition is not None:
            out.append(transition)
    for key, state in states.items():
        if key in seen or not state.firing:
            continue
        rule = rules.get(state.rule_name)
        out.append(resolve(state, now, notify=rule is not None and rule.notify_resolved))
    return out
