"""Langfuse collector: the shared contract, the mapping field by field, and the API conversation."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import yaml

from agentledger.core.errors import InputError, TerminalError, TransientError
from agentledger.ingest.collectors.langfuse import LangfuseCollector
from agentledger.ingest.collectors.langfuse_map import score_from_v3, score_trace_id
from agentledger.ingest.collectors.registry import build_collector
from agentledger.ingest.collectors.timeutil import DEFAULT_OVERLAP, parse_timestamp
from agentledger.ingest.config import parse_config
from agentledger.ingest.otlp.prompts import prompt_hashes, request_hashes
from agentledger.ingest.pipeline import Pipeline
from agentledger.ingest.sync import sync_collector
from agentledger.warehouse.base import cursor_key

from .contract import PROJECT, CollectorContract, SourceHarness, open_warehouse, stored_rows
from .servers.base import FakeServer, Fault, reference
from .servers.langfuse import (
    CLOCK,
    FIELD_GROUPS,
    OBSERVATIONS,
    PUBLIC_KEY,
    SCORES,
    SCORES_V3,
    SECRET_KEY,
    TRACE_IDS_FROM_REFERENCE,
    TRACE_LIST,
    TRACES,
    LangfuseApi,
    build_dataset,
    iso,
    score_v3,
)

PAGE = 7  # small pages so a window spans several of them
pytestmark = pytest.mark.slow  # starts a local server


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(LangfuseApi()) as srv:
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_collector(server: FakeServer, sleeps: list[float] | None = None, **kwargs: Any) -> LangfuseCollector:
    options: dict[str, Any] = {
        "page_size": PAGE,
        "clock": lambda: CLOCK,
        "initial_lookback": timedelta(days=5),  # the data starts 4 days before CLOCK
        "sleep": (sleeps.append if sleeps is not None else lambda s: None),
    }
    return LangfuseCollector(server.url, PUBLIC_KEY, SECRET_KEY, **{**options, **kwargs})


def _by_id() -> dict[str, dict[str, Any]]:
    observations, traces = build_dataset()
    out = {}
    for obs in observations:
        trace = traces.get(obs["traceId"])
        out[obs["id"]] = {**obs, "_trace": trace} if trace else obs
    return out


def normalize(obs_id: str) -> Any:
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    return collector.normalize(_by_id()[obs_id], project_id=PROJECT)


class TestLangfuseContract(CollectorContract):
    @pytest.fixture
    def harness(self, server: FakeServer) -> Iterator[SourceHarness]:
        records = list(_by_id().values())
        malformed = [r for r in records if isinstance(r["usageDetails"].get("input"), str)]
        yield SourceHarness(
            make_collector=lambda: make_collector(server),
            samples=[r for r in records if r not in malformed],
            malformed_record=malformed[0],
            expected_calls=27,  # 12 traces x 2 generations + 4 embeddings - 1 malformed
            expected_malformed=1,
            secrets=(PUBLIC_KEY, SECRET_KEY),
        )


# --- the fixture is honest about its shape --------------------------------------------------------------


def test_synthetic_rows_only_use_fields_of_the_published_schemas() -> None:
    spec = yaml.safe_load(reference("langfuse/openapi.yml").read_text())["components"]["schemas"]
    observation_fields = set(spec["ObservationV2"]["properties"])
    trace_fields = set(spec["Trace"]["properties"]) | set(spec["TraceWithFullDetails"]["properties"])
    score_fields = set(spec["BaseScoreV1"]["properties"]) | {"dataType", "value", "stringValue"}
    observations, traces = build_dataset()
    assert {k for o in observations for k in o} <= observation_fields
    assert set(spec["ObservationV2"]["required"]) <= {k for o in observations for k in o}
    assert {k for t in traces.values() for k in t} <= trace_fields
    assert {k for t in traces.values() for s in t["scores"] for k in s} <= score_fields
    assert {k for g in FIELD_GROUPS.values() for k in g} <= observation_fields


# --- mapping, field by field ----------------------------------------------------------------------------


def test_cached_generation_gets_canonical_tokens_cost_and_times() -> None:
    out = normalize("0000000000000g01")
    (call,) = out.calls
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (120, 30, 10)
    assert (call.output_tokens, call.reasoning_tokens) == (52, 12)
    assert call.cost_reported_usd == pytest.approx(0.0000474)
    assert call.latency_ms == pytest.approx(1500.0)  # 1.5 s
    assert call.ttft_ms == pytest.approx(400.0)  # 0.4 s
    assert (call.model, call.provider, call.max_tokens, call.operation) == (
        "gpt-4o-mini",
        "openai",
        512,
        "chat",
    )
    assert (call.trace_id, call.span_id) == (TRACE_IDS_FROM_REFERENCE[0], "0000000000000g01")
    assert call.parent_span_id == "0000000000000c01"
    assert call.response_id == call.source_record_id == "0000000000000g01"
    assert (call.session_id, call.user_id, call.environment) == ("sess-0", "user-0", "production")
    assert call.tags == {"support": "true", "tier-1": "true", "langfuse.release": "v1.2.0"}
    assert call.status == "unset" and call.error_type is None
    assert "_trace" not in call.raw


def test_response_id_is_the_provider_id_when_the_observation_reveals_it() -> None:
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    base = _by_id()["0001000000000g01"]
    litellm_logged = {**base, "id": "time-10-15-42-123456_chatcmpl-AbC123"}  # litellm.utils.get_logging_id
    otel_logged = {**base, "metadata": {"attributes": {"gen_ai.response.id": "msg_01XyZ"}}}
    assert collector.normalize(litellm_logged, project_id=PROJECT).calls[0].response_id == "chatcmpl-AbC123"
    assert collector.normalize(otel_logged, project_id=PROJECT).calls[0].response_id == "msg_01XyZ"
    assert collector.normalize(base, project_id=PROJECT).calls[0].response_id == "0001000000000g01"


@pytest.mark.parametrize(
    ("system", "attributes", "canonical"),
    [
        ("openai", {}, "openai"),
        ("OpenAI", {}, "openai"),
        ("vertex_ai", {}, "gcp.vertex_ai"),  # LiteLLM / deprecated gen_ai.system spelling
        ("xai", {}, "x_ai"),
        ("mistral", {}, "mistral_ai"),
        ("google.vertex.chat", {}, "gcp.vertex_ai"),  # copied from the AI SDK's ai.model.provider
        (None, {"gen_ai.provider.name": "aws.bedrock"}, "aws.bedrock"),
        (None, {"gen_ai.system": "az.ai.openai"}, "azure.ai.openai"),
        (None, {"llm.system": "openai", "llm.provider": "azure"}, "azure.ai.openai"),  # azure is the host
        (None, {"llm.system": "mistralai"}, "mistral_ai"),  # OpenInference llm.system, ignored before
        (None, {"ai.model.provider": "amazon-bedrock"}, "aws.bedrock"),
        ("openai", {"llm.system": "anthropic", "llm.provider": "aws"}, "aws.bedrock"),  # attributes first
        (None, {}, None),
    ],
)
def test_provider_is_the_canonical_otel_value(
    system: str | None, attributes: dict[str, str], canonical: str | None
) -> None:
    """The span attributes are read with the OTLP path's precedence (GenAI, then OpenInference ``llm.system``
    unless ``llm.provider`` is a host, then Vercel), then ``modelParameters.system``; every spelling lands on
    the value the OTLP, Helicone and LiteLLM paths write for the same provider."""
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    base = _by_id()["0001000000000g01"]
    params = {k: v for k, v in base["modelParameters"].items() if k != "system"}
    if system is not None:
        params["system"] = system
    record = {**base, "modelParameters": params, "metadata": {"attributes": attributes} if attributes else {}}
    (call,) = collector.normalize(record, project_id=PROJECT).calls
    assert call.provider == canonical


def test_provider_of_an_openinference_span_logged_to_langfuse() -> None:
    """OpenInference's own example spans (Gemini: ``llm.system`` google; OpenAI) as Langfuse keeps them: the
    span attributes in the observation metadata, no ``modelParameters.system``."""
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    base = _by_id()["0001000000000g01"]
    params = {k: v for k, v in base["modelParameters"].items() if k != "system"}
    found = {}
    for example in (1, 4, 6):
        span = json.loads(reference(f"openinference/spec_llm_spans.example{example}.json").read_text())
        attributes = {k: v for k, v in span["attributes"].items() if isinstance(v, str)}
        record = {**base, "modelParameters": params, "metadata": {"attributes": json.dumps(attributes)}}
        found[example] = collector.normalize(record, project_id=PROJECT).calls[0].provider
    assert found == {1: "openai", 4: "anthropic", 6: "gcp.gen_ai"}


def test_generation_logged_by_litellm_counts_its_cache_writes_once() -> None:
    """LiteLLM's Langfuse logger (litellm/integrations/langfuse/langfuse.py) sends ``input = prompt_tokens -
    cache reads``, so its ``input`` still holds the cache writes that it also sends as
    ``cache_creation_input_tokens``. An Anthropic call through LiteLLM: 100 fresh + 200 written + 1000 read
    input tokens (prompt_tokens 1300), 50 output."""
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    base = _by_id()["0001000000000g01"]
    prompt, read, write, output = 1300, 1000, 200, 50
    litellm_usage = {
        "input": prompt - read,
        "output": output,
        "total": prompt + output,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }
    # The same call as Langfuse's own convention records it (every cache key subtracted from input).
    langfuse_usage = {**litellm_usage, "input": prompt - read - write}
    for usage in (litellm_usage, langfuse_usage):
        (call,) = collector.normalize({**base, "usageDetails": usage}, project_id=PROJECT).calls
        assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (prompt, read, write)
        assert call.output_tokens == output
    # Without cache writes the two conventions agree, and nothing is changed.
    no_write = {
        **litellm_usage,
        "input": prompt - read,
        "total": prompt + output,
        "cache_creation_input_tokens": 0,
    }
    (call,) = collector.normalize({**base, "usageDetails": no_write}, project_id=PROJECT).calls
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (prompt, read, 0)


def test_span_attributes_longer_than_the_metadata_cut_are_read(tmp_path) -> None:
    """The v2 API cuts metadata values at 200 characters unless ``expandMetadata`` names the key; the OTel
    span attributes (response id, agent, provider) are one value, usually longer than that."""
    observations, traces = build_dataset(n_traces=1)
    generation = next(o for o in observations if o["type"] == "GENERATION")
    attributes = {
        "gen_ai.response.id": "chatcmpl-LongAttributes01",
        "gen_ai.agent.name": "triage",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "url.full": "https://api.openai.com/v1/chat/completions?" + "x" * 300,
    }
    generation["metadata"] = {"attributes": attributes, "scope": {"name": "openai-instrumentation"}}
    generation["modelParameters"] = {"max_tokens": "512"}
    with FakeServer(LangfuseApi(observations, traces)) as srv:
        wh, report, collector = _sync(srv, tmp_path, "long-metadata")
        collector.close()
    assert report.ok and report.malformed == 0
    [call] = [c for c in stored_rows(wh)["calls"] if c["span_id"] == generation["id"]]
    wh.close()
    assert (call["response_id"], call["agent_name"], call["provider"]) == (
        "chatcmpl-LongAttributes01",
        "triage",
        "openai",
    )
    # An API that returns the value as JSON text is read the same way.
    as_text = {**generation, "metadata": {"attributes": json.dumps(attributes)}}
    (mapped,) = (
        LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
        .normalize(as_text, project_id=PROJECT)
        .calls
    )
    assert mapped.response_id == "chatcmpl-LongAttributes01"


def test_error_generation_is_an_error_call_with_the_status_message() -> None:
    (call,) = normalize("0003000000000g02").calls
    assert call.status == "error"
    assert call.error_type == "RateLimitError: 429 Too Many Requests"


def test_zero_cost_of_an_unpriced_model_is_unknown_not_free() -> None:
    (call,) = normalize("0007000000000g02").calls
    assert call.model == "my-finetune" and call.input_tokens == 1500
    assert call.cost_reported_usd is None


def test_embedding_is_a_call_and_spans_get_kinds() -> None:
    (call,) = normalize("0000000000000e01").calls
    assert call.operation == "embeddings" and call.input_tokens == 64 and call.output_tokens == 0
    assert call.ttft_ms is None
    kinds = {s.span_id: s.kind for s in normalize("0000000000000t01").spans}
    assert kinds == {"0000000000000t01": "tool", TRACE_IDS_FROM_REFERENCE[0]: "workflow"}
    assert normalize("0000000000000c01").spans[0].workflow_name == "answer-question"
    assert normalize("0000000000000c01").calls == []


def _ai_sdk_generation(obs_id: str, parent: str, operation: str, tokens: tuple[int, int]) -> dict[str, Any]:
    """A generation as Langfuse's OTel ingestion stores a Vercel AI SDK span that carries a model and usage."""
    generation = copy.deepcopy(_by_id()["0000000000000g01"])
    generation.update(id=obs_id, parentObservationId=parent, name=operation)
    generation["usageDetails"] = {"input": tokens[0], "output": tokens[1], "total": sum(tokens)}
    generation.pop("costDetails", None)
    generation.pop("totalCost", None)
    generation["metadata"] = {
        "attributes": {
            "ai.operationId": operation,
            "ai.model.id": "gpt-4o-2024-08-06",
            "ai.model.provider": "openai.chat",
            "ai.usage.promptTokens": tokens[0],
            "ai.usage.completionTokens": tokens[1],
        }
    }
    return generation


