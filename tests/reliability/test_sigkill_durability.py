"""Acknowledged means durable: a server killed with SIGKILL mid-stream loses no acknowledged span.

A real `agentledger serve` on a DuckDB file takes OTLP requests from three threads; once enough are
acknowledged it is killed with SIGKILL (no shutdown, no checkpoint), while requests are in flight. A new
server is started on the same file, takes one more request, and stops. Then every span acknowledged with a
200 is in the file exactly once; spans of requests that got no answer may be there or not, never twice.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agentledger.warehouse import connect

pytestmark = pytest.mark.slow

SPANS_PER_REQUEST = 24
KILL_AFTER_SPANS = 1500
SENDERS = 3

Key = tuple[str, str]  # (trace id, span id) in hex


class Stream:
    """Fresh copies of one request template, with the (trace id, span id) keys each copy carries."""

    def __init__(self, load_bench: ModuleType) -> None:
        self.template = load_bench.build_template(SPANS_PER_REQUEST)
        request = ExportTraceServiceRequest.FromString(self.template.body)
        self.ids = [
            (span.trace_id[8:], span.span_id.hex())
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def fresh(self, rng: random.Random) -> tuple[bytes, list[Key]]:
        marker = rng.getrandbits(64).to_bytes(8, "big")
        body = self.template.body.replace(self.template.marker, marker)
        return body, [((marker + suffix).hex(), span_id) for suffix, span_id in self.ids]


def test_every_acknowledged_span_survives_sigkill_exactly_once(
    tmp_path: Path, load_bench: ModuleType
) -> None:
    warehouse = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    stream = Stream(load_bench)
    server = load_bench.start_serve(warehouse, tmp_path / "serve-1.log")
    acked: list[Key] = []
    sent: set[Key] = set()
    unanswered = 0
    lock = threading.Lock()
    stop = threading.Event()

    def send(seed: int) -> None:
        nonlocal unanswered
        rng = random.Random(seed)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                body, keys = stream.fresh(rng)
                with lock:
                    sent.update(keys)
                try:
                    response = client.post(
                        "/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}
                    )
                except httpx.TransportError:  # the server is gone: this request got no answer
                    with lock:
                        unanswered += 1
                    return
                if response.status_code == 200:
                    assert load_bench.rejected_spans(response) == 0
                    with lock:
                        acked.extend(keys)

    threads = [threading.Thread(target=send, args=(seed,), daemon=True) for seed in range(SENDERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acked) < KILL_AFTER_SPANS:
        assert time.monotonic() < deadline, f"only {len(acked)} spans acknowledged in 120 s"
        time.sleep(0.01)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert unanswered >= 1, "no request was in flight when the server was killed"

    restarted = load_bench.start_serve(warehouse, tmp_path / "serve-2.log")
    try:
        body, keys = stream.fresh(random.Random(99))
        response = httpx.post(
            f"{restarted.url}/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}
        )
        assert response.status_code == 200  # the restarted server writes to the recovered file
        acked.extend(keys)
        sent.update(keys)
    finally:
        restarted.stop()

    wh = connect(warehouse)
    try:
        spans = wh.sql("SELECT trace_id, span_id, count(*) AS n FROM spans GROUP BY trace_id, span_id")
        calls = wh.sql("SELECT trace_id, span_id, count(*) AS n FROM calls GROUP BY trace_id, span_id")
    finally:
        wh.close()
    assert spans["n"].max() == 1 and calls["n"].max() == 1, "a span or call was stored twice"
    stored = set(zip(spans["trace_id"].to_list(), spans["span_id"].to_list(), strict=True))
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged spans were lost, e.g. {sorted(missing)[:3]}"
    assert len(acked) == len(set(acked))
    assert stored <= sent, "the file holds spans nobody sent"
