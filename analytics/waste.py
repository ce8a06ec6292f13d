"""Waste attribution in dollars, per reason, overall or per agent, task type, model (any dimension).

Reasons and their rules (the SQL is in ``sql/queries/waste_reasons.sql`` and ``unread_cache_writes.sql``):

- ``failed_task``: every call in scope of a task whose outcome is failure (DESIGN.md outcome rules);
- ``failed_call``: an error call in a task that nevertheless succeeded (retries, failed tool rounds).

  These two are DESIGN.md's ``waste_usd``: they never overlap, and their sum equals
  :func:`~agentledger.analytics.metrics.compute_metrics`' ``waste_usd`` for the same filters.

The others are informational (a call may carry several, and may also be in the two above):

- ``runaway_loop``: in a task with more than ``runaway_threshold`` LLM calls (``Settings.runaway_call_threshold``),
  the calls past that step; and the repeats (2nd and later) of a prompt sent 3 times or more in one trace.
  The dollars are the spend past the point where the loop should have stopped;
- ``duplicate_call``: a call whose exact prompt (``prompt_hash``) was already sent earlier in the same trace
  (every occurrence but the first);
- ``truncated_output``: the output hit the token limit (finish reason ``length``/``max_tokens``);
- ``unread_cache_write``: a provider cache write with no cache read by a later call of the same model in
  the same session (or trace) within 5 minutes, the default cache lifetime. Its dollars are the write
  premium actually wasted: cache-write tokens x (cache-write rate - input rate) at the call's date, from the
  pricer (a model without a price leaves its dollars unknown and counts its calls as unpriced).

Each row: reason, whether it counts as waste, dollars, share of the group's total cost, calls (and how
many of them are unpriced), traces, and the costliest example trace ids.

:func:`waste_summary` gives the same rows overall together with the headline the dashboard's Waste page
shows (total cost, waste, waste ratio, failed tasks), read from the same queries instead of a second pass
over the tasks' outcomes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import polars as pl

from agentledger.analytics._common import check_choice, normalized, params
from agentledger.analytics.filters import GROUP_BY, Filters
from agentledger.analytics.metrics import money, ratio, waste_from
from agentledger.core.pricing import Pricer
from agentledger.warehouse.base import Warehouse

__all__ = [
    "INFORMATIONAL_REASONS",
    "REASONS",
    "SPLIT_DIMENSIONS",
    "WASTE_REASONS",
    "cache_write_premium",
    "waste_attribution",
    "waste_summary",
]

WASTE_REASONS = ("failed_task", "failed_call")
INFORMATIONAL_REASONS = ("runaway_loop", "duplicate_call", "truncated_output", "unread_cache_write")
REASONS = WASTE_REASONS + INFORMATIONAL_REASONS
# The dimensions waste_summary splits the waste by (the cells of waste_reasons.sql), and their columns.
SPLIT_DIMENSIONS = {"agent": "agent_name", "task_type": "task_type", "model": "model"}

SCHEMA = {
    "key": pl.String(),
    "reason": pl.String(),
    "counts_as_waste": pl.Boolean(),
    "cost_usd": pl.Float64(),
    "share_of_cost": pl.Float64(),
    "calls": pl.Int64(),
    "unpriced_calls": pl.Int64(),
    "traces": pl.Int64(),
    "example_trace_ids": pl.List(pl.String()),
}
Row = dict[str, Any]


def cache_write_premium(
    pricer: Pricer, provider: str | None, model: str | None, day: date, tokens: int
) -> float | None:
    """USD paid above the input rate for ``tokens`` cache-write tokens of ``model`` on ``day`` (None: no price)."""
    if not model:
        return None
    prices = pricer.unit_prices(provider, model, datetime.combine(day, time(12), UTC))
    if prices is None:
        return None
    return tokens * max(prices.cache_write - prices.input, 0.0)


def _reason_rows(
    wh: Warehouse, filters: Filters, group: str, threshold: int, examples: int
) -> tuple[dict, list[Row]]:
    """{(group key, reason): row} from waste_reasons.sql, example ids in rank order, and the query's cells
    (per group and agent, task type and model: the calls in scope and those of the two waste reasons)."""
    frame = normalized(
        wh.query(
            "waste_reasons", params(filters, runaway_threshold=threshold, examples=examples), group=group
        )
    )
    rows: dict[tuple[str | None, str], Row] = {}
    cells: list[Row] = []
    for r in frame.iter_rows(named=True):
        if r["kind"] == "cell":
            cells.append(r)
            continue
        entry = rows.setdefault(
            (r["group_key"], r["reason"]),
            {
                "cost_usd": r["cost_usd"],
                "calls": r["calls"],
                "unpriced_calls": r["unpriced_calls"],
                "traces": r["traces"],
                "example_trace_ids": [],
            },
        )
        entry["example_trace_ids"].append(r["example_trace_id"])
    return rows, cells


def _unread_cache_rows(wh: Warehouse, filters: Filters, group: str, pricer: Pricer, examples: int) -> dict:
    """{(group key, "unread_cache_write"): row}, the premium priced per provider, model and day."""
    frame = normalized(wh.query("unread_cache_writes", params(filters), group=group))
    acc: dict[str | None, Row] = {}
    for r in frame.iter_rows(named=True):
        entry = acc.setdefault(
            r["group_key"],
            {"priced": [], "calls": 0, "unpriced_calls": 0, "traces": r["group_traces"], "examples": []},
        )
        premium = cache_write_premium(
            pricer, r["provider"], r["model"], date.fromisoformat(r["day"]), r["cache_write_tokens"]
        )
        entry["calls"] += r["calls"]
        if premium is None:
            entry["unpriced_calls"] += r["calls"]
        else:
            entry["priced"].append(premium)
        entry["examples"].append((r["cache_write_tokens"], r["example_trace_id"]))
    out = {}
    for key, e in acc.items():
        ranked = [t for _, t in sorted(e["examples"], key=lambda x: (-x[0], x[1]))]
        unique = list(dict.fromkeys(ranked))[:examples]
        cost = money(sum(e["priced"]) if e["priced"] else None, e["calls"])
        out[(key, "unread_cache_write")] = {
            "cost_usd": cost,
            "calls": e["calls"],
            "unpriced_calls": e["unpriced_calls"],
            "traces": e["traces"],
            "example_trace_ids": unique,
        }
    return out


def _empty() -> Row:
    return {"cost_usd": 0.0, "calls": 0, "unpriced_calls": 0, "traces": 0, "example_trace_ids": []}


def _order(key: str | None) -> tuple[bool, str]:
    return (key is None, key or "")


def _known_sum(values: list[Any]) -> float | None:
    """Like SQL's SUM: the sum of the known values, None when there is none."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _cell_totals(cells: list[Row]) -> dict[str | None, Row]:
    """call_totals' calls, unpriced calls and total cost per group, summed from the cells of waste_reasons.sql."""
    groups: dict[str | None, list[Row]] = {}
    for cell in cells:
        groups.setdefault(cell["group_key"], []).append(cell)
    return {
        key: {
            "calls": sum(c["calls"] for c in rows),
            "unpriced_calls": sum(c["unpriced_calls"] for c in rows),
            "total_cost_usd": _known_sum([c["cost_usd"] for c in rows]),
        }
        for key, rows in groups.items()
    }


