"""The canonical records: one `Call` per LLM call, one `SpanContext` per span of any kind.

Token semantics follow the OpenTelemetry GenAI convention whatever the source:
``input_tokens`` counts all input tokens, cached ones included (``cache_read_tokens`` and
``cache_write_tokens`` are subsets of it); ``output_tokens`` includes ``reasoning_tokens``.
Use the helpers in :mod:`agentledger.core.tokens` to convert from a source's convention.

Identity for idempotency is (project_id, source, trace_id, span_id).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal

import pyarrow as pa

Status = Literal["ok", "error", "unset"]
PriceStatus = Literal["priced", "override", "reported_only", "unpriced"]
CostSource = Literal["computed", "override", "reported", "none"]
SpanKind = Literal["llm", "agent", "workflow", "task", "tool", "retriever", "other"]
Outcome = Literal["success", "failure"]


@dataclass(slots=True)
class Call:
    """One LLM call (chat, completion, embedding, responses) in canonical form."""

    source: str
    trace_id: str
    span_id: str
    started_at: datetime  # timezone-aware UTC
    project_id: str = "default"
    source_record_id: str | None = None
    parent_span_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    agent_name: str | None = None
    agent_version: str | None = None
    feature: str | None = None
    task_type: str | None = None
    operation: str | None = None
    environment: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    provider: str | None = None
    model_requested: str | None = None
    model: str | None = None
    ended_at: datetime | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    max_tokens: int | None = None
    finish_reason: str | None = None
    status: Status = "unset"
    error_type: str | None = None
    response_cache_hit: bool | None = None
    prompt_hash: str | None = None
    prefix_hash: str | None = None
    response_id: str | None = None  # provider response id / generation id: links one call seen by two sources
    cost_reported_usd: float | None = None
    cost_computed_usd: float | None = None  # from the price catalog or an override, whatever the policy
    cost_usd: float | None = (
        None  # the cost that counts (see Settings.cost_policy); NULL when unknown, never 0
    )
    cost_source: CostSource = "none"
    price_status: PriceStatus = "unpriced"
    ingested_at: datetime | None = None
    raw: str | None = None  # the source record as JSON, for audit

    def key(self) -> tuple[str, str, str, str]:
        return (self.project_id, self.source, self.trace_id, self.span_id)


@dataclass(slots=True)
class SpanContext:
    """Any span of a trace (agent, workflow, tool and LLM spans alike), kept for context.

    Its own attributes only; what a call inherits from its ancestors is resolved by
    :func:`agentledger.core.context.resolve_trace`.
    """

    source: str
    trace_id: str
    span_id: str
    project_id: str = "default"
    parent_span_id: str | None = None
    name: str | None = None
    kind: SpanKind = "other"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    status: Status = "unset"
    agent_name: str | None = None  # declared on this span itself
    task_type: str | None = None  # explicit agentledger.task.type on this span
    workflow_name: str | None = None  # name of a workflow/task/chain span
    session_id: str | None = None
    user_id: str | None = None
    outcome: Outcome | None = None  # explicit agentledger.task.outcome on this span
    source_outcome: Outcome | None = None  # a source's own task-level signal (Langfuse score, trace error)

    def key(self) -> tuple[str, str, str, str]:
        return (self.project_id, self.source, self.trace_id, self.span_id)


# The time range the ledger holds: spans outside it are refused at ingest, and windows outside it are errors.
LEDGER_START = datetime(1970, 1, 1, tzinfo=UTC)
LEDGER_END = datetime(2100, 1, 1, tzinfo=UTC)

_TS = pa.timestamp("us", tz="UTC")

CALL_SCHEMA = pa.schema(
    [
        ("project_id", pa.string()),
        ("source", pa.string()),
        ("source_record_id", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("agent_name", pa.string()),
        ("agent_version", pa.string()),
        ("feature", pa.string()),
        ("task_type", pa.string()),
        ("operation", pa.string()),
        ("environment", pa.string()),
        ("tags", pa.map_(pa.string(), pa.string())),
        ("provider", pa.string()),
        ("model_requested", pa.string()),
        ("model", pa.string()),
        ("started_at", _TS),
        ("ended_at", _TS),
        ("latency_ms", pa.float64()),
        ("ttft_ms", pa.float64()),
        ("input_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("max_tokens", pa.int64()),
        ("finish_reason", pa.string()),
        ("status", pa.string()),
        ("error_type", pa.string()),
        ("response_cache_hit", pa.bool_()),
        ("prompt_hash", pa.string()),
        ("prefix_hash", pa.string()),
        ("response_id", pa.string()),
        ("cost_reported_usd", pa.float64()),
        ("cost_computed_usd", pa.float64()),
        ("cost_usd", pa.float64()),
        ("cost_source", pa.string()),
        ("price_status", pa.string()),
        ("ingested_at", _TS),
        ("raw", pa.string()),
    ]
)

SPAN_SCHEMA = pa.schema(
    [
        ("project_id", pa.string()),
        ("source", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("started_at", _TS),
        ("ended_at", _TS),
        ("status", pa.string()),
        ("agent_name", pa.string()),
        ("task_type", pa.string()),
        ("workflow_name", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("outcome", pa.string()),
        ("source_outcome", pa.string()),
    ]
)

CALL_FIELDS = [f.name for f in fields(Call)]
SPAN_FIELDS = [f.name for f in fields(SpanContext)]
assert set(CALL_FIELDS) == set(CALL_SCHEMA.names), "Call and CALL_SCHEMA drifted apart"
assert set(SPAN_FIELDS) == set(SPAN_SCHEMA.names), "SpanContext and SPAN_SCHEMA drifted apart"


# One C-level getter per field: reading the records' fields is the write path's hot loop.
_CALL_GETTERS = [attrgetter(name) for name in CALL_SCHEMA.names]
_SPAN_GETTERS = [attrgetter(name) for name in SPAN_SCHEMA.names]


def _table(records: list[Any], schema: pa.Schema, getters: list[attrgetter]) -> pa.Table:
    """Column-wise conversion: one ``map`` over the records and one ``pa.array`` per field.

    Per-field lists rather than a per-record tuple transposed: no tuple per record, so no garbage
    collector passes over the (large) live heap while a batch converts.
    """
    arrays = [_array(list(map(get, records)), f.type) for f, get in zip(schema, getters, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    """``pa.array(values)``, converting one value only when they are all the same one.

    Many columns are constant within a batch (project, source, statuses, ``ingested_at``); converting a
    timestamp costs a tz lookup per value. ``list.count`` compares by identity first, so the check is cheap.
    """
    first = values[0] if values else None
    if first is not None and values[-1] is first and values.count(first) == len(values):
        return pa.repeat(pa.scalar(first, type=type_), len(values))
    return pa.array(values, type=type_)


def calls_to_arrow(calls: list[Call]) -> pa.Table:
    """Column-wise conversion (no per-row dicts): the write path's hot loop. ``tags`` dicts become maps."""
    return _table(calls, CALL_SCHEMA, _CALL_GETTERS)


def spans_to_arrow(spans: list[SpanContext]) -> pa.Table:
    return _table(spans, SPAN_SCHEMA, _SPAN_GETTERS)
