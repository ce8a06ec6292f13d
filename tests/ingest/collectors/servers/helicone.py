"""A local Helicone API: ``POST /v1/request/query-clickhouse`` (``RequestQueryParams`` -> ``{data, error}``).

Behaviour follows ``reference/helicone/request_query_subset.json`` and FORMATS.md §2: Bearer auth, ``limit``
in 0..1000, ``offset`` ≤ 10,000, FilterNode trees (leaf / ``{left, operator, right}`` / ``"all"``) on
``request_response_rmt.request_created_at`` (``gte|gt|lte|lt|equals``), ``sort.created_at``, ClickHouse
timestamps (``YYYY-MM-DD HH:MM:SS.fff``, UTC) and USD costs (the API divides the stored nano-USD by 1e9).
Rows that share a timestamp come back in an order unrelated to insertion (by a hash of the id), as a
database would not promise one.

Data: the four authentic rows of ``heliconerequest_mock_records.requestController.test.json`` (cost
converted from their raw nano-USD to the USD the API returns) plus rows DERIVED from the second of them
(the successful gpt-4o-mini call) with new ids, times, sessions and the special cases the tests need.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import FakeApi, Request, Response, reference

QUERY = "/v1/request/query-clickhouse"
COUNT = "/v1/request/count/query"
API_KEY = "sk-helicone-test-0123456789abcdef"
MOCKS = "helicone/heliconerequest_mock_records.requestController.test.json"
CLOCK = datetime(2025, 8, 20, tzinfo=UTC)  # "now" for collectors reading this data
BURST_AT = datetime(2025, 8, 17, 12, 0, 0, 250000, tzinfo=UTC)  # many rows share this millisecond
CACHE_REF = "5c6a7b8e-1111-4222-8333-944455556666"


def load_mock_records() -> list[dict[str, Any]]:
    """Helicone's own unit-test rows, unchanged (``cost`` at the raw nano-USD scale)."""
    return json.loads(reference(MOCKS).read_text())["data"]


