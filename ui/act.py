"""What the Act pages show, shaped from analytics results (pure: no Streamlit, no I/O, unit-testable).

Recommendations as table rows with readable evidence, the what-if form's choices as a policy document
(the YAML shape of ``agentledger whatif --policy``), and alert states and history as table rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from agentledger.analytics.report import week_of
from agentledger.analytics.report_render import format_value
from agentledger.ui import format as fmt

Row = Mapping[str, Any]

KIND_LABELS = {
    "routing": "Routing",
    "prompt_caching": "Prompt caching",
    "response_caching": "Response caching",
    "compression": "Compression",
    "output_caps": "Output caps",
    "batching": "Batching",
    "deterministic": "Deterministic steps",
}
_TARGET_WORDS = (("task_type", "task type"), ("agent", "agent"), ("model", "model"))


def _plain(item: Any) -> dict[str, Any]:
    """A recommendation or note as a dict, whether it is the pydantic model or its JSON form."""
    return item.model_dump() if hasattr(item, "model_dump") else dict(item)


def target_label(target: Row | None) -> str:
    """``task type classify · agent support-bot · model gpt-4o (openai)``; "whole project" when empty."""
    target = target or {}
    parts = [f"{word} {target[key]}" for key, word in _TARGET_WORDS if target.get(key)]
    if target.get("provider") and target.get("model"):
        parts[-1] += f" ({target['provider']})"
    return " · ".join(parts) or "whole project"


def recommendations_frame(recommendations: Sequence[Any]) -> pl.DataFrame:
    """One row per recommendation, in the given order (biggest monthly saving first), ranked from 1."""
    rows = []
    for rank, item in enumerate(recommendations, start=1):
        rec = _plain(item)
        low, high = rec["savings_ci_usd"]
        rows.append(
            {
                "rank": rank,
                "kind": KIND_LABELS.get(rec["kind"], rec["kind"]),
                "target": target_label(rec["target"]),
                "monthly_savings_usd": rec["monthly_savings_usd"],
                "ci_low_usd": low,
                "ci_high_usd": high,
                "confidence": rec["confidence"],
                "risk": rec["risk"],
                "action": rec["action"],
            }
        )
    schema = {
        "rank": pl.Int64,
        "kind": pl.String,
        "target": pl.String,
        "monthly_savings_usd": pl.Float64,
        "ci_low_usd": pl.Float64,
        "ci_high_usd": pl.Float64,
        "confidence": pl.String,
        "risk": pl.String,
        "action": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def evidence_value(key: str, value: Any) -> str:
    """One figure of a recommendation's evidence as a person reads it, judged by its name."""
    if value is None:
        return fmt.UNKNOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    if not isinstance(value, int | float):
        return str(value)
    if key.endswith("_usd"):
        return fmt.usd(value)
    if "share" in key or key.endswith("_rate"):
        return fmt.pct(value)
    if key.endswith("_ratio"):
        return f"{value:.2f}×"
    if key.endswith("_seconds"):
        return f"{value:,.0f} s"
    if float(value).is_integer():
        return fmt.count(value)
    return f"{value:,.3g}"


def _words(key: str) -> str:
    text = key.replace("_usd", " (USD)").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def evidence_rows(evidence: Row) -> list[tuple[str, str]]:
    """(label, value) of every figure of ``evidence`` but the example traces; nested figures (a routing
    recommendation's current and substitute models) read "Current: success rate"."""
    rows: list[tuple[str, str]] = []
    for key, value in evidence.items():
        if key == "example_trace_ids":
            continue
        if isinstance(value, Mapping):
            rows += [(f"{_words(key)}: {_words(k).lower()}", evidence_value(k, v)) for k, v in value.items()]
        else:
            rows.append((_words(key), evidence_value(key, value)))
    return rows


# -- the what-if form ------------------------------------------------------------------------------

KEEP = "(keep)"


@dataclass(frozen=True)
class WhatIfChoices:
    """What the what-if form was set to: per task type a substitute model (:data:`KEEP`: unchanged) and a
    ``max_tokens`` cap (0: none), and the optional caching and context levers."""

    models: Mapping[str, str] = field(default_factory=dict)
    caps: Mapping[str, int] = field(default_factory=dict)
    prompt_cache_ttl_seconds: float | None = None
    response_cache_ttl_seconds: float | None = None
    keep_last_turns: int | None = None


def policy_document(choices: WhatIfChoices, providers: Mapping[str, str | None]) -> dict[str, Any]:
    """The what-if policy of ``choices`` in the YAML shape (``providers``: the provider of each model).

    Only what changes something is written, so an untouched form is the empty policy (the recorded cost).
    """
    policy: dict[str, Any] = {}
    substitutions = []
    for task_type, model in choices.models.items():
        if model and model != KEEP:
            rule = {"task_type": task_type, "model": model}
            if providers.get(model):
                rule["provider"] = providers[model]
            substitutions.append(rule)
    if substitutions:
        policy["substitutions"] = substitutions
    if choices.prompt_cache_ttl_seconds:
        policy["prompt_caching"] = {"ttl_seconds": choices.prompt_cache_ttl_seconds}
    if choices.response_cache_ttl_seconds:
        policy["response_cache"] = {"ttl_seconds": choices.response_cache_ttl_seconds}
    if choices.keep_last_turns:
        policy["context_cap"] = {"keep_last_turns": choices.keep_last_turns}
    caps = [{"task_type": t, "max_tokens": int(n)} for t, n in choices.caps.items() if n and n > 0]
    if caps:
        policy["max_tokens"] = caps
    return policy