def test_a_framework_span_above_the_calls_is_context_not_a_second_call(tmp_path) -> None:
    """DESIGN.md: tokens and cost come from LLM-call rows only. Langfuse stores the AI SDK's ``ai.generateText``
    (which repeats the usage of its steps) as a generation; a two-step run must cost its two steps, once."""
    parent = _ai_sdk_generation("00000000000vp001", "0000000000000c01", "ai.generateText", (3000, 300))
    steps = [
        _ai_sdk_generation("00000000000vs001", "00000000000vp001", "ai.generateText.doGenerate", (1000, 100)),
        _ai_sdk_generation("00000000000vs002", "00000000000vp001", "ai.generateText.doGenerate", (2000, 200)),
    ]
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    out = [collector.normalize(r, project_id=PROJECT) for r in (parent, *steps)]
    assert out[0].calls == [] and out[0].spans[0].kind == "task"
    assert [len(o.calls) for o in out[1:]] == [1, 1]
    wh = open_warehouse(tmp_path, "ai-sdk")
    try:
        Pipeline(wh, None).ingest([c for o in out for c in o.calls], [s for o in out for s in o.spans])
        totals = wh.sql("SELECT count(*) AS n, sum(input_tokens) AS tokens FROM ledger_calls")
        assert (totals["n"][0], totals["tokens"][0]) == (2, 3000)
    finally:
        wh.close()
    # A generation whose span attributes say nothing of what the span is stays a call (native SDK records too).
    plain = _ai_sdk_generation("00000000000vx001", "0000000000000c01", "chat gpt-4o", (10, 5))
    plain["metadata"] = {"attributes": {"gen_ai.request.model": "gpt-4o"}}
    assert len(collector.normalize(plain, project_id=PROJECT).calls) == 1
    # Python SDK <= 3.3.0 sent generations as "span"s with a model and usage; Langfuse made them generations.
    old_sdk = _ai_sdk_generation("00000000000vo001", "0000000000000c01", "summarize", (100, 20))
    old_sdk["metadata"] = {
        "attributes": {
            "langfuse.observation.type": "span",
            "langfuse.observation.model.name": "gpt-4o",
            "langfuse.observation.usage_details": '{"input": 100, "output": 20}',
        },
        "scope": {"name": "langfuse-sdk", "version": "3.2.1"},
    }
    (old_call,) = collector.normalize(old_sdk, project_id=PROJECT).calls
    assert (old_call.input_tokens, old_call.output_tokens) == (100, 20)
    # A GenAI agent span with the agent's total usage is the agent's context, as on the OTLP path.
    agent = _ai_sdk_generation("00000000000va001", "0000000000000c01", "invoke_agent Planner", (500, 50))
    agent["metadata"] = {
        "attributes": {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Planner"}
    }
    (agent_out,) = [collector.normalize(agent, project_id=PROJECT)]
    assert agent_out.calls == [] and agent_out.spans[0].kind == "agent"
    assert agent_out.spans[0].agent_name == "Planner"


def test_root_agent_span_and_trace_span() -> None:
    agent, trace = normalize(TRACE_IDS_FROM_REFERENCE[1]).spans
    assert (agent.kind, agent.agent_name, agent.parent_span_id) == (
        "agent",
        "support-agent",
        TRACE_IDS_FROM_REFERENCE[0],
    )
    assert agent.source_outcome is None
    assert (trace.span_id, trace.kind, trace.name, trace.workflow_name) == (
        TRACE_IDS_FROM_REFERENCE[0],
        "workflow",
        "support-ticket",
        "support-ticket",
    )
    assert trace.parent_span_id is None and trace.started_at is not None
    assert trace.source_outcome == "success"  # task_success = 1


def test_trace_outcome_from_scores_and_from_a_failed_root() -> None:
    failed_root, _ = normalize("0005000000000a01").spans
    assert failed_root.status == "error" and failed_root.source_outcome == "failure"
    assert normalize("0002000000000g01").spans[1].source_outcome == "failure"  # task_success = 0
    assert normalize("0001000000000g01").spans[1].source_outcome is None  # no score
    untraced = normalize("000a000000000g01").spans[1]  # the traces endpoint does not know trace 10
    assert untraced.name == "support-ticket" and untraced.started_at is None


def test_configured_score_names_decide_the_outcome() -> None:
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY, outcome_scores=["resolved"])
    out = collector.normalize(_by_id()["0000000000000g01"], project_id=PROJECT)
    assert out.spans[1].source_outcome is None