def _split(cells: list[Row], column: str) -> list[Row]:
    """``metrics.waste_breakdown(filters, dimension)["groups"]`` from the cells, ``column`` the dimension's."""
    groups: dict[str | None, list[Row]] = {}
    for cell in cells:
        groups.setdefault(cell[column], []).append(cell)
    out = []
    for key in sorted(groups, key=_order):
        rows = groups[key]
        tasks = {
            "failed_task_calls": sum(c["failed_task_calls"] for c in rows),
            "failed_task_cost_usd": _known_sum([c["failed_task_cost_usd"] for c in rows]),
            "failed_call_calls": sum(c["failed_call_calls"] for c in rows),
            "failed_call_cost_usd": _known_sum([c["failed_call_cost_usd"] for c in rows]),
        }
        out.append({"key": key, **waste_from(tasks)})
    return out


def _attribution(
    wh: Warehouse,
    filters: Filters,
    group_by: str | None,
    threshold: int,
    examples: int,
    pricer: Pricer | None,
) -> tuple[pl.DataFrame, dict, dict, list[Row]]:
    """waste_attribution's frame (with its key column), its reason rows, the groups' call totals and the
    cells of waste_reasons.sql."""
    check_choice("group_by", group_by, (None, *GROUP_BY))
    group = group_by or "none"
    found, cells = _reason_rows(wh, filters, group, threshold, examples)
    found |= _unread_cache_rows(wh, filters, group, pricer or Pricer(), examples)
    # The cells hold every call in scope: the groups' call totals without a query of their own.
    totals = _cell_totals(cells)
    rows = []
    for key in sorted(totals, key=_order):
        group_cost = money(totals[key]["total_cost_usd"], int(totals[key]["calls"]))
        for reason in REASONS:
            entry = found.get((key, reason)) or _empty()
            rows.append(
                {
                    "key": key,
                    "reason": reason,
                    "counts_as_waste": reason in WASTE_REASONS,
                    **entry,
                    "share_of_cost": ratio(entry["cost_usd"], group_cost),
                }
            )
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)
    return frame, found, totals, cells


