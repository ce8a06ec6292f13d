"""A local Langfuse public API: ``GET /api/public/v2/observations``, ``GET /api/public/traces/{id}``,
``GET /api/public/traces`` (the list) and ``GET /api/public/v2/scores``.

Behaviour follows the spec in ``reference/langfuse/openapi.yml`` and Langfuse's own route code: HTTP Basic
auth. Observations: ``limit`` ≤ 1000 (default 50), field groups (core always; core+basic by default),
``fromStartTime`` inclusive / ``toStartTime`` exclusive, ``environment`` repeated, and a base64 JSON cursor
``{lastStartTimeTo, lastTraceId, lastId}`` over rows ordered newest first, absent on the last page. The trace
list and the scores list are paged by number (``page`` from 1, ``limit`` ≤ 100, default 50) with
``meta {page, limit, totalItems, totalPages}``; the trace list filters on ``fromTimestamp`` inclusive /
``toTimestamp`` exclusive and ``environment``, sorts by ``orderBy`` (default ``timestamp.desc``) and returns
the field groups asked (core always; all by default) with scores and observations as ids (``TraceWithDetails``);
the scores list filters on ``scoreIds``. ``LangfuseApi(list_endpoints=False)`` is a server without these two
lists (an older self-hosted Langfuse: 404).

``LangfuseApi(version=4)`` is Langfuse v4 (Langfuse Cloud since 2026-11-16): ``/api/public/traces``,
``/api/public/traces/{id}`` and ``/api/public/v2/scores`` are removed and answer ``removed_status`` (410 or
404) with a body carrying the ``_deprecation`` notice of ``fern_commons.yml`` (``Deprecation``: message,
replacement, docsUrl, sunsetAt), or a plain ``{message}`` with ``deprecation_body=False``. The trace-level
fields are on the observations (``basic``: environment, userId, sessionId; ``trace_context``: tags, release,
traceName) in either version. ``GET /api/public/v3/scores`` (both versions; ``v3_scores=False`` removes it)
follows ``scoresV3_getManyV3``: comma-separated ``id``, ``name``, ``traceId``, ``observationId`` (400
without ``traceId``), ``environment``; ``fromTimestamp`` inclusive / ``toTimestamp`` exclusive on the score
timestamp; field groups ``details``, ``subject``, ``annotation`` over the core fields (others: 400);
``limit`` ≤ 100 (default 50); newest first, paged by a base64url cursor in ``meta {limit, cursor}``, absent on
the last page; the value is polymorphic (number, boolean or string by ``dataType``).

The data is SYNTHETIC: Langfuse publishes no sample observation payloads, so the rows are built to the
``ObservationV2`` / ``TraceWithFullDetails`` / ``ScoreV1`` schemas of that spec (a test checks every key
against it). The first trace reuses the ids of ``reference/langfuse/otel_BasicTraceExport_example.json``
and its first generation carries Langfuse's OTel-mapping test vector (120 input tokens of which 30 cache
reads and 10 cache writes, stored by Langfuse as input=80).
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import FakeApi, Request, Response

OBSERVATIONS = "/api/public/v2/observations"
TRACES = "/api/public/traces/"
TRACE_LIST = "/api/public/traces"
SCORES = "/api/public/v2/scores"
SCORES_V3 = "/api/public/v3/scores"
REMOVED_IN_V4 = {TRACE_LIST: "GET /api/public/v2/observations", SCORES: "GET /api/public/v3/scores"}
SUNSET = "2026-11-16"
UPGRADE_GUIDE = "https://langfuse.com/self-hosting/upgrade/upgrade-guides/upgrade-v3-to-v4"
SCORE_V3_CORE = (  # always returned
    "id",
    "projectId",
    "name",
    "value",
    "dataType",
    "source",
    "timestamp",
    "environment",
    "createdAt",
    "updatedAt",
)
SCORE_V3_GROUPS = {
    "details": ("comment", "configId", "metadata"),
    "subject": ("subject",),
    "annotation": ("authorUserId", "queueId"),
}
METADATA_LIMIT = 200  # characters of a metadata value the v2 API returns unless expandMetadata names its key
PUBLIC_KEY = "pk-lf-test-0123456789"
SECRET_KEY = "sk-lf-test-secret-abcdef"
T0 = datetime(2025, 5, 22, tzinfo=UTC)  # startTimeUnixNano of the reference OTLP example
CLOCK = T0 + timedelta(days=4)  # "now" for collectors reading this data
TRACE_IDS_FROM_REFERENCE = ("0123456789abcdef0123456789abcdef", "0123456789abcdef")

FIELD_GROUPS = {
    "core": ("id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"),
    "basic": (
        "name",
        "level",
        "statusMessage",
        "version",
        "environment",
        "bookmarked",
        "public",
        "userId",
        "sessionId",
        "isRootObservation",
    ),
    "time": ("completionStartTime", "createdAt", "updatedAt"),
    "io": ("input", "output"),
    "metadata": ("metadata",),
    "model": (
        "providedModelName",
        "internalModelId",
        "modelParameters",
        "modelId",
        "inputPrice",
        "outputPrice",
        "totalPrice",
    ),
    "usage": ("usageDetails", "costDetails", "totalCost", "usagePricingTierName"),
    "prompt": ("promptId", "promptName", "promptVersion"),
    "metrics": ("latency", "timeToFirstToken"),
    "trace_context": ("tags", "release", "traceName"),
}


TRACE_FIELD_GROUPS = {
    "core": (
        "id",
        "timestamp",
        "name",
        "sessionId",
        "release",
        "version",
        "userId",
        "tags",
        "public",
        "environment",
        "htmlPath",
    ),
    "io": ("input", "output", "metadata"),
    "scores": ("scores",),
    "observations": ("observations",),
    "metrics": ("latency", "totalCost"),
}
LIST_LIMIT = 100  # the most a number-paged public list endpoint accepts


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- data -----------------------------------------------------------------------------------------------


def _observation(
    trace: dict[str, Any],
    obs_id: str,
    obs_type: str,
    name: str,
    parent: str | None,
    start: datetime,
    seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    end = start + timedelta(seconds=seconds)
    row: dict[str, Any] = {
        "id": obs_id,
        "traceId": trace["id"],
        "startTime": iso(start),
        "endTime": iso(end),
        "projectId": "proj-1",
        "parentObservationId": parent,
        "type": obs_type,
        "name": name,
        "level": "DEFAULT",
        "statusMessage": None,
        "version": None,
        "environment": trace["environment"],
        "bookmarked": False,
        "public": False,
        "userId": trace["userId"],
        "sessionId": trace["sessionId"],
        "isRootObservation": parent is None,
        "completionStartTime": None,
        "createdAt": iso(end),
        "updatedAt": iso(end),
        "input": None,
        "output": None,
        "metadata": {},
        "providedModelName": None,
        "internalModelId": None,
        "modelParameters": None,
        "modelId": None,
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "usageDetails": {},
        "costDetails": {},
        "totalCost": 0,
        "usagePricingTierName": None,
        "promptId": None,
        "promptName": None,
        "promptVersion": None,
        "latency": seconds,
        "timeToFirstToken": None,
        "tags": trace["tags"],
        "release": trace["release"],
        "traceName": trace["name"],
    }
    row.update(extra)
    return row


def _generation(
    trace: dict[str, Any],
    obs_id: str,
    parent: str,
    start: datetime,
    usage: dict[str, int],
    cost: dict[str, float],
    model: str = "gpt-4o-mini",
    **extra: Any,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "providedModelName": model,
        "internalModelId": "m-" + model,
        "modelId": "m-" + model,
        "modelParameters": {"max_tokens": "512", "temperature": "0.2", "system": "openai"},
        "completionStartTime": iso(start + timedelta(milliseconds=400)),
        "timeToFirstToken": 0.4,
        "usageDetails": usage,
        "costDetails": cost,
        "totalCost": cost.get("total", 0),
    }
    name = extra.pop("name", "llm-call")
    return _observation(trace, obs_id, "GENERATION", name, parent, start, 1.5, **{**fields, **extra})


def _trace(i: int, spacing: timedelta) -> dict[str, Any]:
    trace_id = TRACE_IDS_FROM_REFERENCE[0] if i == 0 else f"{i:032x}"
    return {
        "id": trace_id,
        "timestamp": iso(T0 + spacing * i),
        "name": "support-ticket",
        "input": None,
        "output": None,
        "sessionId": f"sess-{i // 3}",
        "release": "v1.2.0",
        "version": None,
        "userId": f"user-{i % 4}",
        "metadata": {},
        "tags": ["support", "tier-1"],
        "public": False,
        "environment": "production",
        "htmlPath": f"/project/proj-1/traces/{trace_id}",
        "latency": 4.0,
        "totalCost": 0.001,
        "observations": [],
        "scores": [],
    }


def _score(trace: dict[str, Any], value: int, at: datetime) -> dict[str, Any]:
    return {
        "id": f"score-{trace['id']}",
        "traceId": trace["id"],
        "name": "task_success",
        "source": "API",
        "observationId": None,
        "timestamp": iso(at),
        "createdAt": iso(at),
        "updatedAt": iso(at),
        "authorUserId": None,
        "comment": None,
        "metadata": None,
        "configId": None,
        "queueId": None,
        "environment": "production",
        "dataType": "BOOLEAN",
        "value": value,
        "stringValue": "True" if value else "False",
    }


def score_v3(score: dict[str, Any], groups: set[str]) -> dict[str, Any]:
    """A ``ScoreV1`` row as ``GET /api/public/v3/scores`` returns it: core fields, one polymorphic ``value``,
    and the field groups asked for."""
    data_type = score["dataType"]
    if data_type == "BOOLEAN":
        value: Any = bool(score["value"])
    elif data_type == "NUMERIC":
        value = float(score["value"])
    else:  # CATEGORICAL, TEXT, CORRECTION
        value = score["stringValue"]
    out = {k: score[k] for k in SCORE_V3_CORE if k not in ("projectId", "value")}
    out |= {"projectId": "proj-1", "value": value}
    if "details" in groups:
        out |= {k: score[k] for k in SCORE_V3_GROUPS["details"]}
    if "annotation" in groups:
        out |= {k: score[k] for k in SCORE_V3_GROUPS["annotation"]}
    if "subject" in groups:
        out["subject"] = (
            {"kind": "observation", "id": score["observationId"], "traceId": score["traceId"]}
            if score["observationId"]
            else {"kind": "trace", "id": score["traceId"]}
        )
    return out


def build_dataset(
    n_traces: int = 12, spacing: timedelta = timedelta(hours=5)
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """(observations, traces by id), a trace every ``spacing``: per trace an AGENT root, a CHAIN, two
    GENERATIONs, a TOOL and, every third trace, an EMBEDDING. Special rows: the cache test vector (trace 0),
    an ERROR generation (trace 3), a failed root agent (trace 5), an unpriced model (trace 7), one malformed
    usage (trace 8); trace 10 is unknown to the traces endpoints (404, not listed)."""
    observations: list[dict[str, Any]] = []
    traces: dict[str, dict[str, Any]] = {}
    for i in range(n_traces):
        trace = _trace(i, spacing)
        start = _parse(trace["timestamp"])
        agent_id = TRACE_IDS_FROM_REFERENCE[1] if i == 0 else f"{i:04x}000000000a01"
        chain_id, gen1, gen2, tool_id, emb_id = (
            f"{i:04x}000000000{s}" for s in ("c01", "g01", "g02", "t01", "e01")
        )
        usage = {"input": 900, "output": 120, "total": 1020}
        cost = {"input": 0.000135, "output": 0.000072, "total": 0.000207}
        if i == 0:  # Langfuse's OTel mapping vector: 120 input (30 read, 10 write) is stored as input=80
            usage = {
                "input": 80,
                "input_cached_tokens": 30,
                "input_cache_creation": 10,
                "output": 40,
                "output_reasoning_tokens": 12,
                "total": 172,
            }
            cost = {
                "input": 0.000012,
                "input_cached_tokens": 0.0000023,
                "input_cache_creation": 0.0000019,
                "output": 0.0000312,
                "total": 0.0000474,
            }
        observations += [
            _observation(
                trace,
                agent_id,
                "AGENT",
                "support-agent",
                None,
                start,
                4.0,
                level="ERROR" if i == 5 else "DEFAULT",
                statusMessage="agent gave up after 3 attempts" if i == 5 else None,
                metadata={"attributes": {"gen_ai.agent.name": "support-agent"}},
            ),
            _observation(
                trace, chain_id, "CHAIN", "answer-question", agent_id, start + timedelta(seconds=0.1), 3.0
            ),
            _generation(trace, gen1, chain_id, start + timedelta(seconds=0.2), usage, cost),
            _generation(
                trace,
                gen2,
                chain_id,
                start + timedelta(seconds=2),
                {"input": 1500, "output": 300, "total": 1800},
                {} if i == 7 else {"input": 0.000225, "output": 0.00018, "total": 0.000405},
                model="my-finetune" if i == 7 else "gpt-4o-mini",
                **(
                    {"level": "ERROR", "statusMessage": "RateLimitError: 429 Too Many Requests"}
                    if i == 3
                    else {}
                ),
            ),
            _observation(trace, tool_id, "TOOL", "search-kb", agent_id, start + timedelta(seconds=3.5), 0.3),
        ]
        if i == 8:
            observations[-2]["usageDetails"] = {"input": "lots", "output": 3}
        if i % 3 == 0:
            observations.append(
                _generation(
                    trace,
                    emb_id,
                    chain_id,
                    start + timedelta(seconds=0.15),
                    {"input": 64, "total": 64},
                    {"input": 0.0000013, "total": 0.0000013},
                    model="text-embedding-3-small",
                    type="EMBEDDING",
                    name="embed-query",
                    timeToFirstToken=None,
                    completionStartTime=None,
                )
            )
        if i % 2 == 0:
            trace["scores"].append(_score(trace, 1 if i % 4 == 0 else 0, start + timedelta(minutes=30)))
        if i != 10:
            traces[trace["id"]] = trace
    return observations, traces


# --- the API --------------------------------------------------------------------------------------------


def _sort_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["startTime"], row["traceId"], row["id"])


def _cut(value: Any) -> Any:
    """A metadata value as the v2 API returns it without ``expandMetadata``: its first 200 characters."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:METADATA_LIMIT] if len(text) > METADATA_LIMIT else value


