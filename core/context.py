"""What a call inherits from its trace: agent, task type, session and user (pure functions).

Rules (DESIGN.md, "Tasks, sessions and outcomes"):

- task type: ``agentledger.task.type`` on the call or its nearest ancestor (``task_type``); else the
  ``workflow_name`` of the nearest workflow/task ancestor; else the call's ``operation``;
- agent: ``agent_name`` on the call or its nearest ancestor;
- session / user: the call's own, else the nearest ancestor's, else any span of the trace that has one
  (the earliest such span, so the choice is stable).

Spans are matched within one trace: a parent is (project_id, source, trace_id, parent_span_id).
Missing parents end the walk (the resolution is partial until they arrive) and cycles are cut where they
close, so bad input can never loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import NamedTuple

from agentledger.core.records import Call, SpanContext

Key = tuple[str, str, str, str]  # (project_id, source, trace_id, span_id)
TraceKey = tuple[str, str, str]  # (project_id, source, trace_id)


@dataclass(frozen=True, slots=True)
class ResolvedContext:
    """The context a call carries once its ancestors are taken into account."""

    agent_name: str | None = None
    task_type: str | None = None
    session_id: str | None = None
    user_id: str | None = None


class _Chain(NamedTuple):
    """Nearest non-null value of each attribute over a span and its ancestors.

    A tuple rather than a frozen dataclass: one is built per span on the ingest path, and a frozen
    dataclass pays an ``object.__setattr__`` per field.
    """

    agent_name: str | None = None
    task_type: str | None = None
    workflow_name: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    rooted: bool = False  # the walk reached a span without a parent


_EMPTY = _Chain()
_KEY = attrgetter("project_id", "source", "trace_id", "span_id")  # Call.key() / SpanContext.key(), in C
_FILLED_FROM_CALL = (
    "parent_span_id",
    "agent_name",
    "task_type",
    "session_id",
    "user_id",
    "started_at",
    "ended_at",
)
_FILL_GET = attrgetter(*_FILLED_FROM_CALL)


def trace_key(record: Call | SpanContext) -> TraceKey:
    """The trace a call or span belongs to."""
    return (record.project_id, record.source, record.trace_id)


def parent_key(span: SpanContext | Call) -> Key | None:
    """The key of the parent span, or None for a root ('' counts as no parent)."""
    if not span.parent_span_id:
        return None
    return (span.project_id, span.source, span.trace_id, span.parent_span_id)


def call_span(call: Call, span: SpanContext | None = None) -> SpanContext:
    """The span row of an LLM call: its own span with gaps filled from the call, or one built from it.

    Keeping a span per call lets a later batch re-resolve the call from its own attributes (the stored
    call row holds resolved values, which must not be mistaken for explicit ones).
    """
    if span is None:
        return SpanContext(
            source=call.source,
            trace_id=call.trace_id,
            span_id=call.span_id,
            project_id=call.project_id,
            parent_span_id=call.parent_span_id,
            name=call.operation,
            kind="llm",
            started_at=call.started_at,
            ended_at=call.ended_at,
            status=call.status,
            agent_name=call.agent_name,
            task_type=call.task_type,
            session_id=call.session_id,
            user_id=call.user_id,
        )
    own, theirs = _FILL_GET(span), _FILL_GET(call)
    if own == theirs and (span.status != "unset" or call.status == "unset"):
        return span  # the common case: the call was mapped from this very span, nothing to fill
    fills = {
        name: value
        for name, mine, value in zip(_FILLED_FROM_CALL, own, theirs, strict=True)
        if mine is None and value is not None
    }
    if span.status == "unset" and call.status != "unset":
        fills["status"] = call.status
    return replace(span, **fills) if fills else span


def _extend(span: SpanContext, up: _Chain) -> _Chain:
    return _Chain(
        span.agent_name or up[0],
        span.task_type or up[1],
        span.workflow_name or up[2],
        span.session_id or up[3],
        span.user_id or up[4],
        up[5] if span.parent_span_id else True,
    )


class TraceIndex:
    """Spans of one or more traces, with memoized ancestor chains."""

    def __init__(self, spans: Iterable[SpanContext]) -> None:
        spans = list(spans)
        self.spans: dict[Key, SpanContext] = dict(zip(map(_KEY, spans), spans, strict=True))
        self._chains: dict[Key, _Chain] = {}
        self._fallbacks: dict[TraceKey, tuple[str | None, str | None]] | None = None
        # Calls of one trace mostly resolve alike: share one (immutable) ResolvedContext per value.
        self._contexts: dict[tuple[str | None, ...], ResolvedContext] = {}

    def chain(self, key: Key | None) -> _Chain:
        """Nearest values over ``key`` and its ancestors (empty for an unknown key)."""
        known = self._chains.get(key)  # type: ignore[arg-type]  # None is never a key
        if known is not None:
            return known
        if key is None or key not in self.spans:
            return _EMPTY
        path: list[Key] = []
        on_path: set[Key] = set()
        cur: Key | None = key
        while cur is not None and cur in self.spans and cur not in self._chains and cur not in on_path:
            path.append(cur)
            on_path.add(cur)
            cur = parent_key(self.spans[cur])
        # Stopped at a known chain, a missing parent, a root, or a cycle (cut: inherits nothing more).
        up = self._chains.get(cur, _EMPTY) if cur is not None and cur not in on_path else _EMPTY
        for node in reversed(path):
            up = _extend(self.spans[node], up)
            self._chains[node] = up
        return self._chains[key]

    def is_rooted(self, key: Key) -> bool:
        """True when every ancestor of ``key`` is known, up to a span without a parent."""
        return self.chain(key).rooted

    def _trace_fallbacks(self) -> dict[TraceKey, tuple[str | None, str | None]]:
        """Per trace, the session and user of its earliest span that has one (in ``_span_order``)."""
        if self._fallbacks is None:
            sessions = _earliest(self.spans, "session_id")
            users = _earliest(self.spans, "user_id")
            self._fallbacks = {
                trace: (sessions.get(trace, _NO_FALLBACK)[1], users.get(trace, _NO_FALLBACK)[1])
                for trace in sessions.keys() | users.keys()
            }
        return self._fallbacks

    def resolve(
        self, key: Key, own: SpanContext | None = None, operation: str | None = None
    ) -> ResolvedContext:
        """Context of the call at ``key`` (its own attributes are ``own`` or the indexed span)."""
        own = own or self.spans.get(key)
        if own is None:
            return ResolvedContext(task_type=operation)
        up = self.chain(parent_key(own))
        session, user = self._trace_fallbacks().get(key[:3], _NO_FALLBACK)
        values = (
            own.agent_name or up[0],
            own.task_type or up[1] or up[2] or operation,
            own.session_id or up[3] or session,
            own.user_id or up[4] or user,
        )
        found = self._contexts.get(values)
        if found is None:
            found = self._contexts[values] = ResolvedContext(*values)
        return found


def _span_order(span: SpanContext) -> tuple[bool, float, str]:
    started = span.started_at.timestamp() if span.started_at is not None else 0.0
    return (span.started_at is None, started, span.span_id)


_NO_FALLBACK: tuple[None, None] = (None, None)


def _earliest(spans: Mapping[Key, SpanContext], field: str) -> dict[TraceKey, tuple[tuple, str]]:
    """Per trace, (order, value) of the earliest span with a non-empty ``field`` (one pass, no sort)."""
    found: dict[TraceKey, tuple[tuple, str]] = {}
    get = attrgetter(field)
    for key, span in spans.items():
        value = get(span)
        if not value:
            continue
        order = _span_order(span)
        best = found.get(key[:3])
        if best is None or order < best[0]:
            found[key[:3]] = (order, value)
    return found


def resolve_trace(spans: Iterable[SpanContext], calls: Iterable[Call]) -> dict[Key, ResolvedContext]:
    """Resolve each call of a trace (or of several traces) against the trace's spans.

    ``spans`` are the traces' SpanContexts (any kind; a call's own span may be among them), ``calls``
    the LLM calls to resolve. Returns the resolved context per call key.
    """
    calls = list(calls)
    span_map: Mapping[Key, SpanContext] = {s.key(): s for s in spans}
    own = {c.key(): call_span(c, span_map.get(c.key())) for c in calls}
    index = TraceIndex([*span_map.values(), *own.values()])
    return {c.key(): index.resolve(c.key(), own[c.key()], c.operation) for c in calls}
