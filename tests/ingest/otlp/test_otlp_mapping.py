"""Mapping spans to canonical calls and context spans: OTel GenAI, our own attributes, validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from otlp_helpers import (
    T0,
    SpanSpec,
    mapped,
    mapped_from_file,
    one_call,
    pb_request,
    reference,
    span_by_id,
    tokens,
)

from agentledger.ingest.otlp.decode import RawSpan, decode_json, decode_protobuf
from agentledger.ingest.otlp.extras import RAW_LIMIT_CHARS
from agentledger.ingest.otlp.limits import MAX_ATTRIBUTES, MAX_STRING_CHARS, TRUNCATED_TAG
from agentledger.ingest.otlp.mapping import map_request, map_spans

# ------------------------------------------------------------------------------------ reference fixtures


def test_plain_otel_trace_gives_context_only() -> None:
    batch = map_request(decode_json(reference("otel/examples_trace.json").read_bytes()), project_id="proj")
    assert batch.calls == [] and batch.rejected == []
    [span] = batch.spans
    assert (span.kind, span.status, span.project_id, span.source) == ("other", "unset", "proj", "otlp")
    assert span.started_at == datetime(2018, 12, 13, 14, 51, tzinfo=UTC)
    assert span.ended_at == datetime(2018, 12, 13, 14, 51, 1, tzinfo=UTC)


def test_langfuse_basic_trace_export_is_one_generation_call() -> None:
    batch = map_request(
        decode_json(reference("langfuse/otel_BasicTraceExport_example.json").read_bytes()), project_id="proj"
    )
    [call] = batch.calls
    assert call.trace_id == "0123456789abcdef0123456789abcdef" and call.span_id == "0123456789abcdef"
    assert call.operation == "chat"
    assert tokens(call) == (0, 0, 0, 0, 0)
    assert call.latency_ms == 1000.0
    assert call.tags == {"service.name": "my-service"}
    assert call.cost_usd is None and call.price_status == "unpriced"
    assert json.loads(call.raw) == {"langfuse.observation.type": "generation"}
    assert batch.spans[0].kind == "llm"


# ---------------------------------------------------------------------------------------- OTel GenAI


def test_genai_cache_vector_under_current_and_legacy_names() -> None:
    batch = mapped_from_file("genai_cache_vector.json")
    assert batch.rejected == [] and len(batch.calls) == 2
    current, legacy = batch.calls
    assert tokens(current) == tokens(legacy) == (120, 30, 10, 180, 50)
    assert current.provider == legacy.provider == "anthropic"
    assert current.model == "claude-sonnet-4-20250514" and current.model_requested == "claude-sonnet-4"
    assert legacy.model == legacy.model_requested == "claude-sonnet-4"
    assert current.max_tokens == 1024
    assert current.finish_reason == "stop"
    assert current.response_id == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert current.session_id == "conv_5j66UpCpwteGg4YSxUnt7lPY"
    assert current.ttft_ms == pytest.approx(500.0)
    assert current.environment == "production"
    assert current.operation == "chat"


def test_invoke_agent_span_with_usage_is_not_a_call() -> None:
    agent = SpanSpec(
        span_id="0000000000000a01",
        name="invoke_agent Researcher",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 500,
            "gen_ai.usage.output_tokens": 90,
        },
    )
    chat = SpanSpec(
        span_id="0000000000000a02",
        parent_span_id="0000000000000a01",
        name="chat gpt-4o",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 500,
            "gen_ai.usage.output_tokens": 90,
        },
    )
    batch = mapped(agent, chat)
    assert [c.span_id for c in batch.calls] == ["0000000000000a02"]
    context = span_by_id(batch, "0000000000000a01")
    assert (context.kind, context.agent_name) == ("agent", "Researcher")
    assert batch.calls[0].agent_name is None  # inherited later by the pipeline, not here


@pytest.mark.parametrize(
    ("attributes", "provider"),
    [
        ({"gen_ai.provider.name": "aws.bedrock"}, "aws.bedrock"),
        ({"gen_ai.system": "xai"}, "x_ai"),
        ({"gen_ai.system": "az.ai.openai"}, "azure.ai.openai"),
        ({"gen_ai.system": "OpenAI"}, "openai"),
        ({"llm.system": "openai", "llm.provider": "azure"}, "azure.ai.openai"),
        ({"llm.system": "mistralai"}, "mistral_ai"),
        ({"ai.model.provider": "google.vertex.chat"}, "gcp.vertex_ai"),
        ({"ai.model.provider": "fireworks.chat"}, "fireworks"),
        ({"gen_ai.system": "some-new-lab"}, "some-new-lab"),
        ({}, None),
    ],
)
def test_provider_names_are_normalised(attributes: dict, provider: str | None) -> None:
    spec = SpanSpec(span_id="0000000000000b01", attributes={"gen_ai.operation.name": "chat", **attributes})
    assert one_call(spec).provider == provider


def test_genai_error_status_and_types() -> None:
    failed = SpanSpec(
        span_id="0000000000000c01",
        status_code=2,
        status_message="rate limited",
        attributes={"gen_ai.operation.name": "chat", "error.type": "429"},
    )
    raised = SpanSpec(
        span_id="0000000000000c02",
        status_code=2,
        attributes={"gen_ai.operation.name": "embeddings"},
        events=[
            ("exception", {"exception.type": "openai.APITimeoutError", "exception.message": "timed out"})
        ],
    )
    fine = SpanSpec(span_id="0000000000000c03", status_code=1, attributes={"gen_ai.operation.name": "chat"})
    unset = SpanSpec(span_id="0000000000000c04", attributes={"gen_ai.operation.name": "text_completion"})
    batch = mapped(failed, raised, fine, unset)
    assert [(c.status, c.error_type, c.operation) for c in batch.calls] == [
        ("error", "429", "chat"),
        ("error", "openai.APITimeoutError", "embeddings"),
        ("ok", None, "chat"),
        ("unset", None, "text_completion"),
    ]


def test_prompt_hash_tracks_the_input_and_prefix_hash_the_system_prompt() -> None:
    system = [{"type": "text", "content": "You are a translator."}]
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Bonjour"}]}]
    other = [{"role": "user", "parts": [{"type": "text", "content": "Hallo"}]}]
    base = {"gen_ai.operation.name": "chat"}
    as_string = SpanSpec(
        span_id="0000000000000d01",
        attributes={
            **base,
            "gen_ai.system_instructions": json.dumps(system),
            "gen_ai.input.messages": json.dumps(messages),
        },
    )
    structured = SpanSpec(
        span_id="0000000000000d02",
        attributes={**base, "gen_ai.system_instructions": system, "gen_ai.input.messages": messages},
    )
    different = SpanSpec(
        span_id="0000000000000d03",
        attributes={
            **base,
            "gen_ai.system_instructions": json.dumps(system),
            "gen_ai.input.messages": json.dumps(other),
        },
    )
    explicit = SpanSpec(
        span_id="0000000000000d04",
        attributes={
            **base,
            "gen_ai.input.messages": json.dumps(messages),
            "agentledger.prompt_hash": "p-1",
            "agentledger.prefix_hash": "x-1",
        },
    )
    same = SpanSpec(span_id="0000000000000d05", attributes=as_string.attributes)
    a, b, c, d, e = mapped(as_string, structured, different, explicit, same).calls
    assert a.prompt_hash == e.prompt_hash and a.prefix_hash == e.prefix_hash
    assert a.prefix_hash == b.prefix_hash  # the prefix does not depend on how the messages were encoded
    assert a.prompt_hash != c.prompt_hash and a.prefix_hash == c.prefix_hash
    assert (d.prompt_hash, d.prefix_hash) == ("p-1", "x-1")
    assert a.prompt_hash is not None and len(a.prompt_hash) == 16


def test_no_prompt_recorded_means_no_hash() -> None:
    call = one_call(SpanSpec(span_id="0000000000000d06", attributes={"gen_ai.operation.name": "chat"}))
    assert (call.prompt_hash, call.prefix_hash) == (None, None)


# ---------------------------------------------------------------------------------- own attributes


def test_own_attributes() -> None:
    root = SpanSpec(
        span_id="0000000000001201",
        attributes={
            "agentledger.task.outcome": "Failure",
            "agentledger.task.type": "refund",
            "agentledger.project": "someone-else",
        },
    )
    call_span = SpanSpec(
        span_id="0000000000001202",
        parent_span_id="0000000000001201",
        attributes={
            "gen_ai.operation.name": "chat",
            "agentledger.feature": "refunds",
            "agentledger.task.type": "classify",
            "agentledger.response_cache_hit": True,
            "gen_ai.agent.name": "cashier",
            "gen_ai.agent.version": "2.1",
        },
    )
    batch = mapped(root, call_span)
    context = span_by_id(batch, "0000000000001201")
    assert (context.outcome, context.task_type, context.project_id) == ("failure", "refund", "proj")
    [call] = batch.calls
    assert (
        call.feature,
        call.task_type,
        call.response_cache_hit,
        call.agent_name,
        call.agent_version,
        call.project_id,
    ) == (
        "refunds",
        "classify",
        True,
        "cashier",
        "2.1",
        "proj",
    )


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"gen_ai.usage.input_tokens": -5}, "negative"),
        ({"gen_ai.usage.output_tokens": "lots"}, "whole number"),
        ({"gen_ai.usage.input_tokens": 1.5}, "whole number"),
        ({"gen_ai.usage.input_tokens": True}, "whole number"),
        ({"gen_ai.usage.cache_read.input_tokens": [1]}, "whole number"),
        ({"gen_ai.request.max_tokens": "many"}, "whole number"),
        ({"gen_ai.usage.cost": "free"}, "not a number"),
        ({"gen_ai.usage.cost": -1.0}, ">= 0"),
        ({"gen_ai.response.time_to_first_chunk": "soon"}, "not a number"),
        ({"agentledger.task.outcome": "maybe"}, "success"),
        ({"agentledger.response_cache_hit": "sometimes"}, "boolean"),
        ({"llm.invocation_parameters": "{not json"}, "JSON"),
        ({"langfuse.observation.usage_details": '{"input": -3}'}, "negative"),
        ({"langfuse.observation.usage_details": "[1, 2]"}, "JSON object"),
        # a JSON integer too large for a float
        ({"langfuse.observation.cost_details": '{"total": 1' + "0" * 400 + "}"}, "finite number"),
    ],
)
def test_invalid_values_reject_only_their_span(attributes: dict, reason: str) -> None:
    bad = SpanSpec(span_id="0000000000001301", attributes={"gen_ai.operation.name": "chat", **attributes})
    good = SpanSpec(
        span_id="0000000000001302",
        attributes={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3},
    )
    batch = mapped(bad, good)
    assert [c.span_id for c in batch.calls] == ["0000000000001302"]
    assert [s.span_id for s in batch.spans] == ["0000000000001302"]
    [rejection] = batch.rejected
    assert rejection.span_id == "0000000000001301" and reason in rejection.reason


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("Success", "success"),
        ("failed", "failure"),
        ("OK", "success"),
        ("error", "failure"),
        ("Passed", "success"),
    ],
)
def test_the_words_instrumentations_write_for_an_outcome_are_read(value: str, outcome: str) -> None:
    span = SpanSpec(
        span_id="0000000000001311",
        attributes={"gen_ai.operation.name": "chat", "agentledger.task.outcome": value},
    )
    batch = mapped(span)
    assert batch.rejected == [] and [s.outcome for s in batch.spans] == [outcome]


def test_numeric_strings_and_integral_doubles_are_read_as_counts() -> None:
    spec = SpanSpec(
        span_id="0000000000001303",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": "120",
            "gen_ai.usage.output_tokens": 7.0,
        },
    )
    assert tokens(one_call(spec))[::3] == (120, 7)


@pytest.mark.parametrize(
    ("start_ns", "end_ns", "reason"),
    [
        (T0, T0 - 1, "ends before it starts"),
        (-1_000_000_000, T0, "before 1970"),
        (T0, 5_000_000_000_000_000_000, "after 2100"),
        (4_200_000_000_000_000_000, 4_200_000_000_000_000_001, "after 2100"),
    ],
)
def test_bad_timestamps_reject_the_span(start_ns: int, end_ns: int, reason: str) -> None:
    raw = RawSpan(
        "0af7651916cd43dd8448eb211c80319c",
        "0000000000001401",
        None,
        "s",
        1,
        start_ns,
        end_ns,
        {},
        0,
        "",
        (),
        {},
        "t",
    )
    good = RawSpan(
        "0af7651916cd43dd8448eb211c80319c", "0000000000001402", None, "s", 1, T0, 0, {}, 0, "", (), {}, "t"
    )
    batch = map_spans([raw, good], project_id="proj")
    assert [s.span_id for s in batch.spans] == ["0000000000001402"]
    assert batch.spans[0].ended_at is None  # no end time given: unknown, not zero
    assert reason in batch.rejected[0].reason


def test_raw_is_bounded_valid_json() -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": "x" * 50_000,
        **{f"k{i}": "v" * 300 for i in range(60)},
    }
    call = one_call(SpanSpec(span_id="0000000000001501", attributes=attributes))
    assert call.raw is not None and len(call.raw) <= RAW_LIMIT_CHARS
    parsed = json.loads(call.raw)
    assert parsed["gen_ai.operation.name"] == "chat"
    assert parsed.get("agentledger.truncated") is True


def test_environment_from_resource_attributes() -> None:
    spec = SpanSpec(span_id="0000000000001601", attributes={"gen_ai.operation.name": "chat"})
    assert (
        one_call(spec, resource={"service.name": "a", "deployment.environment.name": "prod"}).environment
        == "prod"
    )
    assert (
        one_call(spec, resource={"service.name": "a", "deployment.environment": "dev"}).environment == "dev"
    )
    assert one_call(spec, resource={"service.name": "a"}).environment is None


def test_raw_stays_valid_json_with_non_finite_doubles() -> None:
    spec = SpanSpec(
        span_id="0000000000001701",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.temperature": float("nan"),
            "x": [float("inf")],
        },
    )
    raw = json.loads(
        one_call(spec).raw, parse_constant=lambda token: pytest.fail(f"invalid JSON token {token}")
    )
    assert raw["gen_ai.request.temperature"] == "nan" and raw["x"] == ["inf"]


def test_prompt_hash_of_a_conversation_over_the_attribute_limit_covers_every_message() -> None:
    # OpenInference flattens every message into its own attributes: a long agent conversation passes the
    # attribute limit, and growing conversations differ only in their last messages.
    def conversation(span_id: str, turns: int, last: str = "") -> SpanSpec:
        attributes: dict[str, object] = {"openinference.span.kind": "LLM", "llm.token_count.prompt": 10}
        for i in range(turns):
            attributes[f"llm.input_messages.{i}.message.role"] = "user" if i % 2 == 0 else "assistant"
            attributes[f"llm.input_messages.{i}.message.content"] = (
                f"turn {i}{last if i == turns - 1 else ''}"
            )
        return SpanSpec(span_id=span_id, attributes=attributes)

    turns = MAX_ATTRIBUTES  # two attributes per message: twice the limit
    longer, shorter, edited, same = mapped(
        conversation("0000000000001851", turns + 1),
        conversation("0000000000001852", turns),
        conversation("0000000000001853", turns, last=" (edited)"),
        conversation("0000000000001854", turns),
    ).calls
    assert longer.tags[TRUNCATED_TAG] == "true" and longer.input_tokens == 10
    assert len({longer.prompt_hash, shorter.prompt_hash, edited.prompt_hash}) == 3
    assert same.prompt_hash == shorter.prompt_hash
    explicit = conversation("0000000000001855", turns)
    explicit.attributes["agentledger.prompt_hash"] = "h" * (MAX_STRING_CHARS + 10)
    assert one_call(explicit).prompt_hash == "h" * MAX_STRING_CHARS  # still cut like every stored text


def test_flattened_tool_definitions_feed_the_prefix_hash() -> None:
    base = {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "weather?",
    }
    no_tools = SpanSpec(span_id="0000000000001801", attributes=base)
    tool_a = SpanSpec(
        span_id="0000000000001802",
        attributes={**base, "llm.tools.0.tool.json_schema": '{"name": "get_weather"}'},
    )
    tool_b = SpanSpec(
        span_id="0000000000001803",
        attributes={**base, "llm.tools.0.tool.json_schema": '{"name": "get_time"}'},
    )
    functions = SpanSpec(
        span_id="0000000000001804",
        attributes={
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "llm.request.functions.0.name": "lookup",
        },
    )
    a, b, c, d = mapped(no_tools, tool_a, tool_b, functions).calls
    assert a.prefix_hash is None  # no system prompt and no tools: nothing cacheable to fingerprint
    assert b.prefix_hash is not None and c.prefix_hash is not None and b.prefix_hash != c.prefix_hash
    assert a.prompt_hash == b.prompt_hash == c.prompt_hash  # same messages
    assert d.prefix_hash is not None and d.prompt_hash is not None


def _sdk_and_instrumentation_spans(child_start: int, child_end: int, response_id: str = "msg_01") -> list:
    """An instrumentation's LLM span (with the prompt) and the client SDK's own span of the same API call."""
    usage = {"gen_ai.usage.input_tokens": 2800, "gen_ai.usage.output_tokens": 100}
    outer = SpanSpec(
        "00000000000000c1",
        name="messages.create",
        attributes={
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-sonnet-4",
            "llm.token_count.prompt": 2800,
            "llm.token_count.completion": 100,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
            "output.value": f'{{"id": "{response_id}", "type": "message"}}',
            "output.mime_type": "application/json",
        },
    )
    inner = SpanSpec(
        "00000000000000c2",
        name="anthropic.messages.create",
        parent_span_id="00000000000000c1",
        start_ns=child_start,
        end_ns=child_end,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.response.id": "msg_01",
            **usage,
        },
    )
    return [inner, outer]  # the inner span ends first, and is exported first


def test_one_api_call_recorded_by_two_instrumentations_is_one_call() -> None:
    batch = mapped(*_sdk_and_instrumentation_spans(T0 + 1_000_000, T0 + 1_400_000_000))
    assert [c.span_id for c in batch.calls] == ["00000000000000c1"]  # the span with the prompt stays
    assert len(batch.spans) == 2 and batch.rejected == []  # the other is kept as context


def test_the_same_response_id_at_another_time_or_another_id_is_another_call() -> None:
    later = _sdk_and_instrumentation_spans(T0 + 2_000_000_000, T0 + 3_000_000_000)  # a replayed response
    assert len(mapped(*later).calls) == 2
    other = _sdk_and_instrumentation_spans(T0 + 1_000_000, T0 + 1_400_000_000, response_id="msg_02")
    assert len(mapped(*other).calls) == 2


def _langchain_over_openai(outer_prompt_tokens: int = 1000) -> list[SpanSpec]:
    """LangChain's ChatOpenAI span and the OpenAI client's span nested in it, both from OpenInference
    instrumentors (LangChainInstrumentor and OpenAIInstrumentor on at once): the same usage on both, the
    response id only in the client's recorded response object."""

    def llm(**extra: Any) -> dict[str, Any]:
        return {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.provider": "openai",
            "llm.token_count.completion": 100,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Where is order 7?",
            "output.mime_type": "application/json",
            **extra,
        }

    chain = SpanSpec(
        "00000000000000d0", name="RunnableSequence", attributes={"openinference.span.kind": "CHAIN"}
    )
    framework = SpanSpec(
        "00000000000000d1",
        name="ChatOpenAI",
        parent_span_id="00000000000000d0",
        attributes=llm(
            **{
                "llm.token_count.prompt": outer_prompt_tokens,
                "output.value": '{"generations": [[{"text": "On its way.", "type": "ChatGeneration"}]]}',
            }
        ),
    )
    client = SpanSpec(
        "00000000000000d2",
        name="ChatCompletion",
        parent_span_id="00000000000000d1",
        start_ns=T0 + 5_000_000,
        end_ns=T0 + 1_400_000_000,
        attributes=llm(
            **{
                "llm.token_count.prompt": 1000,
                "output.value": '{"id": "chatcmpl-7", "choices": [{"finish_reason": "stop"}]}',
            }
        ),
    )
    return [client, framework, chain]


