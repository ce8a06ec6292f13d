"""Helicone collector: request rows from ``POST /v1/request/query-clickhouse`` -> canonical calls.

Paging. The API pages by ``offset``/``limit`` and refuses deep offsets, so a run never pages by offset:
it asks for the oldest ``limit`` rows at or after a lower bound on ``request_created_at`` (sorted ascending),
keeps the rows strictly older than the last timestamp of the page, reads every row that shares that last
timestamp with an exact one-millisecond window (usually one request; offsets only inside a group larger
than a page, up to the API's 10,000), then moves the lower bound just past it. Nothing at a page boundary
is lost or read twice, and each page's cursor is the newest timestamp whose rows are all written. Rows of one
millisecond have no order the server keeps from one query to the next, so a group larger than a page is
read until it is complete (see ``HeliconeCollector._same_millisecond``).

Mapping: see :mod:`.helicone_map`. ``cost_unit`` says whether ``cost`` is USD (the API) or nano-USD (raw
exports); it is a required choice of the caller, never guessed from magnitudes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from agentledger.core.errors import TerminalError
from agentledger.ingest.collectors.base import Normalized, Page, account_fingerprint
from agentledger.ingest.collectors.helicone_map import CostUnit, normalize_request, request_id
from agentledger.ingest.collectors.ties import read_whole_group
from agentledger.ingest.collectors.timeutil import (
    DEFAULT_OVERLAP,
    format_timestamp,
    parse_timestamp,
    read_start,
)
from agentledger.ingest.http import HttpClient

QUERY_PATH = "/v1/request/query-clickhouse"
COUNT_PATH = "/v1/request/count/query"
MAX_PAGE_SIZE = 1000
MAX_OFFSET = 10_000  # the API rejects larger offsets
_MS = timedelta(milliseconds=1)
# Sort orders of successive readings of one millisecond: other keys, other directions, so that rows the
# previous readings let slip between pages come out elsewhere (the API has no unique key to sort on).
_GROUP_SORTS: tuple[dict[str, str], ...] = (
    {"created_at": "asc"},
    {"latency": "asc"},
    {"latency": "desc"},
    {"created_at": "desc"},
)


class HeliconeCollector:
    """Pull collector for one Helicone organization (the API key decides which)."""

    name = "helicone"

    def __init__(
        self,
        api_key: str | SecretStr,
        *,
        base_url: str = "https://api.helicone.ai",
        cost_unit: CostUnit = "usd",
        page_size: int = MAX_PAGE_SIZE,
        include_inputs: bool = False,
        overlap: timedelta = DEFAULT_OVERLAP,
        initial_lookback: timedelta | None = timedelta(days=30),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        max_attempts: int = 5,
    ) -> None:
        if cost_unit not in ("usd", "nano_usd"):
            raise ValueError(f"cost_unit must be 'usd' or 'nano_usd', got {cost_unit!r}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be in 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.previous_source_key = f"helicone:{httpx.URL(self.base_url).copy_with(userinfo=b'')}"
        self.cost_unit: CostUnit = cost_unit
        self.page_size = page_size
        self.include_inputs = include_inputs
        self.overlap = overlap
        self.initial_lookback = initial_lookback
        self._clock = clock
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self.source_key = f"{self.previous_source_key} key {account_fingerprint(key)}"
        extra = {"sleep": sleep} if sleep is not None else {}
        self._http = HttpClient(
            self.base_url,
            service="Helicone",
            credential_hint="HELICONE_API_KEY (and that the base URL is your region's API)",
            headers={"Authorization": f"Bearer {key}"},
            secrets=(key,),
            max_attempts=max_attempts,
            transport=transport,
            **extra,
        )

    # --- Collector protocol ---------------------------------------------------------------------------

    def fetch(
        self, cursor: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Pages of request rows in ``request_created_at`` order, oldest first."""
        now = self._clock()
        lower = read_start(
            cursor, since=since, overlap=self.overlap, initial_lookback=self.initial_lookback, now=now
        )
        while True:
            rows = self._query(lower, until, offset=0)
            if not rows:
                return
            times = [_created(r) for r in rows]
            stamped = [t for t in times if t is not None]
            if len(rows) < self.page_size:  # everything left in the range
                yield Page(rows, format_timestamp(max(stamped)) if stamped else None)
                return
            if not stamped:
                raise TerminalError("Helicone returned a full page without one readable request_created_at")
            last = stamped[-1]
            # Rows without a readable time go to normalize, which reports them as malformed.
            head = [r for r, t in zip(rows, times, strict=True) if t is None or t < last]
            yield Page(head + self._same_millisecond(last), format_timestamp(last))
            lower = last + _MS

    def normalize(self, record: dict[str, Any], *, project_id: str) -> Normalized:
        """One request row -> its call, its span and its session's span."""
        return normalize_request(record, project_id=project_id, cost_unit=self.cost_unit)

    def record_id(self, record: dict[str, Any]) -> str:
        return request_id(record)

    def close(self) -> None:
        self._http.close()

    # --- reading --------------------------------------------------------------------------------------

    def _same_millisecond(self, at: datetime) -> list[dict[str, Any]]:
        """Every row created in the millisecond ``at`` (deduplicated by request id): one answer, or a group
        larger than a page read by offset until it is whole (:mod:`.ties`), against the count of
        ``/v1/request/count/query``."""
        return read_whole_group(
            lambda sort, rows: self._group_pass(at, rows, sort),
            _GROUP_SORTS,
            lambda: self._count(at),
            what=f"Helicone requests created at {format_timestamp(at)}",
        )

    def _group_pass(self, at: datetime, rows: dict[str, dict[str, Any]], sort: dict[str, str]) -> bool:
        """Read the millisecond ``at`` page by page into ``rows``; whether the first answer held it whole."""
        offset = 0
        while True:
            page = self._query(at, at + _MS, offset=offset, sort=sort)
            rows.update((request_id(r), r) for r in page)
            if len(page) < self.page_size:
                return offset == 0
            offset += self.page_size
            if offset > MAX_OFFSET:
                raise TerminalError(
                    f"more than {MAX_OFFSET} Helicone requests share request_created_at {format_timestamp(at)}; "
                    "the API cannot page past that offset"
                )

    def _count(self, at: datetime) -> int | None:
        """How many requests the millisecond ``at`` holds, or None when the server does not say."""
        body = {"filter": _time_filter(at, at + _MS), "isCached": False}
        try:
            response = self._http.request("POST", COUNT_PATH, json=body, missing_ok=True)
            answer = response.json() if response.status_code != 404 else None
        except (TerminalError, ValueError):
            return None
        count = answer.get("data") if isinstance(answer, dict) else None
        if isinstance(count, bool) or not isinstance(count, int | float) or count < 0:
            return None
        return int(count)

    def _query(
        self,
        lower: datetime | None,
        upper: datetime | None,
        *,
        offset: int,
        sort: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        body = {
            "filter": _time_filter(lower, upper),
            "offset": offset,
            "limit": self.page_size,
            "sort": sort or {"created_at": "asc"},
            "isCached": False,
            "includeInputs": self.include_inputs,
        }
        answer = self._http.post_json(QUERY_PATH, body)
        if not isinstance(answer, dict):
            raise TerminalError("Helicone answered the request query with something other than a JSON object")
        if answer.get("error"):
            raise TerminalError(f"Helicone rejected the request query: {str(answer['error'])[:300]}")
        rows = answer.get("data")
        if not isinstance(rows, list):
            raise TerminalError("Helicone answered the request query without a 'data' list")
        if sort is None:
            _check_sorted(rows)
        return rows


def _time_filter(lower: datetime | None, upper: datetime | None) -> Any:
    """A FilterNode on ``request_response_rmt.request_created_at``: ``gte lower AND lt upper``."""
    leaves = []
    if lower is not None:
        leaves.append({"request_response_rmt": {"request_created_at": {"gte": _iso_ms(lower)}}})
    if upper is not None:
        leaves.append({"request_response_rmt": {"request_created_at": {"lt": _iso_ms(upper)}}})
    if not leaves:
        return "all"
    if len(leaves) == 1:
        return leaves[0]
    return {"left": leaves[0], "operator": "and", "right": leaves[1]}


def _created(row: Any) -> datetime | None:
    """A row's creation time truncated to the millisecond (the precision Helicone stores and filters on);
    None when the row has no readable time."""
    if not isinstance(row, dict):
        return None
    try:
        ts = parse_timestamp(row.get("request_created_at"))
    except ValueError:
        return None
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _check_sorted(rows: list[Any]) -> None:
    """Keyset paging is only correct on ascending rows: refuse to guess when the server did not sort."""
    times = [t for t in (_created(r) for r in rows) if t is not None]
    if any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise TerminalError(
            "Helicone returned rows out of request_created_at order; cannot page without gaps"
        )


def _iso_ms(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