def ch_time(dt: datetime) -> str:
    """ClickHouse DateTime64(3) text, as the query-clickhouse path returns it."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def _parse(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def as_api_row(mock: dict[str, Any], updated_at: datetime) -> dict[str, Any]:
    """A mock row as the REST API serves it: cost in USD and a concrete ``updated_at``."""
    row = copy.deepcopy(mock)
    row["cost"] = row["cost"] / 1e9 if row["cost"] is not None else None
    row["updated_at"] = ch_time(updated_at)
    row.setdefault("reasoning_tokens", 0)
    return row


def _derived(base: dict[str, Any], n: int, at: datetime, **changes: Any) -> dict[str, Any]:
    row = copy.deepcopy(base)
    row.update(
        request_id=f"d{n:07d}-0000-4000-8000-{n:012d}",
        response_id=f"r{n:07d}-0000-4000-8000-{n:012d}",
        request_created_at=ch_time(at),
        response_created_at=ch_time(at + timedelta(milliseconds=1500)),
        delay_ms=1500,
        time_to_first_token=320,
        request_user_id=f"user-{n % 3}",
        properties={
            "Helicone-Session-Id": f"session-{n // 5}",
            "Helicone-Session-Name": "Course Plan",
            "Helicone-Session-Path": f"/plan/step-{n % 5}",
            "environment": "production",
            "agent": "planner",
        },
        updated_at=ch_time(at + timedelta(seconds=2)),
    )
    row.update(changes)
    return row


def build_dataset(burst: int = 25) -> list[dict[str, Any]]:
    """The API rows: 4 authentic + derived ones, including ``burst`` rows in one millisecond, a cache-read
    call, a cache hit, a cancelled stream, a 500, an Anthropic row and one malformed row."""
    mocks = load_mock_records()
    rows = [as_api_row(m, _parse(m["response_created_at"])) for m in mocks]
    base = rows[1]
    start = datetime(2025, 8, 17, 11, 0, tzinfo=UTC)
    for n in range(40):
        rows.append(_derived(base, n, start + timedelta(minutes=3 * n)))
    for n in range(40, 40 + burst):
        rows.append(_derived(base, n, BURST_AT))
    special = 100
    rows += [
        _derived(
            base,
            special,
            start + timedelta(hours=3),
            prompt_tokens=200,
            prompt_cache_read_tokens=1024,
            prompt_cache_write_tokens=0,
            completion_tokens=30,
            reasoning_tokens=0,
            cost=0.0000618,
            cache_enabled=True,
        ),
        _derived(
            base,
            special + 1,
            start + timedelta(hours=3, minutes=1),
            prompt_tokens=0,
            completion_tokens=0,
            cost=0,
            cache_enabled=True,
            cache_reference_id=CACHE_REF,
            delay_ms=12,
            time_to_first_token=0,
        ),
        _derived(base, special + 2, start + timedelta(hours=3, minutes=2), response_status=-3),
        _derived(
            base,
            special + 3,
            start + timedelta(hours=3, minutes=3),
            response_status=500,
            cost=0,
            prompt_tokens=0,
            completion_tokens=0,
        ),
        _derived(
            base,
            special + 4,
            start + timedelta(hours=3, minutes=4),
            provider="ANTHROPIC",
            model="claude-3-5-sonnet-20241022",
            prompt_tokens=12,
            prompt_cache_write_tokens=2048,
            completion_tokens=400,
            reasoning_tokens=0,
            cost=0.01375,
        ),
        _derived(base, special + 5, start + timedelta(hours=3, minutes=5), prompt_tokens="many"),
    ]
    return rows


# --- the API --------------------------------------------------------------------------------------------


_SORT_KEYS = {
    "created_at": lambda r: _parse(r["request_created_at"]),
    "latency": lambda r: r["delay_ms"],
}


def _tie_order(row: dict[str, Any]) -> str:
    return hashlib.sha1(row["request_id"].encode()).hexdigest()


def _matches_leaf(row: dict[str, Any], leaf: dict[str, Any]) -> bool:
    if set(leaf) != {"request_response_rmt"} or set(leaf["request_response_rmt"]) != {"request_created_at"}:
        raise ValueError(f"unsupported filter leaf {leaf}")
    created = _parse(row["request_created_at"])
    for op, value in leaf["request_response_rmt"]["request_created_at"].items():
        bound = _parse(value)
        ok = {
            "gte": created >= bound,
            "gt": created > bound,
            "lte": created <= bound,
            "lt": created < bound,
            "equals": created == bound,
        }[op]
        if not ok:
            return False
    return True


def matches(row: dict[str, Any], node: Any) -> bool:
    """Evaluate a RequestFilterNode against a row."""
    if node == "all" or node == {}:
        return True
    if isinstance(node, dict) and "operator" in node:
        left, right = matches(row, node["left"]), matches(row, node["right"])
        return left and right if node["operator"] == "and" else left or right
    return _matches_leaf(row, node)


class HeliconeApi(FakeApi):
    """The bulk request query (and the request count) over an in-memory dataset.

    ``shuffle_ties``: rows that share a timestamp come back in a new order on every query, as ClickHouse may
    return them (seeded, so a test sees the same sequence each time). ``count``: whether
    ``POST /v1/request/count/query`` exists (a 404 otherwise).
    """

    def __init__(
        self, rows: list[dict[str, Any]] | None = None, *, shuffle_ties: bool = False, count: bool = True
    ) -> None:
        super().__init__()
        self.rows = build_dataset() if rows is None else rows
        self.shuffle_ties = shuffle_ties
        self.count = count
        self._random = random.Random(7)

    def route(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return Response(401, {"data": None, "error": "Unauthorized"})
        if request.method == "POST" and request.path == COUNT and self.count:
            return self._count(request.body or {})
        if request.method != "POST" or request.path != QUERY:
            return Response(404, {"data": None, "error": f"no route {request.method} {request.path}"})
        return self._query(request.body or {})

    def _count(self, body: dict[str, Any]) -> Response:
        if "filter" not in body:
            return Response(400, {"data": None, "error": "filter is required"})
        try:
            return Response(200, {"data": sum(matches(r, body["filter"]) for r in self.rows), "error": None})
        except ValueError as exc:
            return Response(400, {"data": None, "error": str(exc)})

    def _query(self, body: dict[str, Any]) -> Response:
        limit, offset = body.get("limit", 100), body.get("offset", 0)
        if "filter" not in body:
            return Response(400, {"data": None, "error": "filter is required"})
        if not 0 <= limit <= 1000:
            return Response(400, {"data": None, "error": "Invalid limit: must be between 0 and 1000"})
        if offset > 10_000:
            return Response(400, {"data": None, "error": "Invalid offset: must be at most 10000"})
        try:
            rows = [r for r in self.rows if matches(r, body["filter"])]
        except ValueError as exc:
            return Response(400, {"data": None, "error": str(exc)})
        sort = body.get("sort") or {"created_at": "desc"}
        if len(sort) != 1 or not set(sort) <= set(_SORT_KEYS):
            return Response(400, {"data": None, "error": f"unsupported sort {sort}"})
        ((field, direction),) = sort.items()
        if self.shuffle_ties:
            self._random.shuffle(rows)
        else:
            rows.sort(key=_tie_order)
        rows.sort(key=_SORT_KEYS[field], reverse=direction == "desc")
        return Response(200, {"data": copy.deepcopy(rows[offset : offset + limit]), "error": None})
