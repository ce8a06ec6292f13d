"""Warehouse benchmark: bulk write speed, and the latency of the metrics, breakdown and P95 queries, on DuckDB
and on ClickHouse (chDB, the ClickHouse engine in-process), at 10^6 and 10^7 calls.

    python bench/warehouse.py --calls 1000000 --engines duckdb chdb [--budget-minutes 25] [--out bench/results/warehouse.json]

The ledger is ``ledger_data.py``'s (calls with response ids and a span row each, 2 % of them logged a second
time by LiteLLM), generated chunk by chunk (10^6 calls) as Arrow and written straight through the warehouse's
``write_calls``/``write_spans`` (on DuckDB inside ``new_rows()``, the pipeline's path for rows it knows are new);
the ingest pipeline in front of it is measured by ``bench/ingest.py``. Rows per second count call and span rows
written, generation excluded. Queries run on a freshly opened warehouse: ``cold`` is the first run, ``warm``
the best of three more.

- ``metrics_30d``: ``compute_metrics`` over the last 30 days (the Overview's headline numbers);
- ``metrics_all``: ``compute_metrics`` over the whole ledger;
- ``breakdown_model_30d``: ``breakdown`` by model over the last 30 days (two windows: this one and the one before);
- ``p95_session_cost_all``: the P95 of per-session cost over the whole ledger (``session_costs``).

If the projected ingest time passes ``--budget-minutes`` the ingest stops there, the queries run on what was
written, and the result says so with the measured extrapolation. A query slower than 30 s cold is run warm
once instead of three times. Each (engine, calls) result replaces the
previous one of the same key in the output file, so the sizes can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ledger_data import CHUNK, END, chunks  # noqa: E402

from agentledger.analytics.breakdowns import breakdown  # noqa: E402
from agentledger.analytics.filters import Filters  # noqa: E402
from agentledger.analytics.metrics import compute_metrics, session_costs  # noqa: E402
from agentledger.warehouse import connect  # noqa: E402
from agentledger.warehouse.base import Warehouse  # noqa: E402

WINDOW = Filters(since=END + timedelta(days=1) - timedelta(days=30), until=END + timedelta(days=1))
QUERIES: dict[str, Callable[[Warehouse], Any]] = {
    "metrics_30d": lambda wh: compute_metrics(wh, WINDOW),
    "metrics_all": lambda wh: compute_metrics(wh, Filters()),
    "breakdown_model_30d": lambda wh: breakdown(wh, WINDOW, "model"),
    "p95_session_cost_all": lambda wh: session_costs(wh, Filters())[None]["p95_session_cost_usd"],
}


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def warehouse_url(engine: str, folder: Path) -> str:
    if engine == "duckdb":
        return f"duckdb:///{folder / 'ledger.duckdb'}"
    if engine == "chdb":
        return f"chdb:///{folder / 'chdb'}"
    raise SystemExit(f"unknown engine {engine!r}: choose duckdb or chdb")


@contextmanager
def bulk(wh: Warehouse) -> Iterator[None]:
    """DuckDB's plain-insert mode for rows known to be new (the pipeline's path); ClickHouse inserts anyway."""
    new_rows = getattr(wh, "new_rows", None)
    with new_rows() if new_rows is not None else nullcontext():
        yield


def ingest(wh: Warehouse, calls: int, budget_s: float) -> dict[str, Any]:
    """Write the ledger chunk by chunk, printing progress; stop early when the projection passes the budget."""
    written = {"calls": 0, "call_rows": 0, "span_rows": 0}
    write_s = generate_s = 0.0
    began = time.perf_counter()
    stopped = None
    for chunk in _timed_chunks(calls):
        generate_s += chunk[1]
        started = time.perf_counter()
        with bulk(wh):
            wh.write_calls(chunk[0].calls)
            wh.write_spans(chunk[0].spans)
        write_s += time.perf_counter() - started
        written["call_rows"] += chunk[0].calls.num_rows
        written["span_rows"] += chunk[0].spans.num_rows
        if chunk[0].calls.num_rows and chunk[0].calls["source"][0].as_py() == "otlp":
            written["calls"] += chunk[0].calls.num_rows  # the LiteLLM duplicates are extra rows, not calls
        elapsed = time.perf_counter() - began
        projected = elapsed * calls / max(written["calls"], 1)
        rate = (written["call_rows"] + written["span_rows"]) / write_s
        log(
            f"{written['calls']:,}/{calls:,} calls, {rate:,.0f} rows/s written, "
            f"{elapsed:.0f} s so far, ~{projected:.0f} s projected"
        )
        if projected > budget_s and written["calls"] < calls:
            stopped = {"after_s": round(elapsed, 1), "projected_total_s": round(projected, 1)}
            log(f"stopping: the projected {projected:.0f} s pass the budget of {budget_s:.0f} s")
            break
    rows = written["call_rows"] + written["span_rows"]
    return {
        **written,
        "write_s": round(write_s, 2),
        "generate_s": round(generate_s, 2),
        "rows_per_s": round(rows / write_s),
        "calls_per_s": round(written["call_rows"] / write_s),
        "stopped_early": stopped,
    }


def _timed_chunks(calls: int) -> Iterator[tuple[Any, float]]:
    source = chunks(calls)
    while True:
        began = time.perf_counter()
        try:
            chunk = next(source)
        except StopIteration:
            return
        yield chunk, time.perf_counter() - began


def time_queries(url: str, repeat: int = 3, slow_s: float = 30.0) -> dict[str, dict[str, float | None]]:
    """Each query on a freshly opened warehouse: the first run (cold) and the best of ``repeat`` more (warm).

    A query whose cold run takes longer than ``slow_s`` runs once more only (the warm figure is that run).
    """
    out: dict[str, dict[str, float | None]] = {}
    wh = connect(url)
    try:
        for name, run in QUERIES.items():
            began = time.perf_counter()
            run(wh)
            cold = time.perf_counter() - began
            warm = []
            for _ in range(repeat if cold <= slow_s else 1):
                began = time.perf_counter()
                run(wh)
                warm.append(time.perf_counter() - began)
            out[name] = {
                "cold_s": round(cold, 3),
                "warm_s": round(min(warm), 3),
                "warm_runs": len(warm),
                "warm_median_s": round(statistics.median(warm), 3),
            }
            log(f"{name}: cold {cold:.3f} s, warm {min(warm):.3f} s")
    finally:
        wh.close()
    return out


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(engine: str, calls: int, workdir: Path, budget_s: float, keep: bool) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"bench_{engine}_", dir=workdir))
    url = warehouse_url(engine, folder)
    log(f"{engine}: {calls:,} calls into {url}")
    load_before = os.getloadavg()
    try:
        wh = connect(url)
        try:
            written = ingest(wh, calls, budget_s)
        finally:
            wh.close()
        queries = time_queries(url)
        return {
            "engine": engine,
            "calls": calls,
            "ingest": written,
            "queries": queries,
            "bytes_on_disk": size_of(folder),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def merge(out: Path, result: dict[str, Any]) -> None:
    """Replace the result of the same (engine, calls) in ``out``, keeping the others."""
    payload = json.loads(out.read_text()) if out.is_file() else {}
    runs = [
        r for r in payload.get("runs", []) if (r["engine"], r["calls"]) != (result["engine"], result["calls"])
    ]
    runs.append(result)
    runs.sort(key=lambda r: (r["calls"], r["engine"]))
    payload = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "note": "a shared 2-core VM: other work ran beside the benchmark (see each run's load averages)",
        },
        "chunk_calls": CHUNK,
        "runs": runs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "chdb"])
    parser.add_argument("--budget-minutes", type=float, default=25.0, help="ingest time allowed per run")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true", help="keep the warehouses (printed paths)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "warehouse.json"
    )
    args = parser.parse_args()
    for calls in args.calls:
        for engine in args.engines:
            result = run(engine, calls, args.workdir, args.budget_minutes * 60, args.keep)
            merge(args.out, result)
            log(f"{engine} {calls:,}: written to {args.out}")


if __name__ == "__main__":
    main()
