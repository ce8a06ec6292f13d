"""Pure mapping of one Helicone request row (``HeliconeRequest``) to canonical records.

Conventions this mapping undoes (FORMATS.md §2):

- ``prompt_tokens`` excludes cache reads/writes and audio, ``completion_tokens`` excludes reasoning: see
  :func:`agentledger.core.tokens.from_helicone`.
- ``cost`` is USD from the REST API but nano-USD (×1e9) in raw ClickHouse exports and Helicone's own test
  records; the caller says which (``cost_unit``), nothing here guesses.
- ``provider`` is either an upper-case ``ProviderName`` or a lower-case ``ModelProviderName``; both become the
  canonical OTel GenAI value (:func:`agentledger.core.providers.normalize_provider`: ``X``/``xai`` ->
  ``x_ai``, ``AWS``/``bedrock`` -> ``aws.bedrock``, ``vertex`` -> ``gcp.vertex_ai``, ``google-ai-studio`` ->
  ``gcp.gemini``, ``GOOGLE`` (any googleapis.com endpoint) -> ``gcp.gen_ai``).
- ``response_status`` is the HTTP status, ``-3`` a cancelled stream.
- A cache hit is a row whose ``cache_reference_id`` is set and not the all-zero UUID.

Identity: the trace is the Helicone session (``Helicone-Session-Id``) when there is one, else the request
alone; the span is ``request_id``. A session becomes a workflow span (``span_id`` = session id) named by
``Helicone-Session-Name``. ``response_id`` is the provider's response id (``response_body.id``, present when
bodies are requested) because that is what an OTel exporter behind the same gateway records; Helicone's own
``response_id`` column is Helicone's row id and links to nothing outside it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from agentledger.core.errors import InputError
from agentledger.core.providers import normalize_provider
from agentledger.core.records import Call, SpanContext, Status
from agentledger.core.tokens import from_helicone
from agentledger.ingest.collectors.base import Normalized
from agentledger.ingest.collectors.timeutil import parse_optional_timestamp, parse_timestamp
from agentledger.ingest.otlp.prompts import request_body_hashes

SOURCE = "helicone"
CostUnit = Literal["usd", "nano_usd"]
NANO = 1_000_000_000
DEFAULT_UUID = "00000000-0000-0000-0000-000000000000"
SESSION_ID = "Helicone-Session-Id"
SESSION_NAME = "Helicone-Session-Name"
SESSION_PATH = "Helicone-Session-Path"
CANCELLED = -3
# Custom properties (Helicone-Property-<Key>) that set canonical attributes, matched case-insensitively.
_PROPERTY_FIELDS = {
    "agent_name": ("agentledger.agent.name", "agent", "agent_name", "agent-name"),
    "feature": ("agentledger.feature", "feature"),
    "task_type": ("agentledger.task.type", "task_type", "task-type"),
    "environment": ("deployment.environment", "environment", "env"),
}


def request_id(record: Any) -> str:
    """The request id for messages (``<no id>`` when the row has none)."""
    if isinstance(record, dict) and record.get("request_id"):
        return str(record["request_id"])
    return "<no id>"


def normalize_request(record: dict[str, Any], *, project_id: str, cost_unit: CostUnit) -> Normalized:
    """Map one request row; raise ``InputError`` naming the request when a field cannot be read."""
    try:
        return _normalize(record, project_id, cost_unit)
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"Helicone request {request_id(record)}: {type(exc).__name__}: {exc}") from exc


def _normalize(record: dict[str, Any], project_id: str, cost_unit: CostUnit) -> Normalized:
    if not isinstance(record, dict):
        raise InputError(f"Helicone request is not an object: {type(record).__name__}")
    for key in ("request_id", "request_created_at"):
        if not record.get(key):
            raise InputError(f"Helicone request {request_id(record)}: missing {key}")
    props = properties(record)
    session = props.get(SESSION_ID) or None
    call = _call(record, props, session, project_id, cost_unit)
    out = Normalized(calls=[call], spans=[_call_span(call)])
    if session:
        out.spans.append(_session_span(session, props, project_id))
    return out


def properties(record: dict[str, Any]) -> dict[str, str]:
    """Custom properties and session headers (``properties``, falling back to ``request_properties``)."""
    props = record.get("properties") or record.get("request_properties") or {}
    if not isinstance(props, dict):
        raise ValueError(f"properties must be an object, got {type(props).__name__}")
    return {str(k): str(v) for k, v in props.items() if v is not None}


def _call(
    record: dict[str, Any], props: dict[str, str], session: str | None, project_id: str, cost_unit: CostUnit
) -> Call:
    tokens = from_helicone(
        record.get("prompt_tokens"),
        record.get("completion_tokens"),
        cache_read=record.get("prompt_cache_read_tokens"),
        cache_write=record.get("prompt_cache_write_tokens"),
        reasoning=record.get("reasoning_tokens"),
        audio=record.get("prompt_audio_tokens"),
    )
    started = parse_timestamp(record["request_created_at"])
    ended = parse_optional_timestamp(record.get("response_created_at"))
    status, error_type = response_status(record.get("response_status"))
    picked = _pick_properties(props)
    rid = str(record["request_id"])
    prompt_hash, prefix_hash = _prompt_hashes(record.get("request_body"))
    return Call(
        source=SOURCE,
        trace_id=session or rid,
        span_id=rid,
        started_at=started,
        project_id=project_id,
        source_record_id=rid,
        parent_span_id=session,
        session_id=session,
        user_id=record.get("request_user_id") or None,
        agent_name=picked.get("agent_name"),
        feature=picked.get("feature"),
        task_type=picked.get("task_type"),
        operation=_operation(record.get("request_path")),
        environment=picked.get("environment"),
        tags=_tags(props),
        provider=normalize_provider(record.get("provider")),
        model_requested=record.get("request_model") or record.get("model_override") or None,
        model=record.get("response_model") or record.get("model") or None,
        ended_at=ended,
        latency_ms=_latency_ms(record.get("delay_ms"), started, ended),
        ttft_ms=_positive(record.get("time_to_first_token")),
        input_tokens=tokens.input_tokens,
        cache_read_tokens=tokens.cache_read_tokens,
        cache_write_tokens=tokens.cache_write_tokens,
        output_tokens=tokens.output_tokens,
        reasoning_tokens=tokens.reasoning_tokens,
        max_tokens=_max_tokens(record),
        finish_reason=_finish_reason(record.get("response_body")),
        status=status,
        error_type=error_type,
        response_cache_hit=cache_hit(record),
        prompt_hash=prompt_hash,
        prefix_hash=prefix_hash,
        response_id=_provider_response_id(record.get("response_body")),
        cost_reported_usd=reported_cost(record, cost_unit, tokens.input_tokens + tokens.output_tokens),
        raw=json.dumps(record, sort_keys=True, default=str),
    )


def _call_span(call: Call) -> SpanContext:
    return SpanContext(
        source=SOURCE,
        trace_id=call.trace_id,
        span_id=call.span_id,
        project_id=call.project_id,
        parent_span_id=call.parent_span_id,
        name=call.model,
        kind="llm",
        started_at=call.started_at,
        ended_at=call.ended_at,
        status=call.status,
        agent_name=call.agent_name,
        task_type=call.task_type,
        session_id=call.session_id,
        user_id=call.user_id,
    )


def _session_span(session: str, props: dict[str, str], project_id: str) -> SpanContext:
    """The session as a workflow span; only session-level fields, so every request of it yields the same."""
    name = props.get(SESSION_NAME) or None
    return SpanContext(
        source=SOURCE,
        trace_id=session,
        span_id=session,
        project_id=project_id,
        name=name,
        kind="workflow",
        workflow_name=name,
        session_id=session,
    )


def reported_cost(record: dict[str, Any], cost_unit: CostUnit, tokens: int) -> float | None:
    """Helicone's cost in USD; None when absent, or 0 on a call that used tokens (no price known to Helicone)."""
    raw = record.get("cost")
    if raw is None:
        raw, cost_unit = record.get("costUSD"), "usd"  # legacy column, always USD
    if raw is None:
        return None
    value = float(raw) / NANO if cost_unit == "nano_usd" else float(raw)
    if value < 0:
        raise ValueError(f"negative cost {raw}")
    if value == 0 and tokens > 0:
        return None
    return value


