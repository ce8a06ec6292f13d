"""Where an imported span's time goes: each stage of the OTLP ingest path timed alone, on bench/ingest.py's workload.

    python bench/stages.py [--spans 100000] [--group 8192] [--out bench/results/stages.json]

The stages run one after the other in this process, each over all the spans, so that each one's CPU time is its
own: protobuf decode (``decode_protobuf``), mapping through the conventions (``map_request``), preparing the
write (pricing, trace-context resolution within the batch, the Arrow tables: ``prepare``, in groups of
``--group`` spans as the file import writes them), and the write itself: the prepared tables inserted into a
fresh DuckDB file through the warehouse (``write_spans``/``write_calls`` inside ``new_rows()``, one transaction
and commit per group, the path the pipeline takes for new rows; the read-back of stored spans is left out, as
there are none). Each stage gives µs of CPU per span and the spans/s one core would reach doing only it.

The write is DuckDB's work on the single writer of the file: however fast the stages before it, an import into
one DuckDB file cannot go faster than ``write_only_spans_per_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import requests  # noqa: E402

from agentledger.core.pricing.pricer import Pricer  # noqa: E402
from agentledger.core.settings import Settings  # noqa: E402
from agentledger.ingest.otlp.decode import decode_protobuf  # noqa: E402
from agentledger.ingest.otlp.mapping import MappedBatch, map_request  # noqa: E402
from agentledger.ingest.pipeline import PreparedBatch, prepare  # noqa: E402
from agentledger.ingest.runtime import tune_for_ingest  # noqa: E402
from agentledger.warehouse import connect  # noqa: E402


def _timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """``work()``, its CPU seconds (this process, all threads) and its wall seconds."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = work()
    return result, time.process_time() - cpu0, time.perf_counter() - t0


def _groups(batches: list[MappedBatch], size: int) -> list[MappedBatch]:
    """Consecutive mapped requests joined into groups of about ``size`` spans (as the file import writes them)."""
    groups: list[MappedBatch] = []
    current = MappedBatch([], [], [])
    for batch in batches:
        current.calls.extend(batch.calls)
        current.spans.extend(batch.spans)
        if len(current.spans) >= size:
            groups.append(current)
            current = MappedBatch([], [], [])
    if current.spans:
        groups.append(current)
    return groups


def run(spans: int, group: int, workdir: Path) -> dict[str, Any]:
    tune_for_ingest()  # as every ingesting process does
    bodies = [r.SerializeToString() for r in requests(spans, batch=512)]
    pricer = Pricer.from_settings(Settings())
    prepare([], [], pricer)  # the price catalog loads here, not in the timed stage
    stages: dict[str, dict[str, float]] = {}

    def record(name: str, cpu: float, wall: float) -> None:
        stages[name] = {
            "cpu_us_per_span": round(cpu / spans * 1e6, 2),
            "wall_us_per_span": round(wall / spans * 1e6, 2),
            "one_core_spans_per_s": round(spans / cpu) if cpu else 0,
        }

    decoded, cpu, wall = _timed(lambda: [decode_protobuf(b) for b in bodies])
    record("decode", cpu, wall)
    mapped, cpu, wall = _timed(lambda: [map_request(d, project_id="default") for d in decoded])
    record("map", cpu, wall)
    groups = _groups(mapped, group)
    prepared, cpu, wall = _timed(lambda: [prepare(g.calls, g.spans, pricer) for g in groups])
    record("prepare", cpu, wall)

    url = f"duckdb:///{workdir / 'stages.duckdb'}"
    wh = connect(url)
    wh.migrate()

    def write(batches: list[PreparedBatch]) -> None:
        for batch in batches:
            with wh.transaction(), wh.new_rows():
                wh.write_spans(batch.span_table)
                if batch.call_table is not None:
                    wh.write_calls(batch.call_table)

    _, cpu, wall = _timed(lambda: write(prepared))
    record("write", cpu, wall)
    wh.close()
    stored = connect(url)
    try:
        count = int(stored.sql("SELECT count(*) AS n FROM spans")["n"][0])
    finally:
        stored.close()
    if count != spans:
        raise SystemExit(f"the write stored {count} spans of {spans}")
    total = sum(s["cpu_us_per_span"] for s in stages.values())
    return {
        "spans": spans,
        "group_spans": group,
        "stages": stages,
        "all_stages_cpu_us_per_span": round(total, 2),
        # The most one process can do with the write overlapped in a thread of its own (as the file import
        # does): the stages before the write hold one core.
        "one_process_ceiling_spans_per_s": round(1e6 / max(total - stages["write"]["cpu_us_per_span"], 1e-9)),
        "write_only_spans_per_s": round(1e6 / stages["write"]["cpu_us_per_span"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--group", type=int, default=8192, help="spans prepared and written together")
    parser.add_argument("--out", type=Path, default=Path("bench/results/stages.json"))
    args = parser.parse_args()
    if args.spans < 1 or args.group < 1:
        parser.error("--spans and --group must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.spans, args.group, Path(tmp))
    result["machine"] = f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores"
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
