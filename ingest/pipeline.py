"""The write path every source shares: price, resolve trace context, write (one transaction).

``Pipeline.ingest(calls, spans)``:

1. stamps ``ingested_at`` and prices the calls (when a pricer is given);
2. keeps one span row per LLM call (the source's own span with gaps filled from the call, or one built
   from the call), so later batches can re-resolve the call from its own attributes;
3. inside one warehouse transaction: reads back the stored spans of the traces that need them (one
   query for the whole batch), resolves agent / task type / session / user for the batch's calls,
   upserts spans and calls, and re-resolves already-stored calls of those traces whose context moved.

Why the read: exporters send finished children before their parents (an OTel BatchSpanProcessor exports
spans as they end), so a call often arrives before the agent or workflow span it inherits from, and that
parent, arriving later, must update the stored call. A trace is read back when one of its batch spans
has an ancestor missing from the batch, or when the batch carries a context (non-call) span of it, which
may be the late parent of stored spans. Traces whose batch spans are only calls with complete ancestry
(gateway logs, whole traces of LLM calls) are resolved from the batch alone.

Why the write is not a plain upsert everywhere: an upsert looks every row up, which on DuckDB costs more
the larger the table grows. On backends with the ``insert_new`` capability the pipeline learns which
identities are stored (the read above, plus a keys-only index probe for the other traces) and inserts the
rest as new rows. Every call is written with a span row of the same identity, so a call whose span is not
stored is not stored either; if a call was written around the pipeline without its span, the insert fails
with :class:`~agentledger.warehouse.base.DuplicateKeyError` and the batch is written again as an upsert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Protocol

import pyarrow as pa

from agentledger.core.context import Key, ResolvedContext, TraceIndex, TraceKey, call_span
from agentledger.core.records import SPAN_SCHEMA, Call, SpanContext, calls_to_arrow, spans_to_arrow
from agentledger.warehouse.base import DuplicateKeyError, Warehouse

log = logging.getLogger(__name__)

CONTEXT_FIELDS = ("agent_name", "task_type", "session_id", "user_id")
_KEY = attrgetter("project_id", "source", "trace_id", "span_id")  # the records' key(), without a call
_OPERATION = attrgetter("operation")


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
    records = list(records)
    return list(dict(zip(map(_KEY, records), records, strict=True)).values())


def span_rows(calls: Sequence[Call], spans: Sequence[SpanContext]) -> dict[Key, SpanContext]:
    """The span rows to store: the given spans, with every call's own span merged in or added."""
    rows = dict(zip(map(_KEY, spans), spans, strict=True))
    for key, call in zip(map(_KEY, calls), calls, strict=True):
        rows[key] = call_span(call, rows.get(key))
    return rows


def traces_to_read(index: TraceIndex, call_keys: set[Key]) -> set[TraceKey]:
    """Traces whose stored spans may change the resolution (see the module docstring)."""
    return {key[:3] for key in index.spans if key not in call_keys or not index.is_rooted(key)}


def spans_from_arrow(table: pa.Table) -> list[SpanContext]:
    """SpanContexts from a SPAN_SCHEMA table (as read back from the warehouse)."""
    return [SpanContext(**row) for row in table.select(SPAN_SCHEMA.names).to_pylist()]


def with_context(table: pa.Table, resolved: Sequence[ResolvedContext]) -> pa.Table:
    """``table`` (CALL_SCHEMA, one row per resolved entry) with the resolved columns replaced."""
    for name in CONTEXT_FIELDS:
        column = pa.array(list(map(attrgetter(name), resolved)), type=pa.string())
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def changed_context(before: TraceIndex, after: TraceIndex, keys: Iterable[Key]) -> list[Key]:
    """The stored spans among ``keys`` whose resolved context differs between the two indexes.

    ``before`` holds the stored spans of the traces as they were before the batch; every stored call was
    resolved against them when it was written, so only the keys whose resolution moves need an update.
    """
    return [k for k in keys if before.resolve(k) != after.resolve(k)]


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
        # Backends that can insert rows known to be new without an upsert's lookups (warehouse/base.py).
        self._insert_new = "insert_new" in getattr(warehouse, "capabilities", ())

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
        try:
            with self.warehouse.transaction():
                self._write(calls, rows, insert_new=self._insert_new)
        except DuplicateKeyError as exc:
            # A stored call without its span row (written around the pipeline): upsert the batch instead.
            log.info("ingest: rows thought new are stored (%s); writing the batch as an upsert", exc)
            with self.warehouse.transaction():
                self._write(calls, rows, insert_new=False)
        return IngestResult(calls=len(calls), spans=len(spans))

    def _write(self, calls: list[Call], rows: dict[Key, SpanContext], *, insert_new: bool) -> None:
        wh = self.warehouse
        call_keys = list(map(_KEY, calls))
        index = TraceIndex(rows.values())
        to_read = traces_to_read(index, set(call_keys))
        before = spans_from_arrow(wh.trace_spans(to_read)) if to_read else []
        stored = [s for s in before if _KEY(s) not in rows]
        if stored:
            index = TraceIndex([*stored, *rows.values()])
        resolved = [
            index.resolve(key, rows[key], operation)
            for key, operation in zip(call_keys, map(_OPERATION, calls), strict=True)
        ]
        span_table = spans_to_arrow(list(rows.values()))
        call_table = with_context(calls_to_arrow(calls), resolved) if calls else None
        if insert_new:
            known = set(map(_KEY, before))
            known |= wh.stored_span_keys({key[:3] for key in rows} - to_read)  # type: ignore[attr-defined]
            self._write_split(span_table, [k not in known for k in rows], call_table, call_keys, known)
        else:
            wh.write_spans(span_table)
            if call_table is not None:
                wh.write_calls(call_table)
        changed = changed_context(TraceIndex(before), index, map(_KEY, stored)) if stored else []
        if changed:
            wh.update_call_context(context_updates(index, changed))

    def _write_split(
        self,
        span_table: pa.Table,
        span_new: list[bool],
        call_table: pa.Table | None,
        call_keys: list[Key],
        known: set[Key],
    ) -> None:
        """Rows whose identity has no stored span are new: they are inserted without an upsert's lookups.

        That holds for calls too, because every call is written with a span row of the same identity.
        """
        wh = self.warehouse
        call_new = [k not in known for k in call_keys]
        with wh.new_rows():  # type: ignore[attr-defined]  # the insert_new capability
            wh.write_spans(_rows(span_table, span_new, True))
            if call_table is not None:
                wh.write_calls(_rows(call_table, call_new, True))
        if not all(span_new):
            wh.write_spans(_rows(span_table, span_new, False))
        if call_table is not None and not all(call_new):
            wh.write_calls(_rows(call_table, call_new, False))


def _rows(table: pa.Table, mask: list[bool], keep: bool) -> pa.Table:
    """The rows of ``table`` whose ``mask`` entry is ``keep`` (the table itself when that is all of them)."""
    if all(m is keep for m in mask):
        return table
    return table.filter(pa.array([m is keep for m in mask], type=pa.bool_()))
