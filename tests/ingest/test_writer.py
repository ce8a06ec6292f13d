"""The batching writer: acknowledged means stored (once), a full queue refuses with 503 + Retry-After, and a
failed batch fails every request in it with nothing of it written."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from agentledger.app.api import create_app
from agentledger.core.errors import TransientError, WarehouseError
from agentledger.core.records import Call, SpanContext
from agentledger.core.settings import Settings
from agentledger.ingest.pipeline import Pipeline, PreparedBatch
from agentledger.ingest.writer import BatchingWriter, QueueFullError
from agentledger.warehouse import connect

T0 = datetime(2025, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def wh(tmp_path):
    warehouse = connect(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    yield warehouse
    warehouse.close()


def trace(name: str, calls: int = 3) -> tuple[list[Call], list[SpanContext]]:
    """An agent span and its LLM calls, all in trace ``name``."""
    agent = SpanContext(source="otlp", trace_id=name, span_id="agent", kind="agent", agent_name=f"a-{name}")
    llm = [
        Call(
            source="otlp",
            trace_id=name,
            span_id=f"c{i}",
            parent_span_id="agent",
            started_at=T0 + timedelta(seconds=i),
            operation="chat",
            input_tokens=100 + i,
        )
        for i in range(calls)
    ]
    return llm, [agent]


def count(wh, table: str) -> int:
    return int(wh.sql(f"SELECT COUNT(*) AS n FROM {table}")["n"][0])


class CountingSink:
    """The pipeline, counting the batches the writer hands it; ``gate`` holds writes back until set."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def prepare(self, calls: list[Call], spans: list[SpanContext]) -> PreparedBatch:
        return self.pipeline.prepare(calls, spans)

    def write(self, batches: Sequence[PreparedBatch]) -> object:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(len(batches))
        return self.pipeline.write(batches)


@pytest.fixture
def sink(wh) -> CountingSink:
    return CountingSink(Pipeline(wh))


@pytest.fixture
def writer(sink) -> Iterator[BatchingWriter]:
    w = BatchingWriter(sink, capacity_spans=10_000, max_wait_seconds=0.02)
    yield w
    w.close()


