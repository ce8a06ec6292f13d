"""The LiteLLM normalizer on LiteLLM's own payloads, field by field, and on the variants the ways in produce."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from agentledger.core.errors import InputError
from agentledger.ingest.collectors.base import Collector
from agentledger.ingest.collectors.litellm import (
    LiteLLMRecords,
    normalize,
    operation_name,
    parse_cache_hit,
    record_kind,
    to_call,
)
from agentledger.ingest.otlp.prompts import fingerprint

SPEND_LOG_ID = "chatcmpl-2283081b-dc89-41f6-93e6-d4f914774027"
PAYLOAD_ID = "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f"


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_spend_log_row_field_by_field(spend_log: dict[str, Any]) -> None:
    call = to_call(spend_log, project_id="proj")
    assert call.source == "litellm"
    assert call.project_id == "proj"
    assert call.source_record_id == SPEND_LOG_ID
    assert call.span_id == SPEND_LOG_ID
    assert call.parent_span_id is None
    # The proxy stores the SLP trace_id (the retry/fallback group) in the session_id column.
    assert call.trace_id == "1234567890"
    assert call.session_id == "1234567890"
    assert call.user_id is None  # end_user is ""
    assert call.agent_name is None and call.agent_version is None
    assert call.feature is None and call.task_type is None and call.environment is None
    assert call.operation == "chat"  # call_type acompletion
    assert call.provider == "openai"
    assert call.model_requested is None  # model_group is ""
    assert call.model == "gpt-4o"
    assert call.started_at == datetime(2025, 1, 24, 9, 20, 46, 847371, tzinfo=UTC)
    assert call.ended_at == datetime(2025, 1, 24, 9, 20, 46, 851954, tzinfo=UTC)
    assert call.latency_ms == pytest.approx(4.583)  # no request_duration_ms: endTime - startTime
    assert call.ttft_ms == pytest.approx(4.583)
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (10, 0, 0)
    assert (call.output_tokens, call.reasoning_tokens) == (20, 0)
    assert call.max_tokens is None  # proxy_server_request is "{}"
    assert call.finish_reason is None  # response is "{}"
    assert call.status == "ok"
    assert call.error_type is None
    assert call.response_cache_hit is None  # the string "None"
    assert call.prompt_hash is None and call.prefix_hash is None  # messages is "{}": prompts not stored
    assert call.response_id == SPEND_LOG_ID  # the provider response id
    assert call.cost_reported_usd == pytest.approx(0.000225)
    assert call.cost_usd is None and call.price_status == "unpriced"  # pricing is the pipeline's job
    assert call.tags == {"litellm.call_type": "acompletion"}
    assert json.loads(call.raw) == spend_log


def test_standard_logging_payload_field_by_field(payload: dict[str, Any]) -> None:
    call = to_call(payload, project_id="proj")
    assert call.source == "litellm"
    assert call.source_record_id == PAYLOAD_ID
    assert call.span_id == PAYLOAD_ID
    # trace_id is null and there is no litellm_call_id: the call is its own trace and session.
    assert call.trace_id == PAYLOAD_ID
    assert call.session_id == PAYLOAD_ID
    assert call.user_id is None
    assert call.agent_name is None
    assert call.operation == "chat"
    assert call.provider == "openai"
    assert call.model_requested is None
    assert call.model == "gpt-4o"
    assert call.started_at == datetime(2025, 1, 24, 9, 20, 46, 847371, tzinfo=UTC)
    assert call.ended_at == datetime(2025, 1, 24, 9, 20, 46, 851954, tzinfo=UTC)
    # endTime - startTime: a streamed call's response_time is its time to the first chunk (LiteLLM's
    # get_response_time), so it is not the latency
    assert call.latency_ms == pytest.approx(4.583)
    assert call.ttft_ms == pytest.approx(4.583)
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (10, 0, 0)
    assert (call.output_tokens, call.reasoning_tokens) == (20, 0)
    assert call.max_tokens is None  # model_parameters is {}
    assert call.finish_reason == "stop"
    assert call.status == "ok"
    assert call.error_type is None  # error_information holds only empty strings
    assert call.response_cache_hit is None
    assert call.prompt_hash == fingerprint({"system": None, "messages": payload["messages"]})
    assert call.prefix_hash is None  # no system message, no tools
    assert call.response_id == PAYLOAD_ID
    assert call.cost_reported_usd == pytest.approx(0.000225)
    assert call.tags == {"litellm.call_type": "acompletion"}
    assert json.loads(call.raw) == payload


@pytest.mark.parametrize(
    ("custom_llm_provider", "canonical"),
    [
        ("openai", "openai"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("vertex_ai_beta", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),  # the Gemini API (AI Studio), not Vertex
        ("bedrock", "aws.bedrock"),
        ("bedrock_converse", "aws.bedrock"),
        ("xai", "x_ai"),
        ("mistral", "mistral_ai"),
        ("azure", "azure.ai.openai"),
        ("azure_ai", "azure.ai.inference"),
        ("together_ai", "together"),
        ("fireworks_ai", "fireworks"),
        ("openrouter", "openrouter"),
        ("deepseek", "deepseek"),
        ("groq", "groq"),
        ("cohere_chat", "cohere"),
        ("hosted_vllm", "hosted_vllm"),  # a local runtime keeps its name (the pricer knows it)
        ("", None),
    ],
)
def test_custom_llm_provider_becomes_the_canonical_otel_value(
    spend_log_copy: dict[str, Any],
    payload_copy: dict[str, Any],
    custom_llm_provider: str,
    canonical: str | None,
) -> None:
    """Both record kinds (so the spend-log API, Postgres, JSON logs and the callback alike) write the value the
    OTLP, Helicone and Langfuse paths write for the same provider."""
    for record in (spend_log_copy, payload_copy):
        record["custom_llm_provider"] = custom_llm_provider
        assert to_call(record, project_id="proj").provider == canonical


def test_normalize_returns_one_call_and_no_spans(payload: dict[str, Any]) -> None:
    out = normalize(payload, project_id="default")
    assert len(out.calls) == 1 and out.spans == []


def test_collector_mixin_satisfies_the_pure_half_of_the_protocol(spend_log: dict[str, Any]) -> None:
    records = LiteLLMRecords()
    assert records.name == "litellm"
    assert records.record_id(spend_log) == SPEND_LOG_ID
    assert records.normalize(spend_log, project_id="p").calls[0].span_id == SPEND_LOG_ID
    assert not isinstance(records, Collector)  # fetch and source_key come from each way in


def test_epoch_float_times_equal_string_times(payload_copy: dict[str, Any], payload: dict[str, Any]) -> None:
    for field in ("startTime", "endTime", "completionStartTime"):
        payload_copy[field] = _epoch(payload[field])
    as_floats, as_strings = to_call(payload_copy, project_id="p"), to_call(payload, project_id="p")
    assert abs((as_floats.started_at - as_strings.started_at).total_seconds()) < 1e-5
    assert as_floats.ttft_ms == pytest.approx(as_strings.ttft_ms, abs=0.01)


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-24T09:20:46.847371",
        "2025-01-24T09:20:46.847371Z",
        "2025-01-24T10:20:46.847371+01:00",
        "1737710446.847371",
    ],
)
def test_time_spellings(spend_log_copy: dict[str, Any], text: str) -> None:
    spend_log_copy["startTime"] = text
    started = to_call(spend_log_copy, project_id="p").started_at
    assert abs((started - datetime(2025, 1, 24, 9, 20, 46, 847371, tzinfo=UTC)).total_seconds()) < 1e-5


def test_naive_datetime_from_psycopg_is_utc(spend_log_copy: dict[str, Any]) -> None:
    spend_log_copy["startTime"] = datetime(2025, 1, 24, 9, 20, 46, 847000)
    assert to_call(spend_log_copy, project_id="p").started_at == datetime(
        2025, 1, 24, 9, 20, 46, 847000, tzinfo=UTC
    )


def test_metadata_as_object_or_json_string_map_alike(
    spend_log: dict[str, Any], spend_log_copy: dict[str, Any]
) -> None:
    spend_log_copy["metadata"] = json.loads(spend_log["metadata"])
    spend_log_copy["request_tags"] = []
    a, b = to_call(spend_log, project_id="p"), to_call(spend_log_copy, project_id="p")
    assert (a.input_tokens, a.output_tokens, a.cost_reported_usd, a.status) == (
        b.input_tokens,
        b.output_tokens,
        b.cost_reported_usd,
        b.status,
    )


def test_openai_cache_and_reasoning_tokens_from_usage_object(spend_log_copy: dict[str, Any]) -> None:
    metadata = json.loads(spend_log_copy["metadata"])
    metadata["usage_object"] = {
        "prompt_tokens": 2000,
        "completion_tokens": 700,
        "prompt_tokens_details": {"cached_tokens": 1536},
        "completion_tokens_details": {"reasoning_tokens": 512},
    }
    spend_log_copy |= {"metadata": json.dumps(metadata), "prompt_tokens": 2000, "completion_tokens": 700}
    call = to_call(spend_log_copy, project_id="p")
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (2000, 1536, 0)
    assert (call.output_tokens, call.reasoning_tokens) == (700, 512)


def test_anthropic_cache_tokens_from_additional_usage_values(spend_log_copy: dict[str, Any]) -> None:
    """LiteLLM maps Anthropic usage to prompt_tokens = input + cache_creation + cache_read (inclusive)."""
    metadata = json.loads(spend_log_copy["metadata"])
    metadata["usage_object"] = {"prompt_tokens": 1300, "completion_tokens": 50}
    metadata["additional_usage_values"] = {
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 200,
    }
    spend_log_copy |= {"metadata": metadata, "prompt_tokens": 1300, "completion_tokens": 50}
    call = to_call(spend_log_copy, project_id="p")
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (1300, 1000, 200)


@pytest.mark.parametrize("details", [None, {"cached_tokens": 800}])
def test_anthropic_cache_tokens_at_the_top_of_the_usage_object(
    payload_copy: dict[str, Any], details: dict[str, Any] | None
) -> None:
    """LiteLLM's ``Usage`` of an Anthropic response: cache counts beside ``prompt_tokens`` (inclusive)."""
    payload_copy["metadata"].pop("usage_object", None)
    payload_copy.pop("hidden_params", None)
    payload_copy["response"] = {
        "id": "msg_1",
        "usage": {
            "prompt_tokens": 1100,
            "completion_tokens": 40,
            "prompt_tokens_details": details,
            "cache_read_input_tokens": 800,
            "cache_creation_input_tokens": 200,
        },
    }
    payload_copy |= {"prompt_tokens": 1100, "completion_tokens": 40}
    call = to_call(payload_copy, project_id="p")
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (1100, 800, 200)


