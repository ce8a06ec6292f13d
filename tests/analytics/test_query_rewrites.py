"""The queries rewritten for speed give exactly what their straightforward formulations gave, on DuckDB and on
ClickHouse (chDB), over generated ledgers full of edge cases.

The references are the straightforward texts: the ledger rule in its plainest form (reference_sql/ledger_calls.*,
one aggregate over every shared response id) and the queries of reference_sql/ (the task outcome fragment, top traces and sessions, waste
reasons, context growth, the one-pass metrics), run through the same slot filling and transpiling as the
canonical queries. The one-pass `metrics` query is also checked against the four per-family queries it
replaces, and its two-period form (compare_metrics, compare_call_totals) against one query per period. Results
summed in Python from a query that serves several are checked against the queries they replace: the
Overview's series (daily_totals) against model_mix by day and compare_call_totals, waste_summary's totals
and split by group (the cells of waste_reasons) against call_totals and waste_breakdown, and the weekly
report's figures (weekly_report: the totals, top task types, agents and users of two adjacent windows, and
the top sessions) against the metrics query per dimension in its two-period form and top_sessions. The
generated ledgers mix sources of every priority (and unknown ones), response ids shared within and across
sources, projects and sources sharing trace ids, calls without a span row, parentless spans and calls,
explicit and source outcomes, statuses of every kind, equal start times (ties), repeated prompts and
truncated outputs.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from agentledger.analytics._common import normalized
from agentledger.analytics.breakdowns import top_sessions
from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import (
    assemble,
    call_totals,
    compare_call_totals,
    compare_metrics,
    compute_metrics,
    model_mix,
    overview_series,
    period_families,
    session_costs,
    task_outcomes,
    waste_breakdown,
    waste_from,
)
from agentledger.analytics.report import RANKED_DIMENSIONS, week_figures
from agentledger.analytics.waste import SPLIT_DIMENSIONS, waste_attribution, waste_summary
from agentledger.core.records import Call, SpanContext, calls_to_arrow, spans_to_arrow
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse
from agentledger.warehouse.dialect import to_clickhouse
from agentledger.warehouse.duckdb import DuckDBWarehouse

REFERENCE = Path(__file__).resolve().parent / "reference_sql"
T0 = datetime(2025, 3, 31, 23, 59, 58, tzinfo=UTC)
SOURCES = ("otlp", "langfuse", "litellm", "helicone", "zeta", "alpha")
WINDOW = (T0 + timedelta(seconds=1), T0 + timedelta(seconds=3))


# -- the warehouses and the reference SQL ----------------------------------------------------------


@pytest.fixture(scope="module", params=["duckdb", "chdb"])
def warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """A DuckDB, then a chDB warehouse, with the reference ledger view beside the current one."""
    root = tmp_path_factory.mktemp(request.param)
    wh = connect(
        f"duckdb:///{root / 'ledger.duckdb'}" if request.param == "duckdb" else f"chdb:///{root / 'chdb'}"
    )
    wh.sql(view_reference(wh.dialect))
    yield wh
    wh.close()


def view_reference(dialect: str) -> str:
    """The ledger rule in its plainest form, as the view ``ledger_calls_reference``."""
    return (REFERENCE / f"ledger_calls.{dialect}.sql").read_text(encoding="utf-8")


def reference_text(name: str, group: str = "none") -> str:
    """A reference query with its slots filled, reading the reference ledger view."""
    slots = {
        "group": DuckDBWarehouse.template_slots["group"][group],
        "task_outcome": (REFERENCE / "task_outcome.sql").read_text(encoding="utf-8").strip(),
    }
    text = (REFERENCE / f"{name}.sql").read_text(encoding="utf-8")
    text = re.sub(r"\{([a-z_]+)\}", lambda m: slots[m.group(1)], text)
    return text.replace("FROM ledger_calls AS c", "FROM ledger_calls_reference AS c")


def run_canonical(wh: Warehouse, text: str, params: dict[str, Any]) -> pl.DataFrame:
    """Canonical (DuckDB-dialect) SQL text run the way the backend runs a canonical query file."""
    used = set(re.findall(r"\$([A-Za-z_]\w*)", text))
    params = {k: v for k, v in params.items() if k in used}
    if wh.dialect == "duckdb":
        return wh.sql(text, params)
    transpiled, bound = to_clickhouse(text, params)
    return wh.sql(transpiled.sql, bound)


def outcomes_text(fragment: str) -> str:
    """Every trace of the calls of two projects and its outcome by ``fragment``."""
    return (
        "WITH traces AS (SELECT DISTINCT project_id, source, trace_id FROM calls "
        "WHERE project_id IN ($p1, $p2) AND started_at >= $since),\n"
        f"{fragment}\nSELECT project_id, source, trace_id, outcome FROM outcomes"
    )


# -- generated ledgers -----------------------------------------------------------------------------


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[Call], list[SpanContext]]:
    """Calls and spans of two projects ("a", "b") with the edge cases of the module docstring."""
    calls: list[Call] = []
    spans: list[SpanContext] = []
    pick = lambda *values: draw(st.sampled_from(values))  # noqa: E731
    # A few sources per example, so traces hold several calls (ties, repeats) and response ids collide.
    sources = draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True))
    for i in range(draw(st.integers(1, 24))):
        project, source, trace = pick("a", "b"), pick(*sources), pick("t1", "t2", "t3")
        parent = pick(None, "", "root", "x0", "s0")
        status = pick("ok", "error", "unset")
        cost = draw(st.one_of(st.none(), st.integers(0, 64).map(lambda k: k / 8)))
        call = Call(
            source=source,
            trace_id=trace,
            span_id=f"s{i}",
            project_id=project,
            parent_span_id=parent,
            started_at=T0 + timedelta(seconds=draw(st.integers(0, 3))),
            session_id=pick(None, "sess-1", "sess-2"),
            user_id=pick(None, "ann"),
            agent_name=pick(None, "planner", "coder"),
            task_type=pick(None, "answer"),
            model=pick(None, "gpt-4o", "claude"),
            provider=pick("openai", "anthropic"),
            # often no usage at all (a bare span, an error call): the ledger view ranks those last
            input_tokens=draw(st.one_of(st.just(0), st.integers(0, 1000))),
            cache_read_tokens=draw(st.integers(0, 10)),
            output_tokens=draw(st.one_of(st.just(0), st.integers(0, 100))),
            status=status,
            finish_reason=pick(None, "stop", "length", "MAX_TOKENS"),
            prompt_hash=pick(None, "p1", "p2", "p3"),
            response_id=pick(None, "", "r1", "r2", "r3"),
            response_cache_hit=pick(None, True, False),
            cost_usd=cost,
            price_status="unpriced" if cost is None else "priced",
        )
        calls.append(call)
        own_span = pick("none", "same", "parented", "root")
        if own_span != "none":
            spans.append(
                SpanContext(
                    source=source,
                    trace_id=trace,
                    span_id=call.span_id,
                    project_id=project,
                    parent_span_id={"same": parent, "parented": "root", "root": None}[own_span],
                    kind="llm",
                    status=pick(status, "unset"),
                )
            )
    for k in range(draw(st.integers(0, 8))):
        spans.append(
            SpanContext(
                source=pick(*sources),
                trace_id=pick("t1", "t2", "t3"),
                span_id=pick(f"x{k}", "root") if k == 0 else f"x{k}",
                project_id=pick("a", "b"),
                parent_span_id=pick(None, "", "root"),
                kind="agent",
                status=pick("ok", "error", "unset"),
                outcome=pick(None, None, "success", "failure"),
                source_outcome=pick(None, None, "success", "failure"),
            )
        )
    return calls, spans


def written(wh: Warehouse, example: int, ledger: tuple[list[Call], list[SpanContext]]) -> tuple[str, str]:
    """Write ``ledger`` with its projects renamed for this example; returns the two project ids."""
    calls, spans = ledger
    p1, p2 = f"e{example}a", f"e{example}b"
    rename = {"a": p1, "b": p2}
    wh.write_calls(calls_to_arrow([_in_project(c, rename[c.project_id]) for c in calls]))
    if spans:
        wh.write_spans(spans_to_arrow([_in_project(s, rename[s.project_id]) for s in spans]))
    return p1, p2


def _in_project(record: Any, project: str) -> Any:
    from dataclasses import replace

    return replace(record, project_id=project)


# -- comparisons -----------------------------------------------------------------------------------


def same_frame(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    got, expected = normalized(got), normalized(expected)
    assert got.columns == expected.columns
    keys = [c for c, t in expected.schema.items() if not isinstance(t, pl.List)]
    assert_frame_equal(
        got.sort(keys, nulls_last=True),
        expected.sort(keys, nulls_last=True),
        check_dtypes=False,
        check_exact=False,
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


def same_value(got: Any, expected: Any, where: str = "") -> None:
    if isinstance(expected, dict):
        assert got.keys() == expected.keys(), where
        for key in expected:
            same_value(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            same_value(g, e, f"{where}[{i}]")
    elif isinstance(expected, float) and isinstance(got, float):
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), (where, got, expected)
    else:
        assert got == expected, (where, got, expected)


def metrics_by_families(wh: Warehouse, filters: Filters, group_by: str | None) -> dict[str, Any]:
    """compute_metrics as it was: four queries, one per metric family."""
    totals, tasks = call_totals(wh, filters, group_by), task_outcomes(wh, filters, group_by)
    sessions, mix = session_costs(wh, filters, group_by), model_mix(wh, filters, group_by)
    if group_by is None:
        return assemble(totals.get(None), tasks.get(None), sessions.get(None), mix.get(None, []))
    order = sorted(totals, key=lambda k: (k is None, k or ""))
    return {
        "groups": [
            {"key": k, **assemble(totals[k], tasks.get(k), sessions.get(k), mix.get(k, []))} for k in order
        ]
    }


def check_ledger(wh: Warehouse, p1: str, p2: str) -> None:
    keys = "SELECT project_id, source, trace_id, span_id FROM {} WHERE project_id IN ($p1, $p2)"
    new = wh.sql(keys.format("ledger_calls"), {"p1": p1, "p2": p2})
    old = wh.sql(keys.format("ledger_calls_reference"), {"p1": p1, "p2": p2})
    same_frame(new, old)


def check_outcomes(wh: Warehouse, p1: str, p2: str) -> None:
    current = DuckDBWarehouse.template_slots["task_outcome"]["default"]
    reference = (REFERENCE / "task_outcome.sql").read_text(encoding="utf-8").strip()
    for since in (T0, WINDOW[0]):
        params = {"p1": p1, "p2": p2, "since": since}
        new = run_canonical(wh, outcomes_text(current), params)
        old = run_canonical(wh, outcomes_text(reference), params)
        same_frame(new, old)


def check_queries(wh: Warehouse, project: str, windowed: bool, group_by: str | None) -> None:
    """The rewritten queries and compute_metrics over one scope and grouping, against their references."""
    window = {"since": WINDOW[0], "until": WINDOW[1]} if windowed else {}
    filters = Filters(project_id=project, **window)
    params = {**filters.params(), "limit": 2, "runaway_threshold": 2, "examples": 2, "max_steps": 3}
    for name in ("top_traces", "top_sessions", "waste_reasons", "context_growth", "metrics"):
        expected = run_canonical(wh, reference_text(name, group_by or "none"), params)
        got = wh.query(name, params, group=group_by or "none")
        if name == "waste_reasons":
            # its reason rows are the reference's; the cells after them are checked through waste_summary
            got = got.filter(pl.col("kind") == "reason").select(expected.columns)
        same_frame(got, expected)
    check_waste_summary(wh, filters, group_by)
    same_value(compute_metrics(wh, filters, group_by), metrics_by_families(wh, filters, group_by))
    if windowed:
        # two adjacent periods in one pass give what one query per period gives
        previous = Filters(project_id=project, since=WINDOW[0] - (WINDOW[1] - WINDOW[0]), until=WINDOW[0])
        expected = {
            "current": compute_metrics(wh, filters, group_by),
            "previous": compute_metrics(wh, previous, group_by),
        }
        same_value(compare_metrics(wh, filters, previous, group_by), expected)
        totals = {
            "current": call_totals(wh, filters, group_by),
            "previous": call_totals(wh, previous, group_by),
        }
        same_value(compare_call_totals(wh, filters, previous, group_by), totals)
        if group_by is None:
            check_week_figures(wh, filters, previous, top=2)


# The columns of top_sessions the report shows (SessionRow).
SESSION_COLUMNS = (
    "rank",
    "session_key",
    "agent_name",
    "user_id",
    "cost_usd",
    "calls",
    "tasks",
    "completed_tasks",
)


def figures_as_they_were(wh: Warehouse, current: Filters, previous: Filters, top: int) -> dict[str, Any]:
    """What the weekly report read before the weekly_report query: per dimension the metrics query over
    both weeks (period_families), kept to this week's ``top`` most expensive keys (cost, unpriced last, then
    the key with NULL after ''), each group with its retry rate; the totals the same way; top_sessions."""
    groups: dict[str, Any] = {}
    for dim in (None, *RANKED_DIMENSIONS):
        periods = period_families(wh, current, previous, dim)
        keys = sorted(periods["current"], key=lambda k: (k is None, k or ""))
        costs = {k: assemble(*periods["current"][k])["total_cost_usd"] for k in keys}
        shown = sorted(keys, key=lambda k: (costs[k] is None, -(costs[k] or 0.0), k or ""))[:top]
        weeks = []
        for period in ("current", "previous"):
            week = {}
            for key, families in periods[period].items():
                if dim is None or key in shown:
                    metrics = assemble(*families)
                    failed_calls = waste_from(families[1])["failed_call_calls"]
                    metrics["retry_rate"] = None if not metrics["calls"] else failed_calls / metrics["calls"]
                    if dim is not None:  # week_figures leaves a dimension's sessions out
                        metrics |= {"sessions": 0, "p95_session_cost_usd": None}
                    week[key] = metrics
            weeks.append(week)
        groups[dim or "none"] = weeks
    frame = top_sessions(wh, current, limit=top)
    sessions = [[r[c] for c in SESSION_COLUMNS] for r in frame.iter_rows(named=True)]
    return {"groups": groups, "sessions": sessions}


def check_week_figures(wh: Warehouse, current: Filters, previous: Filters, top: int) -> None:
    """week_figures (one pass of weekly_report) gives what the report's queries gave before it."""
    figures = week_figures(wh, current, previous, top)
    got = {
        "groups": {dim: list(weeks) for dim, weeks in figures.groups.items()},
        "sessions": [
            [s.rank, s.session, s.agent, s.user, s.cost_usd, s.calls, s.tasks, s.completed_tasks]
            for s in figures.sessions
        ],
    }
    expected = figures_as_they_were(wh, current, previous, top)
    same_value(got["groups"], expected["groups"], f"top={top}")
    same_value(got["sessions"], expected["sessions"], f"sessions top={top}")