# --- the API conversation -------------------------------------------------------------------------------


def _sync(server: FakeServer, tmp_path: Any, name: str, **kwargs: Any) -> Any:
    wh = open_warehouse(tmp_path, name)
    collector = make_collector(server, **kwargs)
    report = sync_collector(collector, Pipeline(wh), wh, project_id=PROJECT)
    return wh, report, collector


def test_requests_use_basic_auth_field_groups_bounded_pages_and_fetch_each_trace_once(
    server, tmp_path
) -> None:
    wh, report, _ = _sync(server, tmp_path, "conversation")
    wh.close()
    requests = server.api.requests_to(OBSERVATIONS)
    assert requests and all(int(r.query["limit"][0]) == PAGE for r in requests)
    fields = set(requests[0].query["fields"][0].split(","))
    assert {"core", "basic", "time", "model", "usage", "metrics", "trace_context"} <= fields
    assert "io" not in fields
    assert any("cursor" in r.query for r in requests)  # windows with more than a page were paged
    trace_requests = [r.path for r in server.api.requests if r.path.startswith("/api/public/traces/")]
    assert len(trace_requests) == len(set(trace_requests)) == 12
    assert report.records == 64


def test_next_run_rereads_the_overlap_window(server, tmp_path) -> None:
    wh, first, _ = _sync(server, tmp_path, "overlap")
    server.api.requests.clear()
    collector = make_collector(server, overlap=timedelta(minutes=10))
    sync_collector(collector, Pipeline(wh), wh, project_id=PROJECT)
    wh.close()
    first_request = server.api.requests_to(OBSERVATIONS)[0]
    assert first.cursor_after == "2025-05-26T00:00:00.000000Z"
    assert first_request.query["fromStartTime"] == ["2025-05-25T23:50:00Z"]