def test_a_framework_llm_span_over_the_client_span_of_the_same_call_is_one_call() -> None:
    batch = mapped(*_langchain_over_openai())
    [call] = batch.calls
    assert (call.span_id, call.response_id, call.input_tokens) == ("00000000000000d2", "chatcmpl-7", 1000)
    assert len(batch.spans) == 3 and batch.rejected == []  # the framework's span stays, as context
    # other usage on the framework span: not provably one call, both stay
    assert len(mapped(*_langchain_over_openai(outer_prompt_tokens=2400)).calls) == 2


def _anthropic_call(
    span_id: str, parent: str | None, *, trace: str = "0af7651916cd43dd8448eb211c80319c", **extra
):
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.response.id": "msg_01",
        "gen_ai.usage.input_tokens": 2800,
        "gen_ai.usage.output_tokens": 100,
        **extra,
    }
    return SpanSpec(span_id, parent_span_id=parent, trace_id=trace, attributes=attributes)


def test_the_provider_sdks_own_span_beside_an_instrumentations_span_is_one_call() -> None:
    # OpenLLMetry's span and the Anthropic SDK's own span of one call: siblings under the agent's span.
    instrumented = _anthropic_call("00000000000000d1", "00000000000000a0", **{"gen_ai.input.messages": "[]"})
    sdk = _anthropic_call("00000000000000d2", "00000000000000a0")
    spans = [
        *decode_protobuf(pb_request([sdk], scope="com.anthropic.sdk.python").SerializeToString()).spans,
        *decode_protobuf(
            pb_request([instrumented], scope="opentelemetry.instrumentation.anthropic").SerializeToString()
        ).spans,
    ]
    batch = map_spans(spans, project_id="p")
    assert [c.span_id for c in batch.calls] == ["00000000000000d1"] and len(batch.spans) == 2


def test_calls_that_merely_share_a_response_id_stay_apart() -> None:
    # A gateway that reuses ids (Ollama numbers them 0-998): concurrent siblings, or calls of two traces.
    siblings = [
        _anthropic_call("00000000000000e1", "00000000000000a0"),
        _anthropic_call("00000000000000e2", "00000000000000a0"),
    ]
    assert len(mapped(*siblings).calls) == 2
    two_traces = [
        _anthropic_call("00000000000000e3", None, trace="1af7651916cd43dd8448eb211c80319c"),
        _anthropic_call("00000000000000e4", None, trace="2af7651916cd43dd8448eb211c80319c"),
    ]
    assert len(mapped(*two_traces).calls) == 2


def test_the_response_id_of_an_output_cut_at_the_string_limit() -> None:
    spans = _sdk_and_instrumentation_spans(T0 + 1_000_000, T0 + 1_400_000_000)
    outer = spans[1]
    outer.attributes["output.value"] = '{"id": "msg_01", "content": "' + "x" * 20_000 + '"}'
    batch = mapped(*spans)
    assert [c.span_id for c in batch.calls] == ["00000000000000c1"]
    assert batch.calls[0].response_id == "msg_01"
