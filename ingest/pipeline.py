"""The write path every source shares: price, resolve trace context, write (one transaction).

``Pipeline.ingest(calls, spans)`` is ``write([prepare(calls, spans)])``:

1. ``prepare`` (no warehouse access, so it can run in many threads): de-duplicates, stamps ``ingested_at``
   and prices the calls (when a pricer is given); keeps one span row per LLM call (the source's own span
   with gaps filled from the call, or one built from the call), so later batches can re-resolve the call
   from its own attributes; resolves agent / task type / session / user from the batch's own spans and
   builds the Arrow tables;
2. ``write``, inside one warehouse transaction: reads back the stored spans of the traces that need them
   (one query for all the batches), re-resolves the calls of the traces that have stored spans or that
   several batches share, writes spans and calls, and re-resolves the already-stored calls of those traces
   whose context moved. A call that records an API call another call of the write, or a stored call, records
   already (two spans of one call: see :mod:`agentledger.ingest.twins`) is not written as a call; its span
   row stays as context.

Why the read: exporters send finished children before their parents (an OTel BatchSpanProcessor exports
spans as they end), so a call often arrives before the agent or workflow span it inherits from, and that
parent, arriving later, must update the stored call. A trace is read back when one of its batch spans
has an ancestor missing from the batch, or when the batch carries a context (non-call) span of it, which
may be the late parent of stored spans. Traces whose batch spans are only calls with complete ancestry
(gateway logs, whole traces of LLM calls) are resolved from the batch alone. Resolution only ever looks
at spans of the call's own trace, so a trace with no stored spans and all its batch spans in one prepared
batch resolves the same in ``prepare`` as it would against everything.

Why the write is not a plain upsert everywhere: an upsert looks every row up, which on DuckDB costs more
the larger the table grows. On backends with the ``insert_new`` capability the pipeline learns which
identities are stored (the read above, plus a keys-only index probe for the other traces) and inserts the
rest as new rows. Every call is written with a span row of the same identity, so a call whose span is not
stored is not stored either; if a call was written around the pipeline without its span, the insert fails
with :class:`~agentledger.warehouse.base.DuplicateKeyError` and the batch is written again as an upsert.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Protocol

import pyarrow as pa

from agentledger.core.context import Key, ResolvedContext, TraceIndex, TraceKey, call_span
from agentledger.core.records import (
    CALL_SCHEMA,
    SPAN_SCHEMA,
    Call,
    SpanContext,
    calls_to_arrow,
    spans_to_arrow,
)
from agentledger.ingest.twins import llm_span_overlaps, nesting_chains, one_call_per_response, stored_twins
from agentledger.warehouse.base import DuplicateKeyError, Warehouse

log = logging.getLogger(__name__)

CONTEXT_FIELDS = ("agent_name", "task_type", "session_id", "user_id")
_KEY = attrgetter("project_id", "source", "trace_id", "span_id")  # the records' key(), without a call
_OPERATION = attrgetter("operation")
_KEY_COLUMNS = ("project_id", "source", "trace_id", "span_id")


class CallPricer(Protocol):
    """What the pipeline needs from :class:`agentledger.core.pricing.Pricer`."""

    def price_many(self, calls: list[Call]) -> None: ...


@dataclass
class IngestResult:
    """Rows accepted by one ingest: calls, and the context spans the source sent."""

    calls: int
    spans: int


class PreparedBatch:
    """One ingest's records made ready to write (see :meth:`Pipeline.prepare`).

    The Arrow tables hold what is written: ``span_table`` the span rows by identity (the calls' own spans
    merged in), ``call_table`` the calls with their context as far as this batch alone tells. The keys,
    ``traces`` and ``to_read`` are what the write needs for every batch; the records themselves (``calls``,
    ``rows``, ``resolved``) only for the few traces whose stored spans or other batches matter. A batch
    prepared in this process keeps its records; one that crossed a process boundary (pickled: only the tables
    travel, see ``__reduce__``) rebuilds the records it is asked for from the tables. Calls rebuilt so carry
    their resolved context, which is all the write reads of them besides their own fields.
    """

    __slots__ = (
        "call_table",
        "span_table",
        "to_read",
        "spans",
        "call_keys",
        "row_keys",
        "traces",
        "_calls",
        "_rows",
        "_resolved",
        "_positions",
    )

    def __init__(
        self,
        call_table: pa.Table | None,
        span_table: pa.Table | None,
        to_read: set[TraceKey],
        spans: int,
        *,
        calls: list[Call] | None = None,
        rows: dict[Key, SpanContext] | None = None,
        resolved: list[ResolvedContext] | None = None,
        call_keys: list[Key] | None = None,
        row_keys: list[Key] | None = None,
    ) -> None:
        self.call_table = call_table
        self.span_table = span_table
        self.to_read = to_read  # traces whose stored spans may change the resolution
        self.spans = spans  # context spans the source sent, for IngestResult
        self.call_keys: list[Key] = call_keys if call_keys is not None else _table_keys(call_table)
        if row_keys is None:
            row_keys = list(rows) if rows is not None else _table_keys(span_table)
        self.row_keys: list[Key] = row_keys
        traces: defaultdict[TraceKey, list[Key]] = defaultdict(list)
        for key in self.row_keys:
            traces[key[:3]].append(key)
        self.traces: dict[TraceKey, list[Key]] = dict(traces)  # span row keys per trace
        self._calls = calls
        self._rows = rows
        self._resolved = resolved
        self._positions: dict[Key, int] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return PreparedBatch, (self.call_table, self.span_table, self.to_read, self.spans)

    @property
    def size(self) -> int:
        """Span rows to write: the unit of the batching writer's queue."""
        return len(self.row_keys)

    @property
    def calls(self) -> list[Call]:
        if self._calls is None:
            self._calls = calls_from_arrow(self.call_table) if self.call_table is not None else []
        return self._calls

    @property
    def rows(self) -> dict[Key, SpanContext]:
        """The span rows by identity."""
        if self._rows is None:
            spans = spans_from_arrow(self.span_table) if self.span_table is not None else []
            self._rows = dict(zip(self.row_keys, spans, strict=True))
        return self._rows

    @property
    def resolved(self) -> list[ResolvedContext]:
        """The calls' context as far as this batch alone tells (in the order of ``call_keys``)."""
        if self._resolved is None:
            self._resolved = _table_context(self.call_table)
        return self._resolved

    def response_ids(self) -> list[str | None]:
        """The calls' response ids, in the order of ``call_keys``."""
        if self._calls is not None:
            return [c.response_id for c in self._calls]
        return _column(self.call_table, "response_id")

    def parent_span_ids(self) -> list[str | None]:
        """The calls' parent span ids, in the order of ``call_keys``."""
        if self._calls is not None:
            return [c.parent_span_id for c in self._calls]
        return _column(self.call_table, "parent_span_id")

    def operations(self) -> list[str | None]:
        if self._calls is not None:
            return [c.operation for c in self._calls]
        return _column(self.call_table, "operation")

    def rows_of(self, keys: Sequence[Key]) -> list[SpanContext]:
        """The span rows of ``keys`` (keys of this batch), rebuilding only those when the batch has no records."""
        if self._rows is not None or len(keys) * 2 > len(self.row_keys):
            rows = self.rows
            return [rows[k] for k in keys]
        if self._positions is None:
            self._positions = {k: i for i, k in enumerate(self.row_keys)}
        assert self.span_table is not None
        taken = self.span_table.take(pa.array([self._positions[k] for k in keys], type=pa.int64()))
        return spans_from_arrow(taken)

    def calls_in(self, traces: set[TraceKey]) -> list[Call]:
        """The calls of ``traces``, rebuilding only those when the batch has no records."""
        picked = [i for i, k in enumerate(self.call_keys) if k[:3] in traces]
        if not picked:
            return []
        if self._calls is not None or len(picked) * 2 > len(self.call_keys):
            calls = self.calls
            return [calls[i] for i in picked]
        assert self.call_table is not None
        return calls_from_arrow(self.call_table.take(pa.array(picked, type=pa.int64())))

    def without_calls(self, drop: set[Key]) -> PreparedBatch:
        """This batch without the calls of ``drop``; their span rows stay, as context."""
        keep = [key not in drop for key in self.call_keys]
        if all(keep):
            return self
        kept = [i for i, k in enumerate(keep) if k]
        table = (
            self.call_table.filter(pa.array(keep, type=pa.bool_())) if self.call_table is not None else None
        )
        batch = PreparedBatch(
            table if table is not None and table.num_rows else None,
            self.span_table,
            self.to_read,
            self.spans,
            calls=[self._calls[i] for i in kept] if self._calls is not None else None,
            rows=self._rows,
            resolved=[self._resolved[i] for i in kept] if self._resolved is not None else None,
            call_keys=[self.call_keys[i] for i in kept],
            row_keys=self.row_keys,
        )
        batch._positions = self._positions
        return batch


