"""Pure mapping of one Langfuse v2 observation (``ObservationV2``) to canonical records.

Conventions this mapping undoes (FORMATS.md §1):

- ``usageDetails.input`` excludes cache reads/writes and ``output`` excludes reasoning: the details are added
  back by :func:`agentledger.core.tokens.from_langfuse_usage`. One writer breaks that rule: LiteLLM's Langfuse
  logger subtracts only the cache reads from ``input`` and reports the cache writes beside it as well
  (``litellm/integrations/langfuse/langfuse.py``), so its ``input`` is first reduced by the writes (its
  ``total`` shows it: ``input + cache reads + output == total``).
- ``latency`` and ``timeToFirstToken`` are **seconds** on observations (the metrics API uses ms).
- ``costDetails.total`` (= ``totalCost``) is Langfuse's own price, kept as ``cost_reported_usd``. A total of 0
  on a call that used tokens means Langfuse had no price for the model, so it is read as unknown, not free.
- ``level == ERROR`` is a failed observation; ``statusMessage`` says why.
- Langfuse's OTel ingestion makes a generation of every span with a model or usage, also of a framework's
  span that repeats its calls' usage (the AI SDK's ``ai.generateText`` above its ``doGenerate`` steps): where the
  span attributes in the metadata mark such a span, it is kept as context, as the OTLP path keeps it.
- The trace context (session, user, environment, tags, release, trace name) is read from the observation
  first; ``_trace`` (what the trace endpoints or the v3 scores list gave) fills what it lacks and brings the
  scores. Trace scores come as ``ScoreV1`` (``value`` a number, ``stringValue`` a text); a ``ScoreV3`` (one
  polymorphic ``value``) is brought to that shape by :func:`score_from_v3`.
- The OTel span attributes of an observation are one metadata value (``attributes``), which the API cuts at
  200 characters unless asked for in full; the collector asks, and a value that still arrives as JSON text
  is parsed.
- Langfuse has no provider field: the provider comes from the span attributes in the metadata, with the
  OTLP path's precedence, else from ``modelParameters.system``, and is written in its canonical OTel GenAI
  spelling (:func:`agentledger.core.providers.provider_of`): ``vertex_ai`` -> ``gcp.vertex_ai``, ``OpenAI`` ->
  ``openai``, an OpenInference ``llm.provider`` host ``azure`` -> ``azure.ai.openai``.

The prompt fingerprints (``prompt_hash``, ``prefix_hash``) are taken from the observation's ``input`` when the
collector fetched it (``include_inputs``; the API returns it as raw text, parsed here when it is JSON) with the
functions the other sources use (:mod:`agentledger.ingest.otlp.prompts`): an object naming messages or system
instructions is a provider request (:func:`~agentledger.ingest.otlp.prompts.request_body_hashes`: ``messages``,
``input``, ``prompt`` or ``contents``; ``system`` or ``instructions``; ``tools``; the model and sampling
parameters do not count), a list is the messages, any other value is hashed as it is. System instructions and
tool definitions kept among the span attributes (``gen_ai.system_instructions``, ``gen_ai.tool.definitions``...)
count where the input lacks them. ``agentledger.prompt_hash``/``agentledger.prefix_hash`` among the span
attributes win, as on the OTLP path, whether or not the input was fetched. The input and output are not kept in
the audit record.

``response_id`` links a call that another source also recorded (the ledger view counts it once), so it is
the provider's response id whenever the observation reveals it: ``gen_ai.response.id`` among the span
attributes of an OTel-ingested observation, or the id LiteLLM's Langfuse logger builds as
``time-HH-MM-SS-ffffff_<provider response id>`` (``litellm.utils.get_logging_id``) with its prefix removed.
Otherwise it is the observation id itself, the generation id an application may have set and logged
elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime
from typing import Any

from agentledger.core.errors import InputError
from agentledger.core.providers import normalize_provider, provider_of
from agentledger.core.records import Call, Outcome, SpanContext, SpanKind, Status
from agentledger.core.tokens import TokenCounts, from_langfuse_usage
from agentledger.ingest.collectors.base import Normalized
from agentledger.ingest.collectors.timeutil import parse_optional_timestamp, parse_timestamp
from agentledger.ingest.otlp.conventions import LANGFUSE_TYPE, OWN_PREFIX_HASH, OWN_PROMPT_HASH, classify
from agentledger.ingest.otlp.limits import clip
from agentledger.ingest.otlp.prompts import recorded_system_and_tools, request_body_hashes, request_hashes

SOURCE = "langfuse"
CALL_TYPES = {"GENERATION": "chat", "EMBEDDING": "embeddings"}  # observation type -> operation
# A plain SPAN is whatever an SDK decorator wrapped (often a helper function), so it is kept as context
# ("other") rather than as a task boundary; CHAIN spans and the trace itself name the workflow.
SPAN_KINDS: dict[str, SpanKind] = {
    "GENERATION": "llm",
    "EMBEDDING": "llm",
    "AGENT": "agent",
    "CHAIN": "workflow",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
}
_SUCCESS_WORDS = {"success", "succeeded", "true", "pass", "passed", "yes", "ok", "1", "completed"}
_FAILURE_WORDS = {"failure", "failed", "fail", "false", "no", "error", "0", "incomplete"}
_META_TASK_TYPE = "agentledger.task.type"
_META_OUTCOME = "agentledger.task.outcome"
_META_AGENT = ("gen_ai.agent.name", "agent.name")
_META_RESPONSE_ID = ("gen_ai.response.id",)
_LITELLM_GENERATION_ID = re.compile(r"^time-\d{2}-\d{2}-\d{2}-\d{6}_(.+)$")
_ERROR_TYPE_LIMIT = 200


def observation_id(record: Any) -> str:
    """The observation id for messages (``<no id>`` when the record has none)."""
    if isinstance(record, dict) and record.get("id"):
        return str(record["id"])
    return "<no id>"


def normalize_observation(
    record: dict[str, Any], *, project_id: str, outcome_scores: tuple[str, ...]
) -> Normalized:
    """Map one observation; raise ``InputError`` naming the observation when a field cannot be read."""
    try:
        return _normalize(record, project_id, outcome_scores)
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(
            f"Langfuse observation {observation_id(record)}: {type(exc).__name__}: {exc}"
        ) from exc


def _normalize(record: dict[str, Any], project_id: str, outcome_scores: tuple[str, ...]) -> Normalized:
    if not isinstance(record, dict):
        raise InputError(f"Langfuse observation is not an object: {type(record).__name__}")
    for key in ("id", "startTime"):
        if not record.get(key):
            raise InputError(f"Langfuse observation {observation_id(record)}: missing {key}")
    if not record.get(
        "traceId"
    ):  # nullable in the API: an observation outside any trace is a task of its own
        record = {**record, "traceId": record["id"]}
    trace = record.get("_trace") or {}
    attributes = _span_attributes(record.get("metadata"))
    meta = _metadata(record.get("metadata"), attributes)
    context_kind = _context_kind(record, attributes)
    out = Normalized(spans=[_observation_span(record, trace, meta, project_id, context_kind)])
    if record["id"] != record["traceId"]:
        out.spans.append(trace_span(record, trace, project_id, outcome_scores))
    obs_type = str(record.get("type") or "").upper()
    if obs_type in CALL_TYPES and context_kind is None:
        out.calls.append(_call(record, trace, meta, project_id, CALL_TYPES[obs_type]))
    return out


def _context_kind(record: dict[str, Any], attributes: dict[str, Any] | None) -> SpanKind | None:
    """The context kind of a generation that the OTLP rules say is not an LLM call; None for any other.

    Langfuse's OTel ingestion makes a generation of every span that carries a model or usage, also of a
    framework's span above the calls, which repeats their usage: the Vercel AI SDK's ``ai.generateText`` above
    its ``ai.generateText.doGenerate`` steps, a GenAI ``invoke_agent`` span. Counting both doubles the bill,
    so an observation whose span attributes the OTLP path classifies as a task, agent, workflow, tool or
    retriever span (:func:`agentledger.ingest.otlp.conventions.classify`) is kept as that context span. Without
    span attributes, or when they carry no marker of what the span is, Langfuse's type stands.
    """
    if not attributes or str(record.get("type") or "").upper() not in CALL_TYPES:
        return None
    # Langfuse's own type already says what its SDK's ``langfuse.observation.type`` said, and more: the server
    # makes generations of the SDK's "span"s that carry a model and usage (Python SDK up to 3.3.0 sent them so).
    markers = {k: v for k, v in attributes.items() if k != LANGFUSE_TYPE}
    found = classify(str(record.get("name") or ""), markers)
    return None if found.is_call or found.kind == "other" else found.kind


def _observation_span(
    record: dict[str, Any],
    trace: dict[str, Any],
    meta: dict[str, Any],
    project_id: str,
    context_kind: SpanKind | None = None,
) -> SpanContext:
    obs_type = str(record.get("type") or "").upper()
    kind = context_kind or SPAN_KINDS.get(obs_type, "other")
    name = record.get("name")
    is_root = not record.get("parentObservationId")
    status = _status(record)
    return SpanContext(
        source=SOURCE,
        trace_id=record["traceId"],
        span_id=record["id"],
        project_id=project_id,
        parent_span_id=_parent(record),
        name=name,
        kind=kind,
        started_at=parse_timestamp(record["startTime"]),
        ended_at=parse_optional_timestamp(record.get("endTime")),
        status=status,
        agent_name=_first_meta(meta, _META_AGENT) or (name if kind == "agent" else None),
        task_type=_first_meta(meta, (_META_TASK_TYPE,)),
        workflow_name=name if kind == "workflow" else None,
        session_id=record.get("sessionId") or trace.get("sessionId"),
        user_id=record.get("userId") or trace.get("userId"),
        outcome=_outcome_word(_first_meta(meta, (_META_OUTCOME,))),
        # A top-level observation that failed is the trace-level error signal Langfuse gives.
        source_outcome="failure" if is_root and status == "error" else None,
    )


def trace_span(
    record: dict[str, Any], trace: dict[str, Any], project_id: str, outcome_scores: tuple[str, ...]
) -> SpanContext:
    """The trace as a workflow span (``span_id`` = trace id). Built from trace-level fields only, so every
    observation of the trace yields the same span and re-writing it is idempotent: the trace's own values
    where the trace endpoints gave them, else the trace context every observation carries (``traceName``;
    session and user). Langfuse v4 has no trace record, so there the span has no start time."""
    name = trace.get("name") or record.get("traceName")
    return SpanContext(
        source=SOURCE,
        trace_id=record["traceId"],
        span_id=record["traceId"],
        project_id=project_id,
        name=name,
        kind="workflow",
        started_at=parse_optional_timestamp(trace.get("timestamp")),
        workflow_name=name,
        session_id=trace.get("sessionId") or record.get("sessionId"),
        user_id=trace.get("userId") or record.get("userId"),
        source_outcome=score_outcome(trace.get("scores") or [], outcome_scores),
    )


def _call(
    record: dict[str, Any], trace: dict[str, Any], meta: dict[str, Any], project_id: str, operation: str
) -> Call:
    tokens = from_langfuse_usage(litellm_usage_fixed(record.get("usageDetails") or {}))
    started = parse_timestamp(record["startTime"])
    ended = parse_optional_timestamp(record.get("endTime"))
    params = record.get("modelParameters") if isinstance(record.get("modelParameters"), dict) else {}
    status = _status(record)
    prompt_hash, prefix_hash = input_hashes(record.get("input"), meta)
    return Call(
        source=SOURCE,
        trace_id=record["traceId"],
        span_id=record["id"],
        started_at=started,
        project_id=project_id,
        source_record_id=record["id"],
        parent_span_id=_parent(record),
        session_id=record.get("sessionId") or trace.get("sessionId"),
        user_id=record.get("userId") or trace.get("userId"),
        agent_name=_first_meta(meta, _META_AGENT),
        task_type=_first_meta(meta, (_META_TASK_TYPE,)),
        operation=operation,
        environment=record.get("environment") or trace.get("environment"),
        tags=_tags(record, trace),
        provider=_provider(params, meta),
        model=record.get("providedModelName") or record.get("model"),
        ended_at=ended,
        latency_ms=_seconds_to_ms(record.get("latency"), started, ended),
        ttft_ms=_seconds_to_ms(
            record.get("timeToFirstToken"),
            started,
            parse_optional_timestamp(record.get("completionStartTime")),
        ),
        input_tokens=tokens.input_tokens,
        cache_read_tokens=tokens.cache_read_tokens,
        cache_write_tokens=tokens.cache_write_tokens,
        output_tokens=tokens.output_tokens,
        reasoning_tokens=tokens.reasoning_tokens,
        max_tokens=_int_or_none(
            params.get("max_tokens") or params.get("max_completion_tokens") or params.get("maxTokens")
        ),
        status=status,
        error_type=_error_type(record) if status == "error" else None,
        prompt_hash=_own_hash(meta, OWN_PROMPT_HASH) or prompt_hash,
        prefix_hash=_own_hash(meta, OWN_PREFIX_HASH) or prefix_hash,
        response_id=response_id(record, meta),
        cost_reported_usd=reported_cost(record, tokens),
        raw=json.dumps(
            {k: v for k, v in record.items() if k not in _NOT_AUDITED}, sort_keys=True, default=str
        ),
    )


_NOT_AUDITED = frozenset({"_trace", "input", "output"})  # the trace is kept apart; prompts are only hashed


def input_hashes(value: Any, meta: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(prompt_hash, prefix_hash)`` of an observation's ``input``; ``(None, None)`` when it has none.

    The system instructions and tool definitions an OTel-ingested observation keeps among its span attributes
    (Langfuse moves only the messages into ``input``) count where the input does not carry them.
    """
    if isinstance(value, str):
        # The API returns input as raw text: JSON for structured inputs; other text is a prompt, hashed as such.
        with contextlib.suppress(ValueError, RecursionError):
            value = json.loads(value)
    if value is None or value in ("", [], {}):
        return None, None
    system, tools = recorded_system_and_tools(meta)
    if isinstance(value, dict):
        found = request_body_hashes(value, system=system, tools=tools)
        if (
            found is not None
        ):  # a request object; anything else ({"args": ..., "kwargs": ...}) is hashed whole
            return found
    return request_hashes(value, system, tools)