def task_models(mix: Mapping[str | None, Iterable[Row]]) -> dict[str, list[str]]:
    """Each named task type's models, most expensive first, task types by cost (``model_mix`` by task
    type); calls without a task type cannot be targeted by a rule and are left out."""

    def cost(rows: Iterable[Row]) -> float:
        return sum(r.get("cost_usd") or 0.0 for r in rows)

    ranked = sorted(((k, list(v)) for k, v in mix.items() if k), key=lambda kv: (-cost(kv[1]), kv[0]))
    return {
        task: list(dict.fromkeys(r["model"] for r in sorted(rows, key=lambda r: -(r.get("cost_usd") or 0.0))))
        for task, rows in ranked
    }


def substitute_models(
    mix: Mapping[str | None, Iterable[Row]], has_price: Callable[[str | None, str], bool]
) -> dict[str, str | None]:
    """The models seen (model -> provider, by name) that have a current price: a substitute without one
    cannot be replayed."""
    seen: dict[str, str | None] = {}
    for rows in mix.values():
        for r in rows:
            model = r.get("model")
            if model and model not in seen and has_price(r.get("provider"), model):
                seen[model] = r.get("provider")
    return dict(sorted(seen.items()))


# -- alerts ----------------------------------------------------------------------------------------


def _value(value: float | None, unit: str | None) -> str:
    return format_value(value, unit or "count")


def alert_state_table(states: pl.DataFrame) -> pl.DataFrame:
    """The rows of the alert state table from ``analytics.alert_history.alert_states``: status as
    firing/ok, since when, the last value against the threshold in the rule's unit."""
    rows = []
    for s in states.iter_rows(named=True):
        firing = s["status"] == "firing"
        op = s["op"] or ""
        rows.append(
            {
                "rule": s["rule_name"],
                "group": s["group_key"],
                "kind": s["kind"],
                "severity": s["severity"],
                "status": "firing" if firing else "ok",
                "since": s["fired_at"] if firing else s["resolved_at"],
                "value": _value(s["value"], s["unit"]),
                "threshold": f"{op} {_value(s['threshold'], s['unit'])}".strip(),
                "metric": s["metric"],
                "evaluated_at": s["evaluated_at"],
                "notified_at": s["notified_at"],
            }
        )
    return pl.DataFrame(rows, schema=_STATE_SCHEMA)


_WHEN = pl.Datetime("us", "UTC")
_STATE_SCHEMA = {
    "rule": pl.String,
    "group": pl.String,
    "kind": pl.String,
    "severity": pl.String,
    "status": pl.String,
    "since": _WHEN,
    "value": pl.String,
    "threshold": pl.String,
    "metric": pl.String,
    "evaluated_at": _WHEN,
    "notified_at": _WHEN,
}


def delivery_text(deliveries: Iterable[Row] | None) -> str:
    """``slack sent · email failed after 3 attempts (SMTP 451 …)``; "no channel" when none was set up."""
    parts = []
    for d in deliveries or []:
        text = f"{d['channel']} {d['status']}"
        if d["status"] != "sent" and d.get("attempts"):
            text += f" after {fmt.plural(int(d['attempts']), 'attempt')}"
        if d["status"] != "sent" and d.get("last_error"):
            error = str(d["last_error"])
            text += f" ({error[:100]}{'…' if len(error) > 100 else ''})"
        parts.append(text)
    return " · ".join(parts) or "no channel: recorded only"


def alert_history_table(history: pl.DataFrame) -> pl.DataFrame:
    """The rows of the alert history table from ``analytics.alert_history.alert_history``."""
    rows = [
        {
            "occurred_at": e["occurred_at"],
            "rule": e["rule_name"],
            "group": e["group_key"],
            "event": e["event"],
            "severity": e["severity"],
            "value": _value(e["value"], e["unit"]),
            "threshold": f"{e['op'] or ''} {_value(e['threshold'], e['unit'])}".strip(),
            "delivery": delivery_text(e["deliveries"]),
        }
        for e in history.iter_rows(named=True)
    ]
    schema = {"occurred_at": _WHEN, **dict.fromkeys(("rule", "group", "event", "severity"), pl.String)}
    schema |= {"value": pl.String, "threshold": pl.String, "delivery": pl.String}
    return pl.DataFrame(rows, schema=schema)


def report_weeks(first: datetime | None, last: datetime | None, tz: str = "UTC") -> list[str]:
    """The ISO weeks the ledger covers, newest first (none for an empty ledger)."""
    if first is None or last is None:
        return []
    weeks: list[str] = []
    moment = last
    while True:
        week = week_of(moment, tz)
        if not weeks or weeks[-1] != week:
            weeks.append(week)
        if moment <= first:
            return weeks
        moment = max(first, moment - timedelta(days=7))