def encode_cursor(row: dict[str, Any]) -> str:
    payload = {"lastStartTimeTo": row["startTime"], "lastTraceId": row["traceId"], "lastId": row["id"]}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def _decode_cursor(text: str) -> tuple[str, str, str]:
    payload = json.loads(base64.b64decode(text))
    return (iso(_parse(payload["lastStartTimeTo"])), payload["lastTraceId"], payload["lastId"])


def _page_and_limit(q: dict[str, str]) -> tuple[int | None, int | None]:
    page, limit = int(q.get("page", 1)), int(q.get("limit", 50))
    return (page if page >= 1 else None), (limit if 0 <= limit <= LIST_LIMIT else None)


def _meta(page: int, limit: int, total: int) -> dict[str, int]:
    return {
        "page": page,
        "limit": limit,
        "totalItems": total,
        "totalPages": -(-total // limit) if limit else 0,
    }


class LangfuseApi(FakeApi):
    """The read endpoints over an in-memory dataset."""

    def __init__(
        self,
        observations: list[dict[str, Any]] | None = None,
        traces: dict[str, dict[str, Any]] | None = None,
        *,
        list_endpoints: bool = True,
        version: int = 3,
        removed_status: int = 410,
        deprecation_body: bool = True,
        v3_scores: bool = True,
    ) -> None:
        super().__init__()
        if observations is None:
            observations, traces = build_dataset()
        self.observations = sorted(observations, key=_sort_key, reverse=True)  # newest first, like Langfuse
        self.traces = traces or {}
        self.list_endpoints = list_endpoints
        self.version = version
        self.removed_status = removed_status
        self.deprecation_body = deprecation_body
        self.v3_scores = v3_scores

    def route(self, request: Request) -> Response:
        if not self._authorized(request):
            return Response(
                401, {"message": "Invalid credentials. Confirm that you've configured the correct host."}
            )
        if request.method == "GET" and request.path == OBSERVATIONS:
            return self._observations(request)
        if request.method == "GET" and request.path == SCORES_V3 and self.v3_scores:
            return self._scores_v3(request)
        if self.version >= 4 and (request.path in REMOVED_IN_V4 or request.path.startswith(TRACES)):
            return self._removed(request.path)
        if request.method == "GET" and request.path == TRACE_LIST and self.list_endpoints:
            return self._trace_list(request)
        if request.method == "GET" and request.path == SCORES and self.list_endpoints:
            return self._scores(request)
        if request.method == "GET" and request.path.startswith(TRACES):
            trace = self.traces.get(request.path[len(TRACES) :])
            return (
                Response(200, self._trace_fields(trace, request))
                if trace
                else Response(404, {"message": "Trace not found"})
            )
        return Response(404, {"message": f"no route {request.method} {request.path}"})

    def _authorized(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
        return request.headers.get("Authorization") == expected

    def _observations(self, request: Request) -> Response:
        q = {k: v[-1] for k, v in request.query.items()}
        limit = int(q.get("limit", 50))
        if not 0 <= limit <= 1000:
            return Response(400, {"message": "limit must be less than or equal to 1000"})
        groups = {"core", *(q["fields"].split(",") if q.get("fields") else ["basic"])}
        rows = [r for r in self.observations if self._matches(r, q, request.query.get("environment"))]
        if q.get("cursor"):
            last = _decode_cursor(q["cursor"])
            rows = [r for r in rows if _sort_key(r) < last]
        page = rows[:limit]
        meta = {"cursor": encode_cursor(page[-1])} if len(rows) > limit else {}
        expand = set(q["expandMetadata"].split(",")) if q.get("expandMetadata") else set()
        return Response(200, {"data": [self._select(r, groups, expand) for r in page], "meta": meta})

    def _trace_list(self, request: Request) -> Response:
        q = {k: v[-1] for k, v in request.query.items()}
        page, limit = _page_and_limit(q)
        if page is None or limit is None:
            return Response(400, {"message": "invalid page or limit (page >= 1, limit <= 100)"})
        order_field, _, direction = q.get("orderBy", "timestamp.desc").partition(".")
        if order_field not in ("id", "timestamp", "name", "userId", "sessionId") or direction not in (
            "asc",
            "desc",
        ):
            return Response(400, {"message": f"invalid orderBy {q['orderBy']}"})
        environments = request.query.get("environment")
        rows = [
            t
            for t in self.traces.values()
            if (not q.get("fromTimestamp") or _parse(t["timestamp"]) >= _parse(q["fromTimestamp"]))
            and (not q.get("toTimestamp") or _parse(t["timestamp"]) < _parse(q["toTimestamp"]))
            and (not environments or t["environment"] in environments)
        ]
        rows.sort(key=lambda t: (str(t[order_field] or ""), t["id"]), reverse=direction == "desc")
        groups = {"core", *(q["fields"].split(",") if q.get("fields") else TRACE_FIELD_GROUPS)}
        data = [self._trace_with_details(t, groups) for t in rows[(page - 1) * limit : page * limit]]
        return Response(200, {"data": data, "meta": _meta(page, limit, len(rows))})

    def _trace_with_details(self, trace: dict[str, Any], groups: set[str]) -> dict[str, Any]:
        """``TraceWithDetails``: scores and observations as ids; excluded lists empty, excluded metrics -1."""
        out = {k: copy.deepcopy(trace[k]) for g in groups for k in TRACE_FIELD_GROUPS.get(g, ())}
        out["scores"] = [s["id"] for s in trace["scores"]] if "scores" in groups else []
        out["observations"] = (
            [o["id"] for o in self.observations if o["traceId"] == trace["id"]]
            if "observations" in groups
            else []
        )
        if "metrics" not in groups:
            out["latency"], out["totalCost"] = -1, -1
        return out

    def _scores(self, request: Request) -> Response:
        q = {k: v[-1] for k, v in request.query.items()}
        page, limit = _page_and_limit(q)
        if page is None or limit is None:
            return Response(400, {"message": "invalid page or limit (page >= 1, limit <= 100)"})
        wanted = set(q["scoreIds"].split(",")) if q.get("scoreIds") else None
        rows = [s for t in self.traces.values() for s in t["scores"] if wanted is None or s["id"] in wanted]
        rows.sort(key=lambda s: (s["timestamp"], s["id"]), reverse=True)  # newest first
        groups = set(q["fields"].split(",")) if q.get("fields") else {"score", "trace"}
        data = []
        for score in rows[(page - 1) * limit : page * limit]:
            out = copy.deepcopy(score) if "score" in groups else {"id": score["id"]}
            if "trace" in groups:
                trace = self.traces[score["traceId"]]
                out["trace"] = {k: trace[k] for k in ("userId", "tags", "environment", "sessionId")}
            data.append(out)
        return Response(200, {"data": data, "meta": _meta(page, limit, len(rows))})

    def _removed(self, path: str) -> Response:
        """A legacy endpoint on Langfuse v4: gone, with the migration notice when the server gives one."""
        replacement = REMOVED_IN_V4.get(path, REMOVED_IN_V4[TRACE_LIST])
        message = (
            "On Langfuse Cloud, Langfuse v3 is deprecated and this endpoint was removed on November 16, 2026. "
            f"Use `{replacement}` instead."
        )
        body: dict[str, Any] = {"message": message}
        if self.deprecation_body:
            body["_deprecation"] = {
                "message": message,
                "replacement": replacement,
                "docsUrl": UPGRADE_GUIDE,
                "sunsetAt": SUNSET,
            }
        return Response(self.removed_status, body)

    def _scores_v3(self, request: Request) -> Response:
        q = {k: v[-1] for k, v in request.query.items()}
        limit = int(q.get("limit", 50))
        if not 1 <= limit <= LIST_LIMIT:
            return Response(400, {"message": "limit must be between 1 and 100"})
        groups = set(q["fields"].split(",")) if q.get("fields") else set()
        if groups - SCORE_V3_GROUPS.keys():
            return Response(
                400, {"message": f"unknown field groups {sorted(groups - SCORE_V3_GROUPS.keys())}"}
            )
        if q.get("observationId") and not q.get("traceId"):
            return Response(400, {"message": "observationId requires traceId"})
        lists = {
            key: set(q[key].split(","))
            for key in ("id", "name", "traceId", "observationId", "environment")
            if q.get(key)
        }
        rows = [
            s
            for t in self.traces.values()
            for s in t["scores"]
            if all(s[key] in wanted for key, wanted in lists.items())
            and (not q.get("fromTimestamp") or _parse(s["timestamp"]) >= _parse(q["fromTimestamp"]))
            and (not q.get("toTimestamp") or _parse(s["timestamp"]) < _parse(q["toTimestamp"]))
        ]
        rows.sort(key=lambda s: (s["timestamp"], s["id"]), reverse=True)  # newest first
        if q.get("cursor"):
            last = tuple(json.loads(base64.urlsafe_b64decode(q["cursor"])))
            rows = [s for s in rows if (s["timestamp"], s["id"]) < last]
        page = rows[:limit]
        meta: dict[str, Any] = {"limit": limit}
        if len(rows) > limit:
            last_row = [page[-1]["timestamp"], page[-1]["id"]]
            meta["cursor"] = base64.urlsafe_b64encode(json.dumps(last_row).encode()).decode()
        return Response(200, {"data": [score_v3(s, groups) for s in page], "meta": meta})

    @staticmethod
    def _matches(row: dict[str, Any], q: dict[str, str], environments: list[str] | None) -> bool:
        start = _parse(row["startTime"])
        if q.get("fromStartTime") and start < _parse(q["fromStartTime"]):
            return False
        if q.get("toStartTime") and start >= _parse(q["toStartTime"]):
            return False
        return not environments or row["environment"] in environments

    @staticmethod
    def _select(row: dict[str, Any], groups: set[str], expand: set[str]) -> dict[str, Any]:
        keys = [k for g in groups for k in FIELD_GROUPS.get(g, ())]
        out = {k: copy.deepcopy(row[k]) for k in keys if k in row}
        for key in ("input", "output"):  # "Input/output fields are always returned as raw strings."
            if out.get(key) is not None and not isinstance(out[key], str):
                out[key] = json.dumps(out[key])
        if isinstance(
            out.get("metadata"), dict
        ):  # values over 200 characters are cut unless expandMetadata names them
            out["metadata"] = {k: v if k in expand else _cut(v) for k, v in out["metadata"].items()}
        return out

    @staticmethod
    def _trace_fields(trace: dict[str, Any], request: Request) -> dict[str, Any]:
        fields = (request.query.get("fields") or ["core,io,scores,observations,metrics"])[-1].split(",")
        out = copy.deepcopy(trace)
        if "scores" not in fields:
            out["scores"] = []
        if "metrics" not in fields:
            out["latency"], out["totalCost"] = -1, -1
        return out