def _table_keys(table: pa.Table | None) -> list[Key]:
    """The records' identities, in the table's order."""
    if table is None:
        return []
    return list(zip(*(table.column(name).to_pylist() for name in _KEY_COLUMNS), strict=True))


def _column(table: pa.Table | None, name: str) -> list:
    return table.column(name).to_pylist() if table is not None else []


def _table_context(table: pa.Table | None) -> list[ResolvedContext]:
    """The context columns of a call table, as the ResolvedContext each row was written with."""
    if table is None:
        return []
    return list(map(ResolvedContext, *(table.column(name).to_pylist() for name in CONTEXT_FIELDS)))


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
    found: set[TraceKey] = set()
    for key in index.spans:
        trace = key[:3]
        # Once a trace is in, its other spans need no ancestry walk.
        if trace not in found and (key not in call_keys or not index.is_rooted(key)):
            found.add(trace)
    return found


def spans_from_arrow(table: pa.Table) -> list[SpanContext]:
    """SpanContexts from a SPAN_SCHEMA table (as read back from the warehouse)."""
    return [SpanContext(**row) for row in table.select(SPAN_SCHEMA.names).to_pylist()]


def calls_from_arrow(table: pa.Table) -> list[Call]:
    """Calls from a CALL_SCHEMA table (as read back from the warehouse); the tag map becomes a dict again."""
    rows = table.select(CALL_SCHEMA.names).to_pylist()
    return [Call(**(row | {"tags": dict(row["tags"] or ())})) for row in rows]


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


