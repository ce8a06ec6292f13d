"""Decoding, mapping and preparing OTLP in worker processes.

Decoding, mapping and the warehouse-free half of the write (pricing, resolution within the request, Arrow
conversion: :func:`agentledger.ingest.pipeline.prepare`) are pure Python work, about 45 µs a span, so one
process does them for one span at a time however many threads it runs. :class:`MappingPool` hands them to
worker processes, while the calling process keeps what needs the warehouse (the single writer of the warehouse
stays in one process).

What comes back is cheap to send: :meth:`MappingPool.prepare_body` returns a
:class:`~agentledger.ingest.pipeline.PreparedBatch`, whose Arrow tables are all that cross the pipe (the
writer rebuilds records from them only for the traces whose stored spans matter);
:meth:`MappingPool.map_body` returns the records themselves, as tuples of their field values rebuilt here (a
tenth of the cost of pickling the records). The workers start from a fork server, so they inherit neither
this process's threads nor its open warehouse, and they do not import this process's ``__main__`` (a console
script, or the page script a Streamlit test runner leaves there): they need only this module. A worker that
dies (killed, out of memory) breaks the pool; the call that finds it broken raises
:class:`~agentledger.core.errors.TransientError` (the receiver answers 503 and the exporter retries) and the
next call starts a new pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import threading
import types
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from agentledger.core.errors import TransientError
from agentledger.core.pricing.overrides import PriceOverride
from agentledger.core.pricing.pricer import Pricer
from agentledger.core.records import CALL_FIELDS, SPAN_FIELDS, Call, SpanContext
from agentledger.ingest.otlp.decode import ContentKind, decode_body
from agentledger.ingest.otlp.mapping import MappedBatch, map_request
from agentledger.ingest.otlp.raw import Rejection
from agentledger.ingest.pipeline import PreparedBatch, prepare
from agentledger.ingest.runtime import tune_for_ingest

__all__ = ["MappingPool", "PreparedRequest", "Pricing", "pack", "prepare_body", "prepare_mapped", "unpack"]

log = logging.getLogger(__name__)

_CALL_VALUES = attrgetter(*CALL_FIELDS)
_SPAN_VALUES = attrgetter(*SPAN_FIELDS)

Packed = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any]]


def pack(batch: MappedBatch) -> Packed:
    """``batch`` as plain tuples, cheap to pickle (see :func:`unpack`)."""
    return [_CALL_VALUES(c) for c in batch.calls], [_SPAN_VALUES(s) for s in batch.spans], batch.rejected


def unpack(packed: Packed) -> MappedBatch:
    """The :class:`MappedBatch` that :func:`pack` was given."""
    calls, spans, rejected = packed
    return MappedBatch([Call(*c) for c in calls], [SpanContext(*s) for s in spans], rejected)


def map_body(body: bytes, kind: ContentKind, project_id: str) -> Packed:
    """Decode and map one OTLP/HTTP body (in a worker); an unreadable body raises ``InputError``."""
    return pack(map_request(decode_body(body, kind), project_id=project_id))


@dataclass(frozen=True, slots=True)
class Pricing:
    """What a worker builds its :class:`Pricer` from: the same as the writing process's."""

    overrides: tuple[PriceOverride, ...] = ()
    cost_policy: str = "computed"

    @classmethod
    def of(cls, pricer: object) -> Pricing | None:
        """The pricing of the writing process's pricer; None when it has none (it stores costs as given)."""
        if pricer is None:
            return None
        if not isinstance(pricer, Pricer):
            raise TypeError(f"mapping workers price with agentledger's Pricer, not {type(pricer).__name__}")
        return cls(pricer.overrides, pricer.cost_policy)


@dataclass(slots=True)
class PreparedRequest:
    """One OTLP/HTTP body decoded, mapped and prepared: what the receiver writes and answers."""

    # None: its records travel with a later request's (a file's requests are prepared in groups: ingest/otlp/files.py)
    prepared: PreparedBatch | None
    calls: int  # LLM calls mapped
    spans: int  # spans mapped
    rejected: list[Rejection]