_LITELLM_USAGE_KEYS = {"input", "output", "total", "cache_creation_input_tokens", "cache_read_input_tokens"}


def litellm_usage_fixed(details: Any) -> Any:
    """``usageDetails`` as Langfuse means them when LiteLLM's Langfuse logger wrote them.

    That logger sends exactly ``input = prompt_tokens - cache reads``, ``output``, ``total`` and the two
    Anthropic-style cache keys. LiteLLM's ``prompt_tokens`` includes the cache writes too, so ``input`` still
    holds them and adding ``cache_creation_input_tokens`` back would count them twice. Such a record is
    recognised by its totals: ``input + cache reads + output == total`` while there were cache writes (a
    record following Langfuse's convention has ``input + reads + writes + output == total``).
    """
    if not isinstance(details, dict) or not set(details) <= _LITELLM_USAGE_KEYS:
        return details
    values = {k: details.get(k) for k in _LITELLM_USAGE_KEYS}
    if not all(
        isinstance(v, int) and not isinstance(v, bool)
        for k, v in values.items()
        if k != "cache_read_input_tokens"
    ):
        return details  # absent or odd values: the converter reads (or rejects) them as they are
    read = values["cache_read_input_tokens"] if isinstance(values["cache_read_input_tokens"], int) else 0
    write = values["cache_creation_input_tokens"]
    if (
        write > 0
        and values["input"] >= write
        and values["input"] + read + values["output"] == values["total"]
    ):
        return {**details, "input": values["input"] - write}
    return details


