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


@dataclass(frozen=True, slots=True)
class _Chain:
    """Nearest non-null value of each attribute over a span and its ancestors."""

    agent_name: str | None = None
    task_type: str | None = None
    workflow_name: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    rooted: bool = False  # the walk reached a span without a parent


_EMPTY = _Chain()


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
    fills = {
        name: getattr(call, name)
        for name in (
            "parent_span_id",
            "agent_name",
            "task_type",
            "session_id",
            "user_id",
            "started_at",
            "ended_at",
        )
        if getattr(span, name) is None and getattr(call, name) is not None
    }
    if span.status == "unset" and call.status != "unset":
        fills["status"] = call.status
    return replace(span, **fills) if fills else span


def _extend(span: SpanContext, up: _Chain) -> _Chain:
    return _Chain(
        agent_name=span.agent_name or up.agent_name,
        task_type=span.task_type or up.task_type,
        workflow_name=span.workflow_name or up.workflow_name,
        session_id=span.session_id or up.session_id,
        user_id=span.user_id or up.user_id,
        rooted=up.rooted if span.parent_span_id else True,
    )


class TraceIndex:
    """Spans of one or more traces, with memoized ancestor chains."""

    def __init__(self, spans: Iterable[SpanContext]) -> None:
        self.spans: dict[Key, SpanContext] = {s.key(): s for s in spans}
        self._chains: dict[Key, _Chain] = {}
        self._fallbacks: dict[TraceKey, tuple[str | None, str | None]] | None = None

    def chain(self, key: Key | None) -> _Chain:
        """Nearest values over ``key`` and its ancestors (empty for an unknown key)."""
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
        if self._fallbacks is None:
            found: dict[TraceKey, tuple[str | None, str | None]] = {}
            for span in sorted(self.spans.values(), key=_span_order):
                session, user = found.get(trace_key(span), (None, None))
                found[trace_key(span)] = (session or span.session_id, user or span.user_id)
            self._fallbacks = found
        return self._fallbacks

    def resolve(
        self, key: Key, own: SpanContext | None = None, operation: str | None = None
    ) -> ResolvedContext:
        """Context of the call at ``key`` (its own attributes are ``own`` or the indexed span)."""
        own = own or self.spans.get(key)
        if own is None:
            return ResolvedContext(task_type=operation)
        up = self.chain(parent_key(own))
        session, user = self._trace_fallbacks().get(key[:3], (None, None))
        return ResolvedContext(
            agent_name=own.agent_name or up.agent_name,
            task_type=own.task_type or up.task_type or up.workflow_name or operation,
            session_id=own.session_id or up.session_id or session,
            user_id=own.user_id or up.user_id or user,
        )


def _span_order(span: SpanContext) -> tuple[bool, float, str]:
    started = span.started_at.timestamp() if span.started_at is not None else 0.0
    return (span.started_at is None, started, span.span_id)


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
