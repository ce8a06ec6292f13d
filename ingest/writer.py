"""One batching writer in front of the warehouse: concurrent ingest requests share one transaction.

DuckDB has a single writer, and every transaction pays a fixed cost (the commit's WAL sync, the per-statement
overhead of the lookups and inserts), so requests that each wrote their own small batch contended for the
connection and paid that cost once per request. Here the receivers hand their records to :class:`BatchingWriter`
and wait; one thread takes whatever is queued (up to ``max_batch_spans``, waiting at most ``max_wait_seconds``
for more) and writes it as one transaction (``sink.write``, the pipeline's).

The work that needs no warehouse (de-duplication, pricing, resolution within the request, Arrow conversion:
``sink.prepare``) runs in the submitting thread before the request is queued, so the single writer only reads
stored spans, completes the resolution where they or other requests of the batch matter, and writes.

Contract for the receivers (the reliability requirement):

* :meth:`BatchingWriter.submit` returns only once the batch holding the request is durably written, so an
  HTTP 200 sent after it acknowledges stored spans;
* when the write of a batch fails (one transaction: nothing of it is stored), its requests are written again
  one by one, so a request that cannot be written fails alone and its neighbours are still stored; a request
  whose own write fails gets the error and answers 503 so the exporter retries;
* the queue is bounded (``capacity_spans``, the ``ingest_queue_spans`` setting): a request that does not fit
  is refused at once with :class:`QueueFullError`, a :class:`TransientError` carrying ``retry_after``, which
  the receivers answer with 503 + ``Retry-After``: backpressure instead of an unbounded queue.

Records of later requests win over earlier ones with the same identity, as sequential writes would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentledger.core.errors import TransientError
from agentledger.core.records import Call, SpanContext

log = logging.getLogger(__name__)

IngestFn = Callable[[list[Call], list[SpanContext]], object]


class Prepared(Protocol):
    """What ``sink.prepare`` returns: anything that knows how many span rows it will write."""

    @property
    def size(self) -> int: ...


class BatchSink(Protocol):
    """Where the writer sends records: :class:`agentledger.ingest.pipeline.Pipeline` is one."""

    def prepare(self, calls: list[Call], spans: list[SpanContext]) -> Any:
        """Warehouse-free work for one request (runs in the submitting thread); returns a :class:`Prepared`."""

    def write(self, batches: Sequence[Any]) -> object:
        """Write prepared requests as one transaction (runs in the writer thread)."""


class QueueFullError(TransientError):
    """The write queue is full (or the writer is closed): retry after ``retry_after`` seconds."""


@dataclass(slots=True)
class WriteReceipt:
    """What one submission handed to the writer (counts as submitted, before de-duplication)."""

    calls: int
    spans: int


@dataclass(slots=True)
class _Request:
    prepared: Any
    size: int
    done: Future = field(default_factory=Future)
    queued_at: float = 0.0  # time.monotonic() when it was queued


def request_size(calls: list[Call], spans: list[SpanContext]) -> int:
    """Queue weight of a request in spans: OTLP calls come with their span, gateway calls without one."""
    return max(len(calls), len(spans))


class BatchingWriter:
    """Coalesces concurrent ``submit(calls, spans)`` calls into batches written by one thread.

    ``sink`` prepares each request in its caller's thread and writes batches of them (the pipeline).
    The thread starts with the first submission and stops in :meth:`close`, after writing what is queued.
    """

    def __init__(
        self,
        sink: BatchSink,
        *,
        capacity_spans: int,
        max_batch_spans: int = 20_000,
        max_wait_seconds: float = 0.005,
        max_linger_seconds: float = 0.05,
        linger_spans: int = 2048,
        retry_after_seconds: float = 1.0,
    ) -> None:
        if capacity_spans < 1 or max_batch_spans < 1:
            raise ValueError("capacity_spans and max_batch_spans must be at least 1")
        self._sink = sink
        self.capacity_spans = capacity_spans
        self.max_batch_spans = max_batch_spans
        self.max_wait_seconds = max_wait_seconds
        self.max_linger_seconds = max(max_linger_seconds, max_wait_seconds)
        self.linger_spans = linger_spans
        self.retry_after_seconds = retry_after_seconds
        self._queue: deque[_Request] = deque()
        self._queued = 0  # spans waiting in _queue
        self._coming = 0  # requests on their way to the queue (see coming())
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def queued_spans(self) -> int:
        """Spans waiting for the writer (not counting the batch being written)."""
        return self._queued

    def submit(self, calls: list[Call], spans: list[SpanContext]) -> WriteReceipt:
        """Queue the records and wait until the batch holding them is written; raise its error otherwise.

        Raises :class:`QueueFullError` at once when the queue cannot take them. A request larger than the
        whole queue is still taken when the queue is empty, so no request size is refused forever.
        """
        receipt = WriteReceipt(calls=len(calls), spans=len(spans))
        with self.coming():
            with self._cond:
                self._check_room(request_size(calls, spans))  # refuse before spending the preparation
            prepared = self._sink.prepare(calls, spans)
            request = self._queue_prepared(prepared)
        if request is not None:
            request.done.result()  # re-raises the batch's error in every waiting thread
        return receipt

    __call__ = submit

    def submit_prepared(self, prepared: Prepared) -> None:
        """:meth:`submit` for records prepared elsewhere (what ``sink.prepare`` returns, made in a worker
        process): queue them and wait until they are durably written; the same errors."""
        with self.coming():
            request = self._queue_prepared(prepared)
        if request is not None:
            request.done.result()

    def _queue_prepared(self, prepared: Prepared) -> _Request | None:
        if not prepared.size:
            return None
        request = _Request(prepared, prepared.size)
        with self._cond:
            self._admit(request)
        return request

    @contextmanager
    def coming(self) -> Iterator[None]:
        """Announce a request that will be submitted when the block ends (it is being decoded meanwhile).

        While any is announced, the writer waits for it up to ``max_linger_seconds`` before it writes what is
        queued, so that concurrent requests share one transaction instead of each paying for its own.
        """
        with self._cond:
            self._coming += 1
        try:
            yield
        finally:
            with self._cond:
                self._coming -= 1
                self._cond.notify()

    def _check_room(self, size: int) -> None:
        if self._closed:
            raise QueueFullError("the ingest writer is shutting down", self.retry_after_seconds)
        if self._queued and self._queued + size > self.capacity_spans:
            raise QueueFullError(
                f"the write queue is full ({self._queued} spans waiting, AGENTLEDGER_INGEST_QUEUE_SPANS="
                f"{self.capacity_spans}): retry in {self.retry_after_seconds:g} s",
                self.retry_after_seconds,
            )

    def _admit(self, request: _Request) -> None:
        self._check_room(request.size)
        request.queued_at = time.monotonic()
        self._queue.append(request)
        self._queued += request.size
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="agentledger-writer", daemon=True)
            self._thread.start()
        self._cond.notify()

    def close(self, timeout: float | None = 30.0) -> None:
        """Refuse new submissions, write what is queued, and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- the writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            self._write(batch)

    def _take(self) -> list[_Request] | None:
        """The next batch: what is queued once it reaches ``max_batch_spans``, or once ``max_wait_seconds``
        passed and no announced request is on its way or ``linger_spans`` are queued (``max_linger_seconds``
        at most). Both count from when the oldest queued request arrived: one that waited through the write
        of the previous batch is not held back again."""
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            start = self._queue[0].queued_at
            deadline, linger = start + self.max_wait_seconds, start + self.max_linger_seconds
            while self._queued < self.max_batch_spans and not self._closed:
                lingering = self._coming and self._queued < self.linger_spans
                remaining = (linger if lingering else deadline) - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = [self._queue.popleft()]
            size = batch[0].size
            while self._queue and size + self._queue[0].size <= self.max_batch_spans:
                batch.append(self._queue.popleft())
                size += batch[-1].size
            self._queued -= size
            return batch

    def _write(self, batch: list[_Request]) -> None:
        try:
            self._sink.write([request.prepared for request in batch])
        except Exception as exc:
            if len(batch) == 1:  # handed to the waiter, which re-raises it
                log.warning("ingest writer: a request was not stored: %s", exc)
                batch[0].done.set_exception(exc)
                return
            log.warning(
                "ingest writer: a batch of %d requests failed (%s); writing them one by one", len(batch), exc
            )
            for request in batch:  # in order, so later records still win over earlier ones
                self._write([request])
            return
        except BaseException as exc:  # the thread dies: no waiter may hang on it
            self._fail_all(batch, exc)
            raise
        for request in batch:
            request.done.set_result(None)

    def _fail_all(self, batch: list[_Request], exc: BaseException) -> None:
        error = QueueFullError(f"the ingest writer stopped: {exc!r}", self.retry_after_seconds)
        with self._cond:
            self._closed = True
            pending = [*batch, *self._queue]
            self._queue.clear()
            self._queued = 0
        for request in pending:
            request.done.set_exception(error)
