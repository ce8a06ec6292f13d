"""A realistic ledger, generated in bulk as Arrow for the warehouse benchmarks (``ui_pages.py``, ``warehouse.py``).

Shaped like what the pipeline stores: LLM calls in traces of 1-12 calls under an agent root span, traces in
sessions of about 2.5, over 60 days, eight models (one self-hosted without a price), 3 % error calls, 2 %
truncated outputs; every call has a provider response id and a span row of its own identity (the pipeline
writes one per call), so the ledger view and the outcome rules see what they see in production. Outcomes
use every rule: an explicit ``agentledger.task.outcome`` on some roots, a source signal on others, the root's
status, and unset roots that fall back to the last call. A share of the calls (``duplicate_share``) is
recorded a second time by LiteLLM (its own one-call traces, same response id), which the ledger view must
drop. Generated chunk by chunk (``chunks``), so 10^7 calls never sit in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from agentledger.core.records import CALL_SCHEMA, SPAN_SCHEMA

END = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 60
AGENTS = {
    "support-bot": ("classify", "answer", "summarize"),
    "research-agent": ("plan", "search", "synthesize"),
    "code-assistant": ("generate", "review", "explain"),
    "sales-agent": ("qualify", "draft"),
    "ops-agent": ("triage", "remediate"),
}
AGENT_NAMES = list(AGENTS)
TASK_NAMES = sorted({t for tasks in AGENTS.values() for t in tasks})
# model, provider, USD per input token, per output token (None: a self-hosted model without a price)
MODELS = (
    ("gpt-4o", "openai", 2.5e-6, 10e-6),
    ("gpt-4o-mini", "openai", 0.15e-6, 0.6e-6),
    ("o3-mini", "openai", 1.1e-6, 4.4e-6),
    ("claude-sonnet-4-20250514", "anthropic", 3e-6, 15e-6),
    ("claude-3-5-haiku-20241022", "anthropic", 0.8e-6, 4e-6),
    ("gemini-2.0-flash", "google", 0.1e-6, 0.4e-6),
    ("text-embedding-3-small", "openai", 0.02e-6, 0.0),
    ("llama-3.1-70b-internal", "vllm", None, None),
)
MODEL_WEIGHTS = (0.22, 0.2, 0.06, 0.2, 0.1, 0.1, 0.08, 0.04)
CHUNK = 1_000_000


@dataclass(frozen=True)
class Chunk:
    """One slice of the ledger: its calls and span rows (CALL_SCHEMA, SPAN_SCHEMA)."""

    calls: pa.Table
    spans: pa.Table


def _ids(prefix: str, start: int, n: int, width: int) -> pa.Array:
    return pa.array([f"{prefix}{i:0{width}x}" for i in range(start, start + n)], pa.string())


def _pick(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(values)).cast(pa.string())


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array((seconds * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC"))


def _table(columns: dict[str, pa.Array], schema: pa.Schema, rows: int) -> pa.Table:
    return pa.table({f.name: columns.get(f.name, pa.nulls(rows, f.type)) for f in schema}, schema=schema)


def _sizes(rng: np.random.Generator, calls: int) -> np.ndarray:
    """Trace sizes (1-12 calls) adding up to exactly ``calls``."""
    sizes = rng.integers(1, 13, size=calls // 6 + 10)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), calls) + 1]
    sizes[-1] -= int(sizes.sum()) - calls
    return sizes


def generate(calls: int, *, seed: int = 3, call_offset: int = 0, trace_offset: int = 0) -> Chunk:
    """``calls`` calls of the otlp source with their root and call spans; ids start at the offsets."""
    rng = np.random.default_rng(seed)
    sizes = _sizes(rng, calls)
    traces = len(sizes)
    trace_of = np.repeat(np.arange(traces), sizes)
    step = np.arange(calls) - np.repeat(np.cumsum(sizes) - sizes, sizes)

    agent_t = rng.integers(0, len(AGENT_NAMES), traces)
    task_t = np.array([TASK_NAMES.index(rng.choice(AGENTS[AGENT_NAMES[a]])) for a in agent_t], dtype=np.int64)
    session_t = np.cumsum(rng.random(traces) < 0.4)  # about 2.5 traces per session
    user_s = rng.integers(0, 3000, session_t.max() + 1)
    start_t = END.timestamp() - rng.random(traces) * DAYS * 86400

    model_c = rng.choice(len(MODELS), calls, p=MODEL_WEIGHTS)
    input_c = (1500 + step * 900 + rng.integers(0, 2500, calls)).astype(np.int64)
    cache_c = np.where(rng.random(calls) < 0.5, (input_c * 0.6).astype(np.int64), 0)
    output_c = rng.integers(5, 1500, calls).astype(np.int64)
    latency = rng.integers(200, 9000, calls).astype(np.float64)
    started = np.repeat(start_t, sizes) + step * 4.0
    rate_in = np.array([m[2] if m[2] is not None else np.nan for m in MODELS])[model_c]
    rate_out = np.array([m[3] if m[3] is not None else np.nan for m in MODELS])[model_c]
    cost = input_c * rate_in + output_c * rate_out
    priced = ~np.isnan(cost)
    error_c = rng.random(calls) < 0.03
    # Prompts: mostly distinct, some sent again in the same trace (retries, loops).
    prompt_c = np.where(rng.random(calls) < 0.05, np.maximum(np.arange(calls) - 1, 0), np.arange(calls))
    prompt_c = np.where(step == 0, np.arange(calls), prompt_c)

    trace_ids = _ids("t", trace_offset, traces, 24)
    root_ids = _ids("r", trace_offset, traces, 15)
    span_ids = _ids("c", call_offset, calls, 15)
    session_ids = _ids("s", trace_offset, int(session_t.max()) + 1, 12)
    sessions = session_ids.take(pa.array(session_t))
    users = _pick([f"user-{i}" for i in range(3000)], user_s[session_t])
    call_trace = pa.array(trace_of)
    agents, tasks = _pick(AGENT_NAMES, agent_t[trace_of]), _pick(TASK_NAMES, task_t[trace_of])
    status = _pick(["ok", "error"], error_c.astype(int))
    call_columns = {
        "project_id": pa.array(["default"] * calls),
        "source": pa.array(["otlp"] * calls),
        "trace_id": trace_ids.take(call_trace),
        "span_id": span_ids,
        "parent_span_id": root_ids.take(call_trace),
        "session_id": sessions.take(call_trace),
        "user_id": users.take(call_trace),
        "agent_name": agents,
        "task_type": tasks,
        "operation": pa.array(["chat"] * calls),
        "environment": _pick(["production", "staging"], (rng.random(calls) < 0.1).astype(int)),
        "provider": _pick([m[1] for m in MODELS], model_c),
        "model": _pick([m[0] for m in MODELS], model_c),
        "started_at": _ts(started),
        "ended_at": _ts(started + latency / 1000),
        "latency_ms": pa.array(latency),
        "input_tokens": pa.array(input_c),
        "cache_read_tokens": pa.array(cache_c),
        "cache_write_tokens": pa.array(np.zeros(calls, np.int64)),
        "output_tokens": pa.array(output_c),
        "reasoning_tokens": pa.array(np.zeros(calls, np.int64)),
        "status": status,
        "finish_reason": _pick(["stop", "length"], (rng.random(calls) < 0.02).astype(int)),
        "prompt_hash": _ids("p", call_offset, calls, 15).take(pa.array(prompt_c)),
        "response_id": _ids("resp-", call_offset, calls, 15),
        "cost_computed_usd": pa.array(np.where(priced, cost, 0.0), mask=~priced),
        "cost_usd": pa.array(np.where(priced, cost, 0.0), mask=~priced),
        "cost_source": _pick(["none", "computed"], priced.astype(int)),
        "price_status": _pick(["unpriced", "priced"], priced.astype(int)),
        "ingested_at": _ts(np.full(calls, END.timestamp())),
    }
    # Root outcome signals: 4 % explicit failure, 8 % explicit success, 3 % source failure; root status
    # ok 60 %, error 5 %, unset 35 % (those fall back to the last call's status).
    signal = rng.random(traces)
    outcome = np.where(signal < 0.04, 1, np.where(signal < 0.12, 2, 0))
    source_outcome = np.where((signal >= 0.12) & (signal < 0.15), 1, 0)
    root_status = rng.choice(3, traces, p=(0.6, 0.05, 0.35))
    root_columns = {
        "project_id": pa.array(["default"] * traces),
        "source": pa.array(["otlp"] * traces),
        "trace_id": trace_ids,
        "span_id": root_ids,
        "name": pa.array(["invoke_agent"] * traces),
        "kind": pa.array(["agent"] * traces),
        "started_at": _ts(start_t),
        "ended_at": _ts(start_t + sizes * 4.0 + 10),
        "status": _pick(["ok", "error", "unset"], root_status),
        "agent_name": _pick(AGENT_NAMES, agent_t),
        "task_type": _pick(TASK_NAMES, task_t),
        "session_id": sessions,
        "user_id": users,
        "outcome": _pick([None, "failure", "success"], outcome),  # type: ignore[list-item]
        "source_outcome": _pick([None, "failure"], source_outcome),  # type: ignore[list-item]
    }
    call_spans = {
        "project_id": call_columns["project_id"],
        "source": call_columns["source"],
        "trace_id": call_columns["trace_id"],
        "span_id": span_ids,
        "parent_span_id": call_columns["parent_span_id"],
        "name": call_columns["operation"],
        "kind": pa.array(["llm"] * calls),
        "started_at": call_columns["started_at"],
        "ended_at": call_columns["ended_at"],
        "status": status,
        "agent_name": agents,
        "task_type": tasks,
        "session_id": call_columns["session_id"],
        "user_id": call_columns["user_id"],
    }
    spans = pa.concat_tables(
        [_table(root_columns, SPAN_SCHEMA, traces), _table(call_spans, SPAN_SCHEMA, calls)]
    )
    return Chunk(_table(call_columns, CALL_SCHEMA, calls), spans)


def duplicates(chunk: Chunk, share: float, *, seed: int = 5) -> Chunk:
    """A ``share`` of ``chunk``'s calls as LiteLLM records them: one-call parentless traces, same response id."""
    rng = np.random.default_rng(seed)
    take = np.flatnonzero(rng.random(chunk.calls.num_rows) < share)
    if take.size == 0:
        return Chunk(CALL_SCHEMA.empty_table(), SPAN_SCHEMA.empty_table())
    picked = chunk.calls.take(pa.array(take))
    n = picked.num_rows
    ids = pa.array([f"litellm-{r}" for r in picked["response_id"].to_pylist()], pa.string())
    calls = picked
    for name, value in (
        ("source", pa.array(["litellm"] * n)),
        ("trace_id", ids),
        ("span_id", ids),
        ("parent_span_id", pa.nulls(n, pa.string())),
        ("session_id", pa.nulls(n, pa.string())),
        ("agent_name", pa.nulls(n, pa.string())),
        ("task_type", picked["operation"]),
    ):
        calls = calls.set_column(calls.schema.get_field_index(name), name, value)
    span_columns = {
        name: calls[name]
        for name in ("project_id", "source", "trace_id", "span_id", "started_at", "ended_at", "status")
    }
    span_columns |= {"name": calls["operation"], "kind": pa.array(["llm"] * n), "user_id": calls["user_id"]}
    return Chunk(calls, _table(span_columns, SPAN_SCHEMA, n))


def chunks(total: int, *, duplicate_share: float = 0.02, size: int = CHUNK, seed: int = 3) -> Iterator[Chunk]:
    """The ledger of ``total`` otlp calls (plus their LiteLLM duplicates), ``size`` calls at a time."""
    traces = 0
    for index, start in enumerate(range(0, total, size)):
        n = min(size, total - start)
        chunk = generate(n, seed=seed + index, call_offset=start, trace_offset=traces)
        traces += chunk.spans.num_rows - n  # the root spans
        yield chunk
        if duplicate_share:
            yield duplicates(chunk, duplicate_share, seed=seed + 1000 + index)