def test_rate_limit_and_server_errors_are_retried(server, sleeps, tmp_path) -> None:
    server.api.inject(OBSERVATIONS, 2, Fault(status=429, headers={"Retry-After": "1"}))
    server.api.inject(OBSERVATIONS, 5, Fault(status=503))
    server.api.inject(OBSERVATIONS, 8, Fault(drop=True))
    wh, report, _ = _sync(server, tmp_path, "retried", sleeps=sleeps)
    reference_wh, _, _ = _sync(server, tmp_path, "clean")
    try:
        assert report.ok and stored_rows(wh) == stored_rows(reference_wh)
        assert sleeps[0] == 1.0 and len(sleeps) == 3
    finally:
        wh.close()
        reference_wh.close()


def test_a_source_that_stays_down_fails_the_run_and_the_next_run_recovers(server, tmp_path) -> None:
    pages = list(make_collector(server).fetch(None))
    data_requests = [
        i for i, r in enumerate(server.api.requests_to(OBSERVATIONS), 1) if r.query.get("cursor")
    ]
    server.api.reset()
    for nth in range(data_requests[0], data_requests[0] + 5):  # every attempt of a second page of a window
        server.api.inject(OBSERVATIONS, nth, Fault(drop=True))
    assert len(pages) > data_requests[0]
    wh = open_warehouse(tmp_path, "outage")
    try:
        with pytest.raises(TransientError, match="after 5 attempts"):
            sync_collector(make_collector(server), Pipeline(wh), wh, project_id=PROJECT)
        cursor = wh.get_cursor(cursor_key(make_collector(server).source_key, PROJECT))
        assert cursor.value is not None and "TransientError" in cursor.last_error
        sync_collector(make_collector(server), Pipeline(wh), wh, project_id=PROJECT)
        reference_wh, _, _ = _sync(server, tmp_path, "no-outage")
        assert stored_rows(wh) == stored_rows(reference_wh)
        reference_wh.close()
    finally:
        wh.close()


def test_refused_keys_name_the_variables_and_never_the_secret(server) -> None:
    config = parse_config({"sources": [{"type": "langfuse", "host": server.url}]})
    env = {"LANGFUSE_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_SECRET_KEY": "sk-lf-wrong-secret-999"}
    collector = build_collector(config.sources[0], env=env, clock=lambda: CLOCK)
    with pytest.raises(TerminalError) as info:
        list(collector.fetch(None))
    message = str(info.value)
    assert "LANGFUSE_PUBLIC_KEY" in message and "LANGFUSE_SECRET_KEY" in message and "401" in message
    assert "sk-lf-wrong-secret-999" not in message and PUBLIC_KEY not in message


def test_environment_filter_and_page_size_limit(server) -> None:
    collector = make_collector(server, environments=["production", "staging"], page_size=1000)
    pages = list(collector.fetch(None))
    assert sum(len(p.records) for p in pages) == 64
    assert server.api.requests_to(OBSERVATIONS)[0].query["environment"] == ["production", "staging"]
    with pytest.raises(ValueError, match="1..1000"):
        make_collector(server, page_size=1001)


def test_window_cursor_only_moves_on_the_last_page_of_a_window(server) -> None:
    pages = list(make_collector(server).fetch(None))
    data_pages = [p for p in pages if p.records]
    assert any(p.next_cursor is None for p in data_pages)  # a full page inside a window keeps the cursor
    assert pages[-1].next_cursor == "2025-05-26T00:00:00.000000Z"
    cursors = [p.next_cursor for p in pages if p.next_cursor]
    assert cursors == sorted(cursors)


# --- traces read in bulk --------------------------------------------------------------------------------

DENSE = 300  # traces, one a minute: a busy project's five hours
UNKNOWN_TRACE = f"{10:032x}"  # build_dataset's trace that the traces endpoints do not know


def _dense(n: int = DENSE, spacing: timedelta = timedelta(minutes=1)) -> Any:
    return build_dataset(n, spacing)


def _read_all(api: LangfuseApi, **kwargs: Any) -> tuple[str, Counter[str]]:
    """Every page's records, as JSON text in the order fetched, and the requests made, counted by path (the
    per-trace endpoint counted as one path)."""
    with FakeServer(api) as srv:
        collector = make_collector(srv, **{"page_size": 1000, **kwargs})
        pages = list(collector.fetch(None))
        collector.close()
    paths = Counter(TRACES + "{id}" if r.path.startswith(TRACES) else r.path for r in api.requests)
    return json.dumps([p.records for p in pages]), paths


def test_traces_are_listed_in_bulk_with_far_fewer_requests_and_the_same_records() -> None:
    bulk_records, bulk = _read_all(LangfuseApi(*_dense()))
    one_by_one_records, one_by_one = _read_all(LangfuseApi(*_dense(), list_endpoints=False))
    assert bulk_records == one_by_one_records  # byte for byte
    assert one_by_one[TRACES + "{id}"] == DENSE  # the server without the lists: a request per trace
    trace_requests = bulk[TRACE_LIST] + bulk[SCORES] + bulk[TRACES + "{id}"]
    assert trace_requests <= DENSE // 30
    assert bulk[TRACES + "{id}"] == 1  # only the trace the list does not know is asked for by id
    assert bulk[OBSERVATIONS] == one_by_one[OBSERVATIONS]
    records = json.loads(bulk_records)
    assert sum(len(page) for page in records) == len(_dense()[0])
    assert all("_trace" in r for page in records for r in page if r["traceId"] != UNKNOWN_TRACE)


def test_list_requests_ask_only_for_the_fields_used_within_the_observations_time_range() -> None:
    observations, traces = _dense()
    api = LangfuseApi(observations, traces)
    _read_all(api, environments=["production"])
    starts = sorted(o["startTime"] for o in observations)
    lists = api.requests_to(TRACE_LIST)
    assert lists
    for request in lists:
        q = {k: v[-1] for k, v in request.query.items()}
        assert (
            q["fields"] == "core,scores"
        )  # name, timestamp, user, session, tags, release, environment + score ids
        assert int(q["limit"]) == 100 and q["orderBy"] == "timestamp.asc"
        assert request.query["environment"] == ["production"]
        margin = timedelta(minutes=10)
        assert parse_timestamp(q["fromTimestamp"]) >= parse_timestamp(starts[0]) - margin
        assert parse_timestamp(q["toTimestamp"]) <= parse_timestamp(starts[-1]) + margin
    for request in api.requests_to(SCORES):
        assert len(request.query["scoreIds"][0].split(",")) <= 100 and request.query["fields"] == ["score"]