def shared_traces(batches: Sequence[PreparedBatch]) -> set[TraceKey]:
    """Traces with span rows in more than one of the batches."""
    if len(batches) < 2:
        return set()
    seen = Counter(trace for b in batches for trace in b.traces)
    return {trace for trace, n in seen.items() if n > 1}


def responses_overlap(batches: Sequence[PreparedBatch]) -> bool:
    """True when one response id is in two of the batches (the first record of an API call must be stored
    before a second one, in a later batch, is looked at: see :meth:`Pipeline._stored_twins`)."""
    if len(batches) < 2:
        return False
    seen: set[str] = set()
    for b in batches:
        ids = {r for r in b.response_ids() if r}
        if not seen.isdisjoint(ids):
            return True
        seen |= ids
    return False


def calls_nested_across(batches: Sequence[PreparedBatch], shared: set[TraceKey]) -> bool:
    """True when a call of one batch is the parent of a call of another (only shared traces can hold one):
    they may record one API call, and the first must be stored before the second is looked at."""
    if not shared:
        return False
    owner: dict[Key, int] = {}
    parents: list[tuple[Key, int]] = []
    for i, b in enumerate(batches):
        if not any(key[:3] in shared for key in b.call_keys):
            continue  # most batches: their calls' parents need not be read
        for key, parent in zip(b.call_keys, b.parent_span_ids(), strict=True):
            if key[:3] in shared:
                owner[key] = i
                if parent is not None:
                    parents.append(((*key[:3], parent), i))
    return any(owner.get(parent, i) != i for parent, i in parents)


def keys_overlap(batches: Sequence[PreparedBatch], shared: set[TraceKey]) -> bool:
    """True when one span identity is in two of the batches (only shared traces can hold one)."""
    for trace in shared:
        keys = [k for b in batches for k in b.traces.get(trace, ())]
        if len(keys) != len(set(keys)):
            return True
    return False