def check_waste_summary(wh: Warehouse, filters: Filters, group_by: str | None) -> None:
    """waste_summary's totals and split by group, summed from the cells of waste_reasons, against the queries
    they replace (call_totals, task_outcomes through waste_breakdown), and its reasons against waste_attribution
    (whose call totals come from the cells too)."""
    summary = waste_summary(wh, filters, runaway_threshold=2, examples=2)
    totals = call_totals(wh, filters).get(None) or {}
    same_value(summary["calls"], int(totals.get("calls") or 0))
    same_value(summary["total_cost_usd"], assemble(totals, None, None, [])["total_cost_usd"])
    for dimension in SPLIT_DIMENSIONS:
        same_value(summary["groups"][dimension], waste_breakdown(wh, filters, dimension)["groups"], dimension)
    if group_by is not None:
        attributed = waste_attribution(wh, filters, group_by, runaway_threshold=2, examples=2)
        by_group = call_totals(wh, filters, group_by)
        assert sorted(set(attributed["key"].to_list()), key=lambda k: (k is None, k or "")) == sorted(
            by_group, key=lambda k: (k is None, k or "")
        )
        for row in attributed.iter_rows(named=True):
            group = by_group[row["key"]]
            cost = assemble(group, None, None, [])["total_cost_usd"]
            expected = None if row["cost_usd"] is None or not cost else row["cost_usd"] / cost
            same_value(row["share_of_cost"], expected, f"{row['key']}.{row['reason']}")


