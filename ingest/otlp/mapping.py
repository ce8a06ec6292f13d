"""Map decoded OTLP spans to canonical records: a :class:`SpanContext` for every span, a :class:`Call` for LLM calls.

Pure functions: no I/O, no clock. Which attribute names are read, in which order, and which spans count as
LLM calls is documented in :mod:`agentledger.ingest.otlp.conventions`. Values the records cannot hold honestly
(negative, non-numeric or implausibly large token counts, a text where a number belongs, an end before the
start, a timestamp before 1970 or after 2100) reject that span alone, with a reason. Spans over the limits of
:mod:`agentledger.ingest.otlp.limits` (attribute count, string length) are kept, cut down, and their call is
tagged ``agentledger.truncated=true``; the prompt and prefix hashes are still computed from every attribute sent.

Token counts follow the OTel GenAI meaning (input includes cached tokens, output includes reasoning). Langfuse
``usage_details`` (its map, or the OpenAI usage object its SDKs send) are converted with
:func:`agentledger.core.tokens.from_langfuse_usage`. One repair is applied
to the other conventions: a cache count larger than the input count, or a reasoning count larger than the output
count, can only mean the source reported the remainder (raw Anthropic usage passed through, as the AI SDK does),
so the subset is added back instead of dropping the call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agentledger.core.records import LEDGER_END, LEDGER_START, Call, Outcome, SpanContext, Status
from agentledger.core.tokens import from_langfuse_usage, langfuse_usage_map
from agentledger.ingest.otlp import conventions as c
from agentledger.ingest.otlp.extras import call_tags, raw_json
from agentledger.ingest.otlp.limits import MAX_STRING_CHARS, TRUNCATED_TAG, clip, limit_attributes
from agentledger.ingest.otlp.prompts import prompt_hashes
from agentledger.ingest.otlp.raw import DecodedRequest, RawSpan, Rejection, SpanError
from agentledger.ingest.twins import SDK_SCOPE_TAG, one_call_per_response

_EPOCH = LEDGER_START
_LATEST = LEDGER_END
MAX_TIMESTAMP_NS = int((_LATEST - _EPOCH).total_seconds()) * 1_000_000_000
_STATUS: dict[int, Status] = {1: "ok", 2: "error"}
# Larger token counts, costs or durations are not real calls (and would overflow sums): the span is refused.
MAX_QUANTITY = 10**12
# The outcome attribute's values, and the words instrumentations write for them (case does not matter).
_OUTCOMES: dict[str, Outcome] = {
    **dict.fromkeys(
        ("success", "succeeded", "successful", "ok", "pass", "passed", "completed", "true"), "success"
    ),
    **dict.fromkeys(("failure", "failed", "fail", "error", "errored", "false"), "failure"),
}
# The counts in LiteLLM's usage object (the Python literal of its Usage: "'cached_tokens': 1000").
_LITELLM_COUNT = re.compile(
    r"'(cache_read_input_tokens|cached_tokens|cache_creation_input_tokens|reasoning_tokens)': (-?\d{1,20})\b"
)
# A JSON response object's leading id, read from an output cut at the string limit.
_LEADING_ID = re.compile(r'\{\s*"id"\s*:\s*"([^"\\]{1,256})"')


@dataclass(slots=True)
class MappedBatch:
    """Records ready for :meth:`Pipeline.ingest`, plus the spans that were refused."""

    calls: list[Call]
    spans: list[SpanContext]
    rejected: list[Rejection]


def map_spans(raw_spans: Iterable[RawSpan], *, project_id: str, source: str = "otlp") -> MappedBatch:
    """Map decoded spans; a span with invalid values becomes a :class:`Rejection` and the others go on.

    One API call recorded twice in the request (see :mod:`agentledger.ingest.twins`) gives one call; the
    other span stays as context.
    """
    batch = MappedBatch([], [], [])
    for raw in raw_spans:
        try:
            context, call = map_span(raw, project_id=project_id, source=source)
        except SpanError as exc:
            batch.rejected.append(Rejection(raw.span_id, str(exc), raw.trace_id))
            continue
        batch.spans.append(context)
        if call is not None:
            batch.calls.append(call)
    batch.calls = one_call_per_response(batch.calls)
    return batch


def map_request(decoded: DecodedRequest, *, project_id: str, source: str = "otlp") -> MappedBatch:
    """Map one decoded request; spans the decoder already refused are carried into ``rejected`` first."""
    batch = map_spans(decoded.spans, project_id=project_id, source=source)
    batch.rejected[:0] = decoded.rejected
    return batch


def map_span(raw: RawSpan, *, project_id: str, source: str = "otlp") -> tuple[SpanContext, Call | None]:
    """Map one span; raises :class:`SpanError` when a value cannot be stored honestly."""
    sent = raw.attributes  # the prompt hashes cover all of it: a cut prompt would look like another
    attributes, truncated = limit_attributes(sent)
    if truncated or len(raw.name) > MAX_STRING_CHARS:
        raw = dataclasses.replace(raw, attributes=attributes, name=clip(raw.name))
        truncated = True
    started, ended = _times(raw)
    kind = c.classify(raw.name, attributes)
    aliases = c.present_aliases(attributes)
    context = SpanContext(
        source=source,
        trace_id=raw.trace_id,
        span_id=raw.span_id,
        project_id=project_id,
        parent_span_id=raw.parent_span_id,
        name=raw.name or None,
        kind=kind.kind,
        started_at=started,
        ended_at=ended,
        status=_status(raw),
        agent_name=_agent_name(raw, kind),
        task_type=_first_text(attributes, (c.OWN_TASK_TYPE,)),
        workflow_name=_workflow_name(raw, kind),
        session_id=_first_text(attributes, aliases.get("session_id", ())),
        user_id=_first_text(attributes, aliases.get("user_id", ())),
        outcome=_outcome(attributes),
    )
    call = _call(raw, context, kind.operation, aliases, sent) if kind.is_call else None
    if call is not None:
        if truncated:
            call.tags[TRUNCATED_TAG] = "true"
        if raw.scope_name.startswith(c.PROVIDER_SDK_SCOPES):
            call.tags[SDK_SCOPE_TAG] = raw.scope_name
    return context, call


# ------------------------------------------------------------------------------------------ span context


def _times(raw: RawSpan) -> tuple[datetime, datetime | None]:
    if raw.start_ns <= 0:
        raise SpanError("start time is before 1970")
    if raw.start_ns >= MAX_TIMESTAMP_NS or raw.end_ns >= MAX_TIMESTAMP_NS:
        raise SpanError(f"timestamp after {_LATEST.year} (start {raw.start_ns} ns, end {raw.end_ns} ns)")
    if raw.end_ns and raw.end_ns < raw.start_ns:
        raise SpanError(f"span ends before it starts (start {raw.start_ns} ns, end {raw.end_ns} ns)")
    ended = _EPOCH + timedelta(microseconds=raw.end_ns // 1000) if raw.end_ns else None
    return _EPOCH + timedelta(microseconds=raw.start_ns // 1000), ended


def _status(raw: RawSpan) -> Status:
    level = raw.attributes.get("langfuse.observation.level")
    if isinstance(level, str) and level.upper() == "ERROR":
        return "error"
    return _STATUS.get(raw.status_code, "unset")


def _outcome(attributes: dict[str, Any]) -> Outcome | None:
    value = attributes.get(c.OWN_OUTCOME)
    if value is None:
        return None
    outcome = _OUTCOMES.get(value.strip().lower()) if isinstance(value, str) else None
    if outcome is None:
        raise SpanError(f"{c.OWN_OUTCOME}={_short(value)} must be 'success' or 'failure'")
    return outcome


def _agent_name(raw: RawSpan, kind: c.Classification) -> str | None:
    attributes = raw.attributes
    declared = _first_text(attributes, ("gen_ai.agent.name", "agent.name"))
    if declared or kind.kind != "agent":
        return declared
    if attributes.get("traceloop.span.kind") == "agent":
        return _first_text(attributes, ("traceloop.entity.name",)) or raw.name or None
    operation = attributes.get("gen_ai.operation.name")
    if operation in ("invoke_agent", "create_agent"):
        return _strip_operation(raw.name, operation)
    return raw.name or None  # OpenInference AGENT spans and Langfuse agent observations are named after it


def _workflow_name(raw: RawSpan, kind: c.Classification) -> str | None:
    attributes = raw.attributes
    declared = _first_text(attributes, ("gen_ai.workflow.name", "ai.telemetry.functionId"))
    if declared:
        return declared
    traceloop_kind = attributes.get("traceloop.span.kind")
    if traceloop_kind in ("workflow", "task"):
        keys = (
            ("traceloop.entity.name", "traceloop.workflow.name")
            if traceloop_kind == "workflow"
            else ("traceloop.entity.name",)
        )
        return _first_text(attributes, keys) or raw.name or None
    oi_kind = attributes.get("openinference.span.kind")
    if isinstance(oi_kind, str) and oi_kind.upper() == "CHAIN":
        return raw.name or None
    lf_type = attributes.get("langfuse.observation.type")
    if isinstance(lf_type, str) and lf_type.lower() in ("span", "chain", "agent"):
        return raw.name or None
    if attributes.get("gen_ai.operation.name") == "invoke_workflow":
        return _strip_operation(raw.name, "invoke_workflow")
    return None


def _strip_operation(name: str, operation: str) -> str | None:
    """``invoke_agent Researcher`` -> ``Researcher`` (the GenAI span-name pattern)."""
    rest = name[len(operation) :].strip() if name.startswith(operation) else name.strip()
    return rest or None


# -------------------------------------------------------------------------------------------------- calls


def _call(
    raw: RawSpan,
    context: SpanContext,
    operation: str | None,
    aliases: dict[str, list[str]],
    sent: dict[str, Any],
) -> Call:
    attributes = raw.attributes
    tokens = _tokens(attributes, aliases)
    prompt_hash, prefix_hash = prompt_hashes(sent)
    started, ended = context.started_at, context.ended_at
    assert started is not None  # _times always sets it
    model_requested = _first_text(attributes, aliases.get("request_model", ())) or _parameter_text(
        attributes, c.PARAMETER_MODEL
    )
    response_id = _first_text(attributes, aliases.get("response_id", ()))
    finish_reason = _finish_reason(attributes, aliases)
    if response_id is None or finish_reason is None:  # OpenInference: only in the recorded response object
        output_id, output_reason = _output_fields(attributes)
        response_id, finish_reason = response_id or output_id, finish_reason or output_reason
    return Call(
        source=context.source,
        trace_id=raw.trace_id,
        span_id=raw.span_id,
        started_at=started,
        project_id=context.project_id,
        parent_span_id=raw.parent_span_id,
        session_id=context.session_id,
        user_id=context.user_id,
        agent_name=context.agent_name,
        agent_version=_first_text(attributes, ("gen_ai.agent.version",)),
        feature=_first_text(attributes, aliases.get("feature", ())),
        task_type=context.task_type,
        operation=_first_text(attributes, ("gen_ai.operation.name",)) or operation,
        environment=_first_text(attributes, c.ENVIRONMENT_SPAN)
        or _first_text(raw.resource, c.ENVIRONMENT_RESOURCE),
        tags=call_tags(raw),
        provider=c.provider_of(attributes),
        model_requested=model_requested,
        model=_first_text(attributes, aliases.get("response_model", ())) or model_requested,
        ended_at=ended,
        latency_ms=(raw.end_ns - raw.start_ns) / 1e6 if ended is not None else None,
        ttft_ms=_ttft_ms(raw),
        input_tokens=tokens[0],
        cache_read_tokens=tokens[1],
        cache_write_tokens=tokens[2],
        output_tokens=tokens[3],
        reasoning_tokens=tokens[4],
        max_tokens=_max_tokens(attributes, aliases),
        finish_reason=finish_reason,
        status=context.status,
        error_type=_error_type(raw),
        response_cache_hit=_flag(attributes, c.OWN_CACHE_HIT),
        prompt_hash=prompt_hash,
        prefix_hash=prefix_hash,
        response_id=response_id,
        cost_reported_usd=_reported_cost(attributes),
        raw=raw_json(attributes),
    )


def _tokens(attributes: dict[str, Any], aliases: dict[str, list[str]]) -> tuple[int, int, int, int, int]:
    """(input, cache_read, cache_write, output, reasoning) in canonical form."""
    usage = attributes.get(c.LANGFUSE_USAGE)
    if usage is not None:
        return _langfuse_tokens(usage)
    input_tokens = _count(attributes, aliases.get("input_tokens", ()))
    output_tokens = _count(attributes, aliases.get("output_tokens", ())) or 0
    if input_tokens is None:
        total = _count(attributes, aliases.get("total_tokens", ()))
        input_tokens = max(total - output_tokens, 0) if total is not None else 0
    cache_read = _count(attributes, aliases.get("cache_read_tokens", ()))
    cache_write = _count(attributes, aliases.get("cache_write_tokens", ()))
    reasoning = _count(attributes, aliases.get("reasoning_tokens", ()))
    if cache_read is None and cache_write is None and reasoning is None and c.LITELLM_USAGE in attributes:
        cache_read, cache_write, reasoning = _litellm_usage_details(attributes[c.LITELLM_USAGE])
    cache_read, cache_write, reasoning = cache_read or 0, cache_write or 0, reasoning or 0
    if cache_read + cache_write > input_tokens:
        input_tokens += cache_read + cache_write
    if reasoning > output_tokens:
        output_tokens += reasoning
    return input_tokens, cache_read, cache_write, output_tokens, reasoning


def _langfuse_tokens(usage: Any) -> tuple[int, int, int, int, int]:
    try:
        details = langfuse_usage_map(_json_object(usage, c.LANGFUSE_USAGE))
    except ValueError as exc:
        raise SpanError(f"{c.LANGFUSE_USAGE}: {exc}") from None
    for key, value in details.items():
        _as_count(value, f"{c.LANGFUSE_USAGE}.{key}")
    try:
        counts = from_langfuse_usage(details)
    except ValueError as exc:
        raise SpanError(f"{c.LANGFUSE_USAGE}: {exc}") from None
    return (
        counts.input_tokens,
        counts.cache_read_tokens,
        counts.cache_write_tokens,
        counts.output_tokens,
        counts.reasoning_tokens,
    )


def _litellm_usage_details(value: Any) -> tuple[int | None, int | None, int | None]:
    """(cache read, cache write, reasoning) from LiteLLM's usage object, the Python literal of its ``Usage``.

    Only the four counts are picked out of the text (evaluating the literal costs a hundred times more, and
    a hostile one far more). Its ``prompt_tokens`` already include both cache counts (LiteLLM normalizes
    Anthropic's usage so).
    """
    if not isinstance(value, str) or not value.startswith("{"):
        return None, None, None
    found: dict[str, str] = {}
    for name, number in _LITELLM_COUNT.findall(value):
        found.setdefault(name, number)
    cache_read = found.get("cache_read_input_tokens", found.get("cached_tokens"))
    cache_write = found.get("cache_creation_input_tokens")
    reasoning = found.get("reasoning_tokens")
    key = c.LITELLM_USAGE
    return (
        None if cache_read is None else _as_count(cache_read, f"{key}.cache_read"),
        None if cache_write is None else _as_count(cache_write, f"{key}.cache_creation_input_tokens"),
        None if reasoning is None else _as_count(reasoning, f"{key}.reasoning_tokens"),
    )


def _count(attributes: dict[str, Any], keys: Sequence[str]) -> int | None:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return _as_count(value, key)
    return None


def _as_count(value: Any, key: str) -> int:
    """A token count: a non-negative integer; integral doubles and decimal strings are read as such."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (
        isinstance(value, float)
        and value.is_integer()
        or isinstance(value, str)
        and value.strip().isascii()
        and value.strip().lstrip("-").isdigit()
    ):
        number = int(value)
    else:
        raise SpanError(f"{key}={_short(value)} is not a whole number")
    if number < 0:
        raise SpanError(f"{key}={number} is negative")
    if number > MAX_QUANTITY:
        raise SpanError(f"{key}={_short(value)} is implausibly large (over {MAX_QUANTITY:,})")
    return number


