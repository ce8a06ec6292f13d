"""The pure parts: comparisons, budget levels and the state machine with cooldowns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentledger.alerts.evaluate import Observation, budget_level, compare, judge
from agentledger.alerts.rules import parse_alerts
from agentledger.alerts.state import plan, step

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
RULES = parse_alerts(
    {
        "rules": [
            {
                "name": "p95",
                "kind": "threshold",
                "metric": "p95_session_cost_usd",
                "value": 0.5,
                "cooldown": "6h",
            },
            {
                "name": "cache",
                "kind": "threshold",
                "metric": "cache_hit_rate",
                "op": "<",
                "value": "30%",
                "min_calls": 10,
            },
            {"name": "budget", "kind": "budget", "amount_usd": 1000, "group_by": "agent"},
            {"name": "quiet", "kind": "threshold", "metric": "calls", "value": 5, "notify_resolved": False},
        ]
    }
)
RULE = {r.name: r for r in RULES.rules}


def obs(
    value: float | None, calls: int = 100, group: str | None = None, period: str | None = None
) -> Observation:
    return Observation(
        value=value, since=NOW - timedelta(days=1), until=NOW, group=group, calls=calls, period=period
    )


def test_compare_and_unknown_values() -> None:
    assert compare(">", 0.6, 0.5) and not compare(">", 0.5, 0.5) and compare(">=", 0.5, 0.5)
    assert compare("<", 0.2, 0.3) and not compare("<", None, 0.3)


@given(spent=st.floats(0, 5000), amount=st.floats(1, 5000))
def test_budget_level_is_the_highest_level_reached(spent: float, amount: float) -> None:
    level = budget_level(spent, amount, [0.5, 0.8, 1.0])
    if level is None:
        assert spent < 0.5 * amount
    else:
        assert spent >= level * amount
        assert all(spent < other * amount for other in (0.5, 0.8, 1.0) if other > level)


def test_a_ratio_rule_needs_enough_calls() -> None:
    assert judge(RULE["cache"], obs(0.1, calls=50)).breaching
    assert not judge(RULE["cache"], obs(0.1, calls=9)).breaching
    assert not judge(RULE["cache"], obs(None, calls=50)).breaching


def test_keys_distinguish_groups_and_budget_periods() -> None:
    ev = judge(RULE["budget"], obs(850.0, group="support-bot", period="2026-11"))
    assert ev.alert_key == "budget|agent=support-bot|2026-11"
    assert (ev.breaching, ev.level, ev.threshold) == (True, 0.8, 800.0)


def run(rule_name: str, values: list[tuple[timedelta, float]]) -> list[str | None]:
    """Feed a series of (time offset, value) to the state machine; return the events."""
    rule, state, events = RULE[rule_name], None, []
    for offset, value in values:
        t = step(state, judge(rule, obs(value)), NOW + offset, rule)
        events.append(t.event if t else None)
        state = t.state if t else state
    return events


def test_firing_is_notified_once_per_cooldown_and_resolution_once() -> None:
    h = timedelta(hours=1)
    series = [
        (0 * h, 0.7),
        (1 * h, 0.8),
        (2 * h, 0.9),
        (6 * h, 0.9),
        (7 * h, 0.9),
        (8 * h, 0.1),
        (9 * h, 0.1),
    ]
    assert run("p95", series) == ["fired", None, None, "reminder", None, "resolved", None]


def test_budget_escalates_at_once_and_never_reminds() -> None:
    rule, state, events = RULE["budget"], None, []
    for days, spent in [(0, 510), (1, 600), (2, 810), (20, 900), (25, 1001)]:
        t = step(
            state, judge(rule, obs(spent, group="a", period="2026-11")), NOW + timedelta(days=days), rule
        )
        events.append((t.event, t.state.notified_level) if t else None)
        state = t.state if t else state
    assert events == [("fired", 0.5), (None, 0.5), ("escalated", 0.8), (None, 0.8), ("escalated", 1.0)]


def test_plan_resolves_instances_that_were_not_measured() -> None:
    first = plan({}, [judge(RULE["budget"], obs(600.0, group="a", period="2026-11"))], RULE, NOW)
    states = {t.state.alert_key: t.state for t in first}
    # next month: the old period's instance is not measured any more; budgets resolve silently
    later = plan(
        states,
        [judge(RULE["budget"], obs(10.0, group="a", period="2026-12"))],
        RULE,
        NOW + timedelta(days=20),
    )
    assert [(t.state.alert_key, t.state.status, t.notify) for t in later] == [
        ("budget|agent=a|2026-11", "resolved", False)
    ]


def test_plan_resolves_silently_when_the_rule_is_gone() -> None:
    fired = plan({}, [judge(RULE["p95"], obs(0.9))], RULE, NOW)
    states = {t.state.alert_key: t.state for t in fired}
    gone = plan(states, [], {"cache": RULE["cache"]}, NOW + timedelta(hours=1))
    assert [(t.event, t.notify, t.state.status) for t in gone] == [(None, False, "resolved")]


@pytest.mark.parametrize(("rule", "event"), [("p95", "resolved"), ("quiet", None)])
def test_notify_resolved_decides_the_resolution_notice(rule: str, event: str | None) -> None:
    assert run(rule, [(timedelta(0), 100.0), (timedelta(hours=1), 0.0)])[1] == event
