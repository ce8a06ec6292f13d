"""LiteLLM records -> canonical calls: one mapping shared by the four ways in.

LiteLLM reaches agentledger as a ``LiteLLM_SpendLogs`` row (the proxy's Postgres table, its
``/spend/logs/v2`` API and its exports) or as a ``StandardLoggingPayload`` (SLP: what callbacks receive,
our :mod:`agentledger.ingest.litellm_callback` included). Both carry the same call, so both map here to
the same :class:`~agentledger.core.records.Call`, with ``source="litellm"`` whatever the way in: a call
seen by the callback and again by the Postgres collector lands on the same identity and is written once.

Identity (see FORMATS.md §3):

- ``trace_id``: LiteLLM has no trace column. The SLP ``trace_id`` (``litellm_trace_id``, or the session
  id when the caller gave one) groups the attempts of one request, retries and fallbacks included, and the
  proxy copies exactly that value into the SpendLogs ``session_id`` column. So trace = SLP ``trace_id`` =
  SpendLogs ``session_id``; when absent (old payloads), the ``litellm_call_id``, else the request id.
  A retry/fallback group is therefore one task.
- ``span_id``: the request id (SpendLogs ``request_id`` = SLP ``id``). A cache hit returns the cached
  response, id included, so LiteLLM appends ``_cache_hit<time.time()>`` to that id, separately in the SLP
  and in the SpendLogs row (two different times; older versions left the SLP id as it was). For cache hits
  the span is therefore the response id without that suffix plus ``_cache_hit:<litellm_call_id>``, the same
  whichever way the call came in and distinct for every hit.
- ``response_id``: the provider's response id, i.e. the request id (without a cache hit's suffix), because
  that is the id the same call carries wherever else LiteLLM logs it: the generation id of its Langfuse logger
  (``time-HH-MM-SS-ffffff_<response id>``), ``gen_ai.response.id`` of its OTel callback, a gateway's response
  body. A call without a provider id (an embedding, a failed attempt) has its ``litellm_call_id`` there.

``provider`` is ``custom_llm_provider`` in its canonical OTel GenAI spelling
(:func:`agentledger.core.providers.normalize_provider`): ``vertex_ai``/``vertex_ai_beta`` -> ``gcp.vertex_ai``,
``gemini`` -> ``gcp.gemini``, ``bedrock``/``bedrock_converse`` -> ``aws.bedrock``, ``azure`` ->
``azure.ai.openai``, ``azure_ai`` -> ``azure.ai.inference``, ``xai`` -> ``x_ai``, ``mistral`` -> ``mistral_ai``,
``together_ai`` -> ``together``, ``fireworks_ai`` -> ``fireworks``, ``cohere_chat`` -> ``cohere``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any, Literal

from agentledger.core.errors import InputError
from agentledger.core.providers import normalize_provider
from agentledger.core.records import Call, Status
from agentledger.core.tokens import TokenCounts, from_openai_usage
from agentledger.ingest.collectors.base import Normalized
from agentledger.ingest.otlp.prompts import request_hashes

SOURCE = "litellm"

RecordKind = Literal["spend_log", "payload"]

# call_type without its async "a" prefix -> operation name (OTel gen_ai.operation.name where one exists).
_OPERATIONS = {
    "completion": "chat",
    "anthropic_messages": "chat",
    "text_completion": "text_completion",
    "embedding": "embeddings",
    "responses": "responses",
    "image_generation": "image_generation",
    "image_edit": "image_edit",
    "transcription": "transcription",
    "speech": "speech",
    "rerank": "rerank",
    "moderation": "moderation",
    "search": "search",
}

# Tag and spend_logs_metadata keys that set a canonical attribute (first match wins).
_AGENT_KEYS = ("agentledger.agent.name", "agent_name", "agent")
_AGENT_VERSION_KEYS = ("agentledger.agent.version", "agent_version")
_FEATURE_KEYS = ("agentledger.feature", "feature")
_TASK_TYPE_KEYS = ("agentledger.task.type", "task_type")
_ENVIRONMENT_KEYS = ("deployment.environment", "environment", "env")
_MAX_TOKENS_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_EMPTY_JSON = ("", "{}", "[]", "null")
# What LiteLLM appends to a cache hit's request id: f"{id}_cache_hit{time.time()}".
_CACHE_HIT_SUFFIX = re.compile(r"_cache_hit\d+(?:\.\d+)?(?:e[-+]?\d+)?$")


# --- record shape --------------------------------------------------------------------------------


# Larger token counts or costs are not real calls (and overflow int64 sums): the record is refused.
MAX_QUANTITY = 10**12


def record_kind(record: dict[str, Any]) -> RecordKind:
    """``spend_log`` for a SpendLogs row (it has ``request_id``), ``payload`` for a StandardLoggingPayload."""
    if "request_id" in record:
        return "spend_log"
    if "id" in record:
        return "payload"
    raise InputError(
        f"LiteLLM record {record_id(record)}: neither 'request_id' (SpendLogs row) nor 'id' (StandardLoggingPayload)"
    )


def record_id(record: dict[str, Any]) -> str:
    """The request id of a SpendLogs row or SLP, for error messages (``<no id>`` when missing)."""
    if not isinstance(record, dict):
        return f"<not an object: {type(record).__name__}>"
    value = record.get("request_id", record.get("id"))
    return str(value) if value not in (None, "") else "<no id>"


def record_started_at(record: dict[str, Any]) -> datetime:
    """The record's start time as aware UTC (collectors order and filter on it)."""
    if not isinstance(record, dict):
        raise InputError(f"LiteLLM record {record_id(record)}: expected a JSON object")
    return parse_time(record.get("startTime"), "startTime", record_id(record))