def test_paging_through_several_pages_of_traces_loses_none() -> None:
    observations, traces = _dense(spacing=timedelta(seconds=10))  # 300 traces in 50 minutes: one list range
    api = LangfuseApi(observations, traces)
    records_json, paths = _read_all(api)
    pages_asked = sorted(int(r.query["page"][0]) for r in api.requests_to(TRACE_LIST))
    assert max(pages_asked) >= 3  # the range held more than two pages of 100 traces
    assert paths[TRACES + "{id}"] == 1
    summaries = {r["traceId"]: r.get("_trace") for page in json.loads(records_json) for r in page}
    assert len(summaries) == DENSE
    for trace_id, summary in summaries.items():
        if trace_id == UNKNOWN_TRACE:
            assert summary is None
            continue
        trace = traces[trace_id]
        assert summary["timestamp"] == trace["timestamp"] and summary["name"] == trace["name"]
        assert [s["value"] for s in summary["scores"]] == [s["value"] for s in trace["scores"]]


def test_a_trace_outside_the_list_range_is_read_on_its_own() -> None:
    """A long-running trace started a day before its observations: the list of their time range does not hold
    it, so it is read by id and its records keep the trace's data."""
    observations, traces = _dense(n=60)
    long_running = f"{30:032x}"
    traces[long_running]["timestamp"] = iso(
        parse_timestamp(traces[long_running]["timestamp"]) - timedelta(days=1)
    )
    api = LangfuseApi(observations, traces)
    records_json, paths = _read_all(api)
    by_id = [r.path for r in api.requests if r.path.startswith(TRACES)]
    assert sorted(by_id) == sorted(TRACES + t for t in (long_running, UNKNOWN_TRACE))
    assert paths[TRACE_LIST] >= 1
    records = [r for page in json.loads(records_json) for r in page if r["traceId"] == long_running]
    assert records and all(r["_trace"]["timestamp"] == traces[long_running]["timestamp"] for r in records)
    assert records_json == _read_all(LangfuseApi(observations, traces, list_endpoints=False))[0]


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        (None, None),  # an older self-hosted Langfuse: no list endpoints at all (404)
        (TRACE_LIST, Fault(status=405)),
        (TRACE_LIST, Fault(status=200)),  # a body that is not {data, meta}
        (SCORES, Fault(status=404)),  # traces listed, scores not: the scored traces are read by id
    ],
    ids=["no-lists", "list-405", "list-bad-shape", "no-scores-list"],
)
def test_a_server_without_usable_list_endpoints_reads_each_trace(path, fault, caplog) -> None:
    observations, traces = _dense(n=60)
    api = LangfuseApi(observations, traces, list_endpoints=path is not None)
    if path is not None:
        api.inject(path, 1, fault)
    with caplog.at_level(logging.INFO, logger="agentledger.ingest.collectors.langfuse"):
        records_json, paths = _read_all(api)
    assert records_json == _read_all(LangfuseApi(observations, traces))[0]
    fallbacks = [r for r in caplog.records if r.name == "agentledger.ingest.collectors.langfuse"]
    assert len(fallbacks) == 1 and fallbacks[0].levelno == logging.INFO  # one line, not an error
    assert "/api/public/traces/{trace_id}" in fallbacks[0].getMessage()
    assert all(key not in caplog.text for key in (PUBLIC_KEY, SECRET_KEY))
    scored = sum(1 for t in traces.values() if t["scores"])
    if path == SCORES:  # the traces are listed; those with scores, and the unknown one, are read by id
        assert paths[SCORES] == 1 and paths[TRACES + "{id}"] == scored + 1
    else:  # one list request, then every trace by id (the unknown one too)
        assert paths[TRACE_LIST] == 1 and paths[SCORES] == 0 and paths[TRACES + "{id}"] == len(traces) + 1


def test_a_failure_while_listing_traces_fails_the_run_and_the_next_run_resumes(tmp_path) -> None:
    observations, traces = _dense()
    hourly = {"window": timedelta(hours=1), "page_size": 100}
    with FakeServer(LangfuseApi(observations, traces)) as srv:
        list(make_collector(srv, **hourly).fetch(None))
        lists = len(srv.api.requests_to(TRACE_LIST))
        srv.api.reset()
        failing = lists * 2 // 3  # a list request of a later window
        for nth in range(failing, failing + 5):  # every attempt of it
            srv.api.inject(TRACE_LIST, nth, Fault(drop=True))
        wh = open_warehouse(tmp_path, "list-outage")
        try:
            with pytest.raises(TransientError, match="after 5 attempts"):
                sync_collector(make_collector(srv, **hourly), Pipeline(wh), wh, project_id=PROJECT)
            key = cursor_key(make_collector(srv).source_key, PROJECT)
            cursor = wh.get_cursor(key)
            assert cursor.value is not None and "TransientError" in cursor.last_error
            assert stored_rows(wh)["spans"]  # the windows before the failure are written
            report = sync_collector(make_collector(srv, **hourly), Pipeline(wh), wh, project_id=PROJECT)
            assert report.ok
            reference_wh, _, _ = _sync(srv, tmp_path, "no-list-outage", **hourly)
            assert stored_rows(wh) == stored_rows(reference_wh)
            reference_wh.close()
        finally:
            wh.close()


# --- Langfuse v4: no trace endpoints, scores from GET /api/public/v3/scores -----------------------------

LOGGER = "agentledger.ingest.collectors.langfuse"


def _removed_requests(api: LangfuseApi) -> list[str]:
    """The requests to the endpoints Langfuse v4 removed (the trace endpoints and the v2 scores list)."""
    return [r.path for r in api.requests if r.path in (TRACE_LIST, SCORES) or r.path.startswith(TRACES)]


def _as_v4_gives_them(rows: dict[str, list[dict[str, Any]]], *, outcome: bool = True) -> Any:
    """A v3 run's rows as a v4 run can give them: v4 has no trace record, so the trace span has no start
    time of its own (and, without a scores endpoint, no outcome from scores)."""
    for span in rows["spans"]:
        if span["span_id"] == span["trace_id"]:
            span["started_at"] = None
            if not outcome:
                span["source_outcome"] = None
    return rows


def _sync_api(api: LangfuseApi, tmp_path: Any, name: str, **kwargs: Any) -> Any:
    with FakeServer(api) as srv:
        wh, report, collector = _sync(srv, tmp_path, name, **kwargs)
        collector.close()
    rows = stored_rows(wh)
    wh.close()
    return report, rows


def _info_lines(caplog: Any) -> list[str]:
    lines = [r for r in caplog.records if r.name == LOGGER]
    assert all(r.levelno == logging.INFO for r in lines)
    assert all(key not in caplog.text for key in (PUBLIC_KEY, SECRET_KEY))
    return [r.getMessage() for r in lines]