def response_id(record: dict[str, Any], meta: dict[str, Any]) -> str:
    """The provider's response id when the observation carries it, else the observation id."""
    from_otel = _first_meta(meta, _META_RESPONSE_ID)
    if from_otel:
        return from_otel
    match = _LITELLM_GENERATION_ID.match(str(record["id"]))
    return match.group(1) if match else str(record["id"])


def reported_cost(record: dict[str, Any], tokens: TokenCounts) -> float | None:
    """Langfuse's total cost in USD, or None when it does not know it (absent, or 0 for a call with tokens)."""
    details = record.get("costDetails") if isinstance(record.get("costDetails"), dict) else {}
    total = details.get("total", record.get("totalCost"))
    if total is None:
        return None
    value = float(total)
    if value < 0:
        raise ValueError(f"negative cost {value}")
    used_tokens = tokens.input_tokens + tokens.output_tokens > 0
    if value == 0 and used_tokens and not any(float(v or 0) > 0 for v in details.values()):
        return None  # Langfuse writes 0 when its model table has no price: unknown, not free
    return value


def score_outcome(scores: list[dict[str, Any]], names: tuple[str, ...]) -> Outcome | None:
    """The task outcome from the first configured score name present (its latest value)."""
    for name in names:
        matching = [s for s in scores if s.get("name") == name]
        if matching:
            latest = max(matching, key=lambda s: str(s.get("timestamp") or ""))
            return _score_value_outcome(latest)
    return None


