"""The write path every source shares: price, resolve trace context, write (one transaction).

``Pipeline.ingest(calls, spans)``:

1. stamps ``ingested_at`` and prices the calls (when a pricer is given);
2. keeps one span row per LLM call (the source's own span with gaps filled from the call, or one built
   from the call), so later batches can re-resolve the call from its own attributes;
3. inside one warehouse transaction: reads back the stored spans of the traces that need them (one
   query for the whole batch), resolves agent / task type / session / user for the batch's calls,
   upserts spans and calls, and re-resolves already-stored calls of those traces in bulk.

Why the read: exporters send finished children before their parents (an OTel BatchSpanProcessor exports
spans as they end), so a call often arrives before the agent or workflow span it inherits from, and that
parent, arriving later, must update the stored call. A trace is read back when one of its batch spans
has an ancestor missing from the batch, or when the batch carries a context (non-call) span of it, which
may be the late parent of stored spans. Traces whose batch spans are only calls with complete ancestry
(gateway logs, whole traces of LLM calls) are resolved from the batch alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import pyarrow as pa
from agentledger.core.context import Key, ResolvedContext, TraceIndex, TraceKey, call_span, trace_key
from agentledger.core.records import SPAN_SCHEMA, Call, SpanContext, calls_to_arrow, spans_to_arrow
from agentledger.warehouse.base import Warehouse

CONTEXT_FIELDS = ("agent_name", "task_type", "session_id", "user_id")


class CallPricer(Protocol):
    """What the pipeline needs from :class:`agentledger.core.pricing.Pricer`."""

    def price_many(self, calls: list[Call]) -> None: ...


@dataclass
class IngestResult:
    """Rows accepted by one ingest: calls, and the context spans the source sent."""

    calls: int
    spans: int


def dedupe(records: Iterable[Call] | Iterable[SpanContext]) -> list:
    """One record per identity, the last one winning (like a second write would)."""
    return list({r.key(): r for r in records}.values())


def span_rows(calls: Sequence[Call], spans: Sequence[SpanContext]) -> dict[Key, SpanContext]:
    """The span rows to store: the given spans, with every call's own span merged in or added."""
    rows = {s.key(): s for s in spans}
    for call in calls:
        rows[call.key()] = call_span(call, rows.get(call.key()))
    return rows


def traces_to_read(index: TraceIndex, call_keys: set[Key]) -> set[TraceKey]:
    """Traces whose stored spans may change the resolution (see the module docstring)."""
    return {
        trace_key(span)
        for key, span in index.spans.items()
        if key not in call_keys or not index.is_rooted(key)
    }


def spans_from_arrow(table: pa.Table) -> list[SpanContext]:
    """SpanContexts from a SPAN_SCHEMA table (as read back from the warehouse)."""
    return [SpanContext(**row) for row in table.select(SPAN_SCHEMA.names).to_pylist()]


def with_context(table: pa.Table, resolved: Sequence[ResolvedContext]) -> pa.Table:
    """``table`` (CALL_SCHEMA, one row per resolved entry) with the resolved columns replaced."""
    for name in CONTEXT_FIELDS:
        column = pa.array([getattr(r, name) for r in resolved], type=pa.string())
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def context_updates(index: TraceIndex, keys: Iterable[Key]) -> pa.Table:
    """Resolved context of stored calls, for ``Warehouse.update_call_context``.

    ``task_type`` is left NULL when nothing is inherited: the warehouse falls back to each call's
    stored ``operation``, which the span rows do not carry.
    """
    keys = list(keys)
    resolved = [index.resolve(k) for k in keys]
    columns = {
        name: [k[i] for k in keys] for i, name in enumerate(("project_id", "source", "trace_id", "span_id"))
    }
    for name in CONTEXT_FIELDS:
        columns[name] = [getattr(r, name) for r in resolved]
    return pa.table({n: pa.array(v, type=pa.string()) for n, v in columns.items()})


class Pipeline:
    """Price, resolve and write batches of canonical records into one warehouse.

    ``pricer=None`` stores costs as given (tests, or records priced upstream); the application passes
    ``Pricer.from_settings(settings)``.
    """

    def __init__(self, warehouse: Warehouse, pricer: CallPricer | None = None) -> None:
        self.warehouse = warehouse
        self.pricer = pricer

    def ingest(self, calls: list[Call], spans: list[SpanContext]) -> IngestResult:
        """Price calls, write spans and calls (idempotent upsert), resolve agent/task type/session/user
        inherited from ancestors for the affected traces. Durable when it returns."""
        calls = dedupe(calls)
        spans = dedupe(spans)
        if not calls and not spans:
            return IngestResult(calls=0, spans=0)
        now = datetime.now(UTC)
        for call in calls:
            call.ingested_at = now
        if self.pricer is not None and calls:
            self.pricer.price_many(calls)
        rows = span_rows(calls, spans)
        with self.warehouse.transaction():
            self._write(calls, rows)
        return IngestResult(calls=len(calls), spans=len(spans))

    def _write(self, calls: list[Call], rows: dict[Key, SpanContext]) -> None:
        wh = self.warehouse
        index = TraceIndex(rows.values())
        call_keys = {c.key() for c in calls}
        stored: list[SpanContext] = []
        to_read = traces_to_read(index, call_keys)
        if to_read:
            stored = [s for s in spans_from_arrow(wh.trace_spans(to_read)) if s.key() not in rows]
            if stored:
                index = TraceIndex([*stored, *rows.values()])
        resolved = [index.resolve(c.key(), rows[c.key()], c.operation) for c in calls]
        wh.write_spans(spans_to_arrow(list(rows.values())))
        if calls:
            wh.write_calls(with_context(calls_to_arrow(calls), resolved))
        if stored:
            wh.update_call_context(context_updates(index, (s.key() for s in stored)))