def check_overview_series(wh: Warehouse, project: str) -> None:
    """overview_series, summed from daily_totals, against the model_mix and compare_call_totals queries it
    replaces, over day-aligned windows (the generated calls straddle midnight)."""
    day = datetime(2025, 3, 31, tzinfo=UTC)
    current = Filters(project_id=project, since=day, until=day + timedelta(days=2))
    week = Filters(project_id=project, since=day + timedelta(days=1), until=day + timedelta(days=2))
    before = Filters(project_id=project, since=day, until=day + timedelta(days=1))
    series = overview_series(wh, current, week, before)

    def by_model(groups: dict) -> dict:
        return {
            k: sorted(v, key=lambda r: (r["model"] or "", r["provider"] or "")) for k, v in groups.items()
        }

    same_value(by_model(series["model_mix"]), by_model(model_mix(wh, current, "day")), "model_mix")
    for dim in ("agent", "task_type", "model"):
        same_value(series["drivers"][dim], compare_call_totals(wh, week, before, dim), dim)


# Generated examples per backend: a chDB query takes ~0.5 s to plan on these many-CTE texts, a DuckDB one ~50 ms.
EXAMPLES = {"duckdb": 40, "chdb": 6}


@pytest.mark.timeout(900)
def test_rewritten_queries_match_their_references(warehouse: Warehouse) -> None:
    examples = itertools.count()
    backend = "duckdb" if warehouse.dialect == "duckdb" else "chdb"

    @settings(max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ledgers(), st.booleans(), st.sampled_from([None, "source", "day"]))
    def check(ledger: tuple[list[Call], list[SpanContext]], windowed: bool, group_by: str | None) -> None:
        example = next(examples)  # one pair of projects per example: the warehouse is shared
        p1, p2 = written(warehouse, example, ledger)
        check_ledger(warehouse, p1, p2)
        check_outcomes(warehouse, p1, p2)
        check_queries(warehouse, p1, windowed, group_by)  # the other project holds the same kind of data
        check_overview_series(warehouse, p2)

    check()


