"""Ingest throughput: OTLP file import and the OTLP/HTTP receiver, on generated workloads.

    python bench/ingest.py --spans 10000 100000 1000000 [--senders 10] [--workers N] [--receiver-workers N]
        [--out bench/results/ingest.json]
    python bench/ingest.py --spans 10000 100000 --phoenix [--phoenix-venv DIR] [--phoenix-timeout 900]

File import runs in this process (peak memory = this process's max RSS growth), once alone and once with the
files read and mapped in --workers processes (default: one fewer than the CPUs; its CPU per span is then this
process's alone). The receiver runs as a real `agentledger serve` subprocess on loopback fed by concurrent senders
(protobuf, batches of 512 spans), once as it is by default and once with AGENTLEDGER_INGEST_WORKERS set to
--receiver-workers (default: one per CPU); its peak memory is the server process's VmHWM, and its CPU counts its worker processes too.
Every run uses a fresh DuckDB file.

With --phoenix, each run also sends the same protobuf bodies, from the same number of senders, to Arize Phoenix's
OTLP/HTTP endpoint (installed once into its own virtual environment, see bench/phoenix.py; fresh SQLite storage
per run) and reports agentledger's spans/s over Phoenix's. Phoenix answers before it stores, so its clock stops
when its database holds every accepted span, or at --phoenix-timeout (then `complete` is false and its spans/s is
what it stored by then).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phoenix  # noqa: E402
from workload import requests  # noqa: E402

from agentledger.app.services import build_pipeline  # noqa: E402
from agentledger.core.settings import Settings  # noqa: E402
from agentledger.ingest.otlp.files import import_files  # noqa: E402
from agentledger.ingest.runtime import tune_for_ingest  # noqa: E402
from agentledger.warehouse import connect  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _count(url: str) -> int:
    wh = connect(url)
    try:
        return int(wh.sql("SELECT count(*) AS n FROM spans")["n"][0])
    finally:
        wh.close()


def bench_file_import(n: int, workdir: Path, workers: int = 0) -> dict:
    """``agentledger ingest otlp`` of n spans in files of 512; with ``workers``, files mapped in that many
    processes (started inside the timed part: a real import pays their start too)."""
    workdir.mkdir(parents=True, exist_ok=True)
    files = []
    for i, req in enumerate(requests(n, batch=512)):
        path = workdir / f"req-{i:06d}.pb"
        path.write_bytes(req.SerializeToString())
        files.append(path)
    url = f"duckdb:///{workdir / 'file.duckdb'}"
    settings = Settings(warehouse=url)
    wh = connect(url)
    tune_for_ingest()  # as `agentledger ingest otlp` does
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0, t0 = time.process_time(), time.perf_counter()
    with build_pipeline(settings, wh).overlapped() as ingest:
        report = import_files(files, ingest, project_id="default", workers=workers)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    wh.close()
    stored = _count(url)
    run = {
        "spans": n,
        "stored_spans": stored,
        "seconds": round(elapsed, 3),
        "spans_per_s": round(n / elapsed),
        "peak_rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024, 1),
        # This process's CPU (its threads); with workers, theirs is not counted.
        "cpu_us_per_span": round(cpu / n * 1e6, 1),
        "calls": report.calls,
    }
    if workers:
        run["workers"] = workers
    return run


def bench_receiver(n: int, workdir: Path, senders: int, workers: int = 0) -> dict:
    port = _free_port()
    url = f"duckdb:///{workdir / f'http-{workers}.duckdb'}"
    env = dict(
        os.environ,
        AGENTLEDGER_WAREHOUSE=url,
        AGENTLEDGER_PORT=str(port),
        AGENTLEDGER_INGEST_WORKERS=str(workers),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "agentledger.app.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_ready(port)
        bodies = [r.SerializeToString() for r in requests(n, batch=512)]
        cpu0 = _cpu_seconds(server.pid)
        t0 = time.perf_counter()
        sent = _send_all(f"http://127.0.0.1:{port}", bodies, senders)
        elapsed = time.perf_counter() - t0
        server_cpu = _cpu_seconds(server.pid) - cpu0
        peak = _vm_hwm_mb(server.pid)
        worker_peaks = [_vm_hwm_mb(p) or 0.0 for p in _tree(server.pid)[1:]]
    finally:
        server.terminate()
        server.wait(30)
    stored = _count(url)
    run = {
        "spans": n,
        "stored_spans": stored,
        "seconds": round(elapsed, 3),
        "spans_per_s": round(n / elapsed),
        **sent.latency_ms(),
        "rejected_503": sent.rejected,
        "server_peak_rss_mb": peak,
        # CPU the server spent per span (all its threads): what the throughput costs, however busy the host.
        "server_cpu_us_per_span": round(server_cpu / n * 1e6, 1),
        "senders": senders,
    }
    if workers:
        run["ingest_workers"] = workers
        run["worker_peak_rss_mb"] = max(worker_peaks, default=None)
    return run


def bench_phoenix(n: int, workdir: Path, senders: int, python: Path, timeout: float) -> dict:
    """Arize Phoenix's OTLP/HTTP ingest of the same bodies, timed until its database holds them (or ``timeout``)."""
    port, grpc_port = _free_port(), _free_port()
    home = workdir / "phoenix"
    home.mkdir()
    log_path = workdir / "phoenix.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            phoenix.server_command(python),
            env=phoenix.server_env(home, port, grpc_port),
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            # Phoenix migrates its new database on start: tens of seconds on this machine.
            _wait_ready(port, timeout=600, name="phoenix serve", log=log_path)
            reqs = list(requests(n, batch=512))
            bodies = [r.SerializeToString() for r in reqs]
            cpu0 = _cpu_seconds(server.pid)
            t0 = time.perf_counter()
            deadline = t0 + timeout
            sent = _send_all(f"http://127.0.0.1:{port}", bodies, senders, deadline=deadline)
            accept_seconds = time.perf_counter() - t0
            accepted = n - sum(len(reqs[i].resource_spans[0].scope_spans[0].spans) for i in sent.skipped)
            stored = phoenix.stored_spans(home)
            while stored < accepted and time.perf_counter() < deadline:
                time.sleep(0.25)
                stored = phoenix.stored_spans(home)
            elapsed = time.perf_counter() - t0
            server_cpu = _cpu_seconds(server.pid) - cpu0
            peak = _vm_hwm_mb(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return {
        "spans": n,
        "accepted_spans": accepted,
        "stored_spans": stored,
        "complete": stored >= n,
        "seconds": round(elapsed, 3),
        "spans_per_s": round(stored / elapsed),
        # How fast Phoenix answered the exports (it queues spans in memory and stores them afterwards).
        "accept_seconds": round(accept_seconds, 3),
        **sent.latency_ms(),
        "rejected_503": sent.rejected,
        "server_peak_rss_mb": peak,
        "server_cpu_us_per_span": round(server_cpu / max(stored, 1) * 1e6, 1),
        "senders": senders,
        "timeout_s": timeout,
    }


@dataclass
class Sent:
    latencies: list[float] = field(default_factory=list)
    rejected: int = 0  # 503 answers (server at capacity), each retried after its Retry-After
    skipped: list[int] = field(default_factory=list)  # indexes of bodies not sent before the deadline

    def latency_ms(self) -> dict:
        lat = sorted(self.latencies)
        if not lat:
            return {"p50_ms": None, "p99_ms": None}
        return {
            "p50_ms": round(lat[len(lat) // 2] * 1000, 1),
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1),
        }


def _send_all(base_url: str, bodies: list[bytes], senders: int, deadline: float | None = None) -> Sent:
    """POST each body to ``/v1/traces`` from ``senders`` threads; a body's latency includes its 503 retries.

    Bodies still unsent at ``deadline`` (a perf_counter value) are skipped.
    """
    sent = Sent()
    lock = threading.Lock()

    def send(index: int) -> None:
        t = time.perf_counter()
        while deadline is None or time.perf_counter() < deadline:
            r = client.post(
                "/v1/traces", content=bodies[index], headers={"content-type": "application/x-protobuf"}
            )
            if r.status_code != 503:
                r.raise_for_status()
                with lock:
                    sent.latencies.append(time.perf_counter() - t)
                return
            with lock:
                sent.rejected += 1
            time.sleep(float(r.headers.get("retry-after", "0.1")))
        with lock:
            sent.skipped.append(index)

    with httpx.Client(base_url=base_url, timeout=60) as client, ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, range(len(bodies))))
    return sent