def response_status(code: Any) -> tuple[Status, str | None]:
    """(status, error_type) from ``response_status``: ≥400 error, -3 a cancelled stream, 2xx/3xx ok."""
    if code is None:
        return "unset", None
    code = int(float(code))
    if code == CANCELLED:
        return "error", "cancelled"  # paid for, produced nothing usable
    if code >= 400:
        return "error", f"http_{code}"
    if 200 <= code < 400:
        return "ok", None
    return "unset", None  # 0 / -1 / -2: Helicone has no final status for the request


def cache_hit(record: dict[str, Any]) -> bool | None:
    """True for a response served from Helicone's cache; None when caching was off (the source cannot say)."""
    ref = record.get("cache_reference_id")
    if ref and str(ref) != DEFAULT_UUID:
        return True
    return False if record.get("cache_enabled") else None


def _pick_properties(props: dict[str, str]) -> dict[str, str]:
    lowered = {k.lower(): v for k, v in props.items()}
    lowered.update({k.lower().removeprefix("helicone-property-"): v for k, v in props.items()})
    picked = {}
    for field_name, keys in _PROPERTY_FIELDS.items():
        for key in keys:
            if lowered.get(key):
                picked[field_name] = lowered[key]
                break
    return picked


def _tags(props: dict[str, str]) -> dict[str, str]:
    """Custom properties as tags; the session id/name are columns already, the path is kept as a tag."""
    return {k: v for k, v in props.items() if k not in (SESSION_ID, SESSION_NAME)}


