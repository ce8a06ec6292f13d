"""One API call recorded by two spans counts once, whether the two arrive in one request, in two requests written
together, or one after the other (the first already stored); calls that merely share a response id stay apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentledger.core.records import Call, SpanContext
from agentledger.ingest.pipeline import Pipeline
from agentledger.ingest.twins import SDK_SCOPE_TAG, one_call_per_response, same_call
from agentledger.warehouse import connect

T0 = datetime(2025, 5, 1, 12, tzinfo=UTC)
SDK = {SDK_SCOPE_TAG: "com.anthropic.sdk"}


@pytest.fixture
def wh(tmp_path):
    warehouse = connect(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    yield warehouse
    warehouse.close()


def call(span_id: str, parent: str | None = "agent", *, sdk: bool = False, start: float = 0.0, **kw) -> Call:
    kw.setdefault("response_id", "msg_1")
    kw.setdefault("input_tokens", 500)
    return Call(
        source="otlp",
        trace_id=kw.pop("trace_id", "t1"),
        span_id=span_id,
        parent_span_id=parent,
        started_at=T0 + timedelta(seconds=start),
        ended_at=T0 + timedelta(seconds=start + 2),
        operation="chat",
        model="claude-sonnet-4-20250514",
        tags=dict(SDK) if sdk else {},
        **kw,
    )


def agent_span() -> SpanContext:
    return SpanContext(
        source="otlp", trace_id="t1", span_id="agent", kind="agent", agent_name="support", started_at=T0
    )


def stored(wh) -> dict[str, tuple]:
    frame = wh.sql("SELECT span_id, agent_name, input_tokens FROM calls ORDER BY span_id")
    return {row[0]: row[1:] for row in frame.rows()}


def span_ids(wh) -> list[str]:
    return sorted(wh.sql("SELECT span_id FROM spans")["span_id"].to_list())


# -------------------------------------------------------------------------------------------- the rule


def test_same_call_needs_nesting_or_the_sdks_own_span_and_overlapping_times():
    assert same_call(call("a", sdk=True), call("b"))  # siblings, one the SDK's own
    assert same_call(call("child", parent="parent"), call("parent"))  # nested
    assert not same_call(call("a"), call("b"))  # siblings of two instrumentations: not provably one call
    assert not same_call(call("a", sdk=True), call("b", start=5))  # one after the other
    assert not same_call(call("a", sdk=True), call("b", response_id="msg_2"))
    assert not same_call(call("a", sdk=True), call("b", trace_id="t2"))
    assert not same_call(call("a", sdk=True), call("a", sdk=True))  # the same record, sent again


def test_one_call_per_response_keeps_the_instrumentations_record_with_the_prompt():
    sdk, plain = call("a", sdk=True), call("b", parent="a")
    assert one_call_per_response([sdk, plain]) == [plain]
    # three records of one call, both inner ones nested in the outer one, which has the prompt
    inner_sdk, inner, outer = call("a", "c", sdk=True), call("b", "c"), call("c", prompt_hash="h")
    assert one_call_per_response([inner_sdk, inner, outer]) == [outer]


# --------------------------------------------------------------------------------------- across requests


def test_the_instrumentations_span_after_the_stored_sdk_span_is_context(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([call("sdk", sdk=True)], [])
    result = pipeline.ingest([call("instr")], [agent_span()])
    assert result.calls == 0
    assert stored(wh) == {"sdk": ("support", 500)}  # the stored record stays, and inherits its agent
    assert span_ids(wh) == ["agent", "instr", "sdk"]


def test_the_sdk_span_after_the_stored_instrumentation_span_is_context(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([call("instr")], [agent_span()])
    pipeline.ingest([call("sdk", sdk=True)], [])
    assert stored(wh) == {"instr": ("support", 500)}


def test_a_root_llm_span_after_its_stored_child_is_context(wh):
    # OpenInference's span as the root, exported after the SDK's span nested in it: the trace has no missing
    # ancestor and no context span in the second request, and is still checked against what is stored.
    pipeline = Pipeline(wh)
    pipeline.ingest([call("child", parent="root", sdk=True, start=0.1)], [])
    pipeline.ingest([call("root", parent=None)], [])
    assert set(stored(wh)) == {"child"}


def test_nested_spans_of_two_instrumentations_across_requests_count_once(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([call("inner", parent="outer", start=0.1)], [])
    pipeline.ingest([call("outer")], [agent_span()])
    assert set(stored(wh)) == {"inner"}


def test_calls_that_merely_share_a_response_id_stay_apart_across_requests(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([call("a")], [agent_span()])
    pipeline.ingest([call("b")], [])  # siblings, neither the SDK's: two calls
    pipeline.ingest([call("c", sdk=True, start=10)], [])  # the SDK's, but later: another call
    pipeline.ingest([call("d", sdk=True, trace_id="t2")], [])  # another trace
    assert set(stored(wh)) == {"a", "b", "c", "d"}


def test_a_record_sent_again_is_an_update_not_a_twin(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([call("sdk", sdk=True)], [])
    pipeline.ingest([call("sdk", sdk=True, input_tokens=700)], [])
    assert stored(wh) == {"sdk": (None, 700)}


def test_requests_written_together_keep_what_writing_them_one_by_one_keeps(wh, tmp_path):
    together, one_by_one = Pipeline(wh), Pipeline(connect(f"duckdb:///{tmp_path / 'one_by_one.duckdb'}"))
    requests = [[call("sdk", sdk=True, cache_write_tokens=300)], [call("instr", prompt_hash="h")]]
    result = together.write([together.prepare(list(r), []) for r in requests])
    for r in requests:
        one_by_one.ingest(list(r), [])
    assert result.calls == 1
    assert set(stored(wh)) == set(stored(one_by_one.warehouse)) == {"sdk"}  # the first to arrive
    assert span_ids(wh) == ["instr", "sdk"]
    # within one request the preference holds: the instrumentation's record, with the prompt
    Pipeline(one_by_one.warehouse).ingest(
        [call("sdk2", sdk=True, trace_id="t9"), call("in2", trace_id="t9", prompt_hash="h")], []
    )
    assert "in2" in stored(one_by_one.warehouse) and "sdk2" not in stored(one_by_one.warehouse)


def test_two_spans_of_the_sdk_are_two_calls():
    # a provider SDK records each of its calls once: two of its spans sharing an id are two calls
    assert not same_call(call("a", sdk=True), call("b", sdk=True))


def test_both_records_sent_again_after_a_split_arrival_stay_one_call(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([call("sdk", sdk=True)], [])
    pipeline.ingest([call("instr")], [])
    result = pipeline.ingest([call("sdk", sdk=True), call("instr")], [agent_span()])  # an exporter's retry
    assert result.calls == 0
    assert set(stored(wh)) == {"sdk"}


def test_the_kept_call_inherits_what_its_later_twin_carries(wh):
    # the SDK's span nested in OpenInference's root span, which arrives later with the session and user
    pipeline = Pipeline(wh)
    pipeline.ingest([call("child", parent="root", sdk=True, start=0.1)], [])
    pipeline.ingest([call("root", parent=None, session_id="sess-1", user_id="u1")], [])
    frame = wh.sql("SELECT span_id, session_id, user_id FROM calls")
    assert frame.rows() == [("child", "sess-1", "u1")]


# ------------------------------------------------------------- nested records without a shared response id


def nested(span_id: str, parent: str | None, response_id: str | None = None, **kw) -> Call:
    """A framework's LLM span (LangChain's, a Langfuse generation) or the client library's span nested in it."""
    kw.setdefault("output_tokens", 80)
    return call(span_id, parent, response_id=response_id, **kw)