@pytest.mark.parametrize("status", [410, 404])
@pytest.mark.parametrize(
    ("dataset", "page_size"),
    [("sparse", PAGE), ("dense", 1000)],  # dense: a v3 run lists the traces, sparse: it reads them by id
)
def test_a_v4_run_stores_the_same_records_as_a_v3_run(status, dataset, page_size, tmp_path, caplog) -> None:
    observations, traces = build_dataset() if dataset == "sparse" else _dense(n=60)
    v4 = LangfuseApi(observations, traces, version=4, removed_status=status)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        report, rows = _sync_api(v4, tmp_path, "v4", page_size=page_size)
    _, v3_rows = _sync_api(LangfuseApi(observations, traces), tmp_path, "v3", page_size=page_size)
    assert report.ok and report.records == len(observations)
    assert rows == _as_v4_gives_them(v3_rows)
    # the trace-level fields came with the observations, the outcome from the v3 scores
    assert all(c["session_id"] and c["user_id"] and c["environment"] == "production" for c in rows["calls"])
    assert all(
        c["tags"] == {"support": "true", "tier-1": "true", "langfuse.release": "v1.2.0"}
        for c in rows["calls"]
    )
    trace_spans = [s for s in rows["spans"] if s["span_id"] == s["trace_id"]]
    assert {s["name"] for s in trace_spans} == {"support-ticket"}
    assert {s["source_outcome"] for s in trace_spans} == {"success", "failure", None}
    # one request to a removed endpoint, the first of the run; then only observations and v3 scores
    assert len(_removed_requests(v4)) == 1
    first_removed = next(i for i, r in enumerate(v4.requests) if r.path in _removed_requests(v4))
    assert {r.path for r in v4.requests[first_removed + 1 :]} <= {OBSERVATIONS, SCORES_V3}
    for request in v4.requests_to(SCORES_V3):
        q = {k: v[-1] for k, v in request.query.items()}
        assert (q["fields"], q["name"], q["limit"]) == ("subject", "task_success", "100")
        assert 1 <= len(q["traceId"].split(",")) <= 50
    (line,) = _info_lines(caplog)
    assert f"HTTP {status}" in line and SCORES_V3 in line


def test_v3_scores_are_paged_and_the_latest_score_decides(tmp_path) -> None:
    """Traces scored six times each (the latest score, the one at +30 min, says the opposite of the earlier
    ones): the v3 scores of 50 traces take more than one page of 100, and every page is read."""
    observations, traces = _dense(n=120)
    for trace in traces.values():
        for latest in list(trace["scores"]):
            for k in range(1, 6):
                earlier = parse_timestamp(latest["timestamp"]) - timedelta(minutes=k)
                rescored = {**latest, "id": f"{latest['id']}-{k}", "value": 1 - latest["value"]}
                trace["scores"].append(rescored | {"timestamp": iso(earlier), "createdAt": iso(earlier)})
    v4 = LangfuseApi(observations, traces, version=4)
    report, rows = _sync_api(v4, tmp_path, "v4-paged", page_size=1000)
    _, v3_rows = _sync_api(LangfuseApi(observations, traces), tmp_path, "v3-paged", page_size=1000)
    assert report.ok and rows == _as_v4_gives_them(v3_rows)
    assert any("cursor" in r.query for r in v4.requests_to(SCORES_V3))
    outcomes = Counter(s["source_outcome"] for s in rows["spans"] if s["span_id"] == s["trace_id"])
    assert outcomes["success"] and outcomes["failure"]


@pytest.mark.parametrize(
    "fault",
    [None, Fault(status=410), Fault(status=400), Fault(status=200)],  # 200: a body that is not {data, meta}
    ids=["no-v3-scores", "v3-scores-410", "v3-scores-400", "v3-scores-bad-shape"],
)
def test_a_v4_server_without_v3_scores_still_ingests_everything(fault, tmp_path, caplog) -> None:
    observations, traces = build_dataset()
    v4 = LangfuseApi(observations, traces, version=4, v3_scores=fault is not None)
    if fault is not None:
        v4.inject(SCORES_V3, 1, fault)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        report, rows = _sync_api(v4, tmp_path, "v4-no-scores")
    _, v3_rows = _sync_api(LangfuseApi(observations, traces), tmp_path, "v3-for-no-scores")
    assert report.ok and report.records == len(observations) and report.malformed == 1
    assert rows == _as_v4_gives_them(v3_rows, outcome=False)
    assert len(_removed_requests(v4)) == 1 and len(v4.requests_to(SCORES_V3)) == 1  # each asked once
    gone, no_scores = _info_lines(caplog)
    assert TRACE_LIST in gone or "/api/public/traces/{trace_id}" in gone
    assert SCORES_V3 in no_scores and "no outcome" in no_scores


def test_removed_endpoints_answering_a_plain_404_are_given_up_after_a_few_requests(tmp_path, caplog) -> None:
    """A 404 without the deprecation notice is also what an unknown trace gets; only 404s before any trace
    was read, a few of them, mean the endpoints are gone."""
    observations, traces = _dense(n=60)
    v4 = LangfuseApi(observations, traces, version=4, removed_status=404, deprecation_body=False)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        report, rows = _sync_api(v4, tmp_path, "v4-plain-404", page_size=1000)
    _, v3_rows = _sync_api(LangfuseApi(observations, traces), tmp_path, "v3-plain-404", page_size=1000)
    assert report.ok and rows == _as_v4_gives_them(v3_rows)
    assert len(_removed_requests(v4)) == 3
    assert len(_info_lines(caplog)) == 2  # the list missing, then every trace endpoint


def test_a_v4_outage_fails_the_run_and_the_next_run_resumes_from_the_cursor(tmp_path) -> None:
    observations, traces = build_dataset()
    hourly = {"window": timedelta(hours=1)}
    api = LangfuseApi(observations, traces, version=4)
    with FakeServer(api) as srv:
        list(make_collector(srv, **hourly).fetch(None))
        score_requests = len(api.requests_to(SCORES_V3))
        api.reset()
        failing = score_requests * 2 // 3  # the scores of a later window
        for nth in range(failing, failing + 5):  # every attempt of it
            api.inject(SCORES_V3, nth, Fault(drop=True))
        wh = open_warehouse(tmp_path, "v4-outage")
        try:
            with pytest.raises(TransientError, match="after 5 attempts"):
                sync_collector(make_collector(srv, **hourly), Pipeline(wh), wh, project_id=PROJECT)
            cursor = wh.get_cursor(cursor_key(make_collector(srv).source_key, PROJECT))
            assert cursor.value is not None and "TransientError" in cursor.last_error
            assert stored_rows(wh)["spans"]  # the windows before the failure are written
            api.reset()
            report = sync_collector(make_collector(srv, **hourly), Pipeline(wh), wh, project_id=PROJECT)
            assert report.ok and report.cursor_after == "2025-05-26T00:00:00.000000Z"
            resumed_from = parse_timestamp(api.requests_to(OBSERVATIONS)[0].query["fromStartTime"][0])
            assert resumed_from == parse_timestamp(cursor.value) - DEFAULT_OVERLAP  # not from the start
            assert len(_removed_requests(api)) == 1  # asked again once in the new run, then not at all
            reference_wh, _, _ = _sync(srv, tmp_path, "v4-no-outage", **hourly)
            assert stored_rows(wh) == stored_rows(reference_wh)
            reference_wh.close()
        finally:
            wh.close()


