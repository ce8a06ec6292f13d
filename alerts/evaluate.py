"""Pure evaluation: measured values of a rule -> which alert instances breach, and how far.

The measuring (warehouse reads through ``analytics/``) is :mod:`agentledger.alerts.measure`; what a breach
means over time (cooldowns, resolution) is :mod:`agentledger.alerts.state`. This module only compares.

An *alert instance* is what has a state: a rule, or one group of a grouped rule (``|agent=support-bot``),
or one budget period (``|2026-11``), or one spike day. Its key is stable across evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentledger.alerts.rules import (
    BudgetRule,
    Rule,
    RunawayRule,
    SpikeRule,
    ThresholdRule,
    UnpricedModelRule,
)

_OPS = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Observation:
    """One measured value of a rule: for the whole scope (``group`` None) or for one group."""

    value: float | None  # None: no data (no calls, or a ratio without denominator)
    since: datetime
    until: datetime
    group: str | None = None
    calls: int = 0
    period: str | None = None  # budgets: "2026-11" or "2026-W47"; spikes: the day
    details: dict[str, Any] = field(default_factory=dict)  # forecast, offending traces, models...


@dataclass(frozen=True)
class Evaluation:
    """An alert instance judged against its rule."""

    alert_key: str
    rule_name: str
    breaching: bool
    observation: Observation
    threshold: float | None
    level: float | None  # budgets: the highest level crossed; 1.0 for other rules when breaching


def compare(op: str, value: float | None, threshold: float) -> bool:
    """``value <op> threshold``; an unknown value never breaches."""
    return value is not None and _OPS[op](value, threshold)


def group_by_of(rule: Rule) -> str | None:
    """The dimension a rule is evaluated per (spikes are per agent), if any."""
    if isinstance(rule, SpikeRule):
        return "agent"
    return getattr(rule, "group_by", None)


def alert_key(rule: Rule, obs: Observation) -> str:
    """``rule[|dim=value][|period]``: one state per rule, group and budget period or spike day."""
    key = rule.name
    dim = group_by_of(rule)
    if dim is not None:
        key += f"|{dim}={'' if obs.group is None else obs.group}"
    if obs.period is not None:
        key += f"|{obs.period}"
    return key


def budget_level(spent: float | None, amount: float, levels: list[float]) -> float | None:
    """The highest level (fraction of ``amount``) that ``spent`` has reached, or None."""
    if spent is None:
        return None
    reached = [level for level in levels if spent >= level * amount]
    return max(reached) if reached else None


def evaluate(rule: Rule, observations: list[Observation]) -> list[Evaluation]:
    """Judge every observation of ``rule``."""
    return [judge(rule, obs) for obs in observations]


def judge(rule: Rule, obs: Observation) -> Evaluation:
    """One observation against its rule."""
    threshold: float | None
    if isinstance(rule, ThresholdRule):
        threshold = rule.value
        breaching = obs.calls >= rule.min_calls and compare(rule.op, obs.value, rule.value)
        level = 1.0 if breaching else None
    elif isinstance(rule, BudgetRule):
        level = budget_level(obs.value, rule.amount_usd, rule.levels)
        breaching = level is not None
        threshold = rule.amount_usd * (level if level is not None else rule.levels[0])
    elif isinstance(rule, SpikeRule):
        threshold = obs.details.get("threshold")
        breaching = bool(obs.details.get("anomalous"))
        level = 1.0 if breaching else None
    elif isinstance(rule, RunawayRule | UnpricedModelRule):
        threshold = 0.0
        breaching = compare(">", obs.value, 0.0)
        level = 1.0 if breaching else None
    else:  # pragma: no cover - the Rule union is closed
        raise TypeError(f"unknown rule type {type(rule).__name__}")
    return Evaluation(alert_key(rule, obs), rule.name, breaching, obs, threshold, level)