def score_from_v3(score: dict[str, Any]) -> dict[str, Any]:
    """A ``ScoreV3`` (``GET /api/public/v3/scores``, one polymorphic ``value``, the scored entity under
    ``subject``) in the shape trace scores have on the trace endpoints (``ScoreV1``): a number in ``value``
    (BOOLEAN as 1/0), text in ``stringValue`` (CATEGORICAL, TEXT, CORRECTION)."""
    data_type = str(score.get("dataType") or "").upper()
    value = score.get("value")
    subject = score.get("subject") if isinstance(score.get("subject"), dict) else {}
    out: dict[str, Any] = {
        "name": score.get("name"),
        "dataType": data_type or None,
        "timestamp": score.get("timestamp"),
        "observationId": subject.get("id") if subject.get("kind") == "observation" else None,
        "value": None,
        "stringValue": None,
    }
    if isinstance(value, bool):
        out["value"], out["stringValue"] = (1.0 if value else 0.0), ("True" if value else "False")
    elif isinstance(value, int | float):
        out["value"] = float(value)
    elif value is not None:
        out["stringValue"] = str(value)
    return out


def score_trace_id(score: dict[str, Any]) -> str | None:
    """The trace a ``ScoreV3`` belongs to (its ``subject``: a trace, or an observation with its trace id)."""
    subject = score.get("subject")
    if not isinstance(subject, dict):
        return None
    trace_id = subject.get("id") if subject.get("kind") == "trace" else None
    if subject.get("kind") == "observation":
        trace_id = subject.get("traceId")
    return trace_id if isinstance(trace_id, str) and trace_id else None