def test_cache_creation_tokens_in_prompt_details_of_a_payload(payload_copy: dict[str, Any]) -> None:
    payload_copy["metadata"]["usage_object"] = {
        "prompt_tokens": 900,
        "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 300, "cache_creation_tokens": 100},
    }
    payload_copy |= {"prompt_tokens": 900, "completion_tokens": 10}
    call = to_call(payload_copy, project_id="p")
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (900, 300, 100)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("True", True),
        ("False", False),
        ("None", None),
        ("", None),
        (None, None),
        (True, True),
        (False, False),
    ],
)
def test_cache_hit_strings(spend_log_copy: dict[str, Any], value: Any, expected: bool | None) -> None:
    assert parse_cache_hit(value) is expected
    spend_log_copy["cache_hit"] = value
    assert to_call(spend_log_copy, project_id="p").response_cache_hit is expected


def test_failure_row(spend_log_copy: dict[str, Any]) -> None:
    metadata = json.loads(spend_log_copy["metadata"])
    metadata["error_information"] = {
        "error_code": "429",
        "error_class": "RateLimitError",
        "llm_provider": "openai",
        "error_message": "slow down",
    }
    spend_log_copy |= {
        "status": "failure",
        "metadata": json.dumps(metadata),
        "spend": 0.0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
    call = to_call(spend_log_copy, project_id="p")
    assert call.status == "error"
    assert call.error_type == "RateLimitError"
    assert call.cost_reported_usd == 0.0


def test_failure_payload_uses_top_level_error_information(payload_copy: dict[str, Any]) -> None:
    payload_copy["status"] = "failure"
    payload_copy["error_information"] = {"error_code": "500", "error_class": "", "error_message": "boom"}
    call = to_call(payload_copy, project_id="p")
    assert call.status == "error"
    assert call.error_type == "500"  # no class: the code


def test_missing_status_is_unset(spend_log_copy: dict[str, Any]) -> None:
    spend_log_copy["status"] = None
    assert to_call(spend_log_copy, project_id="p").status == "unset"


def test_unpriced_payload_has_no_reported_cost(payload_copy: dict[str, Any]) -> None:
    payload_copy["response_cost"] = 0.0
    payload_copy["response_cost_failure_debug_info"] = {"error_str": "model not mapped", "traceback_str": ""}
    assert to_call(payload_copy, project_id="p").cost_reported_usd is None


def test_retry_group_is_one_trace_and_matches_the_spend_log_of_the_same_call(
    payload: dict[str, Any], spend_log_copy: dict[str, Any]
) -> None:
    first = dict(payload, id="attempt-1", trace_id="group-7", litellm_call_id="call-1", status="failure")
    retry = dict(payload, id="attempt-2", trace_id="group-7", litellm_call_id="call-2")
    calls = [to_call(r, project_id="p") for r in (first, retry)]
    assert {c.trace_id for c in calls} == {"group-7"}
    assert [c.span_id for c in calls] == ["attempt-1", "attempt-2"]
    assert [c.response_id for c in calls] == ["attempt-1", "attempt-2"]
    # The proxy writes the same call as a SpendLogs row: request_id = id, session_id = trace_id.
    spend_log_copy |= {"request_id": "attempt-2", "session_id": "group-7", "litellm_call_id": "call-2"}
    assert to_call(spend_log_copy, project_id="p").key() == calls[1].key()


def test_response_id_is_the_provider_id_not_the_litellm_call_id(spend_log_copy: dict[str, Any]) -> None:
    """LiteLLM's Langfuse logger and OTel callback record the provider's response id, never its call id."""
    metadata = json.loads(spend_log_copy["metadata"]) | {"litellm_call_id": "uuid-42"}
    spend_log_copy["metadata"] = json.dumps(metadata)
    assert to_call(spend_log_copy, project_id="p").response_id == SPEND_LOG_ID


def test_payload_cache_hits_of_one_response_stay_distinct(payload: dict[str, Any]) -> None:
    hits = [dict(payload, cache_hit=True, litellm_call_id=f"call-{i}") for i in range(2)]
    calls = [to_call(h, project_id="p") for h in hits]
    assert calls[0].span_id != calls[1].span_id
    assert all(c.span_id.startswith(PAYLOAD_ID) and c.response_cache_hit for c in calls)


def test_cache_hit_is_one_call_whether_from_the_callback_or_the_spend_logs(
    payload: dict[str, Any], spend_log_copy: dict[str, Any]
) -> None:
    """LiteLLM appends ``_cache_hit<time.time()>`` to a cache hit's id twice over, in the SLP
    (litellm_logging.get_standard_logging_object_payload) and in the SpendLogs row
    (spend_tracking_utils.get_logging_payload), each with its own clock reading."""
    slp = dict(payload, id=f"{PAYLOAD_ID}_cache_hit1732441205.127341", cache_hit=True, trace_id="grp-1",
               litellm_call_id="call-hit-1")  # fmt: skip
    metadata = json.loads(spend_log_copy["metadata"]) | {"litellm_call_id": "call-hit-1"}
    spend_log_copy |= {"request_id": f"{PAYLOAD_ID}_cache_hit1732441205.1281505", "cache_hit": "True",
                       "session_id": "grp-1", "metadata": json.dumps(metadata)}  # fmt: skip
    from_callback, from_spend_logs = to_call(slp, project_id="p"), to_call(spend_log_copy, project_id="p")
    assert from_callback.key() == from_spend_logs.key()
    assert from_callback.span_id == f"{PAYLOAD_ID}_cache_hit:call-hit-1"
    assert from_callback.response_id == from_spend_logs.response_id == PAYLOAD_ID  # the cached response
    assert from_callback.response_cache_hit is from_spend_logs.response_cache_hit is True
    # another hit on the same cached response stays a call of its own
    other = to_call(
        dict(slp, id=f"{PAYLOAD_ID}_cache_hit1732441300.5", litellm_call_id="call-hit-2"), project_id="p"
    )
    assert other.key() != from_callback.key()


def test_session_from_payload_session_id(payload_copy: dict[str, Any]) -> None:
    payload_copy |= {"trace_id": "t-1", "session_id": "conversation-9"}
    call = to_call(payload_copy, project_id="p")
    assert (call.trace_id, call.session_id) == ("t-1", "conversation-9")


def test_users_tags_and_agent(spend_log_copy: dict[str, Any]) -> None:
    metadata = json.loads(spend_log_copy["metadata"])
    metadata["spend_logs_metadata"] = {"feature": "search", "agentledger.task.type": "triage", "budget": 3}
    spend_log_copy |= {
        "end_user": "customer-1",
        "user": "internal-7",
        "team_id": "team-a",
        "request_tags": json.dumps(["agent:planner", "env: prod", "nightly", "agent_version=2"]),
        "metadata": json.dumps(metadata),
        "model_group": "smart",
    }
    call = to_call(spend_log_copy, project_id="p")
    assert call.user_id == "customer-1"
    assert call.tags["litellm.user"] == "internal-7"
    assert call.tags["litellm.team_id"] == "team-a"
    assert call.agent_name == "planner"
    assert call.agent_version == "2"
    assert call.environment == "prod"
    assert call.feature == "search"
    assert call.task_type == "triage"
    assert call.tags["nightly"] == "" and call.tags["budget"] == "3"
    assert call.model_requested == "smart" and call.model == "gpt-4o"


def test_agent_id_column_wins_over_tags(spend_log_copy: dict[str, Any]) -> None:
    spend_log_copy |= {"agent_id": "agent-uuid", "request_tags": ["agent:planner"]}
    assert to_call(spend_log_copy, project_id="p").agent_name == "agent-uuid"


def test_payload_internal_user_from_metadata(payload_copy: dict[str, Any]) -> None:
    payload_copy["metadata"]["user_api_key_user_id"] = "internal-7"
    payload_copy["end_user"] = "customer-2"
    call = to_call(payload_copy, project_id="p")
    assert (call.user_id, call.tags["litellm.user"]) == ("customer-2", "internal-7")


@pytest.mark.parametrize(
    ("call_type", "operation"),
    [
        ("acompletion", "chat"),
        ("completion", "chat"),
        ("aembedding", "embeddings"),
        ("aresponses", "responses"),
        ("atext_completion", "text_completion"),
        ("aanthropic_messages", "chat"),
        ("pass_through_endpoint", "pass_through_endpoint"),
        ("", None),
    ],
)
def test_operation_names(call_type: str, operation: str | None) -> None:
    assert operation_name(call_type) == operation


def test_latency_from_request_duration_ms(spend_log_copy: dict[str, Any]) -> None:
    spend_log_copy["request_duration_ms"] = 1234
    assert to_call(spend_log_copy, project_id="p").latency_ms == 1234.0


def test_max_tokens_from_model_parameters_and_proxy_request(
    payload_copy: dict[str, Any], spend_log_copy: dict[str, Any]
) -> None:
    payload_copy["model_parameters"] = {"max_completion_tokens": 256}
    assert to_call(payload_copy, project_id="p").max_tokens == 256
    spend_log_copy["proxy_server_request"] = json.dumps({"model": "gpt-4o", "max_tokens": 64, "messages": []})
    assert to_call(spend_log_copy, project_id="p").max_tokens == 64


def test_prefix_hash_from_system_message_and_tools(payload_copy: dict[str, Any]) -> None:
    system = {"role": "system", "content": "You are terse."}
    payload_copy["messages"] = [system, {"role": "user", "content": "hi"}]
    payload_copy["model_parameters"] = {"tools": [{"type": "function", "function": {"name": "lookup"}}]}
    call = to_call(payload_copy, project_id="p")
    other = to_call(payload_copy | {"messages": [system, {"role": "user", "content": "bye"}]}, project_id="p")
    assert call.prefix_hash is not None and call.prefix_hash == other.prefix_hash
    assert call.prompt_hash != other.prompt_hash


def test_record_kind_detection(spend_log: dict[str, Any], payload: dict[str, Any]) -> None:
    assert record_kind(spend_log) == "spend_log"
    assert record_kind(payload) == "payload"
    with pytest.raises(InputError, match="neither 'request_id'"):
        record_kind({"model": "gpt-4o"})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"startTime": None}, "startTime"),
        ({"startTime": "yesterday-ish"}, "startTime"),
        ({"prompt_tokens": "ten"}, "prompt_tokens"),
        ({"completion_tokens": -3}, "completion_tokens"),
        ({"spend": "a lot"}, "spend"),
        ({"metadata": "{not json"}, "metadata"),
        ({"request_id": ""}, "request_id"),
    ],
)
def test_malformed_row_names_record_and_field(
    spend_log_copy: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    spend_log_copy |= change
    with pytest.raises(InputError) as excinfo:
        to_call(spend_log_copy, project_id="p")
    message = str(excinfo.value)
    assert field in message
    if field != "request_id":
        assert SPEND_LOG_ID in message


def test_cache_tokens_above_prompt_tokens_are_added_back_and_the_call_kept(
    spend_log_copy: dict[str, Any],
) -> None:
    """A cache count above ``prompt_tokens`` means the remainder was logged (raw Anthropic counts, as LiteLLM
    wrote them before normalizing): the call and its spend stay, with the cache added to the input."""
    metadata = json.loads(spend_log_copy["metadata"])
    metadata["additional_usage_values"] = {"cache_read_input_tokens": 50}  # prompt_tokens is 10
    spend_log_copy["metadata"] = json.dumps(metadata)
    call = to_call(spend_log_copy, project_id="p")
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (60, 50, 0)
    assert call.cost_reported_usd == pytest.approx(float(spend_log_copy["spend"]))
    metadata["additional_usage_values"] = {"cache_read_input_tokens": 4}  # a subset: kept as it is
    spend_log_copy["metadata"] = json.dumps(metadata)
    assert to_call(spend_log_copy, project_id="p").input_tokens == 10


def test_a_streamed_payload_without_end_time_falls_back_to_response_time(
    payload_copy: dict[str, Any],
) -> None:
    payload_copy["endTime"] = None
    call = to_call(payload_copy, project_id="p")
    assert call.ended_at is None
    assert call.latency_ms == pytest.approx(7.394075393676758)  # response_time is in seconds


def test_not_an_object_is_rejected() -> None:
    with pytest.raises(InputError, match="expected a JSON object"):
        to_call(["not", "a", "record"], project_id="p")  # type: ignore[arg-type]