# --- value parsing (each names the record and field on failure) -----------------------------------


def parse_time(value: Any, field: str, rid: str) -> datetime:
    """Accept a datetime, an epoch number (seconds), or a timestamp string; naive values are UTC.

    The SLP types ``startTime`` as float epoch, but LiteLLM's own fixtures and the SpendLogs exports hold
    strings like ``"2025-01-24 09:20:46.847371"``; psycopg returns naive datetimes for ``timestamp(3)``.
    """
    if value is None or value == "":
        raise InputError(f"LiteLLM record {rid}: field {field!r} is missing")
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parsed = datetime.fromtimestamp(float(value), UTC)
        elif isinstance(value, str):
            parsed = _parse_time_text(value.strip())
        else:
            raise TypeError(type(value).__name__)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        raise InputError(f"LiteLLM record {rid}: field {field!r} is not a timestamp: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_time_text(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _optional_time(record: dict[str, Any], field: str, rid: str) -> datetime | None:
    value = record.get(field)
    return None if value in (None, "") else parse_time(value, field, rid)


def _int(value: Any, field: str, rid: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"LiteLLM record {rid}: field {field!r} is not a token count: {value!r}")
    try:
        number = float(value)
    except ValueError as exc:
        raise InputError(f"LiteLLM record {rid}: field {field!r} is not a token count: {value!r}") from exc
    if not math.isfinite(number) or number < 0 or number != int(number) or number > MAX_QUANTITY:
        raise InputError(f"LiteLLM record {rid}: field {field!r} is not a token count: {value!r:.60}")
    return int(number)


def _float(value: Any, field: str, rid: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"LiteLLM record {rid}: field {field!r} is not a number: {value!r}")
    try:
        number = float(value)
    except ValueError as exc:
        raise InputError(f"LiteLLM record {rid}: field {field!r} is not a number: {value!r}") from exc
    if not math.isfinite(number) or abs(number) > MAX_QUANTITY:
        raise InputError(f"LiteLLM record {rid}: field {field!r} is not a finite number: {value!r:.60}")
    return number


def _json_field(record: dict[str, Any], field: str, rid: str) -> Any:
    """A JSON column that exports hold as a string and payloads/psycopg as an object: parse either."""
    value = record.get(field)
    if not isinstance(value, str):
        return value
    if value.strip() in ("", "null"):
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise InputError(f"LiteLLM record {rid}: field {field!r} is not valid JSON: {exc}") from exc


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """Empty strings and ``None`` are both "not set" in LiteLLM rows (columns default to '')."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_cache_hit(value: Any) -> bool | None:
    """``cache_hit`` is the STRING "True"/"False"/"None" in SpendLogs and a bool or null in the SLP."""
    if isinstance(value, bool):
        return value
    text = _text(value)
    if text is None:
        return None
    return {"true": True, "false": False}.get(text.lower())


# --- field extraction, kind by kind --------------------------------------------------------------


def _metadata(record: dict[str, Any], rid: str) -> dict[str, Any]:
    return _dict(_json_field(record, "metadata", rid))


def _usage(kind: RecordKind, record: dict[str, Any], metadata: dict[str, Any], rid: str) -> TokenCounts:
    """Canonical token counts: ``prompt_tokens`` is already inclusive of cache tokens (OpenAI convention)."""
    usage_object = _dict(metadata.get("usage_object"))
    if kind == "payload" and not usage_object:
        usage_object = _dict(_dict(record.get("hidden_params")).get("usage_object")) or _dict(
            _dict(_json_field(record, "response", rid)).get("usage")
        )
    extra = _dict(metadata.get("additional_usage_values"))
    prompt_details = _dict(usage_object.get("prompt_tokens_details")) or _dict(
        extra.get("prompt_tokens_details")
    )
    completion_details = _dict(usage_object.get("completion_tokens_details")) or _dict(
        extra.get("completion_tokens_details")
    )
    # LiteLLM's Usage for Anthropic-style providers also carries the counts at its top level.
    cache_read = (
        prompt_details.get("cached_tokens")
        or usage_object.get("cache_read_input_tokens")
        or extra.get("cache_read_input_tokens")
    )
    cache_write = (
        prompt_details.get("cache_creation_tokens")
        or prompt_details.get("cache_write_tokens")
        or usage_object.get("cache_creation_input_tokens")
        or extra.get("cache_creation_input_tokens")
    )
    prompt = _int(record.get("prompt_tokens"), "prompt_tokens", rid)
    completion = _int(record.get("completion_tokens"), "completion_tokens", rid)
    read = _int(cache_read, "cache_read_input_tokens", rid)
    write = _int(cache_write, "cache_creation_input_tokens", rid)
    reasoning = _int(completion_details.get("reasoning_tokens"), "reasoning_tokens", rid)
    # Cache counts above prompt_tokens (reasoning above completion_tokens) can only mean the remainder was
    # logged: the provider's raw counts, as LiteLLM versions before its Anthropic normalization wrote them.
    # The subsets are added back, as the OTLP mapping does, rather than dropping the call and its spend.
    if read + write > prompt:
        prompt += read + write
    if reasoning > completion:
        completion += reasoning
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "prompt_tokens_details": {"cached_tokens": read, "cache_creation_tokens": write},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    try:
        return from_openai_usage(usage)
    except ValueError as exc:  # e.g. cache tokens above prompt_tokens: the counts contradict each other
        raise InputError(f"LiteLLM record {rid}: token counts are inconsistent: {exc}") from exc


def _request_tags(record: dict[str, Any], rid: str) -> list[str]:
    tags = _json_field(record, "request_tags", rid)
    return [str(t) for t in tags if t not in (None, "")] if isinstance(tags, list) else []


def _tag_map(record: dict[str, Any], metadata: dict[str, Any], rid: str) -> dict[str, str]:
    """``request_tags`` ("key:value" or bare) plus the caller's ``spend_logs_metadata`` key/values."""
    tags: dict[str, str] = {}
    for tag in _request_tags(record, rid):
        key, sep, value = tag.partition(":") if ":" in tag else tag.partition("=")
        tags[key.strip()] = value.strip() if sep else ""
    for key, value in _dict(metadata.get("spend_logs_metadata")).items():
        if value is not None:
            tags[str(key)] = (
                value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
            )
    return tags


def _litellm_tags(kind: RecordKind, record: dict[str, Any], metadata: dict[str, Any]) -> dict[str, str]:
    """Gateway attribution kept as ``litellm.*`` tags: the internal user is not the end user."""
    if kind == "spend_log":
        values = {
            "user": record.get("user") or metadata.get("user_api_key_user_id"),
            "team_id": record.get("team_id") or metadata.get("user_api_key_team_id"),
            "organization_id": record.get("organization_id") or metadata.get("user_api_key_org_id"),
            "api_key_hash": record.get("api_key"),
        }
    else:
        values = {
            "user": metadata.get("user_api_key_user_id"),
            "team_id": metadata.get("user_api_key_team_id"),
            "organization_id": metadata.get("user_api_key_org_id"),
            "api_key_hash": metadata.get("user_api_key_hash"),
        }
    values |= {
        "key_alias": metadata.get("user_api_key_alias"),
        "model_id": record.get("model_id"),
        "call_type": record.get("call_type"),
        "mcp_tool": record.get("mcp_namespaced_tool_name"),
    }
    return {f"litellm.{k}": text for k, v in values.items() if (text := _text(v)) is not None}


def _first(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((text for k in keys if (text := _text(tags.get(k))) is not None), None)


def _litellm_call_id(record: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    return _text(record.get("litellm_call_id")) or _text(metadata.get("litellm_call_id"))


def _trace_id(kind: RecordKind, record: dict[str, Any], call_id: str | None, rid: str) -> str:
    group = record.get("trace_id") if kind == "payload" else record.get("session_id")
    return _text(group) or call_id or rid


def _span_id(record: dict[str, Any], call_id: str | None, rid: str) -> str:
    if parse_cache_hit(record.get("cache_hit")) and call_id and call_id != rid:
        return f"{_CACHE_HIT_SUFFIX.sub('', rid)}_cache_hit:{call_id}"
    return rid


def _session_id(kind: RecordKind, record: dict[str, Any], metadata: dict[str, Any], trace_id: str) -> str:
    """The SLP's own ``session_id`` when set; the proxy stores the trace group in SpendLogs ``session_id``.

    Without one, the session is the trace (DESIGN: "a session is session_id where the source gives one,
    otherwise the trace"), which is also what the SpendLogs column holds for the same call.
    """
    explicit = _text(record.get("session_id")) if kind == "payload" else None
    requester = _dict(metadata.get("requester_metadata"))
    return explicit or _text(requester.get("session_id")) or trace_id


def _error(kind: RecordKind, record: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    info = _dict(record.get("error_information")) if kind == "payload" else {}
    info = info or _dict(metadata.get("error_information"))
    return _text(info.get("error_class")) or _text(info.get("error_code"))


def _status(record: dict[str, Any], metadata: dict[str, Any]) -> Status:
    value = (_text(record.get("status")) or _text(metadata.get("status")) or "").lower()
    return {"success": "ok", "failure": "error"}.get(value, "unset")  # type: ignore[return-value]


def _latency_ms(
    kind: RecordKind, record: dict[str, Any], started: datetime, ended: datetime | None, rid: str
) -> float | None:
    """``request_duration_ms`` of a spend log, else ``endTime − startTime``. A callback payload's
    ``response_time`` is the last resort: for a streamed call LiteLLM sets it to the time to the first chunk."""
    if kind == "spend_log":
        value = _float(record.get("request_duration_ms"), "request_duration_ms", rid)
        if value is not None:
            return value
    if ended is not None:
        return (ended - started).total_seconds() * 1000.0
    if kind == "spend_log":
        return None
    seconds = _float(record.get("response_time"), "response_time", rid)
    return None if seconds is None else seconds * 1000.0


def _ttft_ms(record: dict[str, Any], started: datetime, rid: str) -> float | None:
    """``completionStartTime − startTime``; for a non-streamed call LiteLLM sets it to ``endTime``."""
    first = _optional_time(record, "completionStartTime", rid)
    return None if first is None else max((first - started).total_seconds() * 1000.0, 0.0)


def _max_tokens(kind: RecordKind, record: dict[str, Any], rid: str) -> int | None:
    params = _dict(record.get("model_parameters")) if kind == "payload" else {}
    params = params or _dict(_json_field(record, "proxy_server_request", rid))
    value = next((params[k] for k in _MAX_TOKENS_KEYS if params.get(k) not in (None, "")), None)
    return None if value is None else _int(value, "max_tokens", rid)


def _finish_reason(record: dict[str, Any], rid: str) -> str | None:
    response = _json_field(record, "response", rid)
    choices = _dict(response).get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return _text(choices[0].get("finish_reason"))
    return None


def _prompt_hashes(kind: RecordKind, record: dict[str, Any], rid: str) -> tuple[str | None, str | None]:
    """``(prompt_hash, prefix_hash)`` with the same fingerprint as the OTLP path; ``None`` when prompts are not
    stored (``messages`` is ``"{}"`` unless the proxy stores prompts)."""
    messages = _json_field(record, "messages", rid)
    if messages in (None, {}, []) or (isinstance(messages, str) and messages.strip() in _EMPTY_JSON):
        return None, None
    params = _dict(record.get("model_parameters")) if kind == "payload" else {}
    tools = (params or _dict(_json_field(record, "proxy_server_request", rid))).get("tools")
    return request_hashes(messages, tools=tools)


def operation_name(call_type: str | None) -> str | None:
    """``acompletion`` -> ``chat``, ``aembedding`` -> ``embeddings``; unknown call types are kept as they are."""
    text = _text(call_type)
    if text is None:
        return None
    base = text[1:] if text.startswith("a") and text[1:] in _OPERATIONS else text
    return _OPERATIONS.get(base, text)


def _cost(kind: RecordKind, record: dict[str, Any], rid: str) -> float | None:
    if kind == "spend_log":
        return _float(record.get("spend"), "spend", rid)
    if record.get("response_cost_failure_debug_info"):
        return None  # LiteLLM could not price the call: its 0 is not a real figure
    return _float(record.get("response_cost"), "response_cost", rid)


def _model(kind: RecordKind, record: dict[str, Any]) -> str | None:
    hidden = _dict(record.get("hidden_params")) if kind == "payload" else {}
    return _text(record.get("model")) or _text(hidden.get("litellm_model_name"))


# --- the mapping ---------------------------------------------------------------------------------


def to_call(record: dict[str, Any], *, project_id: str) -> Call:
    """Map one SpendLogs row or StandardLoggingPayload to a canonical call. Pure.

    Raises ``InputError`` naming the record id and the field when the record cannot be read.
    """
    if not isinstance(record, dict):
        raise InputError(f"LiteLLM record {record_id(record)}: expected a JSON object")
    kind = record_kind(record)
    rid = _text(record.get("request_id" if kind == "spend_log" else "id"))
    if rid is None:
        raise InputError(
            f"LiteLLM record <no id>: field {'request_id' if kind == 'spend_log' else 'id'!r} is empty"
        )
    metadata = _metadata(record, rid)
    started = parse_time(record.get("startTime"), "startTime", rid)
    ended = _optional_time(record, "endTime", rid)
    call_id = _litellm_call_id(record, metadata)
    trace_id = _trace_id(kind, record, call_id, rid)
    user_tags = _tag_map(record, metadata, rid)
    tokens = _usage(kind, record, metadata, rid)
    prompt_hash, prefix_hash = _prompt_hashes(kind, record, rid)
    return Call(
        source=SOURCE,
        project_id=project_id,
        source_record_id=rid,
        trace_id=trace_id,
        span_id=_span_id(record, call_id, rid),
        session_id=_session_id(kind, record, metadata, trace_id),
        user_id=_text(record.get("end_user")) or _text(metadata.get("user_api_key_end_user_id")),
        agent_name=_text(record.get("agent_id"))
        or _text(record.get("billing_agent_id"))
        or _first(user_tags, _AGENT_KEYS),
        agent_version=_first(user_tags, _AGENT_VERSION_KEYS),
        feature=_first(user_tags, _FEATURE_KEYS),
        task_type=_first(user_tags, _TASK_TYPE_KEYS),
        operation=operation_name(record.get("call_type")),
        environment=_first(user_tags, _ENVIRONMENT_KEYS),
        tags=user_tags | _litellm_tags(kind, record, metadata),
        provider=normalize_provider(_text(record.get("custom_llm_provider"))),
        model_requested=_text(record.get("model_group")),
        model=_model(kind, record),
        started_at=started,
        ended_at=ended,
        latency_ms=_latency_ms(kind, record, started, ended, rid),
        ttft_ms=_ttft_ms(record, started, rid),
        input_tokens=tokens.input_tokens,
        cache_read_tokens=tokens.cache_read_tokens,
        cache_write_tokens=tokens.cache_write_tokens,
        output_tokens=tokens.output_tokens,
        reasoning_tokens=tokens.reasoning_tokens,
        max_tokens=_max_tokens(kind, record, rid),
        finish_reason=_finish_reason(record, rid),
        status=_status(record, metadata),
        error_type=_error(kind, record, metadata),
        response_cache_hit=parse_cache_hit(record.get("cache_hit")),
        prompt_hash=prompt_hash,
        prefix_hash=prefix_hash,
        response_id=_CACHE_HIT_SUFFIX.sub("", rid),
        cost_reported_usd=_cost(kind, record, rid),
        raw=json.dumps(record, default=str, separators=(",", ":")),
    )


def normalize(record: dict[str, Any], *, project_id: str) -> Normalized:
    """One record -> one call. LiteLLM has no span tree, so there are no context spans."""
    return Normalized(calls=[to_call(record, project_id=project_id)])


class LiteLLMRecords:
    """The pure half every LiteLLM collector shares: ``normalize`` and ``record_id`` (mixed into each)."""

    name = SOURCE

    def normalize(self, record: dict[str, Any], *, project_id: str) -> Normalized:
        """Map one SpendLogs row or StandardLoggingPayload to canonical records (pure)."""
        return normalize(record, project_id=project_id)

    def record_id(self, record: dict[str, Any]) -> str:
        """The request id of the record, for error messages."""
        return record_id(record)
