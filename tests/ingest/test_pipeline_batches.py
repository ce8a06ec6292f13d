"""Pipeline.prepare/write: several requests written as one batch behave like consecutive ingests, and the
fast insert path of the DuckDB warehouse falls back to an upsert when its assumption does not hold."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from agentledger.core.records import Call, SpanContext, calls_to_arrow
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import DuplicateKeyError

T0 = datetime(2025, 2, 1, 9, tzinfo=UTC)


@pytest.fixture
def wh(tmp_path):
    warehouse = connect(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    yield warehouse
    warehouse.close()


def llm(span_id: str, parent: str | None, trace: str = "t1", **kw) -> Call:
    kw.setdefault("started_at", T0)
    kw.setdefault("operation", "chat")
    return Call(source="otlp", trace_id=trace, span_id=span_id, parent_span_id=parent, **kw)


def ctx(span_id: str, parent: str | None, trace: str = "t1", **kw) -> SpanContext:
    return SpanContext(source="otlp", trace_id=trace, span_id=span_id, parent_span_id=parent, **kw)


def calls_by_span(wh) -> dict[str, tuple]:
    frame = wh.sql("SELECT span_id, agent_name, task_type, session_id, input_tokens FROM calls")
    return {row[0]: row[1:] for row in frame.rows()}


def test_a_parent_in_another_request_of_the_same_batch_is_inherited(wh):
    pipeline = Pipeline(wh)
    children = pipeline.prepare([llm("c1", "agent"), llm("c2", "agent")], [])
    parent = pipeline.prepare([], [ctx("agent", None, kind="agent", agent_name="planner", session_id="s1")])
    assert pipeline.write([children, parent]).calls == 2
    assert calls_by_span(wh) == {"c1": ("planner", "chat", "s1", 0), "c2": ("planner", "chat", "s1", 0)}


def test_requests_of_one_batch_resolve_as_consecutive_ingests_would(wh):
    batched, consecutive = Pipeline(wh), Pipeline(connect("duckdb:///:memory:"))
    requests = [
        (
            [llm("c1", "wf", trace="a")],
            [ctx("wf", "root", trace="a", kind="workflow", workflow_name="triage")],
        ),
        ([], [ctx("root", None, trace="a", kind="agent", agent_name="boss", user_id="u1")]),
        ([llm("g1", None, trace="b")], []),
    ]
    batched.write([batched.prepare(list(c), list(s)) for c, s in requests])
    for c, s in requests:
        consecutive.ingest(list(c), list(s))
    assert calls_by_span(wh) == calls_by_span(consecutive.warehouse)
    assert calls_by_span(wh)["c1"] == ("boss", "triage", None, 0)


def test_the_same_identity_in_two_requests_keeps_the_later_one(wh):
    pipeline = Pipeline(wh)
    first = pipeline.prepare([llm("c1", None, input_tokens=1)], [])
    second = pipeline.prepare([llm("c1", None, input_tokens=2)], [])
    assert pipeline.write([first, second]).calls == 2  # both were accepted
    assert wh.sql("SELECT input_tokens FROM calls")["input_tokens"].to_list() == [2]


def test_a_call_stored_without_its_span_is_upserted_not_duplicated(wh):
    # Written around the pipeline: a call row with no span row, which the fast insert path cannot know of.
    wh.write_calls(calls_to_arrow([llm("c1", None, input_tokens=1)]))
    Pipeline(wh).ingest([llm("c1", None, input_tokens=5)], [])
    assert wh.sql("SELECT input_tokens FROM calls")["input_tokens"].to_list() == [5]
    assert wh.sql("SELECT COUNT(*) AS n FROM spans")["n"][0] == 1


def test_stored_calls_are_updated_only_when_their_context_moves(wh, monkeypatch):
    pipeline = Pipeline(wh)
    updates: list[list[str]] = []
    original = wh.update_call_context

    def recording(table: pa.Table) -> int:
        updates.append(sorted(table["span_id"].to_pylist()))
        return original(table)

    monkeypatch.setattr(wh, "update_call_context", recording)
    pipeline.ingest([llm("c1", "agent"), llm("c2", "agent")], [])
    pipeline.ingest([], [ctx("agent", None, kind="agent", agent_name="planner")])
    assert updates == [["c1", "c2"]]
    assert {v[0] for v in calls_by_span(wh).values()} == {"planner"}
    pipeline.ingest([], [ctx("agent", None, kind="agent", agent_name="planner")])  # nothing moves
    pipeline.ingest([llm("c3", "agent")], [])  # a later sibling: stored calls keep their context
    assert updates == [["c1", "c2"]]
    assert calls_by_span(wh)["c3"][0] == "planner"


def test_reingesting_changed_values_replaces_the_rows(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([llm("c1", "root", input_tokens=1)], [ctx("root", None, agent_name="a")])
    pipeline.ingest([llm("c1", "root", input_tokens=9)], [ctx("root", None, agent_name="b")])
    assert calls_by_span(wh) == {"c1": ("b", "chat", None, 9)}
    assert wh.sql("SELECT COUNT(*) AS n FROM spans")["n"][0] == 2


def test_overlapped_ingest_stores_what_consecutive_ingests_store(wh):
    overlapped, consecutive = Pipeline(wh), Pipeline(connect("duckdb:///:memory:"))
    requests = [
        ([llm("c1", "wf", trace="a", input_tokens=1)], [ctx("wf", "root", trace="a", kind="workflow")]),
        ([llm("c2", "wf", trace="a")], []),  # a sibling of a stored call, its parent stored too
        ([], [ctx("root", None, trace="a", kind="agent", agent_name="boss", session_id="s9")]),  # late root
        ([llm("c1", "wf", trace="a", input_tokens=7)], []),  # the same call again: the later one wins
        ([llm("g1", None, trace="b")], []),
    ]
    with overlapped.overlapped() as ingest:
        for c, s in requests:
            assert ingest(list(c), list(s)) is None
    for c, s in requests:
        consecutive.ingest(list(c), list(s))
    assert calls_by_span(wh) == calls_by_span(consecutive.warehouse)
    assert calls_by_span(wh)["c1"] == ("boss", "chat", "s9", 7)
    assert wh.sql("SELECT COUNT(*) AS n FROM spans")["n"][0] == 5


def test_a_failed_overlapped_write_is_raised_and_nothing_after_it_is_written(wh, monkeypatch):
    original, writes = wh.write_calls, []

    def failing_second(table: pa.Table) -> int:
        writes.append(table["span_id"].to_pylist())
        if len(writes) == 2:
            raise RuntimeError("disk full")
        return original(table)

    monkeypatch.setattr(wh, "write_calls", failing_second)
    with pytest.raises(RuntimeError, match="disk full"), Pipeline(wh).overlapped() as ingest:
        for span_id in ("c1", "c2", "c3", "c4"):
            ingest([llm(span_id, None, trace=span_id)], [])
    assert set(calls_by_span(wh)) == {"c1"}  # c2's transaction rolled back; c3 and c4 never written
    assert len(writes) == 2 and writes[0] == ["c1"] and writes[1][0] == "c2"


def test_batches_prepared_during_a_write_are_written_together_in_order(wh, monkeypatch):
    original, writes, handed_over = wh.write_calls, [], threading.Event()

    def slow_first(table: pa.Table) -> int:
        if not writes:
            assert handed_over.wait(10)
        writes.append(table["span_id"].to_pylist())
        return original(table)

    monkeypatch.setattr(wh, "write_calls", slow_first)
    with Pipeline(wh).overlapped() as ingest:
        for span_id in ("c1", "c2", "c3", "c4"):
            ingest([llm(span_id, None, trace=span_id)], [])
        handed_over.set()
    assert writes == [["c1"], ["c2", "c3", "c4"]]  # one transaction for what was prepared during the first
    assert set(calls_by_span(wh)) == {"c1", "c2", "c3", "c4"}


def test_an_overlapped_producer_waits_once_a_group_is_full(wh, monkeypatch):
    original, writes = wh.write_calls, []

    def recording(table: pa.Table) -> int:
        writes.append(table.num_rows)
        return original(table)

    monkeypatch.setattr(wh, "write_calls", recording)
    with Pipeline(wh).overlapped(group_spans=2) as ingest:
        for i in range(7):
            ingest([llm(f"c{i}", None, trace=f"t{i}")], [])
    assert sum(writes) == 7 and max(writes) <= 2


# ------------------------------------------------------------------------------------ the warehouse side


def test_new_rows_refuse_a_stored_identity(wh):
    table = calls_to_arrow([llm("c1", None)])
    wh.write_calls(table)
    with pytest.raises(DuplicateKeyError), wh.transaction(), wh.new_rows():
        wh.write_calls(table)
    assert wh.sql("SELECT COUNT(*) AS n FROM calls")["n"][0] == 1


def test_an_upsert_with_one_identity_twice_keeps_the_last(wh):
    wh.write_calls(calls_to_arrow([llm("c1", None, input_tokens=1), llm("c1", None, input_tokens=2)]))
    assert wh.sql("SELECT input_tokens FROM calls")["input_tokens"].to_list() == [2]


def test_stored_span_keys_are_those_of_the_traces_asked_for(wh):
    Pipeline(wh).ingest([llm("c1", None, trace="t1")], [ctx("x", None, trace="t2")])
    other_source = SpanContext(source="langfuse", trace_id="t1", span_id="l1")
    Pipeline(wh).ingest([], [other_source])
    assert wh.stored_span_keys([("default", "otlp", "t1")]) == {("default", "otlp", "t1", "c1")}
    assert wh.stored_span_keys([]) == set()


def test_context_of_calls_written_in_the_same_transaction_can_be_updated(wh):
    update = pa.table(
        {
            "project_id": ["default"],
            "source": ["otlp"],
            "trace_id": ["t1"],
            "span_id": ["c1"],
            "agent_name": ["late"],
            "task_type": [None],
            "session_id": [None],
            "user_id": [None],
        }
    )
    with wh.transaction():
        wh.write_calls(calls_to_arrow([llm("c1", None, started_at=T0 + timedelta(seconds=1))]))
        assert wh.update_call_context(update) == 1
    assert calls_by_span(wh)["c1"][:2] == ("late", "chat")


def test_a_span_sent_again_moves_what_the_stored_calls_of_its_trace_inherit(wh):
    # The trace's session is that of its earliest span with one; the re-sent span no longer carries it. The
    # batch holds only a rooted call, which alone would not make the pipeline read the trace.
    pipeline = Pipeline(wh)
    pipeline.ingest(
        [llm("c1", None, session_id="s1"), llm("c2", None, started_at=T0 + timedelta(seconds=5))], []
    )
    assert calls_by_span(wh)["c2"][2] == "s1"
    pipeline.ingest([llm("c1", None, session_id=None)], [])
    assert calls_by_span(wh) == {"c1": (None, "chat", None, 0), "c2": (None, "chat", None, 0)}