def prepare(calls: list[Call], spans: list[SpanContext], pricer: CallPricer | None) -> PreparedBatch:
    """Step 1 of the module docstring: no warehouse, no shared state besides the pricer's cache, so it runs in
    any thread or process (the OTLP mapping workers prepare there, see ingest/otlp/workers.py)."""
    calls = dedupe(calls)
    spans = dedupe(spans)
    if calls:
        now = datetime.now(UTC)
        for call in calls:
            call.ingested_at = now
        if pricer is not None:
            pricer.price_many(calls)
    rows = span_rows(calls, spans)
    # A call recorded twice in the batch (see ingest/twins.py) is written once; the other record's span row
    # (built above) stays, as context.
    calls = one_call_per_response(calls)
    call_keys = list(map(_KEY, calls))
    index = TraceIndex(rows.values())
    to_read = traces_to_read(index, set(call_keys))
    resolved = [
        index.resolve(key, rows[key], operation)
        for key, operation in zip(call_keys, map(_OPERATION, calls), strict=True)
    ]
    return PreparedBatch(
        with_context(calls_to_arrow(calls), resolved) if calls else None,
        spans_to_arrow(list(rows.values())) if rows else None,
        to_read,
        len(spans),
        calls=calls,
        rows=rows,
        resolved=resolved,
        call_keys=call_keys,
    )


