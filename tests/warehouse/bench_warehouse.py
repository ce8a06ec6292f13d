"""Quick measurement of the two engines: write N generated calls, then time the metrics queries.

    .venv/bin/python tests/warehouse/bench_warehouse.py [--calls 100000] [--batch 10000]

Writes the same calls to DuckDB and to chDB (the ClickHouse engine in-process) through
``Pipeline.ingest`` (pricing skipped: costs are generated), then times ``compute_metrics`` ungrouped and
grouped, cold (first run) and warm (best of 3). Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentledger.analytics.metrics import Filters, compute_metrics
from agentledger.core.records import Call, SpanContext
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4"),
    ("google", "gemini-2.5"),
]


def generate(n: int, seed: int = 1) -> tuple[list[Call], list[SpanContext]]:
    """``n`` LLM calls in traces of 1-8 calls under an agent span, over 30 days."""
    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    calls: list[Call] = []
    spans: list[SpanContext] = []
    trace = 0
    while len(calls) < n:
        trace += 1
        tid, session = f"trace-{trace}", f"session-{trace // 4}"
        t = start + timedelta(seconds=rnd.randrange(30 * 86_400), microseconds=rnd.randrange(10**6))
        spans.append(
            SpanContext(
                source="bench",
                trace_id=tid,
                span_id="root",
                kind="agent",
                agent_name=rnd.choice(["planner", "coder", "reviewer"]),
                session_id=session,
                status=rnd.choice(["ok", "ok", "unset", "error"]),
            )
        )
        for i in range(min(rnd.randint(1, 8), n - len(calls))):
            provider, model = rnd.choice(MODELS)
            cost = None if rnd.random() < 0.03 else round(rnd.random() * 0.05, 8)
            calls.append(
                Call(
                    source="bench",
                    trace_id=tid,
                    span_id=f"llm-{i}",
                    parent_span_id="root",
                    started_at=t + timedelta(seconds=i),
                    provider=provider,
                    model=model,
                    operation="chat",
                    input_tokens=rnd.randrange(20_000),
                    cache_read_tokens=rnd.randrange(5_000),
                    output_tokens=rnd.randrange(2_000),
                    status="error" if rnd.random() < 0.05 else "ok",
                    user_id=f"user-{trace % 50}",
                    cost_usd=cost,
                    price_status="unpriced" if cost is None else "priced",
                    tags={"env": "bench"},
                )
            )
    return calls, spans


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def run(url: str, calls: list[Call], spans: list[SpanContext], batch: int) -> dict[str, Any]:
    wh = connect(url)
    pipeline = Pipeline(wh)
    by_trace: dict[str, list[SpanContext]] = {s.trace_id: [s] for s in spans}
    write_s = 0.0
    for i in range(0, len(calls), batch):
        chunk = calls[i : i + batch]
        chunk_spans = [s for tid in dict.fromkeys(c.trace_id for c in chunk) for s in by_trace.pop(tid, [])]
        seconds, _ = timed(lambda chunk=chunk, chunk_spans=chunk_spans: pipeline.ingest(chunk, chunk_spans))
        write_s += seconds
    rewrite_s, _ = timed(lambda: pipeline.ingest(calls[:batch], []))
    out: dict[str, Any] = {
        "url": url,
        "ingest_s": round(write_s, 2),
        "calls_per_s": round(len(calls) / write_s),
        f"reingest_{batch}_s": round(rewrite_s, 2),
    }
    for group in (None, "day", "model"):
        cold, result = timed(lambda group=group: compute_metrics(wh, Filters(project_id="default"), group))
        warm = min(
            timed(lambda group=group: compute_metrics(wh, Filters(project_id="default"), group))[0]
            for _ in range(3)
        )
        out[f"metrics_{group or 'all'}_s"] = {"cold": round(cold, 3), "warm": round(warm, 3)}
        if group is None:
            out["calls_counted"] = result["calls"]
            out["total_cost_usd"] = round(result["total_cost_usd"], 6)
            out["p95_session_cost_usd"] = result["p95_session_cost_usd"]
    wh.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    generated, spans = timed(lambda: generate(args.calls))[1]
    with tempfile.TemporaryDirectory() as tmp:
        for url in (f"duckdb:///{Path(tmp) / 'bench.duckdb'}", f"chdb:///{Path(tmp) / 'chdb'}"):
            print(json.dumps(run(url, generated, spans, args.batch)))


if __name__ == "__main__":
    main()
