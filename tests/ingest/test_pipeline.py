"""The ingest pipeline: pricing hook, one transaction per batch, context resolution across batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentledger.core.records import Call, SpanContext
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect

T0 = datetime(2025, 2, 1, 9, tzinfo=UTC)


class FixedPricer:
    """Prices every call at $0.01 per 1k input tokens; remembers what it priced."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def price_many(self, calls: list[Call]) -> None:
        for c in calls:
            self.seen.append(c.span_id)
            c.cost_computed_usd = c.cost_usd = c.input_tokens / 1000 * 0.01
            c.cost_source, c.price_status = "computed", "priced"


@pytest.fixture
def wh():
    warehouse = connect("duckdb:///:memory:")
    yield warehouse
    warehouse.close()


def llm(span_id: str, parent: str | None, trace: str = "t1", **kw) -> Call:
    kw.setdefault("started_at", T0)
    kw.setdefault("operation", "chat")
    return Call(source="otlp", trace_id=trace, span_id=span_id, parent_span_id=parent, **kw)


def ctx(span_id: str, parent: str | None, trace: str = "t1", **kw) -> SpanContext:
    return SpanContext(source="otlp", trace_id=trace, span_id=span_id, parent_span_id=parent, **kw)


def context_of(wh, span_id: str) -> tuple:
    frame = wh.sql(
        "SELECT agent_name, task_type, session_id, user_id FROM calls WHERE span_id = $s", {"s": span_id}
    )
    return frame.row(0)


def test_children_before_parents_resolve_once_the_ancestors_arrive(wh):
    pipeline = Pipeline(wh)
    # An exporter sends finished spans first: the LLM call and its tool sibling, then the agent, then the root.
    pipeline.ingest(
        [llm("c1", "agent", started_at=T0 + timedelta(seconds=2))], [ctx("tool", "agent", kind="tool")]
    )
    assert context_of(wh, "c1") == (None, "chat", None, None)
    pipeline.ingest([], [ctx("agent", "root", kind="agent", agent_name="planner")])
    assert context_of(wh, "c1") == ("planner", "chat", None, None)
    pipeline.ingest(
        [], [ctx("root", None, kind="workflow", workflow_name="research", session_id="s9", user_id="u3")]
    )
    assert context_of(wh, "c1") == ("planner", "research", "s9", "u3")


def test_a_later_call_under_a_stored_parent_inherits_on_arrival(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([], [ctx("root", None, kind="agent", agent_name="coder", task_type="bugfix")])
    pipeline.ingest([llm("c2", "root")], [])
    assert context_of(wh, "c2") == ("coder", "bugfix", None, None)


def test_reingesting_children_after_the_parent_keeps_the_resolution(wh):
    pipeline = Pipeline(wh)
    child = [llm("c1", "root")]
    pipeline.ingest(child, [])
    pipeline.ingest([], [ctx("root", None, kind="workflow", workflow_name="triage")])
    pipeline.ingest([llm("c1", "root")], [])  # a retried export of the same call
    assert context_of(wh, "c1")[1] == "triage"


def test_the_resolution_does_not_stick_to_the_operation_fallback(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([llm("c1", "wf", operation="chat")], [])
    assert context_of(wh, "c1")[1] == "chat"
    # The stored task_type "chat" came from the fallback, so a later workflow ancestor must replace it.
    pipeline.ingest([], [ctx("wf", None, kind="workflow", workflow_name="summarize")])
    assert context_of(wh, "c1")[1] == "summarize"


def test_ingest_prices_stamps_and_is_idempotent(wh):
    pricer = FixedPricer()
    pipeline = Pipeline(wh, pricer)
    calls = [llm(f"c{i}", "root", input_tokens=1000 * (i + 1)) for i in range(3)]
    result = pipeline.ingest(calls, [ctx("root", None)])
    assert (result.calls, result.spans) == (3, 1)
    assert pricer.seen == ["c0", "c1", "c2"]
    assert all(c.ingested_at is not None for c in calls)
    before = wh.sql("SELECT COUNT(*) AS n, SUM(cost_usd) AS cost FROM calls").row(0)
    assert before == (3, pytest.approx(0.06))
    pipeline.ingest(
        [llm(f"c{i}", "root", input_tokens=1000 * (i + 1)) for i in range(3)], [ctx("root", None)]
    )
    assert wh.sql("SELECT COUNT(*) AS n, SUM(cost_usd) AS cost FROM calls").row(0) == before
    assert wh.sql("SELECT COUNT(*) AS n FROM spans")["n"][0] == 4


def test_a_batch_is_atomic(wh, monkeypatch):
    pipeline = Pipeline(wh)

    def broken(_table):
        raise RuntimeError("disk full")

    monkeypatch.setattr(wh, "write_calls", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.ingest([llm("c1", "root")], [ctx("root", None, agent_name="a")])
    monkeypatch.undo()
    assert wh.sql("SELECT COUNT(*) AS n FROM spans")["n"][0] == 0
    assert wh.sql("SELECT COUNT(*) AS n FROM calls")["n"][0] == 0


def test_no_warehouse_read_when_every_calls_ancestry_is_in_the_batch(wh, monkeypatch):
    reads: list[set] = []
    original = wh.trace_spans
    monkeypatch.setattr(wh, "trace_spans", lambda traces: reads.append(set(traces)) or original(traces))
    pipeline = Pipeline(wh)
    # Gateway-style calls (no parents) and a call whose LLM-span parent chain is complete: no read.
    pipeline.ingest([llm("g1", None, trace="g1"), llm("g2", None, trace="g2")], [])
    assert reads == []
    # A call whose parent is missing, and a context span that may be a late parent: one read for both.
    pipeline.ingest([llm("c1", "missing", trace="t1")], [ctx("agent", None, trace="t2", kind="agent")])
    assert reads == [{("default", "otlp", "t1"), ("default", "otlp", "t2")}]


def test_duplicate_records_in_a_batch_keep_the_last(wh):
    pipeline = Pipeline(wh)
    result = pipeline.ingest([llm("c1", None, cost_usd=1.0), llm("c1", None, cost_usd=2.0)], [])
    assert result.calls == 1
    assert wh.sql("SELECT cost_usd FROM calls")["cost_usd"].to_list() == [2.0]


def test_the_sources_own_llm_span_is_kept_with_gaps_filled_from_the_call(wh):
    pipeline = Pipeline(wh)
    own = ctx("c1", "root", kind="llm", name="chat gpt-4o")
    pipeline.ingest([llm("c1", "root", session_id="s1", status="error")], [own])
    row = wh.sql("SELECT name, kind, session_id, status FROM spans WHERE span_id = 'c1'").row(0)
    assert row == ("chat gpt-4o", "llm", "s1", "error")


def test_empty_batches_do_nothing(wh):
    assert Pipeline(wh).ingest([], []).calls == 0
