"""One record per API call when two spans of one trace record the same call.

Two instrumentations of one client both record its calls: a provider SDK's own tracing (the Anthropic SDK
traces every call once a tracer provider is set) under OpenInference's span or beside OpenLLMetry's, or two
instrumentation libraries wrapping one another. Both spans carry the provider's response id and usage, and
counting both doubles the bill. Two calls are the same call when they belong to one trace, carry the same
response id, overlap in time, and one is nested in the other or exactly one of them was recorded by the provider SDK's own
tracing (its call carries the :data:`SDK_SCOPE_TAG` tag). Calls that merely share a response id stay apart
(gateways that reuse ids, replayed responses).

The twins meet in three places: in one export request (:func:`one_call_per_response`, when mapping), in the
requests written together by one write, and across requests, when the first record is already stored
(:func:`stored_twins`, from the pipeline: exporters that send each span as it ends, such as OpenTelemetry's
``SimpleSpanProcessor``, always split them). Within a request the record kept is not the SDK's own, then the
one with the prompt recorded (a prompt hash), then the earlier start, then the smaller span id. Across
requests the record that arrived first is kept, whether it is stored already or in an earlier request of the
same write (requests that share a response id are written one after the other, see
:meth:`agentledger.ingest.pipeline.Pipeline.write`), so that writing requests together gives what writing them
one by one gives; the later record stays a context span.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from operator import attrgetter

from agentledger.core.records import Call, SpanContext

__all__ = ["SDK_SCOPE_TAG", "llm_span_overlaps", "one_call_per_response", "same_call", "stored_twins"]

# The instrumentation scope of a call recorded by a provider SDK's own tracing (set only on those calls).
SDK_SCOPE_TAG = "otel.scope.name"

_KEY = attrgetter("project_id", "source", "trace_id", "span_id")


def _by_sdk(call: Call) -> bool:
    return SDK_SCOPE_TAG in call.tags


def same_call(a: Call, b: Call) -> bool:
    """Whether two calls of one trace with one response id record one API call (see the module docstring)."""
    if a.response_id != b.response_id or a.trace_id != b.trace_id or _KEY(a) == _KEY(b):
        return False
    nested = a.parent_span_id == b.span_id or b.parent_span_id == a.span_id
    if not nested and _by_sdk(a) == _by_sdk(b):  # a provider SDK records each of its calls once
        return False
    return _overlap(a, b)


def _overlap(a: Call | SpanContext, b: Call | SpanContext) -> bool:
    assert a.started_at is not None and b.started_at is not None
    return a.started_at <= (b.ended_at or b.started_at) and b.started_at <= (a.ended_at or a.started_at)


def one_call_per_response(calls: list[Call]) -> list[Call]:
    """``calls`` (of one request) without the second record of any API call recorded twice among them (order
    kept)."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for call in calls:  # the common case, every response id once, costs one set lookup per call
        if response_id := call.response_id:
            if response_id in seen:
                repeated.add(response_id)
            else:
                seen.add(response_id)
    if not repeated:
        return calls
    by_response: dict[tuple[str, str, str, str], list[Call]] = defaultdict(list)
    for call in calls:
        if call.response_id in repeated:
            by_response[(call.project_id, call.source, call.trace_id, call.response_id)].append(call)
    dropped: set[int] = set()
    for group in by_response.values():
        if len(group) < 2:
            continue
        group.sort(
            key=lambda x: (
                _by_sdk(x),
                x.prompt_hash is None,
                x.started_at,
                x.span_id,
            )
        )
        kept: list[Call] = []
        for call in group:
            if any(same_call(call, other) for other in kept):
                dropped.add(id(call))
            else:
                kept.append(call)
    return [call for call in calls if id(call) not in dropped] if dropped else calls


def llm_span_overlaps(calls: Iterable[Call], stored: Iterable[SpanContext]) -> list[SpanContext]:
    """The stored LLM spans that could be the first record of one of ``calls`` (those with a response id):
    same trace, another identity, overlapping in time. Only their calls need to be read to find twins.

    Per trace the spans are sorted by start, so a call looks only at those starting within the longest span's
    duration before it and no later than its end (a long trace costs a bisection per call, not a scan)."""
    by_trace: dict[tuple[str, str, str], list[SpanContext]] = defaultdict(list)
    for span in stored:
        if span.kind == "llm" and span.started_at is not None:
            by_trace[(span.project_id, span.source, span.trace_id)].append(span)
    if not by_trace:
        return []
    windows = {trace: _by_start(spans) for trace, spans in by_trace.items()}
    found: dict[tuple[str, str, str, str], SpanContext] = {}
    for call in calls:
        window = windows.get((call.project_id, call.source, call.trace_id))
        if window is None or not call.response_id:
            continue
        spans, starts, longest = window
        assert call.started_at is not None
        low = bisect_left(starts, call.started_at - longest)
        high = bisect_right(starts, call.ended_at or call.started_at)
        for span in spans[low:high]:
            if span.span_id != call.span_id and _overlap(call, span):
                found[_KEY(span)] = span
    return list(found.values())


def _by_start(spans: list[SpanContext]) -> tuple[list[SpanContext], list[datetime], timedelta]:
    """The spans sorted by start, their starts, and the longest duration among them."""
    spans = sorted(spans, key=attrgetter("started_at"))
    starts = [span.started_at for span in spans]
    longest = max(((s.ended_at or s.started_at) - s.started_at for s in spans), default=timedelta(0))  # type: ignore[operator]
    return spans, starts, max(longest, timedelta(0))  # type: ignore[return-value]


def stored_twins(calls: Iterable[Call], stored: Iterable[Call]) -> set[tuple[str, str, str, str]]:
    """Keys of ``calls`` that record an API call a ``stored`` call records already."""
    by_response: dict[tuple[str, str, str, str | None], list[Call]] = defaultdict(list)
    for call in stored:
        by_response[(*_KEY(call)[:3], call.response_id)].append(call)
    return {
        _KEY(call)
        for call in calls
        if call.response_id
        and any(same_call(call, s) for s in by_response.get((*_KEY(call)[:3], call.response_id), ()))
    }