def test_a_parent_and_child_with_the_same_usage_and_at_most_one_response_id_are_one_call():
    outer, inner = nested("outer", "agent"), nested("inner", "outer", "chatcmpl-1", start=0.1)
    assert same_call(outer, inner) and same_call(inner, outer)
    assert same_call(nested("outer", "agent"), nested("inner", "outer", start=0.1))  # neither has an id
    # apart: other usage (a framework span summing two calls), two ids, siblings, one after the other
    assert not same_call(outer, nested("inner", "outer", "chatcmpl-1", input_tokens=300))
    assert not same_call(outer, nested("inner", "outer", "chatcmpl-1", output_tokens=81))
    assert not same_call(nested("outer", "agent", "chatcmpl-0"), inner)
    assert not same_call(nested("a", "agent"), nested("b", "agent", "chatcmpl-1"))
    assert not same_call(outer, nested("inner", "outer", "chatcmpl-1", start=5))
    assert not same_call(outer, nested("inner", "outer", "chatcmpl-1", trace_id="t2"))


def test_one_record_per_nesting_keeps_the_one_with_the_response_id_then_the_prompt_then_the_innermost():
    outer, inner = nested("outer", "agent", prompt_hash="h"), nested("inner", "outer", "chatcmpl-1")
    assert one_call_per_response([outer, inner]) == [inner]
    outer, inner = nested("outer", "agent", prompt_hash="h"), nested("inner", "outer")
    assert one_call_per_response([inner, outer]) == [outer]
    outer, inner = nested("outer", "agent"), nested("inner", "outer")
    assert one_call_per_response([outer, inner]) == [inner]
    # three instrumentations in a chain: one record, the one with the id, wherever it is in the chain
    top, middle, bottom = (
        nested("top", "agent"),
        nested("middle", "top", "chatcmpl-1"),
        nested("bottom", "middle"),
    )
    assert one_call_per_response([top, middle, bottom]) == [middle]
    # a framework span over two calls keeps all three: its usage is theirs summed
    total = nested("chain-llm", "agent", input_tokens=1000, output_tokens=160)
    first, second = nested("c1", "chain-llm", "r1"), nested("c2", "chain-llm", "r2", start=1)
    assert one_call_per_response([total, first, second]) == [total, first, second]


