"""Benchmark: how long each dashboard page waits on the warehouse, on a ledger of 10^6 calls.

The calls (and one root span per trace) are generated in bulk as Arrow tables and written through the
warehouse's own ``write_calls``/``write_spans``, which is far faster than the demo's OTLP path. Each page is
then run through Streamlit's AppTest with every cache cleared first (cold: what a new filter costs), and once
more with the caches warm (what a page switch costs). The time of every analytics call the page makes is
recorded too. Target: under one second of analytics per page.

    python bench/ui_pages.py [--calls 1000000] [--warehouse duckdb:///tmp/bench_ui.duckdb] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "ui" / "app.py"
PAGES = ("overview", "breakdown", "sessions", "waste", "recommendations", "alerts", "sources")
END = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 60
AGENTS = {
    "support-bot": ("classify", "answer", "summarize"),
    "research-agent": ("plan", "search", "synthesize"),
    "code-assistant": ("generate", "review", "explain"),
    "sales-agent": ("qualify", "draft"),
    "ops-agent": ("triage", "remediate"),
}
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


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    return pa.array([f"{prefix}{i:0{width}x}" for i in range(n)], pa.string())


def _pick(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(values)).cast(pa.string())


def generate(calls: int, seed: int = 3) -> tuple[pa.Table, pa.Table]:
    """``calls`` LLM calls in traces of 1-12 calls, traces in sessions of 1-5, over 60 days; and root spans."""
    from agentledger.core.records import CALL_SCHEMA, SPAN_SCHEMA

    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 13, size=calls // 6 + 10)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), calls) + 1]
    sizes[-1] -= int(sizes.sum()) - calls
    traces = len(sizes)
    trace_of = np.repeat(np.arange(traces), sizes)
    step = np.arange(calls) - np.repeat(np.cumsum(sizes) - sizes, sizes)

    agent_names = list(AGENTS)
    task_names = sorted({t for tasks in AGENTS.values() for t in tasks})
    agent_t = rng.integers(0, len(agent_names), traces)
    task_t = np.array([task_names.index(rng.choice(AGENTS[agent_names[a]])) for a in agent_t])
    session_t = np.cumsum(rng.random(traces) < 0.4)  # about 2.5 traces per session
    user_s = rng.integers(0, 3000, session_t.max() + 1)
    start_t = END.timestamp() - rng.random(traces) * DAYS * 86400
    failed_t = rng.random(traces) < 0.06

    model_c = rng.choice(len(MODELS), calls, p=[0.22, 0.2, 0.06, 0.2, 0.1, 0.1, 0.08, 0.04])
    input_c = (1500 + step * 900 + rng.integers(0, 2500, calls)).astype(np.int64)
    cache_c = np.where(rng.random(calls) < 0.5, (input_c * 0.6).astype(np.int64), 0)
    output_c = rng.integers(5, 1500, calls).astype(np.int64)
    latency = rng.integers(200, 9000, calls).astype(np.float64)
    started = np.repeat(start_t, sizes) + step * 4.0
    rate_in = np.array([m[2] if m[2] is not None else np.nan for m in MODELS])[model_c]
    rate_out = np.array([m[3] if m[3] is not None else np.nan for m in MODELS])[model_c]
    cost = input_c * rate_in + output_c * rate_out
    error_c = rng.random(calls) < 0.03

    def ts(seconds: np.ndarray) -> pa.Array:
        return pa.array((seconds * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC"))

    trace_ids = _ids("t", traces, 24)
    root_ids = _ids("r", traces, 15)
    session_ids = _ids("s", int(session_t.max()) + 1, 12)
    sessions = session_ids.take(pa.array(session_t))
    users = _pick([f"user-{i}" for i in range(3000)], user_s[session_t])
    priced = ~np.isnan(cost)
    call_columns = {
        "project_id": pa.array(["default"] * calls),
        "source": pa.array(["otlp"] * calls),
        "trace_id": trace_ids.take(pa.array(trace_of)),
        "span_id": _ids("c", calls, 15),
        "parent_span_id": root_ids.take(pa.array(trace_of)),
        "session_id": sessions.take(pa.array(trace_of)),
        "user_id": users.take(pa.array(trace_of)),
        "agent_name": _pick(agent_names, agent_t[trace_of]),
        "task_type": _pick(task_names, task_t[trace_of]),
        "operation": pa.array(["chat"] * calls),
        "environment": _pick(["production", "staging"], (rng.random(calls) < 0.1).astype(int)),
        "provider": _pick([m[1] for m in MODELS], model_c),
        "model": _pick([m[0] for m in MODELS], model_c),
        "started_at": ts(started),
        "ended_at": ts(started + latency / 1000),
        "latency_ms": pa.array(latency),
        "input_tokens": pa.array(input_c),
        "cache_read_tokens": pa.array(cache_c),
        "cache_write_tokens": pa.array(np.zeros(calls, np.int64)),
        "output_tokens": pa.array(output_c),
        "reasoning_tokens": pa.array(np.zeros(calls, np.int64)),
        "status": _pick(["ok", "error"], error_c.astype(int)),
        "finish_reason": _pick(["stop", "length"], (rng.random(calls) < 0.02).astype(int)),
        "prompt_hash": _ids("p", calls, 15),
        "cost_computed_usd": pa.array(np.where(priced, cost, 0.0), mask=~priced),
        "cost_usd": pa.array(np.where(priced, cost, 0.0), mask=~priced),
        "cost_source": _pick(["none", "computed"], priced.astype(int)),
        "price_status": _pick(["unpriced", "priced"], priced.astype(int)),
        "ingested_at": ts(np.full(calls, END.timestamp())),
    }
    calls_table = pa.table(
        {f.name: call_columns.get(f.name, pa.nulls(calls, f.type)) for f in CALL_SCHEMA}, schema=CALL_SCHEMA
    )
    span_columns = {
        "project_id": pa.array(["default"] * traces),
        "source": pa.array(["otlp"] * traces),
        "trace_id": trace_ids,
        "span_id": root_ids,
        "name": pa.array(["invoke_agent"] * traces),
        "kind": pa.array(["agent"] * traces),
        "started_at": ts(start_t),
        "ended_at": ts(start_t + sizes * 4.0 + 10),
        "status": _pick(["ok", "error"], failed_t.astype(int)),
        "agent_name": _pick(agent_names, agent_t),
        "task_type": _pick(task_names, task_t),
        "session_id": sessions,
        "user_id": users,
    }
    spans_table = pa.table(
        {f.name: span_columns.get(f.name, pa.nulls(traces, f.type)) for f in SPAN_SCHEMA}, schema=SPAN_SCHEMA
    )
    return calls_table, spans_table


def fill(url: str, calls: int) -> None:
    """Create the benchmark ledger at ``url`` (unless it already holds ``calls`` calls)."""
    from agentledger.warehouse import connect

    wh = connect(url)
    try:
        have = int(wh.sql("SELECT count(*) AS n FROM calls")["n"][0])
        if have == calls:
            print(f"reusing {url} ({have:,} calls)", file=sys.stderr)
            return
        if have:
            raise SystemExit(f"{url} already holds {have:,} calls; give another --warehouse")
        began = time.perf_counter()
        call_table, span_table = generate(calls)
        made = time.perf_counter()
        for start in range(0, call_table.num_rows, 250_000):
            wh.write_calls(call_table.slice(start, 250_000))
        wh.write_spans(span_table)
        print(
            f"generated {calls:,} calls / {span_table.num_rows:,} traces in {made - began:.1f} s, "
            f"written in {time.perf_counter() - made:.1f} s",
            file=sys.stderr,
        )
    finally:
        wh.close()


def _timed(records: dict[str, list[float]]) -> Callable[..., Any]:
    """A replacement of ``ui.state.lookup`` whose functions record their run time under module.name."""
    from agentledger.ui import state

    original = state.lookup

    def lookup(module: str, name: str) -> Callable[..., Any] | None:
        fn = original(module, name)
        if fn is None:
            return None

        def run(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                records[f"{module}.{name}"].append(time.perf_counter() - began)

        return run

    return lookup


def measure(url: str, top_trace: str) -> list[dict[str, Any]]:
    """Per page: cold and warm page time and the analytics time behind it."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from agentledger.ui import state

    os.environ["AGENTLEDGER_WAREHOUSE"] = url
    results = []
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["trace"] = top_trace  # so the Sessions page opens a drill-down too
    at.run()  # imports and the warehouse connection, outside the measurements
    for page in PAGES:
        at.switch_page(f"views/{page}.py")
        records: dict[str, list[float]] = defaultdict(list)
        state.lookup = _timed(records)  # type: ignore[assignment]
        st.cache_data.clear()
        began = time.perf_counter()
        at.run()
        cold = time.perf_counter() - began
        began = time.perf_counter()
        at.run()
        warm = time.perf_counter() - began
        if at.exception:
            raise SystemExit(f"page {page} failed: {at.exception[0].value}")
        calls = {name: round(sum(times), 3) for name, times in sorted(records.items())}
        results.append(
            {
                "page": page,
                "analytics_s": round(sum(calls.values()), 3),
                "cold_page_s": round(cold, 3),
                "warm_page_s": round(warm, 3),
                "calls": calls,
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--warehouse", default="duckdb:////tmp/agentledger_bench_ui.duckdb")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    fill(args.warehouse, args.calls)
    from agentledger.analytics.breakdowns import top_traces
    from agentledger.analytics.filters import Filters
    from agentledger.warehouse import connect

    wh = connect(args.warehouse)
    try:
        top = top_traces(wh, Filters(), limit=1)["trace_id"][0]
    finally:
        wh.close()
    results = measure(args.warehouse, top)
    print(f"{'page':<16}{'analytics':>11}{'cold page':>11}{'warm page':>11}")
    for r in results:
        print(
            f"{r['page']:<16}{r['analytics_s']:>10.3f}s{r['cold_page_s']:>10.3f}s{r['warm_page_s']:>10.3f}s"
        )
        for name, seconds in r["calls"].items():
            print(f"    {name:<40}{seconds:>8.3f}s")
    if args.json:
        payload = {
            "calls": args.calls,
            "warehouse": args.warehouse,
            "machine": os.uname().machine,
            "cpus": os.cpu_count(),
            "pages": results,
        }
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
