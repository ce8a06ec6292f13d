"""Langfuse collector: observations from the public API -> canonical calls and context spans.

Reading (``fetch``): ``GET /api/public/v2/observations`` with HTTP Basic auth (public key : secret key), the
field groups that carry model, usage, cost, time, metadata (its ``attributes`` value uncut) and the trace
context (``basic``: environment, userId, sessionId; ``trace_context``: tags, release, traceName), with
``include_inputs`` also ``io`` (the input is what the prompt fingerprints are taken from; then at most 100 a
page, as inputs and outputs can be large), ``limit`` up to 1000, paged by the API's cursor. That cursor walks a start-time range newest first (it encodes
``lastStartTimeTo``), so a range is only complete once its last page is read: the run reads consecutive
start-time windows and stores the end of a window as our cursor only after every page of it is written.

The observations carry every trace-level field the mapping reads except the trace's scores (the task
outcome) and, on Langfuse v3, the trace's own timestamp. Those are read once per trace per run, in bulk
where the server allows it. On Langfuse v3 (self-hosted servers not upgraded):

- ``GET /api/public/traces`` (the list, ``fields=core,scores``: every trace field the mapping reads is in
  core; scores come as ids), ``orderBy=timestamp.asc``, 100 a page, paged by number up to ``totalPages``,
  for the traces whose timestamp lies from 10 minutes (``trace_list_margin``) before the earliest to 10
  minutes after the latest start time of the observations that need one. A range listed once in a run is
  not listed again; a page of observations needing fewer than three new traces, or a range whose remaining
  pages outnumber the traces still missing, reads those traces by id instead.
- ``GET /api/public/v2/scores?scoreIds=...`` (100 ids a request) for the scores of the listed traces.
- ``GET /api/public/traces/{id}`` (``fields=core,scores``) for every trace the list did not return (a
  long-running trace started before the range, an unknown trace: a 404 leaves its records without trace
  data) or whose scores the scores list did not return. When a list endpoint is missing (404/405 on an older
  self-hosted Langfuse), refuses the request or answers with another shape, the run logs one line and reads
  by id from then on. The records are the same either way.

Langfuse v4 (Langfuse Cloud since 2026-11-16) removed those three endpoints. A trace endpoint answering 410,
or 404 with the ``_deprecation`` notice of Langfuse's legacy endpoints (or plain 404s, three of them, before
any trace was read in the run) is not asked again in that run (one INFO line); the scores named in
``outcome_scores`` are then read with ``GET /api/public/v3/scores?traceId=<50 ids>&name=...&fields=subject``
(``subject`` tells trace from observation scores and gives their trace), 100 a page, paged by its cursor.
Without that endpoint either (404/400, another shape, a server ignoring ``traceId``), the run logs one more
line and the records go without an outcome from scores. Either way no record is dropped: the trace span
has no start time on v4 (there is no trace record), everything else is as on v3.

Mapping (``normalize``, pure; see :mod:`.langfuse_map`): every observation becomes a ``SpanContext``;
GENERATION and EMBEDDING observations also become a ``Call``. The trace itself becomes a workflow span
(``span_id`` = the trace id) above the observations that have no parent, so the trace name can serve as the
task type and trace scores as the task outcome.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from agentledger.core.errors import TerminalError
from agentledger.ingest.collectors.base import Normalized, Page, account_fingerprint
from agentledger.ingest.collectors.langfuse_map import (
    normalize_observation,
    observation_id,
    score_from_v3,
    score_trace_id,
)
from agentledger.ingest.collectors.timeutil import (
    DEFAULT_OVERLAP,
    format_timestamp,
    parse_optional_timestamp,
    read_start,
    windows,
)
from agentledger.ingest.http import HttpClient

log = logging.getLogger(__name__)

OBSERVATIONS_PATH = "/api/public/v2/observations"
TRACE_PATH = "/api/public/traces/{trace_id}"
TRACES_PATH = "/api/public/traces"
SCORES_PATH = "/api/public/v2/scores"
SCORES_V3_PATH = "/api/public/v3/scores"
# ``subject`` names the scored entity: {kind: trace, id} or {kind: observation, id, traceId}.
SCORE_V3_FIELDS = "subject"
SCORE_V3_PAGE_SIZE = 100  # the most GET /api/public/v3/scores accepts (more is a 400)
SCORE_V3_TRACES_PER_REQUEST = 50  # trace ids per request: keeps the URL short with long trace ids
# Plain 404s (no ``_deprecation`` body) from the trace endpoints before any of them answered in a run: a
# server without them (Langfuse v4), not unknown traces.
_GONE_AFTER_MISSES = 3
_HTTP_410 = re.compile(r"\bHTTP 410\b")
# The trace fields the mapping reads are all in core; scores come as score ids in a list.
TRACE_LIST_FIELDS = "core,scores"
TRACE_LIST_PAGE_SIZE = 100  # the most Langfuse's paged public endpoints accept
SCORE_PAGE_SIZE = 100
# How far a trace's timestamp may lie from its observations' start times to still be listed with them; a
# trace further away (a long-running one) is read on its own.
TRACE_LIST_MARGIN = timedelta(minutes=10)
_BULK_MIN_TRACES = 3  # fewer traces to find than this: reading them one by one costs no more requests
# core is always returned; the rest are what the mapping reads. io (input and output, as raw text) only with
# include_inputs: prompts can be large, and only the prompt fingerprints need them.
FIELD_GROUPS = "core,basic,time,model,usage,metrics,metadata,trace_context"
IO_FIELD_GROUP = "io"
# Observations per request with io: every observation brings its input and output (tool results, retrieved
# documents), and Langfuse Cloud caps a response at 5 MB.
IO_PAGE_SIZE = 100
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
        include_inputs: bool = False,
        trace_list_margin: timedelta = TRACE_LIST_MARGIN,
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
        self.include_inputs = include_inputs
        self.trace_list_margin = trace_list_margin
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
        self._traces: dict[str, dict[str, Any] | None] = {}  # trace id -> summary (None: unknown trace)
        self._listed: dict[str, dict[str, Any]] = {}  # listed traces not needed yet (scores still as ids)
        self._listed_ranges: list[tuple[datetime, datetime]] = []  # timestamp ranges listed in this run
        self._bulk_traces = self._bulk_scores = True
        self._traces_gone = False  # the trace endpoints answered that they are removed (Langfuse v4)
        self._v3_scores = True
        self._trace_found = False  # a trace endpoint answered with data in this run
        self._trace_misses = 0  # plain 404s from the trace endpoints in this run

    # --- Collector protocol ---------------------------------------------------------------------------

    def fetch(
        self, cursor: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Pages of observations (each with its trace's data under ``_trace``), window by window, oldest
        window first; the last page of a window carries the window's end as the cursor to store."""
        self._bulk_traces = self._bulk_scores = True  # asked again each run (a server may have been upgraded)
        self._traces_gone, self._v3_scores = False, True
        self._trace_found, self._trace_misses = False, 0
        self._listed.clear()
        self._listed_ranges.clear()
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
            ("fields", f"{FIELD_GROUPS},{IO_FIELD_GROUP}" if self.include_inputs else FIELD_GROUPS),
            ("expandMetadata", EXPAND_METADATA),
            ("limit", str(min(self.page_size, IO_PAGE_SIZE) if self.include_inputs else self.page_size)),
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
        self._load_traces([r for r in records if isinstance(r, dict) and isinstance(r.get("traceId"), str)])
        return [
            _attach_trace(r, self._traces.get(r.get("traceId"))) if isinstance(r, dict) else r
            for r in records
        ]

    def _load_traces(self, records: list[dict[str, Any]]) -> None:
        if len(self._traces) + len(self._listed) > _TRACE_CACHE_LIMIT:
            # bound memory on long backfills; a trace seen again is simply read again
            self._traces.clear()
            self._listed.clear()
            self._listed_ranges.clear()
        missing = {r["traceId"] for r in records} - self._traces.keys()
        if self._bulk_traces and not self._traces_gone:
            self._list_traces(
                [r for r in records if r["traceId"] in missing and r["traceId"] not in self._listed]
            )
        if self._listed and not self._traces_gone:
            self._resolve_listed(missing & self._listed.keys())
        for trace_id in sorted(missing - self._traces.keys()):  # not listed: read one by one
            if self._traces_gone:
                break
            path = TRACE_PATH.format(trace_id=quote(trace_id, safe=""))
            response = self._get_trace_endpoint(path, {"fields": "core,scores"})
            if self._traces_gone:
                break
            body = _json(response, path) if response is not None else None
            self._traces[trace_id] = _trace_summary(body) if isinstance(body, dict) else None
        if self._traces_gone:
            self._load_scores(sorted(missing - self._traces.keys()))

    def _get_trace_endpoint(self, path: str, params: Any) -> httpx.Response | None:
        """GET one of the trace endpoints; None on a 404 (an unknown trace, a server without the list), and
        the endpoints taken as removed for the rest of the run when the answer says so: a 410, a 404 with a
        ``_deprecation`` body, or plain 404s only (``_GONE_AFTER_MISSES``) before any trace was read."""
        try:
            response = self._http.request("GET", path, params=params, missing_ok=True)
        except TerminalError as exc:
            if _HTTP_410.search(str(exc)):
                self._trace_endpoints_gone(f"{path if path == TRACES_PATH else TRACE_PATH} answered HTTP 410")
                return None
            raise
        if response.status_code != 404:
            self._trace_found = True
            return response
        self._trace_misses += 1
        label = path if path == TRACES_PATH else TRACE_PATH
        if _has_deprecation(response):
            self._trace_endpoints_gone(f"{label} answered HTTP 404 with a deprecation notice")
        elif not self._trace_found and self._trace_misses >= _GONE_AFTER_MISSES:
            self._trace_endpoints_gone(f"the trace endpoints answered HTTP 404 {self._trace_misses} times")
        return None

    def _load_scores(self, trace_ids: list[str]) -> None:
        """Trace summaries on a server without the trace endpoints: the trace-level fields come with each
        observation (``basic`` and ``trace_context`` groups), so what is read here are the scores the
        outcome needs, in bulk with ``GET /api/public/v3/scores``. When that endpoint is missing too, the
        records keep everything but the outcome."""
        if not trace_ids:
            return
        found: dict[str, list[dict[str, Any]]] = {}
        if not self.outcome_scores:
            found = {t: [] for t in trace_ids}  # no score decides an outcome: nothing to read
        for i in range(0, len(trace_ids), SCORE_V3_TRACES_PER_REQUEST):
            if not self.outcome_scores or not self._v3_scores:
                break
            found.update(self._read_v3_scores(trace_ids[i : i + SCORE_V3_TRACES_PER_REQUEST]))
        for trace_id in trace_ids:
            listed = self._listed.pop(trace_id, None)  # listed before the endpoints went away
            if trace_id in found:
                self._traces[trace_id] = _trace_summary(
                    {**(listed or {"id": trace_id}), "scores": found[trace_id]}
                )
            else:
                self._traces[trace_id] = _trace_summary({**listed, "scores": []}) if listed else None

    def _read_v3_scores(self, trace_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The scores of ``trace_ids`` named in ``outcome_scores`` (trace and observation scores alike, as
        the trace endpoints gave them), every page of the cursor; {} when the endpoint is not usable."""
        wanted = set(trace_ids)
        out: dict[str, list[dict[str, Any]]] = {t: [] for t in trace_ids}
        cursor: str | None = None
        while True:
            params = [
                ("traceId", ",".join(trace_ids)),
                ("fields", SCORE_V3_FIELDS),
                ("limit", str(SCORE_V3_PAGE_SIZE)),
            ]
            if not any("," in name for name in self.outcome_scores):  # names are a comma-separated list
                params.append(("name", ",".join(self.outcome_scores)))
            if cursor:
                params.append(("cursor", cursor))
            try:
                body = self._http.get_json(SCORES_V3_PATH, params)
            except TerminalError as exc:  # 404/410 on a server without it, 400 on one reading it otherwise
                self._disable_v3_scores(f"{SCORES_V3_PATH} is not available ({exc})")
                return {}
            page = _read_score_page(body)
            if page is None:
                self._disable_v3_scores(f"{SCORES_V3_PATH} answered with an unexpected shape")
                return {}
            scores, cursor = page
            for score in scores:
                if not isinstance(score.get("subject"), dict):  # fields=subject not honoured
                    self._disable_v3_scores(f"{SCORES_V3_PATH} does not say which trace a score is for")
                    return {}
                trace_id = score_trace_id(score)
                if trace_id is None:
                    continue  # a session score, or an observation score without its trace id
                if trace_id not in wanted:  # a server that ignores the traceId filter
                    self._disable_v3_scores(f"{SCORES_V3_PATH} does not filter by traceId")
                    return {}
                out[trace_id].append(score_from_v3(score))
            if not cursor:
                return out

    def _list_traces(self, records: list[dict[str, Any]]) -> None:
        """List the traces that started around ``records`` (not yet listed) with ``GET /api/public/traces``:
        from the margin before the earliest start to the margin after the latest, the parts of that span
        this run has not listed yet, page by page."""
        wanted = {r["traceId"] for r in records}
        starts = [t for t in (_parse_time(r.get("startTime")) for r in records) if t is not None]
        if len(wanted) < _BULK_MIN_TRACES or not starts:
            return  # a list request would cost as much as reading these one by one
        lo, hi = min(starts) - self.trace_list_margin, max(starts) + self.trace_list_margin
        for part_lo, part_hi in _uncovered(self._listed_ranges, lo, hi):
            if not self._list_range(part_lo, part_hi, wanted):
                return

    def _list_range(self, lo: datetime, hi: datetime, wanted: set[str]) -> bool:
        """Every page of the traces with a timestamp in ``[lo, hi)`` into ``_listed``; False when the list
        endpoint is not usable or when the rest of the range costs more requests than it would save."""
        page = 1
        while True:
            params = [
                ("fields", TRACE_LIST_FIELDS),
                ("fromTimestamp", _iso(lo)),
                ("toTimestamp", _iso(hi)),
                ("orderBy", "timestamp.asc"),
                ("limit", str(TRACE_LIST_PAGE_SIZE)),
                ("page", str(page)),
                *(("environment", env) for env in self.environments),
            ]
            try:
                response = self._get_trace_endpoint(TRACES_PATH, params)
                body = _json(response, TRACES_PATH) if response is not None else None
            except TerminalError as exc:  # 405 on a server without the endpoint, 400 on an older one
                self._disable_bulk(f"{TRACES_PATH} is not available ({exc})")
                return False
            if response is None:
                if not self._traces_gone:  # 404: an older self-hosted server without the list
                    self._disable_bulk(f"{TRACES_PATH} is not available (HTTP 404)")
                return False
            listed = _read_trace_list(body)
            if listed is None:
                self._disable_bulk(f"{TRACES_PATH} answered with an unexpected shape")
                return False
            items, total_pages = listed
            for item in items:
                self._listed[item["id"]] = item
            last = page >= total_pages if total_pages is not None else len(items) < TRACE_LIST_PAGE_SIZE
            if last or not items:
                _add_range(self._listed_ranges, lo, hi)
                return True
            if total_pages is not None and total_pages - page > len(wanted - self._listed.keys()):
                # A busy range holding few of the traces needed: reading those one by one is cheaper.
                return False
            page += 1

    def _resolve_listed(self, trace_ids: set[str]) -> None:
        """Listed traces -> summaries: their scores (the list gives only score ids) are read in bulk with
        ``GET /api/public/v2/scores?scoreIds=...``; a trace whose scores cannot be read that way stays
        missing and is read one by one."""
        score_ids: dict[str, list[str]] = {}
        for trace_id in sorted(trace_ids):
            ids = self._listed[trace_id].get("scores")
            if isinstance(ids, list) and all(isinstance(s, str) for s in ids):
                score_ids[trace_id] = ids
        scores = self._read_scores(sorted({s for ids in score_ids.values() for s in ids}))
        for trace_id, ids in score_ids.items():
            if all(s in scores for s in ids):
                item = self._listed.pop(trace_id)
                self._traces[trace_id] = _trace_summary({**item, "scores": [scores[s] for s in ids]})

    def _read_scores(self, score_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(score_ids), SCORE_PAGE_SIZE):
            if not self._bulk_scores:
                break
            chunk = score_ids[i : i + SCORE_PAGE_SIZE]
            asked = set(chunk)
            params = {"scoreIds": ",".join(chunk), "fields": "score", "limit": SCORE_PAGE_SIZE, "page": 1}
            try:
                body = self._http.get_json(SCORES_PATH, params)
            except TerminalError as exc:
                self._disable_scores(f"{SCORES_PATH} is not available ({exc})")
                break
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
                self._disable_scores(f"{SCORES_PATH} answered with an unexpected shape")
                break
            if any(s.get("id") not in asked for s in data):  # a server that ignores scoreIds
                self._disable_scores(f"{SCORES_PATH} does not filter by scoreIds")
                break
            found.update((s["id"], s) for s in data)
        return found

    def _disable_bulk(self, reason: str) -> None:
        self._bulk_traces = False
        log.info("Langfuse: %s; reading each trace with GET %s", reason, TRACE_PATH)

    def _disable_scores(self, reason: str) -> None:
        self._bulk_scores = False
        log.info("Langfuse: %s; reading each trace that has scores with GET %s", reason, TRACE_PATH)

    def _trace_endpoints_gone(self, reason: str) -> None:
        self._traces_gone = True
        log.info(
            "Langfuse: %s: the server no longer has the trace endpoints (Langfuse v4); trace name, session, "
            "user, tags and release come from the observations and scores from GET %s for the rest of this run",
            reason,
            SCORES_V3_PATH,
        )

    def _disable_v3_scores(self, reason: str) -> None:
        self._v3_scores = False
        log.info("Langfuse: %s; the traces of this run get no outcome from scores", reason)


def _read_page(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """``{data: [...], meta: {cursor}}`` -> (records, next page cursor or None on the last page)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise TerminalError(
            "Langfuse returned an observations page without a 'data' list: check the host URL"
        )
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    return body["data"], meta.get("cursor") or None


def _json(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TerminalError(
            f"Langfuse answered {path} with a body that is not JSON "
            f"(content-type {response.headers.get('content-type', 'unknown')}): check the host URL"
        ) from exc


def _has_deprecation(response: httpx.Response) -> bool:
    """Whether an error body carries the ``_deprecation`` notice Langfuse puts on its legacy endpoints."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("_deprecation"), dict)


def _read_score_page(body: Any) -> tuple[list[dict[str, Any]], str | None] | None:
    """``{data: [ScoreV3], meta: {limit, cursor}}`` -> (scores, next page cursor or None), or None when the
    body is not that shape."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    if not all(isinstance(s, dict) for s in body["data"]):
        return None
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    cursor = meta.get("cursor")
    return body["data"], cursor if isinstance(cursor, str) and cursor else None


def _read_trace_list(body: Any) -> tuple[list[dict[str, Any]], int | None] | None:
    """``{data: [...], meta: {page, limit, totalItems, totalPages}}`` -> (traces, total pages), or None when
    the body is not that shape."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    items = body["data"]
    if not all(isinstance(t, dict) and isinstance(t.get("id"), str) and t["id"] for t in items):
        return None
    meta = body.get("meta")
    total_pages = meta.get("totalPages") if isinstance(meta, dict) else None
    return items, total_pages if isinstance(total_pages, int) and not isinstance(total_pages, bool) else None


def _uncovered(
    ranges: list[tuple[datetime, datetime]], lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of ``[lo, hi)`` outside the sorted, disjoint ``ranges``."""
    parts, cursor = [], lo
    for a, b in ranges:
        if b <= cursor:
            continue
        if a >= hi:
            break
        if a > cursor:
            parts.append((cursor, a))
        cursor = b
        if cursor >= hi:
            return parts
    parts.append((cursor, hi))
    return parts


def _add_range(ranges: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> None:
    """Add ``[lo, hi)`` to the sorted, disjoint ``ranges`` in place, merging what touches it."""
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted([*ranges, (lo, hi)]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    ranges[:] = merged


def _parse_time(value: Any) -> datetime | None:
    try:
        return parse_optional_timestamp(value)
    except ValueError:
        return None


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