def run_threads(target, n: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            target(k)
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_every_acknowledged_span_is_stored_exactly_once(wh, sink, writer):
    acknowledged: list[str] = []
    lock = threading.Lock()

    def send(k: int) -> None:
        for j in range(5):
            calls, spans = trace(f"t{k}-{j}")
            writer.submit(calls, spans)
            with lock:
                acknowledged.append(f"t{k}-{j}")

    assert run_threads(send, 8) == []
    assert len(acknowledged) == 40
    assert count(wh, "calls") == 40 * 3 and count(wh, "spans") == 40 * 4
    stored = wh.sql("SELECT trace_id, COUNT(*) AS n FROM calls GROUP BY trace_id")
    assert dict(stored.rows()) == {t: 3 for t in acknowledged}
    # Requests were coalesced: fewer transactions than requests.
    assert sum(sink.batches) == 40 and len(sink.batches) < 40
    # Each call got the agent of its own trace, whichever requests shared its batch.
    agents = wh.sql("SELECT DISTINCT trace_id, agent_name FROM calls").rows()
    assert all(agent == f"a-{trace_id}" for trace_id, agent in agents)


def test_the_same_records_twice_change_nothing(wh, writer):
    writer.submit(*trace("t1"))
    before = wh.sql("SELECT * EXCLUDE (ingested_at) FROM calls ORDER BY span_id").rows()
    writer.submit(*trace("t1"))
    assert wh.sql("SELECT * EXCLUDE (ingested_at) FROM calls ORDER BY span_id").rows() == before
    assert count(wh, "spans") == 4


def test_a_full_queue_refuses_at_once_with_a_retry_delay(wh, sink):
    writer = BatchingWriter(sink, capacity_spans=6, max_wait_seconds=0, retry_after_seconds=2)
    sink.gate.clear()
    try:
        first = threading.Thread(target=writer.submit, args=trace("t1"))  # 4 span rows, taken by the writer
        first.start()
        assert sink.entered.wait(5)
        second = threading.Thread(target=writer.submit, args=trace("t2"))  # 4 queued behind it
        second.start()
        wait_until(lambda: writer.queued_spans == 4)
        with pytest.raises(QueueFullError) as refused:
            writer.submit(*trace("t3"))
        assert isinstance(refused.value, TransientError) and refused.value.retry_after == 2
        assert "AGENTLEDGER_INGEST_QUEUE_SPANS" in str(refused.value)
        sink.gate.set()
        first.join(10)
        second.join(10)
    finally:
        sink.gate.set()
        writer.close()
    assert sorted(wh.sql("SELECT DISTINCT trace_id FROM calls")["trace_id"].to_list()) == ["t1", "t2"]


def test_a_request_larger_than_the_queue_is_taken_when_the_queue_is_empty(wh, sink):
    writer = BatchingWriter(sink, capacity_spans=2)
    try:
        writer.submit(*trace("big", calls=5))
    finally:
        writer.close()
    assert count(wh, "calls") == 5


def test_a_batch_whose_every_write_fails_fails_every_request_and_writes_nothing(wh, sink, monkeypatch):
    def disk_full(_table):
        raise WarehouseError("disk full")

    # The writer flushes once the three requests (4 span rows each) are queued: one batch of three.
    writer = BatchingWriter(sink, capacity_spans=100, max_batch_spans=12, max_wait_seconds=5)
    monkeypatch.setattr(wh, "write_calls", disk_full)  # fails after the spans were written
    errors = run_threads(lambda k: writer.submit(*trace(f"t{k}")), 3)
    writer.close()
    assert sink.batches == [3, 1, 1, 1]  # the batch, then each request alone
    assert len(errors) == 3 and all(isinstance(e, WarehouseError) and "disk full" in str(e) for e in errors)
    monkeypatch.undo()
    assert count(wh, "spans") == 0 and count(wh, "calls") == 0


def test_a_request_that_cannot_be_written_fails_alone_and_its_batch_neighbours_are_stored(
    wh, sink, monkeypatch
):
    write_spans = wh.write_spans

    def poisoned(table):
        if "t1" in table.column("trace_id").to_pylist():
            raise WarehouseError("value out of range in trace t1")
        return write_spans(table)

    writer = BatchingWriter(sink, capacity_spans=100, max_batch_spans=12, max_wait_seconds=5)
    monkeypatch.setattr(wh, "write_spans", poisoned)
    outcomes: dict[str, str] = {}

    def send(k: int) -> None:
        try:
            writer.submit(*trace(f"t{k}"))
            outcomes[f"t{k}"] = "stored"
        except WarehouseError as exc:
            outcomes[f"t{k}"] = str(exc)

    assert run_threads(send, 3) == []
    writer.close()
    assert sink.batches == [3, 1, 1, 1]
    assert outcomes == {"t0": "stored", "t1": "value out of range in trace t1", "t2": "stored"}
    assert sorted(wh.sql("SELECT DISTINCT trace_id FROM calls")["trace_id"].to_list()) == ["t0", "t2"]
    assert count(wh, "spans") == 2 * 4


def test_the_writer_goes_on_after_a_failed_batch(wh, sink, monkeypatch):
    writer = BatchingWriter(sink, capacity_spans=100)
    try:
        monkeypatch.setattr(sink.pipeline, "write", lambda _b: (_ for _ in ()).throw(WarehouseError("gone")))
        with pytest.raises(WarehouseError, match="gone"):
            writer.submit(*trace("t1"))
        monkeypatch.undo()
        writer.submit(*trace("t2"))
    finally:
        writer.close()
    assert wh.sql("SELECT DISTINCT trace_id FROM calls")["trace_id"].to_list() == ["t2"]


def test_a_closed_writer_refuses_and_nothing_is_left_behind(wh, sink):
    writer = BatchingWriter(sink, capacity_spans=100)
    writer.submit(*trace("t1"))
    writer.close()
    with pytest.raises(QueueFullError, match="shutting down"):
        writer.submit(*trace("t2"))
    assert count(wh, "calls") == 3


def test_empty_submissions_return_without_a_write(sink, writer):
    assert writer.submit([], []).spans == 0
    assert sink.batches == []


def test_the_later_request_wins_for_an_identity_sent_twice_in_one_batch(wh, sink):
    writer = BatchingWriter(sink, capacity_spans=100, max_batch_spans=8, max_wait_seconds=5)
    first, spans = trace("t1")
    second, _ = trace("t1")
    for c in second:
        c.input_tokens = 999

    def send(k: int) -> None:
        if k == 1:
            wait_until(lambda: writer.queued_spans == 4)  # queued after the first request
        writer.submit(*((first, spans) if k == 0 else (second, [])))

    assert run_threads(send, 2) == []
    writer.close()
    assert sink.batches == [2]
    assert set(wh.sql("SELECT input_tokens FROM calls")["input_tokens"].to_list()) == {999}
    assert set(wh.sql("SELECT agent_name FROM calls")["agent_name"].to_list()) == {"a-t1"}


# ---------------------------------------------------------------------------------------- over HTTP


def otlp_body(trace_hex: str, spans: int) -> bytes:
    def kv(key: str, value: str | int) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    start = int(T0.timestamp() * 1e9)
    chat = [
        Span(
            trace_id=bytes.fromhex(trace_hex),
            span_id=(i + 1).to_bytes(8, "big"),
            name="chat gpt-4o",
            start_time_unix_nano=start,
            end_time_unix_nano=start + 1_000_000,
            attributes=[kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", "gpt-4o")],
        )
        for i in range(spans)
    ]
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=chat)])])
    return request.SerializeToString()


