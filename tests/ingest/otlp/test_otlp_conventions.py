"""Framework conventions: Langfuse, Vercel AI SDK, OpenLLMetry/Traceloop and OpenInference spans."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from otlp_helpers import (
    SpanSpec,
    mapped,
    mapped_from_file,
    one_call,
    openinference_span,
    reference,
    span_by_id,
    tokens,
)

# ------------------------------------------------------------------------------- OpenInference examples


OPENINFERENCE_EXPECTED = {
    # example: (input, output, reasoning, provider, model, operation, max_tokens)
    1: (229, 21, 0, "openai", "gpt-3.5-turbo-0613", "chat", None),
    2: (259, 14, 0, "openai", "gpt-3.5-turbo-0613", "chat", None),
    3: (0, 482, 482, "openai", "gpt-5", "chat", None),
    4: (0, 0, 0, "anthropic", "claude-opus-4-6", "chat", None),
    5: (0, 0, 0, "anthropic", "claude-opus-4-6", "chat", None),
    6: (0, 318, 318, "gcp.gen_ai", "gemini-3-pro", "chat", None),
    7: (31, 25, 0, "openai", "babbage:2023-07-21-v2", "text_completion", 25),
}


@pytest.mark.parametrize("example", sorted(OPENINFERENCE_EXPECTED))
def test_openinference_examples(example: int) -> None:
    spec = openinference_span(reference(f"openinference/spec_llm_spans.example{example}.json"))
    call = one_call(spec)
    input_tokens, output_tokens, reasoning, provider, model, operation, max_tokens = OPENINFERENCE_EXPECTED[
        example
    ]
    assert tokens(call) == (input_tokens, 0, 0, output_tokens, reasoning)
    assert (call.provider, call.model, call.operation, call.max_tokens) == (
        provider,
        model,
        operation,
        max_tokens,
    )


def test_openinference_request_model_and_response_id_come_from_the_recorded_json() -> None:
    tool_call, completion = (
        one_call(openinference_span(reference(f"openinference/spec_llm_spans.example{n}.json")))
        for n in (1, 7)
    )
    # llm.invocation_parameters names the model asked for; output.value is the provider's response object.
    assert (completion.model_requested, completion.model) == ("babbage-002", "babbage:2023-07-21-v2")
    assert completion.response_id == "cmpl-CKz4klHa1MMqAa4hQn3yzIMlLMZHd"
    # cut at max_tokens=25: the response object's first choice says so (the truncated-output waste reason)
    assert (completion.finish_reason, completion.output_tokens, completion.max_tokens) == ("length", 25, 25)
    assert tool_call.model_requested == "gpt-3.5-turbo-0613"
    assert tool_call.response_id is None  # its output is a message: the ids inside are tool-call ids


def test_openinference_finish_reason_and_outputs_without_an_id() -> None:
    base = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 10}
    truncated = one_call(SpanSpec("0000000000000f01", attributes={**base, "llm.finish_reason": "length"}))
    assert truncated.finish_reason == "length"
    for output in ('{"id": "resp_1"', '["id"]', '{"id": 7}', "plain text"):
        attributes = {**base, "output.value": output, "output.mime_type": "application/json"}
        assert one_call(SpanSpec("0000000000000f02", attributes=attributes)).response_id is None
    text = {**base, "output.value": '{"id": "resp_1"}', "output.mime_type": "text/plain"}
    assert one_call(SpanSpec("0000000000000f03", attributes=text)).response_id is None
    anthropic = {**base, "output.value": '{"id": "msg_1", "stop_reason": "max_tokens"}'}
    anthropic["output.mime_type"] = "application/json"
    call = one_call(SpanSpec("0000000000000f04", attributes=anthropic))
    assert (call.response_id, call.finish_reason) == ("msg_1", "max_tokens")
    declared = {**anthropic, "llm.finish_reason": "stop"}  # the attribute wins over the recorded object
    assert one_call(SpanSpec("0000000000000f05", attributes=declared)).finish_reason == "stop"


def test_openinference_prompt_and_prefix_hashes() -> None:
    first, second, completion = (
        one_call(openinference_span(reference(f"openinference/spec_llm_spans.example{n}.json")))
        for n in (1, 2, 7)
    )
    # Examples 1 and 2 share the Shakespearean system prompt but not the conversation.
    assert first.prefix_hash is not None and first.prefix_hash == second.prefix_hash
    assert (
        first.prompt_hash is not None
        and second.prompt_hash is not None
        and first.prompt_hash != second.prompt_hash
    )
    assert completion.prompt_hash is not None and completion.prefix_hash is None
    assert first.trace_id == second.trace_id == "409df945e0584829b240cfbdd2ff4488"
    assert first.status == "ok"
    assert first.started_at == datetime(2024, 1, 11, 23, 45, 17, 982858, tzinfo=UTC)


# ------------------------------------------------------------------------------------------- Langfuse


def test_langfuse_usage_details_exclude_cache_and_win_over_genai() -> None:
    batch = mapped_from_file("langfuse_generation_usage_details.json")
    assert batch.rejected == []
    [call] = batch.calls
    assert tokens(call) == (120, 30, 10, 180, 50)
    assert call.cost_reported_usd == pytest.approx(0.00294)
    assert call.model == "claude-3-5-sonnet-20241022" and call.provider == "anthropic"
    assert call.max_tokens == 2048
    assert call.ttft_ms == pytest.approx(250.0)
    assert (call.session_id, call.user_id, call.environment) == ("lf-session-1", "lf-user-1", "production")
    agent = span_by_id(batch, "3000000000000001")
    assert (agent.kind, agent.agent_name, agent.workflow_name, agent.session_id) == (
        "agent",
        "support-agent",
        "support-agent",
        "lf-session-1",
    )


@pytest.mark.parametrize(
    "usage",
    [
        # what the Langfuse SDK's OpenAI integration sends: the OpenAI usage object, as Chat Completions returns it
        {
            "prompt_tokens": 1000,
            "completion_tokens": 300,
            "total_tokens": 1300,
            "prompt_tokens_details": {"cached_tokens": 400, "audio_tokens": None},
            "completion_tokens_details": {"reasoning_tokens": 120, "audio_tokens": 0},
        },
        # ... and as the Responses API returns it
        {
            "input_tokens": 1000,
            "output_tokens": 300,
            "total_tokens": 1300,
            "input_tokens_details": {"cached_tokens": 400},
            "output_tokens_details": {"reasoning_tokens": 120},
        },
        # ... and the map the Langfuse server makes of either (its documented conversion)
        {
            "input": 600,
            "input_cached_tokens": 400,
            "output": 180,
            "output_reasoning_tokens": 120,
            "total": 1300,
        },
    ],
)
def test_langfuse_usage_details_as_an_openai_usage_object(usage: dict) -> None:
    """``UsageDetails`` is a map or an OpenAI usage object (the Langfuse API spec); every shape gives the same
    canonical counts: input 1000 of which 400 cached, output 300 of which 120 reasoning."""
    attributes = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": "gpt-4o",
        "langfuse.observation.usage_details": json.dumps(usage),
    }
    call = one_call(SpanSpec("0000000000000e11", attributes=attributes))
    assert tokens(call) == (1000, 400, 0, 300, 120)


def test_langfuse_usage_details_with_a_malformed_detail_object_reject_the_span() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": [3]}
    attributes = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.usage_details": json.dumps(usage),
    }
    batch = mapped(SpanSpec("0000000000000e12", attributes=attributes))
    [rejection] = batch.rejected
    assert "prompt_tokens_details" in rejection.reason and batch.calls == []


def test_langfuse_level_error_and_non_call_types() -> None:
    generation = SpanSpec(
        span_id="0000000000000e01",
        attributes={"langfuse.observation.type": "generation", "langfuse.observation.level": "ERROR"},
    )
    embedding = SpanSpec(
        span_id="0000000000000e02",
        attributes={"langfuse.observation.type": "embedding", "gen_ai.usage.input_tokens": 12},
    )
    # A Langfuse span whose GenAI attributes say "chat": langfuse.* wins, it is not a call.
    span = SpanSpec(
        span_id="0000000000000e03",
        name="retrieve-docs",
        attributes={
            "langfuse.observation.type": "span",
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 9,
        },
    )
    batch = mapped(generation, embedding, span)
    assert [(c.span_id, c.status, c.operation, c.input_tokens) for c in batch.calls] == [
        ("0000000000000e01", "error", "chat", 0),
        ("0000000000000e02", "unset", "embeddings", 12),
    ]
    assert span_by_id(batch, "0000000000000e03").workflow_name == "retrieve-docs"


def test_reported_cost_fallbacks() -> None:
    genai_cost = SpanSpec(
        span_id="0000000000000e04", attributes={"gen_ai.operation.name": "chat", "gen_ai.usage.cost": 0.5}
    )
    oi_cost = SpanSpec(
        span_id="0000000000000e05", attributes={"openinference.span.kind": "LLM", "llm.cost.total": 0.25}
    )
    details_without_total = SpanSpec(
        span_id="0000000000000e06",
        attributes={
            "langfuse.observation.type": "generation",
            "langfuse.observation.cost_details": '{"input": 0.1, "output": 0.2}',
        },
    )
    assert [
        c.cost_reported_usd for c in mapped(genai_cost, oi_cost, details_without_total).calls
    ] == pytest.approx([0.5, 0.25, 0.3])


# ------------------------------------------------------------------------------------- Vercel AI SDK


def test_vercel_parent_and_do_generate_count_once() -> None:
    batch = mapped_from_file("vercel_generate_text.json")
    assert batch.rejected == []
    [call] = batch.calls
    assert call.span_id == "1000000000000002"
    assert tokens(call) == (1200, 1000, 0, 300, 0)
    assert (call.provider, call.model, call.model_requested) == ("openai", "gpt-4o-2024-08-06", "gpt-4o")
    assert (call.session_id, call.user_id) == ("sess-42", "user-7")
    assert call.tags == {"service.name": "helpdesk-web", "plan": "pro"}
    assert call.ttft_ms == pytest.approx(412.5)
    assert call.max_tokens == 512
    assert call.finish_reason == "stop"
    assert call.response_id == "chatcmpl-AbC123"
    assert call.feature == "summarize-ticket"
    assert call.environment == "staging"
    assert call.prefix_hash is not None and call.prompt_hash is not None
    kinds = {s.span_id: (s.kind, s.workflow_name) for s in batch.spans}
    assert kinds == {
        "1000000000000001": ("task", "summarize-ticket"),
        "1000000000000002": ("llm", "summarize-ticket"),
        "1000000000000003": ("tool", "summarize-ticket"),
    }


def test_vercel_uncached_input_is_repaired_and_embeddings_are_calls() -> None:
    anthropic = SpanSpec(
        span_id="0000000000000f01",
        name="ai.streamText.doStream",
        attributes={
            "ai.model.provider": "anthropic.messages",
            "ai.model.id": "claude-sonnet-4",
            "ai.usage.inputTokens": 5,
            "ai.usage.cachedInputTokens": 3000,
            "ai.usage.outputTokens": 40,
        },
    )
    embed = SpanSpec(
        span_id="0000000000000f02",
        name="ai.embedMany.doEmbed",
        attributes={
            "ai.model.provider": "openai.embedding",
            "ai.model.id": "text-embedding-3-small",
            "ai.usage.tokens": 64,
        },
    )
    parent = SpanSpec(
        span_id="0000000000000f03",
        name="ai.embedMany",
        attributes={"ai.usage.tokens": 64, "ai.model.id": "text-embedding-3-small"},
    )
    first, second = mapped(anthropic, embed, parent).calls
    assert tokens(first) == (3005, 3000, 0, 40, 0) and first.provider == "anthropic"
    assert (second.operation, second.input_tokens, second.provider) == ("embeddings", 64, "openai")


def test_ai_sdk_6_usage_details_give_the_cache_writes_and_reasoning() -> None:
    """AI SDK 6's doGenerate span: inputTokens is the total (cache reads and writes included), the details
    are under inputTokenDetails / outputTokenDetails (generate-text.ts)."""
    step = SpanSpec(
        span_id="0000000000000f11",
        name="ai.generateText.doGenerate",
        attributes={
            "ai.model.provider": "anthropic.messages",
            "ai.model.id": "claude-sonnet-4-5",
            "ai.usage.inputTokens": 11100,
            "ai.usage.inputTokenDetails.noCacheTokens": 100,
            "ai.usage.inputTokenDetails.cacheReadTokens": 1000,
            "ai.usage.inputTokenDetails.cacheWriteTokens": 10000,
            "ai.usage.cachedInputTokens": 1000,
            "ai.usage.outputTokens": 300,
            "ai.usage.outputTokenDetails.textTokens": 100,
            "ai.usage.outputTokenDetails.reasoningTokens": 200,
        },
    )
    (call,) = mapped(step).calls
    assert tokens(call) == (11100, 1000, 10000, 300, 200)


# ------------------------------------------------------------------------------- OpenLLMetry/Traceloop


def test_openllmetry_chat_span_and_its_workflow() -> None:
    batch = mapped_from_file("openllmetry_openai_chat.json")
    [call] = batch.calls
    assert tokens(call) == (14, 0, 0, 173, 0)
    assert (call.provider, call.model, call.operation, call.status) == (
        "openai",
        "gpt-3.5-turbo-0125",
        "chat",
        "ok",
    )
    assert (call.session_id, call.user_id) == ("s-99", "u-1")
    assert call.tags == {"service.name": "checkout", "customer": "acme"}
    assert call.feature == "joke_generator"
    assert call.finish_reason == "stop"
    assert call.prompt_hash is not None
    workflow, task = span_by_id(batch, "2000000000000001"), span_by_id(batch, "2000000000000002")
    assert (workflow.kind, workflow.workflow_name, workflow.session_id) == (
        "workflow",
        "joke_generator",
        "s-99",
    )
    assert (task.kind, task.workflow_name) == ("task", "create_joke")


def test_total_tokens_fill_a_missing_input_count() -> None:
    spec = SpanSpec(
        span_id="0000000000001001",
        attributes={
            "llm.request.type": "completion",
            "llm.usage.total_tokens": 50,
            "gen_ai.usage.completion_tokens": 20,
        },
    )
    call = one_call(spec)
    assert (call.input_tokens, call.output_tokens, call.operation) == (30, 20, "text_completion")


def test_traceloop_agent_and_unlabelled_llm_span() -> None:
    agent = SpanSpec(
        span_id="0000000000001002",
        name="planner.agent",
        attributes={
            "traceloop.span.kind": "agent",
            "traceloop.entity.name": "planner",
            "gen_ai.usage.input_tokens": 7,
        },
    )
    # Older OpenLLMetry: no llm.request.type, but a model and usage: still an LLM call.
    bare = SpanSpec(
        span_id="0000000000001003",
        name="anthropic.chat",
        attributes={
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-3-haiku",
            "gen_ai.usage.prompt_tokens": 10,
        },
    )
    batch = mapped(agent, bare)
    assert [c.span_id for c in batch.calls] == ["0000000000001003"]
    assert span_by_id(batch, "0000000000001002").agent_name == "planner"
    assert batch.calls[0].provider == "anthropic"


# ------------------------------------------------------------------------------------- OpenInference


def test_openinference_context_spans_and_metadata() -> None:
    chain = SpanSpec(
        span_id="0000000000001101",
        name="rag-pipeline",
        attributes={"openinference.span.kind": "CHAIN", "session.id": "oi-s", "user.id": "oi-u"},
    )
    agent = SpanSpec(
        span_id="0000000000001102",
        name="Agent run",
        attributes={"openinference.span.kind": "AGENT", "agent.name": "triage"},
    )
    llm = SpanSpec(
        span_id="0000000000001103",
        attributes={
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 50000,
            "llm.token_count.prompt_details.cache_read": 40000,
            "llm.token_count.prompt_details.cache_write": 5000,
            "llm.token_count.completion": 100,
            "llm.invocation_parameters": '{"max_completion_tokens": 300}',
            "metadata": '{"team": "search", "ab": 2}',
            "tag.tags": ["rag", "prod"],
            "agent.name": "triage",
        },
    )
    retriever = SpanSpec(span_id="0000000000001104", attributes={"openinference.span.kind": "RETRIEVER"})
    batch = mapped(chain, agent, llm, retriever)
    [call] = batch.calls
    assert tokens(call) == (50000, 40000, 5000, 100, 0)
    assert call.max_tokens == 300
    assert call.agent_name == "triage"
    assert call.tags == {
        "service.name": "checkout",
        "rag": "true",
        "prod": "true",
        "team": "search",
        "ab": "2",
    }
    assert (
        span_by_id(batch, "0000000000001101").workflow_name,
        span_by_id(batch, "0000000000001101").session_id,
    ) == ("rag-pipeline", "oi-s")
    assert span_by_id(batch, "0000000000001102").agent_name == "triage"
    assert span_by_id(batch, "0000000000001104").kind == "retriever"


# ------------------------------------------------------------------------------------ LiteLLM SDK spans

LITELLM_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.response.finish_reasons": '["length"]',
    "gen_ai.cost.total_cost": 0.00475,
}


def test_litellm_usage_object_gives_cache_and_reasoning_counts() -> None:
    usage = (
        "{'completion_tokens': 300, 'prompt_tokens': 1200, 'total_tokens': 1500, 'completion_tokens_details': "
        "{'reasoning_tokens': 120, 'audio_tokens': None}, 'prompt_tokens_details': {'audio_tokens': 0, "
        "'cache_write_tokens': None, 'cached_tokens': 1000}, 'cache_creation_input_tokens': 50}"
    )
    call = one_call(SpanSpec("0000000000000a01", attributes={**LITELLM_SPAN, "metadata.usage_object": usage}))
    assert tokens(call) == (1200, 1000, 50, 300, 120)
    assert call.finish_reason == "length"  # the list arrives as JSON text
    assert call.cost_reported_usd == 0.00475


@pytest.mark.parametrize(
    "usage",
    ["not a literal", "{'prompt_tokens_details': ", "[1, 2]", "{" * 5000, "{'x': " + "1" * 9000 + "}"],
)
def test_unreadable_litellm_usage_objects_are_ignored(usage: str) -> None:
    call = one_call(SpanSpec("0000000000000a02", attributes={**LITELLM_SPAN, "metadata.usage_object": usage}))
    assert tokens(call) == (1200, 0, 0, 300, 0)


def test_explicit_cache_counts_win_and_bad_counts_in_the_usage_object_reject_the_span() -> None:
    usage = "{'prompt_tokens_details': {'cached_tokens': 1000}}"
    explicit = {**LITELLM_SPAN, "metadata.usage_object": usage, "gen_ai.usage.cache_read.input_tokens": 10}
    assert tokens(one_call(SpanSpec("0000000000000a03", attributes=explicit)))[1] == 10
    negative = {**LITELLM_SPAN, "metadata.usage_object": "{'cache_read_input_tokens': -5}"}
    batch = mapped(SpanSpec("0000000000000a04", attributes=negative))
    assert batch.calls == [] and "negative" in batch.rejected[0].reason