def test_a_framework_span_after_its_stored_child_is_context(wh):
    # SimpleSpanProcessor (Phoenix's register() default): the child ends first and is exported alone
    pipeline = Pipeline(wh)
    pipeline.ingest([nested("inner", "outer", "chatcmpl-1", start=0.1)], [])
    result = pipeline.ingest([nested("outer", "agent")], [agent_span()])
    assert result.calls == 0
    assert stored(wh) == {"inner": ("support", 500)}
    assert span_ids(wh) == ["agent", "inner", "outer"]


def test_a_child_after_its_stored_framework_span_is_context(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([nested("outer", "agent")], [agent_span()])
    pipeline.ingest([nested("inner", "outer", "chatcmpl-1", start=0.1)], [])
    assert set(stored(wh)) == {"outer"}  # the first to arrive


def test_a_root_framework_span_after_its_stored_child_is_context(wh):
    # no context span, no response id anywhere: the trace is still read for the stored child
    pipeline = Pipeline(wh)
    pipeline.ingest([nested("inner", "root", start=0.1)], [])
    pipeline.ingest([nested("root", None)], [])
    assert set(stored(wh)) == {"inner"}


def test_nested_records_in_requests_written_together_keep_what_one_by_one_keeps(wh, tmp_path):
    together, one_by_one = Pipeline(wh), Pipeline(connect(f"duckdb:///{tmp_path / 'one_by_one.duckdb'}"))
    requests = [[nested("inner", "outer", "chatcmpl-1", start=0.1)], [nested("outer", "agent")]]
    result = together.write([together.prepare(list(r), []) for r in requests])
    for r in requests:
        one_by_one.ingest(list(r), [])
    assert result.calls == 1
    assert set(stored(wh)) == set(stored(one_by_one.warehouse)) == {"inner"}


def test_a_parent_with_other_usage_stays_a_call_across_requests(wh):
    pipeline = Pipeline(wh)
    pipeline.ingest([nested("inner", "outer", "chatcmpl-1", start=0.1)], [])
    pipeline.ingest([nested("outer", "agent", input_tokens=900)], [agent_span()])
    assert set(stored(wh)) == {"inner", "outer"}


def test_the_children_of_a_parent_with_several_llm_children_are_never_merged(wh, tmp_path):
    """Retries or a loop under one framework span: each child is its own call, whatever arrives when."""
    parent = nested("P", "agent", output_tokens=80)
    first, second = nested("c1", "P", "r1", start=0.1), nested("c2", "P", "r2", start=1)
    assert one_call_per_response([parent, first, second]) == [parent, first, second]
    failed = [nested(f"retry{i}", "P", start=i / 10, input_tokens=0, output_tokens=0) for i in range(3)]
    zero = nested("P", "agent", input_tokens=0, output_tokens=0)
    assert len(one_call_per_response([zero, *failed])) == 4
    for order in (["c1", "c2", "P"], ["P", "c1", "c2"], ["c1", "P", "c2"]):
        pipeline = Pipeline(connect(f"duckdb:///{tmp_path / ('-'.join(order) + '.duckdb')}"))
        records = {"P": parent, "c1": first, "c2": second}
        for span_id in order:
            pipeline.ingest([records[span_id]], [])
        kept = stored(pipeline.warehouse)
        # never fewer calls than the two responses, whatever the order (the parent stands in for the first
        # child when it was stored first and that child was then its only one)
        assert len(kept) >= 2 and "c2" in kept, (order, kept)
        pipeline.warehouse.close()


@pytest.mark.parametrize("order", [("bottom", "middle", "top"), ("top", "middle", "bottom")])
def test_a_chain_of_three_records_split_across_requests_is_one_call(tmp_path, order):
    # (nested spans end inside their parents, so exporters send the middle record before the top one; the
    # middle one arriving after both ends were stored as calls would leave both: stored calls are not undone)
    records = {
        "top": nested("top", "agent"),
        "middle": nested("middle", "top", "chatcmpl-1", start=0.1),
        "bottom": nested("bottom", "middle", start=0.2),
    }
    assert one_call_per_response(list(records.values())) == [records["middle"]]  # in one request
    pipeline = Pipeline(connect(f"duckdb:///{tmp_path / 'chain.duckdb'}"))
    for span_id in order:
        pipeline.ingest([records[span_id]], [])
    assert len(stored(pipeline.warehouse)) == 1
    assert span_ids(pipeline.warehouse) == ["bottom", "middle", "top"]
    together = Pipeline(connect(f"duckdb:///{tmp_path / 'together.duckdb'}"))
    result = together.write([together.prepare([records[s]], []) for s in order])
    assert result.calls == 1 and len(stored(together.warehouse)) == 1
    pipeline.warehouse.close()
    together.warehouse.close()
