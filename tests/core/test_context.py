"""Trace-context resolution: what a call inherits from its ancestors (DESIGN.md, tasks and sessions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentledger.core.context import ResolvedContext, TraceIndex, call_span, resolve_trace
from agentledger.core.records import Call, SpanContext

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def span(span_id: str, parent: str | None = None, trace: str = "t", **kw) -> SpanContext:
    return SpanContext(source="otlp", trace_id=trace, span_id=span_id, parent_span_id=parent, **kw)


def call(span_id: str, parent: str | None = None, trace: str = "t", **kw) -> Call:
    kw.setdefault("started_at", T0)
    return Call(source="otlp", trace_id=trace, span_id=span_id, parent_span_id=parent, **kw)


def resolve_one(spans: list[SpanContext], c: Call) -> ResolvedContext:
    return resolve_trace(spans, [c])[c.key()]


def test_explicit_task_type_on_a_far_ancestor_beats_a_nearer_workflow_name():
    spans = [
        span("root", task_type="triage"),
        span("wf", "root", kind="workflow", workflow_name="summarize"),
    ]
    assert resolve_one(spans, call("c", "wf", operation="chat")).task_type == "triage"


def test_task_type_falls_back_to_nearest_workflow_then_to_operation():
    spans = [
        span("root", kind="workflow", workflow_name="outer"),
        span("inner", "root", kind="task", workflow_name="inner-task"),
    ]
    assert resolve_one(spans, call("c", "inner", operation="chat")).task_type == "inner-task"
    assert resolve_one([], call("c", None, operation="embeddings")).task_type == "embeddings"


def test_the_calls_own_values_win_over_ancestors():
    spans = [span("root", agent_name="planner", task_type="triage", session_id="s-root", user_id="u-root")]
    got = resolve_one(
        spans, call("c", "root", agent_name="coder", task_type="fix", session_id="s-own", user_id="u-own")
    )
    assert got == ResolvedContext(agent_name="coder", task_type="fix", session_id="s-own", user_id="u-own")


def test_agent_comes_from_the_nearest_ancestor_that_names_one():
    spans = [
        span("root", agent_name="supervisor"),
        span("sub", "root", agent_name="researcher"),
        span("tool", "sub", kind="tool"),
    ]
    assert resolve_one(spans, call("c", "tool")).agent_name == "researcher"


def test_session_and_user_fall_back_to_any_span_of_the_trace():
    # The session is declared on a sibling branch, not on an ancestor of the call.
    spans = [
        span("root"),
        span("a", "root", started_at=T0 + timedelta(seconds=2), session_id="late"),
        span("b", "root", started_at=T0 + timedelta(seconds=1), session_id="early", user_id="u1"),
        span("branch", "root"),
    ]
    got = resolve_one(spans, call("c", "branch"))
    assert (got.session_id, got.user_id) == ("early", "u1")  # the earliest span with one wins


def test_session_from_the_nearest_ancestor_before_any_span():
    spans = [span("root", session_id="root-s"), span("mid", "root", session_id="mid-s"), span("x", "root")]
    assert resolve_one(spans, call("c", "mid")).session_id == "mid-s"


def test_a_missing_parent_resolves_what_is_known():
    spans = [span("mid", "not-arrived-yet", agent_name="planner")]
    got = resolve_one(spans, call("c", "mid", operation="chat"))
    assert (got.agent_name, got.task_type) == ("planner", "chat")
    index = TraceIndex([*spans, call_span(call("c", "mid"))])
    assert not index.is_rooted(("default", "otlp", "t", "c"))


def test_cycles_terminate_and_keep_the_values_on_the_loop():
    spans = [
        span("a", "b", agent_name="loop-agent"),
        span("b", "a", kind="workflow", workflow_name="loop-wf"),
        span("self", "self", agent_name="selfish"),
    ]
    got = resolve_one(spans, call("c", "a", operation="chat"))
    assert got.agent_name == "loop-agent"
    assert got.task_type == "loop-wf"
    assert resolve_one(spans, call("d", "self")).agent_name == "selfish"
    index = TraceIndex(spans)
    assert not index.is_rooted(("default", "otlp", "t", "a"))


def test_spans_of_other_traces_are_never_ancestors():
    spans = [span("p", trace="other", agent_name="stranger")]
    assert resolve_one(spans, call("c", "p")).agent_name is None


def test_an_empty_string_parent_is_a_root():
    index = TraceIndex([span("r", "")])
    assert index.is_rooted(("default", "otlp", "t", "r"))


def test_call_span_fills_gaps_of_the_sources_own_span_only():
    own = span("c", "root", kind="llm", name="chat gpt-4o", agent_name="from-span")
    merged = call_span(call("c", "root", agent_name="from-call", session_id="s", status="error"), own)
    assert merged.agent_name == "from-span"
    assert merged.session_id == "s"
    assert merged.status == "error"
    assert merged.name == "chat gpt-4o"
    built = call_span(call("c", "root", operation="chat", task_type="triage"))
    assert (built.kind, built.name, built.task_type, built.parent_span_id) == (
        "llm",
        "chat",
        "triage",
        "root",
    )


def test_resolve_trace_handles_several_calls_and_traces_at_once():
    spans = [span("r1", agent_name="a1"), span("r2", trace="t2", agent_name="a2")]
    calls = [call("c1", "r1"), call("c2", "r2", trace="t2"), call("c3", "r1")]
    got = resolve_trace(spans, calls)
    assert [got[c.key()].agent_name for c in calls] == ["a1", "a2", "a1"]
