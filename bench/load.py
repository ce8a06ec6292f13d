"""Load and soak: concurrent OTLP senders against a real `agentledger serve` on loopback, for a bounded time.

    python bench/load.py [--duration 30] [--senders 8] [--spans-per-request 256] [--ingest-workers N]
        [--out bench/results/load.json]

Each sender posts protobuf requests of fresh traces (an agent span and its chat calls) with a stored API key,
as fast as the server answers, until the time is up. A 503 (queue full) or a lost connection is retried with
the same body until it is acknowledged, as exporters do; writes are idempotent, so a retried body is stored
once. Then the server is stopped and the spans stored in its DuckDB file are counted: they must equal the
spans acknowledged with a 200, exactly. Prints and writes spans/s sustained, p50/p99 request latency (of the
acknowledged attempts) and the server's peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from workload import request_of, trace_spans  # noqa: E402

CALLS_PER_TRACE = 7
PROTOBUF = {"content-type": "application/x-protobuf"}


# ------------------------------------------------------------------------------------------ the workload


@dataclass(frozen=True)
class Template:
    """One serialized request whose trace ids all start with ``marker`` (8 bytes): a fresh copy of the request
    is ``body.replace(marker, new 8 bytes)``, one pass in C, so senders spend no time building protobuf."""

    body: bytes
    marker: bytes
    spans: int


def build_template(spans_per_request: int, seed: int = 1) -> Template:
    """A request of ``spans_per_request`` spans: traces of one agent span and up to 7 chat calls each."""
    rng = random.Random(seed)
    marker = rng.getrandbits(64).to_bytes(8, "big")
    spans: list[Span] = []
    trace_no = 0
    while len(spans) < spans_per_request:
        trace_no += 1
        calls = min(CALLS_PER_TRACE, spans_per_request - len(spans) - 1)
        spans.extend(trace_spans(rng, marker + trace_no.to_bytes(8, "big"), trace_no, calls, "load"))
    request = request_of(spans, "load")
    body = request.SerializeToString()
    if body.count(marker) != len(spans):  # the marker must occur in the spans' trace ids and nowhere else
        raise ValueError(f"seed {seed}: the trace id marker occurs elsewhere in the body; try another seed")
    return Template(body, marker, len(spans))


# ------------------------------------------------------------------------------------------ the server


@dataclass
class ServerProcess:
    """A running `agentledger serve` with its output going to a log file (a pipe nobody reads would block it)."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def peak_memory_mb(self) -> float | None:
        """The process's VmHWM (peak resident set) in MiB, from /proc."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            return None
        return None

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM and wait (uvicorn shuts down gracefully: the writer drains, the file is checkpointed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as a crash or the OOM killer would end it."""
        self.process.kill()
        self.process.wait(10)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(
    warehouse: str, log_path: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> ServerProcess:
    """Start `agentledger serve` on a free loopback port and wait for /healthz."""
    port = free_port()
    full_env = dict(
        os.environ, AGENTLEDGER_WAREHOUSE=warehouse, AGENTLEDGER_PORT=str(port), AGENTLEDGER_HOST="127.0.0.1"
    )
    full_env.update(env or {})
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "agentledger.app.cli", "serve"],
        env=full_env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()  # the child holds its own descriptor
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"agentledger serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"agentledger serve did not answer /healthz in {timeout} s:\n{log_path.read_text()}")


# ------------------------------------------------------------------------------------------ the senders


@dataclass
class SenderStats:
    """What one sender saw."""

    requests: int = 0
    accepted_spans: int = 0
    retries_503: int = 0
    connection_errors: int = 0
    other_statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


def rejected_spans(response: httpx.Response) -> int:
    """``partial_success.rejected_spans`` of a protobuf ExportTraceServiceResponse (0 when absent)."""
    return ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans


def _post_until_acknowledged(
    client: httpx.Client, body: bytes, stats: SenderStats, give_up_at: float
) -> httpx.Response | None:
    """Post ``body`` until a final answer; retry 503 and lost connections (idempotent writes make it safe)."""
    while time.monotonic() < give_up_at:
        started = time.perf_counter()
        try:
            response = client.post("/v1/traces", content=body, headers=PROTOBUF)
        except httpx.TransportError:
            stats.connection_errors += 1
            time.sleep(0.1)
            continue
        if response.status_code == 503:
            stats.retries_503 += 1
            time.sleep(min(float(response.headers.get("retry-after", "1")), 1.0))
            continue
        if response.status_code == 200:
            stats.latencies.append(time.perf_counter() - started)
        return response
    return None