def _number(value: Any, key: str) -> float:
    if isinstance(value, float):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        # over the limit either way; float() of an integer beyond a double's range (JSON text can hold one) raises
        number = float(value) if abs(value) <= MAX_QUANTITY else math.inf
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise SpanError(f"{key}={_short(value)} is not a number") from None
    else:
        raise SpanError(f"{key}={_short(value)} is not a number")
    if not math.isfinite(number) or number < 0 or number > MAX_QUANTITY:
        raise SpanError(f"{key}={_short(value)} must be a finite number >= 0 and <= {MAX_QUANTITY:,}")
    return number


def _reported_cost(attributes: dict[str, Any]) -> float | None:
    details = attributes.get(c.LANGFUSE_COST)
    if details is not None:
        costs = _json_object(details, c.LANGFUSE_COST)
        if "total" in costs:
            return _number(costs["total"], f"{c.LANGFUSE_COST}.total")
        return sum(_number(v, f"{c.LANGFUSE_COST}.{k}") for k, v in costs.items()) if costs else None
    for key in c.REPORTED_COST:
        value = attributes.get(key)
        if value is not None:
            return _number(value, key)
    return None


def _ttft_ms(raw: RawSpan) -> float | None:
    attributes = raw.attributes
    seconds = attributes.get(c.TTFT_SECONDS)
    if seconds is not None:
        return _number(seconds, c.TTFT_SECONDS) * 1000.0
    millis = attributes.get(c.TTFT_MS)
    if millis is not None:
        return _number(millis, c.TTFT_MS)
    start = attributes.get(c.COMPLETION_START)
    if isinstance(start, str) and start:
        return _completion_start_ms(start, raw.start_ns)
    return None


