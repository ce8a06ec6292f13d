"""Ingest throughput: OTLP file import and the OTLP/HTTP receiver, on generated workloads.

    python bench/ingest.py --spans 10000 100000 1000000 [--senders 4] [--out bench/results/ingest.json]

File import runs in this process (peak memory = this process's max RSS growth); the receiver runs as a real
`agentledger serve` subprocess on loopback fed by concurrent senders (protobuf, batches of 512 spans), and its
peak memory is the server process's VmHWM. Every run uses a fresh DuckDB file.
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
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import requests  # noqa: E402

from agentledger.app.services import build_pipeline  # noqa: E402
from agentledger.core.settings import Settings  # noqa: E402
from agentledger.ingest.otlp.files import import_files  # noqa: E402
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


def bench_file_import(n: int, workdir: Path) -> dict:
    files = []
    for i, req in enumerate(requests(n, batch=512)):
        path = workdir / f"req-{i:06d}.pb"
        path.write_bytes(req.SerializeToString())
        files.append(path)
    url = f"duckdb:///{workdir / 'file.duckdb'}"
    settings = Settings(warehouse=url)
    wh = connect(url)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    report = import_files(files, build_pipeline(settings, wh).ingest, project_id="default")
    elapsed = time.perf_counter() - t0
    wh.close()
    stored = _count(url)
    return {
        "spans": n,
        "stored_spans": stored,
        "seconds": round(elapsed, 3),
        "spans_per_s": round(n / elapsed),
        "peak_rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024, 1),
        "calls": report.calls,
    }


def bench_receiver(n: int, workdir: Path, senders: int) -> dict:
    port = _free_port()
    url = f"duckdb:///{workdir / 'http.duckdb'}"
    env = dict(os.environ, AGENTLEDGER_WAREHOUSE=url, AGENTLEDGER_PORT=str(port))
    server = subprocess.Popen(
        [sys.executable, "-m", "agentledger.app.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_ready(port)
        bodies = [r.SerializeToString() for r in requests(n, batch=512)]
        latencies: list[float] = []
        lock = threading.Lock()
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

        def send(body: bytes) -> None:
            t = time.perf_counter()
            while True:
                r = client.post(
                    "/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}
                )
                if r.status_code != 503:
                    break
                time.sleep(float(r.headers.get("retry-after", "0.1")))
            r.raise_for_status()
            with lock:
                latencies.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(send, bodies))
        elapsed = time.perf_counter() - t0
        peak = _vm_hwm_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    latencies.sort()
    stored = _count(url)
    return {
        "spans": n,
        "stored_spans": stored,
        "seconds": round(elapsed, 3),
        "spans_per_s": round(n / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "server_peak_rss_mb": peak,
        "senders": senders,
    }


def _wait_ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("agentledger serve did not start")


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
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/results/ingest.json"))
    args = parser.parse_args()
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "runs": [],
    }
    for n in args.spans:
        with tempfile.TemporaryDirectory() as tmp:
            file_run = bench_file_import(n, Path(tmp))
            http_run = bench_receiver(n, Path(tmp), args.senders)
        results["runs"].append({"file_import": file_run, "otlp_http": http_run})
        print(json.dumps(results["runs"][-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