def test_the_receiver_answers_503_with_retry_after_when_the_queue_is_full(tmp_path):
    settings = Settings(warehouse=f"duckdb:///{tmp_path / 'http.duckdb'}", ingest_queue_spans=6)
    app = create_app(settings)
    gate, entered = threading.Event(), threading.Event()
    pipeline = app.state.pipeline
    real_write = pipeline.write

    def held_write(batches):
        entered.set()
        gate.wait(10)
        return real_write(batches)

    pipeline.write = held_write
    headers = {"content-type": "application/x-protobuf"}
    with TestClient(app) as client:
        statuses: list[int] = []
        first = threading.Thread(
            target=lambda: statuses.append(
                client.post("/v1/traces", content=otlp_body("11" * 16, 4), headers=headers).status_code
            )
        )
        first.start()
        assert entered.wait(10)
        second = threading.Thread(
            target=lambda: statuses.append(
                client.post("/v1/traces", content=otlp_body("22" * 16, 4), headers=headers).status_code
            )
        )
        second.start()
        wait_until(lambda: app.state.writer.queued_spans == 4)
        refused = client.post("/v1/traces", content=otlp_body("33" * 16, 4), headers=headers)
        gate.set()
        first.join(10)
        second.join(10)
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) >= 1
        assert statuses == [200, 200]
        stored = app.state.warehouse.sql("SELECT DISTINCT trace_id FROM spans ORDER BY 1")[
            "trace_id"
        ].to_list()
    assert stored == ["11" * 16, "22" * 16]


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while not condition():
        if datetime.now(UTC) > deadline:
            raise AssertionError("condition not reached in time")
        threading.Event().wait(0.005)


