"""LiteLLM proxy spend logs through its API: ``GET /spend/logs/v2`` (paginated, FORMATS.md §3).

The endpoint requires ``start_date`` and ``end_date`` (``%Y-%m-%d %H:%M:%S``, read as UTC, both inclusive) and
pages with ``page``/``page_size`` (≤ 1000) as LIMIT/OFFSET over rows sorted by ``startTime`` ascending, so the
cursor, the newest ``startTime`` written, is safe to store after every page.

Offsets are not followed past the first page when they can be avoided: ``startTime`` has millisecond precision,
so calls logged at the same time are common on a busy proxy, and Postgres may order such ties differently in
each page's query, so that a row at a page boundary is returned twice or never. After a full page the next
request starts again at page 1 from the second of the page's last row (``start_date`` has whole seconds): every
row of that second is read again in one query, and the ones already read are dropped. Only when a whole page
lies within one second does that second get paged by page number (``start_date`` and ``end_date`` bounding
it), read again under other sort orders until it holds the ``total`` the proxy counts (see
``LiteLLMApiCollector._same_second``); the run then goes on from the next second. This also keeps the
proxy's OFFSET scans short. The
proxy caps its row count at 10,000 (``total_is_capped``); past the cap ``total_pages`` stops growing, so paging
then goes on until a short page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from agentledger.core.errors import ConfigError, InputError, TerminalError
from agentledger.ingest.collectors.base import Page
from agentledger.ingest.collectors.litellm import LiteLLMRecords, record_id, record_started_at
from agentledger.ingest.collectors.ties import read_whole_group
from agentledger.ingest.collectors.timeutil import DEFAULT_OVERLAP, format_timestamp, read_start
from agentledger.ingest.http import HttpClient

SPEND_LOGS_PATH = "/spend/logs/v2"
MAX_PAGE_SIZE = 1000
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sort orders of successive readings of one second: rows that slipped between the pages of one reading come
# out elsewhere in another (endTime rarely ties where startTime does).
_GROUP_SORTS = (("startTime", "asc"), ("endTime", "asc"), ("endTime", "desc"), ("startTime", "desc"))


def public_url(url: str) -> str:
    """The URL without user info, query or fragment: safe for cursor keys and messages."""
    parts = urlsplit(url.rstrip("/"))
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def api_date(moment: datetime, *, round_up: bool = False) -> str:
    """A ``start_date``/``end_date`` value: UTC, whole seconds (floored, or ceiled for an inclusive end)."""
    moment = moment.astimezone(UTC)
    if round_up and moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime(_DATE_FORMAT)


class LiteLLMApiCollector(LiteLLMRecords):
    """Pull collector over a LiteLLM proxy's ``/spend/logs/v2`` with a master or virtual key (Bearer)."""

    def __init__(
        self,
        api_url: str,
        api_key: SecretStr | str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        overlap: timedelta = DEFAULT_OVERLAP,
        initial_lookback: timedelta | None = timedelta(days=30),
        credential_hint: str = "LITELLM_API_KEY",
        client: HttpClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **client_options: Any,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"LiteLLM page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self.source_key = f"litellm:{public_url(api_url)}"
        self.page_size = page_size
        self.overlap = overlap
        self.initial_lookback = initial_lookback
        self._clock = clock
        self._client = client or HttpClient(
            api_url,
            service="LiteLLM",
            credential_hint=credential_hint,
            headers={"Authorization": f"Bearer {key}"},
            secrets=[key],
            **client_options,
        )

    @classmethod
    def from_source(
        cls, source: Any, env: Mapping[str, str] | None = None, **options: Any
    ) -> LiteLLMApiCollector:
        """Build from a :class:`~agentledger.ingest.config.LiteLLMApiSource` (key from its env variable)."""
        return cls(
            source.api_url,
            source.api_key(env),
            page_size=source.page_size,
            overlap=source.overlap,
            initial_lookback=source.initial_lookback,
            credential_hint=source.api_key_env,
            **options,
        )

    def fetch(
        self, cursor: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Pages of SpendLogs rows with ``start <= startTime < end``, oldest first."""
        now = self._clock()
        start = read_start(
            cursor, since=since, overlap=self.overlap, initial_lookback=self.initial_lookback, now=now
        )
        start = start or _EPOCH
        end = until or now
        params = {
            "start_date": api_date(start),
            "end_date": api_date(end, round_up=True),
            "page_size": self.page_size,
            "sort_by": "startTime",
            "sort_order": "asc",
        }
        newest: datetime | None = None
        lower, page = params["start_date"], 1
        seen: dict[str, datetime | None] = {}  # rows read since ``lower`` was set, by request id
        while True:
            body = self._client.get_json(
                SPEND_LOGS_PATH, params={**params, "start_date": lower, "page": page}
            )
            rows, total_pages, capped = _page_body(body, page)
            fresh = [r for r in rows if _row_id(r) not in seen]
            records = [r for r in fresh if _in_window(r, start, end)]
            newest = _newest(records, newest)
            yield Page(records=records, next_cursor=format_timestamp(newest) if newest else None)
            if not rows or len(rows) < self.page_size or (page >= total_pages and not capped):
                return
            seen.update((_row_id(r), _started_or_none(r)) for r in rows)
            last = _started_or_none(rows[-1])
            if last is not None and api_date(last) > lower:
                # restart at the last row's second; keep only the rows of that second as already read
                lower, page = api_date(last), 1
                boundary = last.replace(microsecond=0)
                seen = {k: t for k, t in seen.items() if t is None or t >= boundary}
            elif last is not None:
                # the whole page is in one second: read that second whole, then go on after it
                second = last.replace(microsecond=0)
                group = self._same_second(second, params)
                fresh = [r for r in group if _row_id(r) not in seen]
                records = [r for r in fresh if _in_window(r, start, end)]
                newest = _newest(records, newest)
                yield Page(records=records, next_cursor=format_timestamp(newest) if newest else None)
                seen.update((_row_id(r), _started_or_none(r)) for r in group)
                boundary = second + timedelta(seconds=1)
                if api_date(boundary) > params["end_date"]:
                    return
                lower, page = api_date(boundary), 1
                seen = {k: t for k, t in seen.items() if t is None or t >= boundary}
            else:
                page += 1  # the last row's time is unreadable: go on by page number

    def _same_second(self, second: datetime, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every row of the second ``second`` (and of the instant after it: the API's end date is inclusive),
        paged by page number and read until it is whole (:mod:`.ties`) against the ``total`` the proxy counts
        (none past its count cap); ``endTime`` rarely ties where ``startTime`` does."""
        group_params = {
            **params,
            "start_date": api_date(second),
            "end_date": min(api_date(second + timedelta(seconds=1)), params["end_date"]),
        }
        counted: list[int | None] = [None]

        def read(order: tuple[str, str], rows: dict[str, dict[str, Any]]) -> bool:
            sort_by, sort_order = order
            page = 1
            while True:
                body = self._client.get_json(
                    SPEND_LOGS_PATH,
                    params={**group_params, "sort_by": sort_by, "sort_order": sort_order, "page": page},
                )
                data, total_pages, capped = _page_body(body, page)
                rows.update((_row_id(r), r) for r in data)
                total = body.get("total")
                if page == 1 and isinstance(total, int) and not isinstance(total, bool) and not capped:
                    counted[0] = total
                if len(data) < self.page_size or (page >= total_pages and not capped):
                    return page == 1
                page += 1

        return read_whole_group(
            read, _GROUP_SORTS, lambda: counted[0], what=f"LiteLLM spend logs of {api_date(second)}"
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _page_body(body: Any, page: int) -> tuple[list[dict[str, Any]], int, bool]:
    """``data``, ``total_pages`` and ``total_is_capped`` of one response; TerminalError when it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise TerminalError(
            f"LiteLLM {SPEND_LOGS_PATH} page {page} has no 'data' list: check that api_url is the proxy's base URL"
        )
    rows = body["data"]  # a row that is not an object is passed on: the runner counts it as malformed
    total_pages = body.get("total_pages")
    pages = int(total_pages) if isinstance(total_pages, int | float) and math.isfinite(total_pages) else page
    return rows, pages, bool(body.get("total_is_capped"))


def _in_window(record: dict[str, Any], start: datetime, end: datetime) -> bool:
    """The API's dates are whole seconds and inclusive; keep ``[start, end)`` exactly. Rows whose time
    cannot be read are kept, so that the runner reports them as malformed instead of dropping them."""
    try:
        started = record_started_at(record)
    except InputError:
        return True
    return start <= started < end


def _row_id(record: Any) -> str:
    return record_id(record) if isinstance(record, dict) else repr(record)


def _started_or_none(record: Any) -> datetime | None:
    try:
        return record_started_at(record)
    except InputError:
        return None


def _newest(records: list[dict[str, Any]], newest: datetime | None) -> datetime | None:
    for record in records:
        try:
            started = record_started_at(record)
        except InputError:
            continue
        if newest is None or started > newest:
            newest = started
    return newest