def test_v3_scores_map_to_the_outcome_like_trace_scores() -> None:
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    base = _by_id()["0001000000000g01"]

    def outcome(data_type: str, value: Any, subject: dict[str, Any] | None = None) -> Any:
        score = {"name": "task_success", "dataType": data_type, "value": value, "timestamp": iso(CLOCK)}
        score["subject"] = subject or {"kind": "trace", "id": base["traceId"]}
        trace = {"id": base["traceId"], "scores": [score_from_v3(score)]}
        return collector.normalize({**base, "_trace": trace}, project_id=PROJECT).spans[1].source_outcome

    assert outcome("BOOLEAN", True) == "success" and outcome("BOOLEAN", False) == "failure"
    assert outcome("NUMERIC", 0.7) == "success" and outcome("NUMERIC", 0) == "failure"
    assert outcome("CATEGORICAL", "passed") == "success" and outcome("TEXT", "failed") == "failure"
    observation_score = {"kind": "observation", "id": base["id"], "traceId": base["traceId"]}
    assert outcome("BOOLEAN", True, observation_score) == "success"
    assert score_trace_id({"subject": observation_score}) == base["traceId"]
    assert score_from_v3({"subject": observation_score})["observationId"] == base["id"]


def test_v3_score_rows_only_use_fields_of_the_published_schema() -> None:
    spec = yaml.safe_load(reference("langfuse/openapi.yml").read_text())["components"]["schemas"]
    fields = set(spec["BaseScoreV3"]["properties"]) | {"dataType", "value"}
    _, traces = build_dataset()
    scores = [score_v3(s, {"details", "subject", "annotation"}) for t in traces.values() for s in t["scores"]]
    assert scores and {k for s in scores for k in s} <= fields
    assert set(spec["BaseScoreV3"]["required"]) <= {k for s in scores for k in s}
    for score in scores:
        assert isinstance(score["value"], bool) and score["subject"]["kind"] == "trace"


# --- prompt fingerprints from the observation input (include_inputs) ------------------------------------

SYSTEM_PROMPT = {"role": "system", "content": "You are the support desk of ACME. Answer in two sentences."}


def _sha(value: Any) -> str:
    """The documented fingerprint, computed here independently: SHA-256 of JSON with sorted keys, 16 hex digits."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _messages(ticket: int) -> list[dict[str, str]]:
    return [SYSTEM_PROMPT, {"role": "user", "content": f"Ticket {ticket}: my order has not arrived."}]


def _with_input(value: Any, **extra: Any) -> Any:
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    record = {**_by_id()["0001000000000g01"], "input": value, **extra}
    return collector.normalize(record, project_id=PROJECT).calls[0]


def test_input_as_raw_json_text_gives_the_prompt_and_prefix_fingerprints() -> None:
    messages = _messages(7)
    call = _with_input(json.dumps(messages), output='{"role": "assistant", "content": "On its way."}')
    assert call.prompt_hash == _sha({"system": None, "messages": messages})
    assert call.prefix_hash == _sha({"system": None, "system_messages": [SYSTEM_PROMPT], "tools": None})
    # the same request from a source that records it structured (LiteLLM, Helicone) hashes alike
    assert (call.prompt_hash, call.prefix_hash) == request_hashes(messages)
    assert "input" not in json.loads(call.raw) and "output" not in json.loads(call.raw)  # hashed, not kept


def test_same_system_prompt_shares_the_prefix_and_a_new_question_changes_the_prompt() -> None:
    first, again, other = (
        _with_input(_messages(1)),
        _with_input(json.dumps(_messages(1))),
        _with_input(_messages(2)),
    )
    assert first.prompt_hash == again.prompt_hash != other.prompt_hash
    assert first.prefix_hash == again.prefix_hash == other.prefix_hash is not None


def test_request_shaped_text_and_missing_inputs() -> None:
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]
    request = {"system": "Be brief.", "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    call = _with_input(json.dumps(request))
    assert call.prompt_hash == _sha({"system": "Be brief.", "messages": request["messages"]})
    assert call.prefix_hash == _sha({"system": "Be brief.", "system_messages": [], "tools": tools})
    text = _with_input("Summarise the ticket below.\n\nIt never arrived.")  # not JSON: a text prompt
    assert text.prompt_hash == _sha(
        {"system": None, "messages": "Summarise the ticket below.\n\nIt never arrived."}
    )
    assert text.prefix_hash is None  # no system part to reuse
    for empty in (None, "", "[]"):
        assert (_with_input(empty).prompt_hash, _with_input(empty).prefix_hash) == (None, None)
    assert normalize("0001000000000g01").calls[0].prompt_hash is None  # not fetched: nothing to hash


def test_a_system_prompt_alone_is_a_prefix_not_a_prompt() -> None:
    system = "You are the support desk of ACME."
    first = _with_input({"system": system, "prompt": "Where is order 1?"})
    second = _with_input({"system": system, "prompt": "Where is order 2?"})
    assert first.prompt_hash == _sha({"system": system, "messages": "Where is order 1?"})
    assert first.prompt_hash != second.prompt_hash  # not duplicates: only the system prompt is shared
    assert (
        first.prefix_hash
        == second.prefix_hash
        == _sha({"system": system, "system_messages": [], "tools": None})
    )
    alone = _with_input({"system": system})  # the messages were not recorded
    assert (alone.prompt_hash, alone.prefix_hash) == (None, first.prefix_hash)


def test_responses_api_request_counts_its_input_instructions_and_tools_not_its_parameters() -> None:
    tools = [{"type": "function", "name": "lookup_order", "parameters": {"type": "object"}}]
    question = [{"role": "user", "content": "Where is order 9?"}]
    body = {
        "model": "gpt-4.1",
        "instructions": "Be brief.",
        "input": question,
        "tools": tools,
        "temperature": 0.2,
    }
    call = _with_input(json.dumps(body))
    assert call.prompt_hash == _sha({"system": "Be brief.", "messages": question})
    assert call.prefix_hash == _sha({"system": "Be brief.", "system_messages": [], "tools": tools})
    other_model = _with_input({**body, "model": "gpt-4.1-mini", "temperature": 0})
    assert (other_model.prompt_hash, other_model.prefix_hash) == (call.prompt_hash, call.prefix_hash)


def test_system_instructions_and_tools_among_the_span_attributes_join_an_otel_input() -> None:
    """Langfuse moves an OTel span's messages into ``input`` and keeps the other GenAI attributes in metadata."""
    system = [{"type": "text", "content": "You are the support desk of ACME."}]
    tools = [{"type": "function", "name": "lookup_order"}]
    attributes = {
        "gen_ai.system_instructions": json.dumps(system),
        "gen_ai.tool.definitions": json.dumps(tools),
    }
    question = [{"role": "user", "parts": [{"type": "text", "content": "Where is order 4?"}]}]
    call = _with_input(json.dumps(question), metadata={"attributes": attributes})
    assert call.prefix_hash == _sha({"system": system, "system_messages": [], "tools": tools})
    # the prefix the OTLP path finds for the same span, whose messages it reads as recorded
    otlp = prompt_hashes({**attributes, "gen_ai.input.messages": json.dumps(question)})
    assert call.prefix_hash == otlp[1]
    assert call.prompt_hash == _sha({"system": system, "messages": question})