def _completion_start_ms(value: str, start_ns: int) -> float | None:
    text = value.strip().strip('"')  # the Langfuse SDK sends it JSON-encoded
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SpanError(f"{c.COMPLETION_START}={_short(value)} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta_ms = (moment - _EPOCH).total_seconds() * 1000.0 - start_ns / 1e6
    return delta_ms if delta_ms >= 0 else None


def _max_tokens(attributes: dict[str, Any], aliases: dict[str, list[str]]) -> int | None:
    found = _count(attributes, aliases.get("max_tokens", ()))
    if found is not None:
        return found
    for key, parsed in _parameters(attributes):
        for name in c.PARAMETER_MAX_TOKENS:
            if parsed.get(name) is not None:
                return _as_count(parsed[name], f"{key}.{name}")
    return None


def _parameter_text(attributes: dict[str, Any], names: Sequence[str]) -> str | None:
    """A text among the recorded request parameters; None when there is none or they are not JSON (a
    detail never refuses the span: only a token count it needs does, in :func:`_max_tokens`)."""
    try:
        for _, parsed in _parameters(attributes):
            found = _first_text(parsed, names)
            if found:
                return found
    except SpanError:
        return None
    return None


def _parameters(attributes: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The request parameters recorded as one JSON object (OpenInference, Langfuse), by attribute name."""
    for key in c.JSON_PARAMETERS:
        params = attributes.get(key)
        if params is not None:
            yield key, _json_object(params, key)


def _output_fields(attributes: dict[str, Any]) -> tuple[str | None, str | None]:
    """(``id``, finish reason) of a JSON output, the provider's response object; (None, None) for any other.

    The finish reason is the first choice's (``choices[0].finish_reason``, Chat Completions and Completions)
    or Anthropic's ``stop_reason``.
    """
    value_key, mime_key, mime = c.JSON_OUTPUT
    value = attributes.get(value_key)
    if not isinstance(value, str) or attributes.get(mime_key) != mime or not value.startswith("{"):
        return None, None
    if len(value) >= MAX_STRING_CHARS:  # cut by the limits: the SDKs write the response's "id" first
        leading = _LEADING_ID.match(value)
        return (leading.group(1) if leading else None), None
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return None, None  # an output is not ours to validate: a truncated one just has no id
    if not isinstance(parsed, dict):
        return None, None
    found = parsed.get("id")
    choices = parsed.get("choices")
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    reason = first.get("finish_reason") or parsed.get("stop_reason")
    return (
        clip(found) if isinstance(found, str) and found else None,
        clip(reason) if isinstance(reason, str) and reason else None,
    )


def _finish_reason(attributes: dict[str, Any], aliases: dict[str, list[str]]) -> str | None:
    for key in aliases.get("finish_reason", ()):
        value = attributes.get(key)
        if isinstance(value, str) and value.startswith("["):  # a list sent as JSON text (LiteLLM)
            with contextlib.suppress(ValueError, RecursionError):  # then it is a reason that starts with "["
                value = json.loads(value)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str) and v), None)
        if isinstance(value, str) and value:
            return value
    return None


def _error_type(raw: RawSpan) -> str | None:
    declared = _first_text(raw.attributes, (c.ERROR_TYPE,))
    if declared:
        return declared
    for name, event_attributes in raw.events:
        if name == "exception":
            found = _first_text(event_attributes, ("exception.type",))
            if found:
                return found
    return None


def _flag(attributes: dict[str, Any], key: str) -> bool | None:
    value = attributes.get(key)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise SpanError(f"{key}={_short(value)} must be a boolean")


# ------------------------------------------------------------------------------------------------ helpers


def _first_text(attributes: dict[str, Any], keys: Sequence[str]) -> str | None:
    """First non-empty value among ``keys`` as text (ids sent as numbers are kept as their decimal text)."""
    for key in keys:
        value = attributes.get(key)
        if value is None:
            continue
        if type(value) is str:
            if value:
                return clip(value)  # the attributes were limited already; resource and event values were not
        elif isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _json_object(value: Any, key: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            raise SpanError(f"{key} is not valid JSON: {_short(value)}") from None
        if isinstance(parsed, dict):
            return parsed
    raise SpanError(f"{key} must be a JSON object, got {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