def _wait_ready(
    port: int, timeout: float = 30, name: str = "agentledger serve", log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log else ""
    raise RuntimeError(f"{name} did not start\n{tail}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live descendants (Linux /proc): the server's
    mapping workers count too."""
    total = 0.0
    for each in _tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    # An OpenTelemetry Collector's OTLP/HTTP exporter sends from 10 consumers of its queue by default.
    parser.add_argument(
        "--senders", type=int, default=10, help="concurrent senders (default: 10, as a Collector)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=max((os.cpu_count() or 1) - 1, 0),
        help="also import the files with this many worker processes (0: only in one process)",
    )
    parser.add_argument(
        "--receiver-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="also run the receiver with AGENTLEDGER_INGEST_WORKERS set to this (0: only without workers)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/ingest.json"))
    parser.add_argument(
        "--phoenix",
        action="store_true",
        help="also measure Arize Phoenix's OTLP/HTTP ingest of the same spans",
    )
    parser.add_argument("--phoenix-venv", type=Path, default=phoenix.DEFAULT_VENV)
    parser.add_argument(
        "--phoenix-timeout", type=float, default=900, help="seconds Phoenix gets per run to accept and store"
    )
    args = parser.parse_args()
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    }
    phoenix_python = phoenix.ensure_venv(args.phoenix_venv) if args.phoenix else None
    if phoenix_python:
        results["phoenix"] = {
            "package": f"arize-phoenix=={phoenix.PHOENIX_VERSION}",
            "storage": "SQLite (default)",
        }
    results["runs"] = []
    for n in args.spans:
        with tempfile.TemporaryDirectory() as tmp:
            file_run = bench_file_import(n, Path(tmp) / "alone")
            run = {"file_import": file_run}
            if args.workers:
                run["file_import_workers"] = bench_file_import(n, Path(tmp) / "workers", args.workers)
            http_run = bench_receiver(n, Path(tmp), args.senders)
            run["otlp_http"] = http_run
            if args.receiver_workers:
                run["otlp_http_workers"] = bench_receiver(n, Path(tmp), args.senders, args.receiver_workers)
            if phoenix_python:
                ph = bench_phoenix(n, Path(tmp), args.senders, phoenix_python, args.phoenix_timeout)
                run["phoenix_otlp_http"] = ph
                run["ratio_vs_phoenix"] = {
                    "otlp_http": _ratio(http_run["spans_per_s"], ph["spans_per_s"]),
                    "file_import": _ratio(file_run["spans_per_s"], ph["spans_per_s"]),
                }
                if "otlp_http_workers" in run:
                    workers_run = run["otlp_http_workers"]
                    run["ratio_vs_phoenix"]["otlp_http_workers"] = _ratio(
                        workers_run["spans_per_s"], ph["spans_per_s"]
                    )
        results["runs"].append(run)
        print(json.dumps(results["runs"][-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    if phoenix_python:
        print(_phoenix_table(results["runs"]))


def _ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 1) if theirs else None


def _phoenix_table(runs: list[dict]) -> str:
    rows = [
        "| spans | agentledger file import | agentledger OTLP/HTTP | Phoenix OTLP/HTTP (stored) "
        "| ratio OTLP/HTTP | ratio OTLP/HTTP with workers | ratio file import |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        f, h, p, r = run["file_import"], run["otlp_http"], run["phoenix_otlp_http"], run["ratio_vs_phoenix"]
        stored = (
            "" if p["complete"] else f", {p['stored_spans']} of {p['spans']} stored in {p['timeout_s']:g} s"
        )
        rows.append(
            f"| {f['spans']} | {f['spans_per_s']} spans/s "
            f"| {h['spans_per_s']} spans/s, p50 {h['p50_ms']} ms, p99 {h['p99_ms']} ms, {h['server_peak_rss_mb']} MB "
            f"| {p['spans_per_s']} spans/s{stored}, p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms, "
            f"{p['server_peak_rss_mb']} MB | {r['otlp_http']}x | {r.get('otlp_http_workers', '-')}x "
            f"| {r['file_import']}x |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