def sender(url: str, key: str, template: Template, deadline: float, stats: SenderStats, seed: int) -> None:
    """Post fresh copies of ``template`` until ``deadline``; count the spans acknowledged with a 200."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while time.monotonic() < deadline:
            body = template.body.replace(template.marker, rng.getrandbits(64).to_bytes(8, "big"))
            # An unacknowledged body is retried past the deadline: its spans may be stored already.
            response = _post_until_acknowledged(client, body, stats, deadline + 120)
            stats.requests += 1
            if response is None:
                raise RuntimeError("a request was never acknowledged within 120 s after the deadline")
            if response.status_code == 200:
                stats.accepted_spans += template.spans - rejected_spans(response)
            else:
                stats.other_statuses[response.status_code] = (
                    stats.other_statuses.get(response.status_code, 0) + 1
                )


# ------------------------------------------------------------------------------------------ the run


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stored_spans(warehouse: str) -> tuple[int, int]:
    from agentledger.warehouse import connect

    wh = connect(warehouse)
    try:
        spans = int(wh.sql("SELECT count(*) AS n FROM spans")["n"][0])
        calls = int(wh.sql("SELECT count(*) AS n FROM calls")["n"][0])
    finally:
        wh.close()
    return spans, calls


def _create_key(warehouse: str, project: str) -> str:
    from agentledger.warehouse import connect
    from agentledger.warehouse.keys import KeyStore

    wh = connect(warehouse)
    try:
        return KeyStore(wh).create(project, "load")[1]
    finally:
        wh.close()


def run_load(
    duration: float = 30.0,
    senders: int = 8,
    spans_per_request: int = 256,
    workdir: Path | None = None,
    ingest_workers: int = 0,
) -> dict:
    """Run the load against a fresh DuckDB ledger; returns the figures (see the module docstring).

    ``ingest_workers``: the server's AGENTLEDGER_INGEST_WORKERS (0: no worker processes, the default)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = workdir or Path(tmp)
        warehouse = f"duckdb:///{folder / 'load.duckdb'}"
        key = _create_key(warehouse, "load")
        template = build_template(spans_per_request)
        env = {"AGENTLEDGER_INGEST_WORKERS": str(ingest_workers)}  # set either way: not the caller's
        server = start_serve(warehouse, folder / "serve.log", env)
        stats = [SenderStats() for _ in range(senders)]
        try:
            started = time.monotonic()
            deadline = started + duration
            threads = [
                threading.Thread(target=sender, args=(server.url, key, template, deadline, s, i), daemon=True)
                for i, s in enumerate(stats)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            peak = server.peak_memory_mb()
        finally:
            server.stop()
        stored_spans, stored_calls = _stored_spans(warehouse)
    latencies = [x for s in stats for x in s.latencies]
    accepted = sum(s.accepted_spans for s in stats)
    other: dict[str, int] = {}
    for s in stats:
        for status, count in s.other_statuses.items():
            other[str(status)] = other.get(str(status), 0) + count
    return {
        "duration_s": round(elapsed, 2),
        "senders": senders,
        "spans_per_request": template.spans,
        "requests": sum(s.requests for s in stats),
        "accepted_spans": accepted,
        "stored_spans": stored_spans,
        "stored_calls": stored_calls,
        "accepted_equals_stored": accepted == stored_spans,
        "spans_per_s": round(accepted / elapsed),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 1) if latencies else None,
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1) if latencies else None,
        "retries_503": sum(s.retries_503 for s in stats),
        "connection_errors": sum(s.connection_errors for s in stats),
        "other_statuses": other,
        "server_peak_rss_mb": peak,
        "ingest_workers": ingest_workers,
    }


def main() -> None:
    """Command line entry point: run, print, write ``--out``; exit 1 when accepted and stored spans differ."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders (default 8)")
    parser.add_argument("--spans-per-request", type=int, default=256, help="spans per request (default 256)")
    parser.add_argument(
        "--ingest-workers",
        type=int,
        default=0,
        help="the server's AGENTLEDGER_INGEST_WORKERS (default 0: no worker processes)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "load.json")
    args = parser.parse_args()
    result = run_load(args.duration, args.senders, args.spans_per_request, ingest_workers=args.ingest_workers)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not result["accepted_equals_stored"]:
        sys.exit(f"accepted spans ({result['accepted_spans']}) != stored spans ({result['stored_spans']})")


if __name__ == "__main__":
    main()
