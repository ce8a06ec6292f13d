"""Langfuse collector: observations from the public API -> canonical calls and context spans.

Reading (``fetch``): ``GET /api/public/v2/observations`` with HTTP Basic auth (public key : secret key), the
field groups that carry model, usage, cost, time, metadata (its ``attributes`` value uncut) and trace
context, ``limit`` up to 1000, paged by the API's cursor. That cursor walks a start-time range newest first
(it encodes ``lastStartTimeTo``), so a range is only complete once its last page is read: the run reads
consecutive start-time windows and stores the end of a window as our cursor only after every page of it is
written. Trace-level data that observations do not carry (scores, the trace's timestamp) comes from
``GET /api/public/traces/{id}``, once per trace per run.

Mapping (``normalize``, pure; see :mod:`.langfuse_map`): every observation becomes a ``SpanContext``;
GENERATION and EMBEDDING observations also become a ``Call``. The trace itself becomes a workflow span
(``span_id`` = the trace id) above the observations that have no parent, so the trace name can serve as the
task type and trace scores as the task outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from agentledger.core.errors import TerminalError
from agentledger.ingest.collectors.base import Normalized, Page, account_fingerprint
from agentledger.ingest.collectors.langfuse_map import normalize_observation, observation_id
from agentledger.ingest.collectors.timeutil import DEFAULT_OVERLAP, format_timestamp, read_start, windows
from agentledger.ingest.http import HttpClient

OBSERVATIONS_PATH = "/api/public/v2/observations"
TRACE_PATH = "/api/public/traces/{trace_id}"
# core is always returned; the rest are what the mapping reads (io is left out: prompts can be large).
FIELD_GROUPS = "core,basic,time,model,usage,metrics,metadata,trace_context"
# Metadata values over 200 characters come back cut unless named here; the OTel span attributes of an
# observation (response id, agent, provider) are one such value.
EXPAND_METADATA = "attributes"
MAX_PAGE_SIZE = 1000
_TRACE_CACHE_LIMIT = 50_000


class LangfuseCollector:
    """Pull collector for one Langfuse project (the keys decide which project)."""

    name = "langfuse"

    def __init__(
        self,
        host: str,
        public_key: str | SecretStr,
        secret_key: str | SecretStr,
        *,
        page_size: int = MAX_PAGE_SIZE,
        window: timedelta = timedelta(hours=6),
        overlap: timedelta = DEFAULT_OVERLAP,
        initial_lookback: timedelta | None = timedelta(days=30),
        outcome_scores: Iterable[str] = ("task_success",),
        environments: Iterable[str] = (),
        trace_details: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        max_attempts: int = 5,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be in 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.host = host.rstrip("/")
        self.previous_source_key = f"langfuse:{httpx.URL(self.host).copy_with(userinfo=b'')}"
        self.page_size = page_size
        self.window = window
        self.overlap = overlap
        self.initial_lookback = initial_lookback
        self.outcome_scores = tuple(outcome_scores)
        self.environments = list(environments)
        self.trace_details = trace_details
        self._clock = clock
        pk, sk = _reveal(public_key), _reveal(secret_key)
        self.source_key = f"{self.previous_source_key} key {account_fingerprint(pk)}"
        extra = {"sleep": sleep} if sleep is not None else {}
        self._http = HttpClient(
            self.host,
            service="Langfuse",
            credential_hint="LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY (and that LANGFUSE_HOST is the project's region)",
            auth=(pk, sk),
            secrets=(pk, sk),
            max_attempts=max_attempts,
            transport=transport,
            **extra,
        )
        self._traces: dict[str, dict[str, Any] | None] = {}

    # --- Collector protocol ---------------------------------------------------------------------------

    def fetch(
        self, cursor: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Pages of observations (each with its trace's data under ``_trace``), window by window, oldest
        window first; the last page of a window carries the window's end as the cursor to store."""
        now = self._clock()
        end = until or now
        start = read_start(
            cursor, since=since, overlap=self.overlap, initial_lookback=self.initial_lookback, now=now
        )
        spans = [(None, end)] if start is None else list(windows(start, end, self.window))
        for lo, hi in spans:
            yield from self._fetch_window(lo, hi)

    def normalize(self, record: dict[str, Any], *, project_id: str) -> Normalized:
        """One observation -> its span (and its call when it is an LLM call), plus the trace's span."""
        return normalize_observation(record, project_id=project_id, outcome_scores=self.outcome_scores)

    def record_id(self, record: dict[str, Any]) -> str:
        return observation_id(record)

    def close(self) -> None:
        self._http.close()

    # --- reading --------------------------------------------------------------------------------------

    def _fetch_window(self, lo: datetime | None, hi: datetime) -> Iterator[Page]:
        page_cursor: str | None = None
        while True:
            body = self._http.get_json(OBSERVATIONS_PATH, self._params(lo, hi, page_cursor))
            records, page_cursor = _read_page(body)
            records = self._with_traces(records)
            if not page_cursor:
                yield Page(records, format_timestamp(hi))
                return
            yield Page(records, None)  # the window is not complete until its last page is written

    def _params(self, lo: datetime | None, hi: datetime, page_cursor: str | None) -> list[tuple[str, str]]:
        params = [
            ("fields", FIELD_GROUPS),
            ("expandMetadata", EXPAND_METADATA),
            ("limit", str(self.page_size)),
            ("toStartTime", _iso(hi)),
        ]
        if lo is not None:
            params.append(("fromStartTime", _iso(lo)))
        if page_cursor:
            params.append(("cursor", page_cursor))
        params.extend(("environment", env) for env in self.environments)
        return params

    def _with_traces(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.trace_details:
            return records
        self._load_traces(
            {r["traceId"] for r in records if isinstance(r, dict) and isinstance(r.get("traceId"), str)}
        )
        return [
            _attach_trace(r, self._traces.get(r.get("traceId"))) if isinstance(r, dict) else r
            for r in records
        ]

    def _load_traces(self, trace_ids: set[str]) -> None:
        if len(self._traces) > _TRACE_CACHE_LIMIT:
            self._traces.clear()  # bound memory on long backfills; a trace seen again is simply fetched again
        for trace_id in sorted(trace_ids - self._traces.keys()):
            path = TRACE_PATH.format(trace_id=quote(trace_id, safe=""))
            body = self._http.get_json(path, {"fields": "core,scores"}, missing_ok=True)
            self._traces[trace_id] = _trace_summary(body) if isinstance(body, dict) else None


def _read_page(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """``{data: [...], meta: {cursor}}`` -> (records, next page cursor or None on the last page)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise TerminalError(
            "Langfuse returned an observations page without a 'data' list: check the host URL"
        )
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    return body["data"], meta.get("cursor") or None


def _trace_summary(trace: dict[str, Any]) -> dict[str, Any]:
    """The trace-level fields the mapping uses (the scores and the timestamp are what observations lack)."""
    keep = ("id", "name", "timestamp", "sessionId", "userId", "tags", "environment", "release")
    summary = {k: trace.get(k) for k in keep}
    summary["scores"] = [
        {k: s.get(k) for k in ("name", "value", "stringValue", "dataType", "timestamp", "observationId")}
        for s in trace.get("scores") or []
        if isinstance(s, dict)
    ]
    return summary


def _attach_trace(record: dict[str, Any], trace: dict[str, Any] | None) -> dict[str, Any]:
    return record if trace is None else {**record, "_trace": trace}


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value
