"""A loopback stand-in for a LiteLLM proxy's ``GET /spend/logs/v2`` (FORMATS.md §3 and LiteLLM's endpoint code).

Behaviour copied from the proxy: Bearer auth (401 otherwise); ``start_date``/``end_date`` required (422 here
when missing, as a FastAPI validation error would say), read as UTC in ``%Y-%m-%d %H:%M:%S`` or
``%Y-%m-%d``, both bounds inclusive on ``startTime``; ``page`` ≥ 1, ``page_size`` 1-1000; ``sort_by`` /
``sort_order``; ``total`` capped at ``count_cap`` with ``total_is_capped``; LIMIT/OFFSET paging. Timestamps
are returned the way the proxy serializes them (ISO 8601 with a ``T``). Rows are derived from LiteLLM's own
SpendLogs payload.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

from collectors.servers.base import FakeApi, Request, Response

from agentledger.ingest.collectors.litellm import parse_time

PATH = "/spend/logs/v2"


def _parse_date(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class FakeLiteLLMProxy(FakeApi):
    """``rows`` are SpendLogs rows; ``count_cap`` mimics SPEND_LOGS_PAGINATION_COUNT_CAP (10,000 in LiteLLM)."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        api_key: str = "sk-test-master-key",
        count_cap: int = 10_000,
        *,
        shuffle_ties: bool = False,
    ) -> None:
        super().__init__()
        self.rows = rows
        self.api_key = api_key
        self.count_cap = count_cap
        # ORDER BY "startTime" LIMIT/OFFSET leaves the order of equal times to Postgres, which may differ
        # from one query to the next: with this flag equal times come back in an order that depends on the page.
        self.shuffle_ties = shuffle_ties

    def route(self, request: Request) -> Response:
        if request.path != PATH:
            return Response(404, {"detail": "Not Found"})
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return Response(401, {"error": {"message": "Authentication Error, invalid api key"}})
        query = {k: v[0] for k, v in request.query.items()}
        missing = [name for name in ("start_date", "end_date") if name not in query]
        if missing:
            return Response(
                422, {"detail": [{"loc": ["query", name], "msg": "Field required"} for name in missing]}
            )
        start, end = _parse_date(query["start_date"]), _parse_date(query["end_date"])
        if start is None or end is None:
            return Response(
                400, {"detail": "Invalid date format. Expected: 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'"}
            )
        page, page_size = int(query.get("page", 1)), int(query.get("page_size", 50))
        if page < 1 or not 1 <= page_size <= 1000:
            return Response(422, {"detail": "page >= 1 and 1 <= page_size <= 1000"})
        return Response(200, self._page(start, end, page, page_size, query))

    def _page(
        self, start: datetime, end: datetime, page: int, page_size: int, query: dict[str, str]
    ) -> dict[str, Any]:
        matching = [r for r in self.rows if start <= self._started(r) <= end]
        offset = (page - 1) * page_size
        if self.shuffle_ties:
            matching.sort(key=lambda r: hashlib.sha256(f"{r['request_id']}/{offset}".encode()).digest())
        matching.sort(
            key=lambda r: r[query.get("sort_by", "startTime")],
            reverse=query.get("sort_order", "desc") == "desc",
        )
        total = min(len(matching), self.count_cap)
        data = [self._serialize(r) for r in matching[offset : offset + page_size]]
        return {
            "data": data,
            "total": total,
            "page": page,
            "page_size": page_size,
            "total_pages": math.ceil(total / page_size),
            "total_is_capped": len(matching) > self.count_cap,
        }

    @staticmethod
    def _started(row: dict[str, Any]) -> datetime:
        try:
            return parse_time(row["startTime"], "startTime", row["request_id"])
        except Exception:  # noqa: BLE001 - a deliberately malformed row still has to be served
            return datetime(2025, 1, 24, 9, 0, tzinfo=UTC)

    @staticmethod
    def _serialize(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for field in ("startTime", "endTime", "completionStartTime"):
            value = out.get(field)
            if isinstance(value, str) and " " in value:
                out[field] = value.replace(" ", "T")
        return out