_pricer: Pricer | None = None  # the worker's, set by _start_worker


def _start_worker(pricing: Pricing | None) -> None:
    global _pricer
    if pricing is not None:
        _pricer = Pricer(overrides=pricing.overrides, cost_policy=pricing.cost_policy)
        prepare([replace(_WARM_UP)], [], _pricer)  # the price catalog loads now, not on the first request
    tune_for_ingest()


def prepare_mapped(batch: MappedBatch) -> PreparedRequest:
    """Prepare mapped records for the write (in a worker, with the pricing the pool was given)."""
    prepared = prepare(batch.calls, batch.spans, _pricer)
    return PreparedRequest(prepared, len(batch.calls), len(batch.spans), batch.rejected)


def prepare_body(body: bytes, kind: ContentKind, project_id: str) -> PreparedRequest:
    """Decode, map and prepare one OTLP/HTTP body (in a worker); an unreadable body raises ``InputError``."""
    return prepare_mapped(map_request(decode_body(body, kind), project_id=project_id))


def _ready() -> None:
    """Nothing: a call that returns once a worker has started."""


_WARM_UP = Call(source="warm-up", trace_id="0", span_id="0", started_at=datetime.now(UTC), model="gpt-4o")
_BARE_MAIN = types.ModuleType("__main__")
_MAIN_LOCK = threading.Lock()


def _submit(pool: ProcessPoolExecutor, fn: Any, args: tuple[Any, ...]) -> Future[Any]:
    """``pool.submit(fn, *args)``, with ``__main__`` hidden while it may start a worker process.

    A new worker process imports the parent's ``__main__`` from its file before anything else (multiprocessing
    does, to find functions defined there). The submission is where the pool starts its processes, so a bare
    module stands in for ``__main__`` meanwhile.
    """
    with _MAIN_LOCK:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = _BARE_MAIN
        try:
            return pool.submit(fn, *args)
        finally:
            sys.modules["__main__"] = main


class MappingPool:
    """``workers`` processes that decode, map and prepare OTLP bodies; safe to call from many threads.

    ``pricing`` is how the workers price the calls they prepare: the writing process's overrides and policy
    (:meth:`Pricing.of` its pricer); without it they store costs as given, like a pipeline without a pricer.
    """

    def __init__(self, workers: int, pricing: Pricing | None = None) -> None:
        if workers < 1:
            raise ValueError("a mapping pool needs at least one worker")
        self.workers = workers
        self.pricing = pricing
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_start_worker, initargs=(self.pricing,)
                )
            return self._pool

    def future(self, fn: Any, *args: Any) -> Future[Any]:
        """Start ``fn(*args)`` in a worker."""
        return _submit(self._executor(), fn, args)

    def submit(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` in a worker and return its result (its exceptions are raised here)."""
        pool = self._executor()
        try:
            return _submit(pool, fn, args).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:  # the first caller to see it breaks starts the next pool
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
            log.warning("a mapping worker process died (%s); starting new ones", exc)
            raise TransientError("a mapping worker process died: retry the request", 1.0) from None

    def map_body(self, body: bytes, kind: ContentKind, project_id: str) -> MappedBatch:
        """:func:`map_body` in a worker, rebuilt into records here."""
        return unpack(self.submit(map_body, body, kind, project_id))

    def prepare_body(self, body: bytes, kind: ContentKind, project_id: str) -> PreparedRequest:
        """:func:`prepare_body` in a worker."""
        result: PreparedRequest = self.submit(prepare_body, body, kind, project_id)
        return result

    def start(self) -> None:
        """Start the worker processes now (they start with the first call otherwise), and wait until they
        are ready, so that the first requests do not wait for them."""
        for future in [self.future(_ready) for _ in range(self.workers)]:
            future.result()

    @property
    def started(self) -> bool:
        """Whether worker processes are running (they start with the first call)."""
        return self._pool is not None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