def _operation(path: Any) -> str | None:
    text = str(path or "")
    if "embedding" in text:
        return "embeddings"
    if "chat/completions" in text or "/messages" in text:
        return "chat"
    if text.endswith("/completions"):
        return "text_completion"
    if "/responses" in text:
        return "responses"
    return None


def _latency_ms(delay_ms: Any, start: datetime, end: datetime | None) -> float | None:
    """``delay_ms`` when Helicone measured it; 0 there means not measured, so use the timestamps."""
    if delay_ms is not None and float(delay_ms) > 0:
        return float(delay_ms)
    if end is None:
        return None
    delta = (end - start).total_seconds() * 1000.0
    return delta if delta >= 0 else None


def _positive(value: Any) -> float | None:
    """A measurement where 0 means not measured (``time_to_first_token`` of a non-streamed call)."""
    if value is None:
        return None
    number = float(value)
    return number if number > 0 else None


def _body(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def _prompt_hashes(request_body: Any) -> tuple[str | None, str | None]:
    """The prompt and prefix fingerprints of the provider request (FORMATS.md §2: hash ``request_body``).

    Only a body that is the request object counts (:func:`request_body_hashes`: Chat Completions
    ``messages``, the Responses API's ``input``/``instructions``, Anthropic's ``messages``/``system``, Gemini's
    ``contents``, with ``tools``). The API's ``{}`` placeholder (the body is then behind ``signed_body_url``)
    and the flattened search text of exports give none.
    """
    return request_body_hashes(_body(request_body)) or (None, None)


def _max_tokens(record: dict[str, Any]) -> int | None:
    schema = record.get("llmSchema") if isinstance(record.get("llmSchema"), dict) else {}
    request = schema.get("request") if isinstance(schema.get("request"), dict) else {}
    body = _body(record.get("request_body"))
    for source in (request, body):
        for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            value = source.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
    return None


def _finish_reason(response_body: Any) -> str | None:
    body = _body(response_body)
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        return str(reason) if reason else None
    reason = body.get("stop_reason")  # Anthropic messages
    return str(reason) if reason else None


def _provider_response_id(response_body: Any) -> str | None:
    value = _body(response_body).get("id")
    return value if isinstance(value, str) and value else None
