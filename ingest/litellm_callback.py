"""A LiteLLM callback that sends every call's StandardLoggingPayload to agentledger.

In a Python program::

    import litellm
    from agentledger.ingest.litellm_callback import AgentLedgerLogger

    litellm.callbacks = [AgentLedgerLogger()]  # AGENTLEDGER_URL, AGENTLEDGER_API_KEY from the environment

On a LiteLLM proxy (``config.yaml``)::

    litellm_settings:
      callbacks: agentledger.ingest.litellm_callback.proxy_handler_instance

The user's LLM call must never wait for, or fail because of, agentledger: the hooks only serialize the payload
and append it to a bounded in-memory queue (when full, the oldest payload is dropped and counted). A daemon
thread posts batches to ``<url>/api/ingest/litellm``; while agentledger is unreachable it keeps the queue
and retries with backoff. Failures are logged without the key and never raised into LiteLLM. ``flush()``
waits (bounded) for the queue to drain; it runs at interpreter exit too.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx

try:
    from litellm.integrations.custom_logger import CustomLogger
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("the LiteLLM callback needs litellm: pip install 'agentledger[litellm]'") from exc

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:4318"
INGEST_PATH = "/api/ingest/litellm"
_FLUSH_RETRY_S = 0.1  # while flush() waits, retry a failing POST this often instead of backing off


@dataclass(frozen=True, slots=True)
class LoggerStats:
    """Counters since the logger was created."""

    queued: int  # payloads not delivered yet: waiting, or in the POST being sent
    sent: int  # payloads agentledger acknowledged
    dropped: int  # payloads lost: queue full, refused by agentledger, or not serializable
    failed_posts: int  # POSTs that failed and will be retried


class AgentLedgerLogger(CustomLogger):
    """LiteLLM ``CustomLogger`` that queues each success/failure payload and posts it in the background.

    ``url`` and ``api_key`` default to ``AGENTLEDGER_URL`` (else ``http://127.0.0.1:4318``) and
    ``AGENTLEDGER_API_KEY``. ``max_queue`` bounds memory; ``batch_size`` payloads go in one POST; a partial
    batch waits at most ``flush_interval`` seconds.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        batch_size: int = 100,
        max_queue: int = 10_000,
        flush_interval: float = 1.0,
        timeout: float = 5.0,
        max_backoff: float = 30.0,
        exit_timeout: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if batch_size < 1 or max_queue < 1:
            raise ValueError("batch_size and max_queue must be at least 1")
        self.url = (url or os.environ.get("AGENTLEDGER_URL") or DEFAULT_URL).rstrip("/")
        self.endpoint = self.url + INGEST_PATH
        self._headers = {"Content-Type": "application/json"}
        key = api_key or os.environ.get("AGENTLEDGER_API_KEY")
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self.batch_size = batch_size
        self.max_queue = max_queue
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.max_backoff = max_backoff
        self._queue: deque[bytes] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # signalled when a batch was sent or given back
        self._wake = threading.Event()
        self._in_flight = 0
        self._sent = self._dropped = self._failed_posts = 0
        self._unreachable = False  # log the first failure of a streak as a warning, the rest at debug
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        atexit.register(_flush_at_exit, weakref.ref(self), exit_timeout)

    # --- LiteLLM hooks: never block, never raise ------------------------------------------------------

    def log_success_event(self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._capture(kwargs)

    def log_failure_event(self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._capture(kwargs)

    async def async_log_success_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._capture(kwargs)

    async def async_log_failure_event(
        self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._capture(kwargs)

    # --- public -------------------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Send what is queued; True when the queue drained within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._ensure_worker()
        self._wake.set()
        woken = time.monotonic()
        with self._changed:
            while self._queue or self._in_flight:
                now = time.monotonic()
                if now >= deadline:
                    return False
                if now - woken >= _FLUSH_RETRY_S:
                    self._wake.set()  # the worker may be backing off: the caller is waiting, try again now
                    woken = now
                self._changed.wait(min(deadline - now, _FLUSH_RETRY_S))
            return True

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, then stop sending: what is still queued after ``timeout`` is dropped (and counted)."""
        delivered = self.flush(timeout)
        with self._lock:
            self._closed = True
            self._dropped += len(self._queue)
            self._queue.clear()
        self._wake.set()
        return delivered

    def stats(self) -> LoggerStats:
        """Payloads not yet delivered (queued or being posted) and the counters."""
        with self._lock:
            return LoggerStats(
                len(self._queue) + self._in_flight, self._sent, self._dropped, self._failed_posts
            )

    # --- queue ------------------------------------------------------------------------------------------

    def _capture(self, kwargs: dict) -> None:
        # LiteLLM already shields the call from callback errors, but a logger must not depend on that.
        try:
            payload = kwargs.get("standard_logging_object")
            if payload is None:
                log.debug("LiteLLM event without standard_logging_object: nothing to send")
                return
            data = json.dumps(payload, default=str, separators=(",", ":")).encode()
            self._enqueue(data)
        except Exception as exc:  # noqa: BLE001 - the user's LLM call must not fail because of us
            with self._lock:
                self._dropped += 1
            log.debug("agentledger: could not queue a LiteLLM payload: %s", exc)

    def _enqueue(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                self._dropped += 1
                return
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(data)
            full_batch = len(self._queue) >= self.batch_size
        self._ensure_worker()
        if full_batch:
            self._wake.set()

    def _ensure_worker(self) -> None:
        if self._closed:
            return
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()  # after a fork the parent's thread does not exist in the child
            self._thread = threading.Thread(target=self._run, name="agentledger-litellm", daemon=True)
            self._thread.start()

    def _take(self) -> list[bytes]:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            self._in_flight = len(batch)
            return batch

    def _settle(self, batch: list[bytes], outcome: str) -> None:
        """Record the fate of a batch: ``sent``, ``refused`` (dropped) or ``retry`` (back to the front)."""
        with self._changed:
            self._in_flight = 0
            if outcome == "sent":
                self._sent += len(batch)
            elif outcome == "refused" or self._closed:
                self._dropped += len(batch)
            else:
                self._failed_posts += 1
                self._queue.extendleft(reversed(batch))
                while len(self._queue) > self.max_queue:
                    self._queue.popleft()
                    self._dropped += 1
            self._changed.notify_all()

    # --- worker -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0
        with httpx.Client(timeout=self.timeout, headers=self._headers) as client:
            while not self._closed:
                self._wake.wait(backoff or self.flush_interval)
                self._wake.clear()
                backoff = self._drain(client, backoff)

    def _drain(self, client: httpx.Client, backoff: float) -> float:
        """Post batches until the queue is empty or a post fails; returns the next backoff (0 after success)."""
        while batch := self._take():
            outcome = self._post(client, batch)
            self._settle(batch, outcome)
            if outcome == "retry":
                return min(self.max_backoff, max(0.5, backoff * 2))
        return 0.0

    def _post(self, client: httpx.Client, batch: list[bytes]) -> str:
        body = b"[" + b",".join(batch) + b"]"
        try:
            response = client.post(self.endpoint, content=body)
        except httpx.HTTPError as exc:
            self._report_unreachable(f"{type(exc).__name__}: {exc}")
            return "retry"
        if response.status_code == 429 or response.status_code >= 500:
            self._report_unreachable(f"HTTP {response.status_code}")
            return "retry"
        self._unreachable = False
        if response.status_code >= 400:
            # 401/413/422: sending the same batch again would be refused again.
            log.warning(
                "agentledger at %s refused %d LiteLLM payloads (HTTP %d): %s",
                self.url,
                len(batch),
                response.status_code,
                response.text[:300],
            )
            return "refused"
        return "sent"

    def _report_unreachable(self, reason: str) -> None:
        level = logging.DEBUG if self._unreachable else logging.WARNING
        log.log(
            level, "agentledger at %s is unreachable (%s): LiteLLM payloads stay queued", self.url, reason
        )
        self._unreachable = True


def _flush_at_exit(ref: weakref.ref[AgentLedgerLogger], timeout: float) -> None:
    logger = ref()
    if logger is not None and (logger._queue or logger._in_flight):
        logger.flush(timeout)


def _proxy_handler() -> AgentLedgerLogger:
    """The instance a LiteLLM proxy config names (``callbacks: agentledger.ingest.litellm_callback.proxy_handler_instance``)."""
    return AgentLedgerLogger()


# Cheap to create: the sending thread only starts with the first event.
proxy_handler_instance = _proxy_handler()