def waste_attribution(
    wh: Warehouse,
    filters: Filters,
    group_by: str | None = None,
    *,
    runaway_threshold: int = 25,
    examples: int = 3,
    pricer: Pricer | None = None,
) -> pl.DataFrame:
    """One row per group and reason (every reason listed, zero when absent) with dollars, share of the
    group's total cost, calls, traces and up to ``examples`` example trace ids (see the module docstring).

    ``pricer`` prices the cache-write premium (the catalog when None; pass ``Pricer.from_settings``)."""
    frame, _, _, _ = _attribution(wh, filters, group_by, runaway_threshold, examples, pricer)
    return frame if group_by else frame.drop("key")


def waste_summary(
    wh: Warehouse,
    filters: Filters,
    *,
    runaway_threshold: int = 25,
    examples: int = 3,
    pricer: Pricer | None = None,
) -> dict[str, Any]:
    """The Waste page's headline and reasons over ``filters``, from the queries of :func:`waste_attribution`.

    Keys: ``total_cost_usd``, ``calls``, ``waste_usd``, ``waste_ratio``, ``failed_tasks`` (as
    :func:`~agentledger.analytics.metrics.compute_metrics` gives them), ``failed_task_usd``,
    ``failed_task_calls``, ``failed_call_usd``, ``failed_call_calls`` (as
    :func:`~agentledger.analytics.metrics.waste_breakdown`), ``reasons``: ``waste_attribution(filters)``, and
    ``groups``: per dimension of :data:`SPLIT_DIMENSIONS`, ``waste_breakdown(filters, dimension)["groups"]``.
    The waste is the sum of the ``failed_task`` and ``failed_call`` reasons; the failed tasks are the traces of
    ``failed_task`` (one project is in scope, so a trace is one task). Everything comes from the two queries of
    the attribution: the split by group from the same pass over the tasks' outcomes as the reasons."""
    frame, found, totals, cells = _attribution(wh, filters, None, runaway_threshold, examples, pricer)
    overall = totals.get(None) or {}
    calls = int(overall.get("calls") or 0)
    total_cost = money(overall.get("total_cost_usd"), calls)
    failed_task = found.get((None, "failed_task")) or _empty()
    failed_call = found.get((None, "failed_call")) or _empty()
    waste = waste_from(
        {
            "failed_task_cost_usd": failed_task["cost_usd"],
            "failed_task_calls": failed_task["calls"],
            "failed_call_cost_usd": failed_call["cost_usd"],
            "failed_call_calls": failed_call["calls"],
        }
    )
    return {
        "total_cost_usd": total_cost,
        "calls": calls,
        **waste,
        "waste_ratio": ratio(waste["waste_usd"], total_cost),
        "failed_tasks": int(failed_task["traces"]),
        "reasons": frame.drop("key"),
        "groups": {dim: _split(cells, column) for dim, column in SPLIT_DIMENSIONS.items()},
    }