class OverlappedIngest:
    """What :meth:`Pipeline.overlapped` yields: ``ingest(calls, spans)``, or ``ingest.prepared(batch)`` for
    records prepared elsewhere (by :func:`prepare` in a worker process, with the pipeline's ``pricer``)."""

    def __init__(self, pipeline: Pipeline, pool: ThreadPoolExecutor, group_spans: int) -> None:
        self.pricer = pipeline.pricer
        self._pipeline = pipeline
        self._pool = pool
        self._group_spans = group_spans
        self._in_flight: list[Future[IngestResult]] = []
        self._waiting: list[PreparedBatch] = []

    def __call__(self, calls: list[Call], spans: list[SpanContext]) -> None:
        self.prepared(self._pipeline.prepare(calls, spans))

    def prepared(self, batch: PreparedBatch) -> None:
        waiting = self._waiting
        waiting.append(batch)
        in_flight = self._in_flight
        if not in_flight or in_flight[0].done() or sum(b.size for b in waiting) >= self._group_spans:
            self.flush()

    def flush(self) -> None:
        while self._in_flight:
            self._in_flight.pop().result()  # a failed write raises here, and the waiting batches are dropped
        if self._waiting:
            self._in_flight.append(self._pool.submit(self._pipeline.write, list(self._waiting)))
            self._waiting.clear()


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

    def warm_up(self) -> None:
        """Load now what the first batch would load lazily (the price catalog, pyarrow's pandas shim).

        Servers call it before taking traffic: otherwise the first request pays seconds of imports.
        """
        call = Call(source="warm-up", trace_id="0", span_id="0", started_at=datetime.now(UTC), model="gpt-4o")
        self.prepare([call], [])

    def ingest(self, calls: list[Call], spans: list[SpanContext]) -> IngestResult:
        """Price calls, write spans and calls (idempotent upsert), resolve agent/task type/session/user
        inherited from ancestors for the affected traces. Durable when it returns."""
        return self.write([self.prepare(calls, spans)])

    @contextmanager
    def overlapped(self, group_spans: int = 8192) -> Iterator[OverlappedIngest]:
        """An ingest for one producer (a file import) that prepares batches while the previous ones are written.

        The write runs in a thread of its own (the warehouse's work releases the GIL), so reading, decoding and
        mapping the next records overlap it. The batches prepared while a write is in flight are written
        together by the next one (one transaction, up to about ``group_spans`` spans; the producer waits
        beyond that): a commit and a read of stored spans per group instead of per batch. One write is in
        flight at a time and batches are written in the order given, so the result is that of consecutive
        :meth:`ingest` calls. A failed write is raised by the next call or when the block ends; nothing after
        it is written. Everything handed over is durable when the block ends without an error.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="agentledger-write") as pool:
            ingest = OverlappedIngest(self, pool, group_spans)
            yield ingest
            ingest.flush()
            ingest.flush()

    def prepare(self, calls: list[Call], spans: list[SpanContext]) -> PreparedBatch:
        """The warehouse-free half of :meth:`ingest` (see :func:`prepare`). Safe to run in many threads at
        once: the batching writer runs it in the submitting request's thread, so that this work stays off the
        single writer."""
        return prepare(calls, spans, self.pricer)

    def write(self, batches: Sequence[PreparedBatch]) -> IngestResult:
        """Write prepared batches in one transaction, completing their calls' context (see :meth:`ingest`).

        Batches are written together unless one span identity, or one response id, is in two of them (the
        same span sent twice in a short while, or two records of one API call: see ingest/twins.py), or a call
        of one is the parent of a call of another: then one after the other, as consecutive ingests would.
        """
        batches = [b for b in batches if b.size]
        result = IngestResult(
            calls=sum(len(b.call_keys) for b in batches), spans=sum(b.spans for b in batches)
        )
        if not batches:
            return result
        shared = shared_traces(batches)
        together = (
            not keys_overlap(batches, shared)
            and not responses_overlap(batches)
            and not calls_nested_across(batches, shared)
        )
        parts = [batches] if together else [[b] for b in batches]
        try:
            with self.warehouse.transaction():
                twins = sum(
                    self._write(part, shared if len(parts) == 1 else set(), insert_new=self._insert_new)
                    for part in parts
                )
        except DuplicateKeyError as exc:
            # A stored call without its span row (written around the pipeline): upsert the batch instead.
            log.info("ingest: rows thought new are stored (%s); writing the batch as an upsert", exc)
            with self.warehouse.transaction():
                twins = sum(
                    self._write(part, shared if len(parts) == 1 else set(), insert_new=False)
                    for part in parts
                )
        result.calls -= twins
        return result

    def _write(self, batches: list[PreparedBatch], shared: set[TraceKey], *, insert_new: bool) -> int:
        """Write one part of a group; returns how many of its calls were found stored already (twins)."""
        wh = self.warehouse
        to_read = set().union(*(b.to_read for b in batches))
        before = spans_from_arrow(wh.trace_spans(to_read)) if to_read else []
        unread = {trace for b in batches for trace in b.traces} - to_read
        stored_keys = wh.stored_span_keys(unread) if insert_new else None  # type: ignore[attr-defined]
        # Traces whose calls may record an API call stored already are read too (see _stored_twins), and those
        # where a stored span is written again beside other stored spans: the new values may move what those
        # inherit (the trace's session or user fallback).
        also = _twin_traces(batches, unread, stored_keys) | _rewritten_traces(batches, stored_keys)
        if also:
            before += spans_from_arrow(wh.trace_spans(also))
        # Stored spans the batches write again; the others are the stored context of the traces.
        written = {k for b in batches for k in b.row_keys} if before else set()
        rewritten = {k for k in map(_KEY, before) if k in written}
        stored = [s for s in before if _KEY(s) not in rewritten]
        known = rewritten | stored_keys if stored_keys is not None else None
        twins = self._stored_twins(batches, before)
        if twins:
            batches = [b.without_calls(twins) for b in batches]
        index = _index_of(batches, stored, shared | {_KEY(s)[:3] for s in stored})
        call_tables = [b.call_table for b in batches if b.call_table is not None]
        call_table = pa.concat_tables(call_tables) if call_tables else None
        if index is not None and call_table is not None:
            resolved = _re_resolve(batches, index)
            if resolved is not None:
                call_table = with_context(call_table, resolved)
        span_table = pa.concat_tables([b.span_table for b in batches if b.span_table is not None])
        if known is not None:
            self._write_split(batches, span_table, call_table, known)
        else:
            wh.write_spans(span_table)
            if call_table is not None:
                wh.write_calls(call_table)
        changed = changed_context(TraceIndex(before), index, map(_KEY, stored)) if index and stored else []
        if changed:
            wh.update_call_context(context_updates(index, changed))
        return len(twins)

    def _stored_twins(self, batches: list[PreparedBatch], before: list[SpanContext]) -> set[Key]:
        """Keys of the batches' calls whose API call a stored call records already (see ingest/twins.py).

        The candidates are the stored LLM spans of the calls' traces (``before``: the traces the write reads,
        which include every trace with stored spans and a call with a response id) that overlap one of them in
        time and that the write does not store again as a call; only their calls are read.
        """
        if not before:
            return set()
        traces = {_KEY(s)[:3] for s in before}
        calls = [c for b in batches for c in b.calls_in(traces)]
        if not calls:
            return set()
        written = {key for b in batches for key in b.call_keys}
        others = [s for s in before if _KEY(s) not in written]
        chains = nesting_chains(calls, others)
        candidates = {_KEY(s) for s in llm_span_overlaps(calls, others)}.union(*chains.values())
        if not candidates:
            return set()
        stored = calls_from_arrow(self.warehouse.stored_calls(candidates))
        return stored_twins(calls, stored, chains)

    def _write_split(
        self, batches: list[PreparedBatch], span_table: pa.Table, call_table: pa.Table | None, known: set[Key]
    ) -> None:
        """Rows whose identity has no stored span are new: they are inserted without an upsert's lookups.

        That holds for calls too, because every call is written with a span row of the same identity.
        """
        wh = self.warehouse
        span_new = [k not in known for b in batches for k in b.row_keys] if known else None
        call_new = [k not in known for b in batches for k in b.call_keys] if known else None
        with wh.new_rows():  # type: ignore[attr-defined]  # the insert_new capability
            wh.write_spans(_rows(span_table, span_new, True))
            if call_table is not None:
                wh.write_calls(_rows(call_table, call_new, True))
        if span_new is not None and not all(span_new):
            wh.write_spans(_rows(span_table, span_new, False))
        if call_table is not None and call_new is not None and not all(call_new):
            wh.write_calls(_rows(call_table, call_new, False))


def _twin_traces(
    batches: list[PreparedBatch], unread: set[TraceKey], stored_keys: set[Key] | None
) -> set[TraceKey]:
    """The unread traces with a call and (as far as is known) stored spans: one of them may be the API call's
    first record (a twin with the same response id, or a nested one: a stored child), and the trace's calls
    inherit from what is stored like any other. ``stored_keys`` are the stored span keys of the unread traces,
    where the backend can probe for them."""
    traces = {key[:3] for b in batches for key in b.call_keys}
    traces &= unread
    if stored_keys is not None:
        traces &= {key[:3] for key in stored_keys}
    return traces


def _rewritten_traces(batches: list[PreparedBatch], stored_keys: set[Key] | None) -> set[TraceKey]:
    """The traces (among those ``stored_keys`` were probed for) where the batches write a stored span again
    while other spans of the trace are stored."""
    if not stored_keys:
        return set()
    written = {k for b in batches for k in b.row_keys}
    again = {k[:3] for k in stored_keys if k in written}
    return {k[:3] for k in stored_keys if k[:3] in again and k not in written}


def _index_of(
    batches: list[PreparedBatch], stored: list[SpanContext], traces: set[TraceKey]
) -> TraceIndex | None:
    """The stored and batch spans of ``traces`` (those whose batch-only resolution may be incomplete)."""
    if not traces:
        return None
    batch_rows = [row for b in batches for row in b.rows_of([k for t in traces for k in b.traces.get(t, ())])]
    return TraceIndex([*stored, *batch_rows])


def _re_resolve(batches: list[PreparedBatch], index: TraceIndex) -> list[ResolvedContext] | None:
    """The calls' context with the calls of the traces in ``index`` resolved again; None when none changed."""
    traces = {key[:3] for key in index.spans}
    again: list[tuple[int, ResolvedContext]] = []
    position = 0
    for b in batches:
        picked = [i for i, key in enumerate(b.call_keys) if key[:3] in traces]
        if picked:
            keys = [b.call_keys[i] for i in picked]
            operations = b.operations()
            for i, key, own in zip(picked, keys, b.rows_of(keys), strict=True):
                again.append((position + i, index.resolve(key, own, operations[i])))
        position += len(b.call_keys)
    if not again:
        return None
    resolved = [r for b in batches for r in b.resolved]
    changed = False
    for i, context in again:
        if context != resolved[i]:
            resolved[i] = context
            changed = True
    return resolved if changed else None


def _rows(table: pa.Table, mask: list[bool] | None, keep: bool) -> pa.Table:
    """The rows of ``table`` whose ``mask`` entry is ``keep`` (all of them when there is no mask)."""
    if mask is None or all(m is keep for m in mask):
        return table
    return table.filter(pa.array([m is keep for m in mask], type=pa.bool_()))