# Generated examples of the weekly report's figures per backend (five queries per example for the reference).
WEEK_EXAMPLES = {"duckdb": 30, "chdb": 4}


@pytest.mark.timeout(900)
def test_week_figures_rank_ties_as_the_report_does(warehouse: Warehouse) -> None:
    """week_figures against the queries it replaces over ledgers whose costs tie often (0, 1 or unpriced), so
    the order of ties decides which keys and sessions are kept: keys by cost, unpriced last, then the key with
    NULL after ''; sessions by cost, then calls, then the session."""
    examples = itertools.count(10_000)  # project names apart from the other test's
    backend = "duckdb" if warehouse.dialect == "duckdb" else "chdb"

    @settings(
        max_examples=WEEK_EXAMPLES[backend], deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(ledgers(), st.sampled_from([1, 2]))
    def check(ledger: tuple[list[Call], list[SpanContext]], top: int) -> None:
        calls, spans = ledger
        tied = [_in_cost(c, None if c.cost_usd is None else float(c.cost_usd >= 4)) for c in calls]
        project, _ = written(warehouse, next(examples), (tied, spans))
        current = Filters(project_id=project, since=WINDOW[0], until=WINDOW[1])
        previous = Filters(project_id=project, since=WINDOW[0] - (WINDOW[1] - WINDOW[0]), until=WINDOW[0])
        check_week_figures(warehouse, current, previous, top)

    check()


def _in_cost(call: Call, cost: float | None) -> Call:
    from dataclasses import replace

    return replace(call, cost_usd=cost)


def test_the_ledger_keeps_one_row_per_response_id_by_source_priority(warehouse: Warehouse) -> None:
    """A hand-made case with the answer written out, so the comparison above cannot pass on two wrong views."""
    at = T0
    rows = [
        ("langfuse", "r1"),  # loses to otlp
        ("otlp", "r1"),
        ("helicone", "r2"),  # loses to litellm
        ("litellm", "r2"),
        ("zeta", "r3"),  # unknown sources rank by name: alpha wins
        ("alpha", "r3"),
        ("helicone", "r4"),  # alone: stays
        ("helicone", ""),  # no response id: always stays
        ("langfuse", None),
    ]
    calls = [
        Call(source=s, trace_id=f"t{i}", span_id="c", project_id="hand", started_at=at, response_id=r)
        for i, (s, r) in enumerate(rows)
    ]
    expected = sorted(["otlp:t1", "litellm:t3", "alpha:t5", "helicone:t6", "helicone:t7", "langfuse:t8"])
    warehouse.write_calls(calls_to_arrow(calls))
    kept = warehouse.sql("SELECT source, trace_id FROM ledger_calls WHERE project_id = $p", {"p": "hand"})
    assert sorted(f"{s}:{t}" for s, t in kept.rows()) == expected


def test_a_source_that_recorded_the_usage_wins_over_a_bare_record_of_the_call(warehouse: Warehouse) -> None:
    """An app's OTLP span of a streamed call has no usage; the gateway's spend log counted it: the ledger keeps
    the record with the usage, whatever the priority, and priority still decides between records alike."""
    rows = [  # (source, response id, input, output)
        ("otlp", "s1", 0, 0),  # a bare span: loses to litellm's record with the usage
        ("litellm", "s1", 1000, 200),
        ("otlp", "s2", 0, 0),  # error call, no usage anywhere: priority decides
        ("helicone", "s2", 0, 0),
        ("otlp", "s3", 10, 5),  # both with usage: priority
        ("litellm", "s3", 10, 5),
        ("langfuse", "s4", 0, 0),  # both sources' rows stay when the source wins (its own distinct calls)
        ("helicone", "s4", 0, 0),
        ("langfuse", "s4", 3, 1),
    ]
    calls = [
        Call(
            source=s,
            trace_id=f"u{i}",
            span_id="c",
            project_id="usage",
            started_at=T0,
            response_id=r,
            input_tokens=inp,
            output_tokens=out,
        )
        for i, (s, r, inp, out) in enumerate(rows)
    ]
    warehouse.write_calls(calls_to_arrow(calls))
    kept = warehouse.sql("SELECT source, trace_id FROM ledger_calls WHERE project_id = $p", {"p": "usage"})
    assert sorted(f"{s}:{t}" for s, t in kept.rows()) == sorted(
        ["litellm:u1", "otlp:u2", "otlp:u4", "langfuse:u6", "langfuse:u8"]
    )
    links = warehouse.sql(
        "SELECT response_id, linked_sources FROM ledger_links WHERE project_id = $p ORDER BY response_id",
        {"p": "usage"},
    )
    firsts = {r: list(sources)[0] for r, sources in links.rows()}
    assert firsts == {"s1": "litellm:u1:c", "s2": "otlp:u2:c", "s3": "otlp:u4:c", "s4": "langfuse:u8:c"}