def _score_value_outcome(score: dict[str, Any]) -> Outcome | None:
    data_type = str(score.get("dataType") or "").upper()
    if data_type in ("CATEGORICAL", "TEXT") or score.get("value") is None:
        return _outcome_word(score.get("stringValue"))
    return "success" if float(score["value"]) >= 0.5 else "failure"  # BOOLEAN is 1/0; NUMERIC 0..1


def _outcome_word(value: Any) -> Outcome | None:
    word = str(value).strip().lower() if value is not None else ""
    if word in _SUCCESS_WORDS:
        return "success"
    if word in _FAILURE_WORDS:
        return "failure"
    return None


def _parent(record: dict[str, Any]) -> str | None:
    """The physical parent, or the trace span for top-level observations (Langfuse's trace is their root)."""
    if record.get("parentObservationId"):
        return record["parentObservationId"]
    return None if record["id"] == record["traceId"] else record["traceId"]


def _status(record: dict[str, Any]) -> Status:
    # Langfuse has no explicit success marker, so anything but ERROR is the OTel default, unset.
    return "error" if str(record.get("level") or "").upper() == "ERROR" else "unset"


def _error_type(record: dict[str, Any]) -> str:
    message = record.get("statusMessage")
    return str(message)[:_ERROR_TYPE_LIMIT] if message else "ERROR"


def _metadata_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def _span_attributes(value: Any) -> dict[str, Any] | None:
    """The OTel span attributes an OTel-ingested observation keeps in its metadata (``attributes``), or None."""
    attrs = _metadata_object(value).get("attributes")
    if isinstance(attrs, str):
        try:
            attrs = json.loads(attrs)
        except json.JSONDecodeError:
            attrs = None  # cut at 200 characters by the API: nothing readable in it
    return attrs if isinstance(attrs, dict) else None


def _metadata(value: Any, attributes: dict[str, Any] | None) -> dict[str, Any]:
    """Observation metadata flattened with its OTel ``attributes`` (where Langfuse keeps span attributes)."""
    meta = _metadata_object(value)
    return {**meta, **attributes} if attributes else dict(meta)


def _own_hash(meta: dict[str, Any], key: str) -> str | None:
    """An ``agentledger.prompt_hash``/``prefix_hash`` span attribute, cut as the OTLP path cuts it."""
    value = _first_meta(meta, (key,))
    return clip(value) if value else None


def _first_meta(meta: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _provider(params: dict[str, Any], meta: dict[str, Any]) -> str | None:
    """The canonical provider: from the span attributes in the metadata with the OTLP path's precedence (GenAI,
    then OpenInference ``llm.system`` unless ``llm.provider`` is a host, then Vercel), else from
    ``modelParameters.system`` (Langfuse's copy of ``gen_ai.system``/``ai.model.provider``)."""
    return provider_of(meta) or normalize_provider(params.get("system"))


def _tags(record: dict[str, Any], trace: dict[str, Any]) -> dict[str, str]:
    """The trace's tags and release: on the observation itself (``trace_context`` group), else the trace's."""
    tags = {str(t): "true" for t in (record.get("tags") or trace.get("tags") or [])}
    release = record.get("release") or trace.get("release")
    if release:
        tags["langfuse.release"] = str(release)
    return tags


def _seconds_to_ms(seconds: Any, start: datetime, end: datetime | None) -> float | None:
    """Langfuse observation timings are seconds; fall back to the timestamps when the metric is absent."""
    if seconds is not None:
        value = float(seconds) * 1000.0
        return value if value >= 0 else None
    if end is None:
        return None
    delta = (end - start).total_seconds() * 1000.0
    return delta if delta >= 0 else None


def _int_or_none(value: Any) -> int | None:
    """``modelParameters`` values are often strings (OTel attributes are stored as text)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