def test_langchain_tool_definitions_appended_as_tool_messages_count_as_the_prefix_tools() -> None:
    """Langfuse's LangChain handler records a chat model's input as its messages followed by one
    ``{"role": "tool", "content": <definition>}`` per tool of the request (its ``invocation_params["tools"]``);
    a tool result is also a ``tool`` message, with text content and a ``tool_call_id``."""
    tools = [
        {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "refund", "parameters": {"type": "object"}}},
    ]

    def recorded(ticket: int, tool_result: str) -> list[dict[str, Any]]:
        return [
            *_messages(ticket),
            {"role": "assistant", "content": "", "tool_calls": [{"name": "lookup_order", "id": "call_1"}]},
            {"role": "tool", "content": tool_result, "tool_call_id": "call_1"},
            *({"role": "tool", "content": tool} for tool in tools),
        ]

    first = _with_input(json.dumps(recorded(1, "shipped")))
    second = _with_input(recorded(2, "lost"))
    expected_prefix = _sha({"system": None, "system_messages": [SYSTEM_PROMPT], "tools": tools})
    assert first.prefix_hash == second.prefix_hash == expected_prefix
    assert first.prompt_hash == _sha({"system": None, "messages": recorded(1, "shipped")})
    assert first.prompt_hash != second.prompt_hash
    # without tools the prefix is the system prompt alone, and a tool result is not a definition
    plain = _with_input(recorded(1, "shipped")[:-2])
    assert plain.prefix_hash == _sha({"system": None, "system_messages": [SYSTEM_PROMPT], "tools": None})
    # the same input exported by the Langfuse SDK over OTLP gives the same prefix
    otlp = prompt_hashes({"langfuse.observation.input": json.dumps(recorded(3, "late"))})
    assert otlp[1] == expected_prefix
    # tool definitions recorded apart win over the messages
    apart = [{"type": "function", "name": "other"}]
    attrs = {"langfuse.observation.input": json.dumps(recorded(3, "late")), "gen_ai.tool.definitions": apart}
    assert prompt_hashes(attrs)[1] == _sha(
        {"system": None, "system_messages": [SYSTEM_PROMPT], "tools": apart}
    )


def test_explicit_fingerprints_among_the_span_attributes_win() -> None:
    meta = {"attributes": {"agentledger.prompt_hash": "p-1", "agentledger.prefix_hash": "x-1"}}
    call = _with_input(_messages(3), metadata=meta)
    assert (call.prompt_hash, call.prefix_hash) == ("p-1", "x-1")


def test_include_inputs_asks_for_io_and_stores_fingerprints_that_find_duplicates(tmp_path) -> None:
    observations, traces = build_dataset()
    generations = [o for o in observations if o["type"] == "GENERATION"]
    for index, obs in enumerate(generations):
        obs["input"] = _messages(index // 4)  # four generations ask each question
        obs["output"] = {"role": "assistant", "content": "Sorry about that."}
    with FakeServer(LangfuseApi(observations, traces)) as srv:
        config = parse_config({"sources": [{"type": "langfuse", "host": srv.url, "include_inputs": True}]})
        env = {"LANGFUSE_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_SECRET_KEY": SECRET_KEY}
        collector = build_collector(
            config.sources[0],
            env=env,
            page_size=PAGE,
            clock=lambda: CLOCK,
            initial_lookback=timedelta(days=5),
            sleep=lambda s: None,
        )
        wh = open_warehouse(tmp_path, "inputs")
        sync_collector(collector, Pipeline(wh), wh, project_id=PROJECT)
        requests = srv.api.requests_to(OBSERVATIONS)
        assert all("io" in r.query["fields"][0].split(",") for r in requests)
        assert all(int(r.query["limit"][0]) == PAGE for r in requests)
        rows = wh.sql(
            "SELECT span_id, prompt_hash, prefix_hash, raw FROM calls WHERE operation = 'chat' ORDER BY span_id"
        ).to_dicts()
        wh.close()
    expected = {o["id"]: request_hashes(o["input"]) for o in generations}
    stored = {r["span_id"]: (r["prompt_hash"], r["prefix_hash"]) for r in rows}
    assert (
        stored == {k: v for k, v in expected.items() if k in stored} and len(stored) >= len(generations) - 1
    )
    assert len({p for p, _ in stored.values()}) == len({i // 4 for i in range(len(generations))})
    assert len({x for _, x in stored.values()}) == 1  # one system prompt: one reusable prefix
    assert all("Ticket" not in r["raw"] for r in rows)  # the prompt text is not stored


def test_inputs_are_read_at_most_a_hundred_observations_a_request(server, tmp_path) -> None:
    _sync(server, tmp_path, "io-pages", page_size=1000, include_inputs=True)[0].close()
    limits = {int(r.query["limit"][0]) for r in server.api.requests_to(OBSERVATIONS)}
    assert limits == {100}
    _sync(server, tmp_path, "plain-pages", page_size=1000)[0].close()
    assert int(server.api.requests_to(OBSERVATIONS)[-1].query["limit"][0]) == 1000


def test_a_generation_outside_any_trace_is_a_task_of_its_own() -> None:
    """``traceId`` is nullable in the observations API: such a generation keeps its spend, as its own trace."""
    collector = LangfuseCollector("http://127.0.0.1:9", PUBLIC_KEY, SECRET_KEY)
    record = {**_by_id()["0001000000000g01"], "traceId": None, "parentObservationId": None}
    record.pop("_trace", None)
    out = collector.normalize(record, project_id=PROJECT)
    [call] = out.calls
    assert call.trace_id == call.span_id == "0001000000000g01" and call.parent_span_id is None
    assert call.input_tokens == normalize("0001000000000g01").calls[0].input_tokens > 0
    assert [s.span_id for s in out.spans] == ["0001000000000g01"]  # no separate trace span
    with pytest.raises(InputError, match="missing id"):
        collector.normalize({**record, "id": None}, project_id=PROJECT)
