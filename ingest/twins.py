"""One record per API call when two spans of one trace record the same call.

Two instrumentations of one client both record its calls: a provider SDK's own tracing (the Anthropic SDK
traces every call once a tracer provider is set) under OpenInference's span or beside OpenLLMetry's, two
instrumentation libraries wrapping one another, or a framework's LLM span (LangChain's, a Langfuse generation
around an instrumented client) with the client library's span nested in it. Both spans carry the call's usage,
and counting both doubles the bill. Two calls of one trace that overlap in time are the same call when

* they carry the same response id, and one is nested in the other or exactly one of them was recorded by the
  provider SDK's own tracing (its call carries the :data:`SDK_SCOPE_TAG` tag); or
* one is the parent of the other and its only LLM child (or they are linked by a chain of such parents and
  only children: three instrumentations), at most one of them carries a response id (a framework's span
  rarely records it), and they report the same input and output token counts.

Calls that merely share a response id stay apart (gateways that reuse ids, replayed responses), and so do a
parent and a child that report different usage (a framework span summing several calls) or two response ids,
and the children of a parent with several LLM children (retries, a loop): none of them is the parent's call.

The twins meet in three places: in one export request (:func:`one_call_per_response`, when mapping), in the
requests written together by one write, and across requests, when the first record is already stored
(:func:`stored_twins`, from the pipeline: exporters that send each span as it ends, such as OpenTelemetry's
``SimpleSpanProcessor``, always split them). Within a request the record kept is not the SDK's own, then the
one with the prompt recorded (a prompt hash), then the earlier start, then the smaller span id; of a parent and
its child without a shared response id, the one with a response id, then the one with the prompt, then the
child (the record nearer the provider). Across
requests the record that arrived first is kept, whether it is stored already or in an earlier request of the
same write (requests that share a response id, or hold a parent and its child, are written one after the other, see
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

__all__ = [
    "SDK_SCOPE_TAG",
    "llm_span_overlaps",
    "nesting_chains",
    "one_call_per_response",
    "same_call",
    "same_nested_call",
    "stored_twins",
]

# The instrumentation scope of a call recorded by a provider SDK's own tracing (set only on those calls).
SDK_SCOPE_TAG = "otel.scope.name"

_KEY = attrgetter("project_id", "source", "trace_id", "span_id")
Key = tuple[str, str, str, str]


def _by_sdk(call: Call) -> bool:
    return SDK_SCOPE_TAG in call.tags


def same_call(a: Call, b: Call) -> bool:
    """Whether two calls record one API call (see the module docstring)."""
    if (
        a.trace_id != b.trace_id
        or a.project_id != b.project_id
        or a.source != b.source
        or a.span_id == b.span_id
    ):
        return False
    nested = a.parent_span_id == b.span_id or b.parent_span_id == a.span_id
    if a.response_id and a.response_id == b.response_id:
        if not nested and _by_sdk(a) == _by_sdk(b):  # a provider SDK records each of its calls once
            return False
        return _overlap(a, b)
    return nested and same_nested_call(a, b)


def same_nested_call(a: Call, b: Call) -> bool:
    """Whether two calls linked by nesting (a parent and its only LLM child, or a chain of them: the caller
    knows) record one call: at most one response id, the same usage, overlapping times."""
    if a.response_id and b.response_id and a.response_id != b.response_id:  # two responses: two calls
        return False
    return _same_usage(a, b) and _overlap(a, b)


def _same_usage(a: Call, b: Call) -> bool:
    return a.input_tokens == b.input_tokens and a.output_tokens == b.output_tokens


def _overlap(a: Call | SpanContext, b: Call | SpanContext) -> bool:
    assert a.started_at is not None and b.started_at is not None
    return a.started_at <= (b.ended_at or b.started_at) and b.started_at <= (a.ended_at or a.started_at)


def one_call_per_response(calls: list[Call]) -> list[Call]:
    """``calls`` (of one request) without the second record of any API call recorded twice among them (order
    kept)."""
    calls = _one_call_per_nesting(calls)
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


def _one_call_per_nesting(calls: list[Call]) -> list[Call]:
    """``calls`` without the parents or children that record the same call as a call nested with them and
    share no response id with it (those are left to the response-id rule). Chains (three instrumentations)
    collapse into one record: per group of such records, the one with a response id, then with the prompt, then
    the innermost."""
    if len(calls) < 2:
        return calls
    span_ids = {call.span_id for call in calls}
    if not any(call.parent_span_id in span_ids for call in calls):  # the common case: no call in a call
        return calls
    position = {_KEY(call): i for i, call in enumerate(calls)}
    group = list(range(len(calls)))  # union-find over the positions

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    links: list[tuple[int, int]] = []
    children: dict[int, int] = defaultdict(int)  # LLM children per parent position
    for i, call in enumerate(calls):
        if call.parent_span_id is None:
            continue
        j = position.get((call.project_id, call.source, call.trace_id, call.parent_span_id))
        if j is not None:
            links.append((i, j))
            children[j] += 1
    parents: set[int] = set()
    members: set[int] = set()
    for i, j in links:
        call, parent = calls[i], calls[j]
        if children[j] != 1:  # a parent of several calls is none of them
            continue
        if not (call.response_id and call.response_id == parent.response_id) and same_call(call, parent):
            group[root(i)] = root(j)
            parents.add(j)
            members.update((i, j))
    if not members:
        return calls
    best: dict[int, int] = {}
    for i in sorted(members):
        r = root(i)
        if r not in best or _nested_rank(calls[i], i in parents) < _nested_rank(
            calls[best[r]], best[r] in parents
        ):
            best[r] = i
    dropped = members - set(best.values())
    return [call for i, call in enumerate(calls) if i not in dropped]


def _nested_rank(call: Call, is_parent: bool) -> tuple[bool, bool, bool]:
    return (call.response_id is None, call.prompt_hash is None, is_parent)


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


def nesting_chains(calls: list[Call], stored: Iterable[SpanContext]) -> dict[Key, set[Key]]:
    """Per call of ``calls``: the stored LLM spans linked to it by nesting, those whose calls may record the same
    API call. Up: its parent when it is that parent's only LLM child, and on; down: its only LLM child, and on.
    The children are counted over the stored LLM spans and ``calls`` together."""
    nodes: dict[Key, Call | SpanContext] = {_KEY(s): s for s in stored if s.kind == "llm"}
    own = {_KEY(call): call for call in calls}
    nodes.update(own)
    kids: dict[Key, list[Key]] = defaultdict(list)
    for key, node in nodes.items():
        if node.parent_span_id is not None:
            parent = (*key[:3], node.parent_span_id)
            if parent in nodes:
                kids[parent].append(key)
    if not kids:
        return {}
    chains: dict[Key, set[Key]] = {}
    for key, call in own.items():
        chain: set[Key] = set()
        up, node = key, call
        while node.parent_span_id is not None:
            parent = (*up[:3], node.parent_span_id)
            if parent not in nodes or len(kids[parent]) != 1 or parent in chain or parent == key:
                break
            chain.add(parent)
            up, node = parent, nodes[parent]
        down = key
        while len(kids.get(down, ())) == 1 and kids[down][0] not in chain and kids[down][0] != key:
            down = kids[down][0]
            chain.add(down)
        chain -= own.keys()
        if chain:
            chains[key] = chain
    return chains


def _by_start(spans: list[SpanContext]) -> tuple[list[SpanContext], list[datetime], timedelta]:
    """The spans sorted by start, their starts, and the longest duration among them."""
    spans = sorted(spans, key=attrgetter("started_at"))
    starts = [span.started_at for span in spans]
    longest = max(((s.ended_at or s.started_at) - s.started_at for s in spans), default=timedelta(0))  # type: ignore[operator]
    return spans, starts, max(longest, timedelta(0))  # type: ignore[return-value]


def stored_twins(
    calls: Iterable[Call], stored: Iterable[Call], chains: dict[Key, set[Key]] | None = None
) -> set[Key]:
    """Keys of ``calls`` that record an API call a ``stored`` call records already: one with the same
    response id (see :func:`same_call`), or one in the call's nesting chain (see :func:`nesting_chains`) with
    the same usage."""
    by_response: dict[tuple[str, str, str, str | None], list[Call]] = defaultdict(list)
    by_key: dict[Key, Call] = {}
    for call in stored:
        if call.response_id:
            by_response[(*_KEY(call)[:3], call.response_id)].append(call)
        by_key[_KEY(call)] = call
    chains = chains or {}
    found = set()
    for call in calls:
        key = _KEY(call)
        twins = by_response.get((*key[:3], call.response_id), ()) if call.response_id else ()
        nested = (by_key[k] for k in chains.get(key, ()) if k in by_key)
        if any(same_call(call, other) for other in twins) or any(same_nested_call(call, o) for o in nested):
            found.add(key)
    return found