def test_the_writer_waits_for_an_announced_request_and_writes_both_in_one_transaction(wh, sink):
    writer = BatchingWriter(sink, capacity_spans=10_000, max_wait_seconds=0.001, max_linger_seconds=10)
    try:
        announced, released = threading.Event(), threading.Event()

        def decoding_then_submitting() -> None:
            with writer.coming():  # as the receiver does while a worker decodes the body
                announced.set()
                released.wait(10)
            writer.submit(*trace("late"))

        late = threading.Thread(target=decoding_then_submitting)
        late.start()
        announced.wait(5)
        early = threading.Thread(target=writer.submit, args=trace("early"))
        early.start()
        early.join(0.3)
        assert early.is_alive() and sink.batches == []  # held back: a request is on its way
        released.set()
        early.join(10)
        late.join(10)
        assert sink.batches == [2]
        assert count(wh, "calls") == 6
    finally:
        writer.close()


def test_a_lone_request_is_written_without_the_linger(wh, sink):
    writer = BatchingWriter(sink, capacity_spans=10_000, max_wait_seconds=0.001, max_linger_seconds=30)
    try:
        started = datetime.now(UTC)
        writer.submit(*trace("alone"))
        assert datetime.now(UTC) - started < timedelta(seconds=10)
        assert sink.batches == [1] and count(wh, "calls") == 3
    finally:
        writer.close()


def test_the_linger_for_an_announced_request_is_bounded(wh, sink):
    writer = BatchingWriter(sink, capacity_spans=10_000, max_wait_seconds=0.001, max_linger_seconds=0.2)
    try:
        with writer.coming():  # announced, and never submitted while the other request waits
            writer.submit(*trace("queued"))
            assert sink.batches == [1] and count(wh, "calls") == 3
    finally:
        writer.close()


def test_the_writer_does_not_wait_for_announced_requests_once_enough_spans_are_queued(wh, sink):
    writer = BatchingWriter(
        sink, capacity_spans=10_000, max_wait_seconds=0.001, max_linger_seconds=30, linger_spans=4
    )
    try:
        with writer.coming():  # a request on its way, but a whole batch's worth (4 span rows) is queued
            started = datetime.now(UTC)
            writer.submit(*trace("enough"))
            assert datetime.now(UTC) - started < timedelta(seconds=10)
            assert sink.batches == [1]
    finally:
        writer.close()


def test_the_receiver_announces_a_request_while_it_is_decoded(tmp_path, monkeypatch):
    import agentledger.ingest.otlp.receiver as receiver

    seen: list[int] = []
    real_map = receiver.map_request

    def mapping(*args, **kwargs):
        seen.append(writer._coming)  # announced to the writer while it is decoded and mapped
        return real_map(*args, **kwargs)

    monkeypatch.setattr(receiver, "map_request", mapping)
    settings = Settings(warehouse=f"duckdb:///{tmp_path / 'r.duckdb'}")
    with TestClient(create_app(settings)) as client:
        writer = client.app.state.writer
        response = client.post(
            "/v1/traces", content=otlp_body("33" * 16, 2), headers={"content-type": "application/x-protobuf"}
        )
        assert response.status_code == 200
        assert seen == [1] and writer._coming == 0


def test_a_request_queued_during_a_write_does_not_wait_a_fresh_linger_after_it(wh, sink):
    # The linger counts from when the oldest queued request arrived: a request that already waited through
    # the previous batch's write has given the others their chance and is written next, at once.
    writer = BatchingWriter(sink, capacity_spans=10_000, max_wait_seconds=0.001, max_linger_seconds=1.0)
    try:
        sink.gate.clear()
        first = threading.Thread(target=writer.submit, args=trace("first"))
        first.start()
        assert sink.entered.wait(10)
        with writer.coming():  # another request on its way the whole time
            second = threading.Thread(target=writer.submit, args=trace("second"))
            second.start()
            wait_until(lambda: writer.queued_spans > 0)
            threading.Event().wait(1.2)  # the write outlasts the linger
            released = time.monotonic()
            sink.gate.set()
            second.join(10)
            waited = time.monotonic() - released
        first.join(10)
        assert waited < 0.6, f"written {waited:.2f} s after the previous write, a fresh linger"
        assert sink.batches == [1, 1] and count(wh, "calls") == 6
    finally:
        writer.close()
