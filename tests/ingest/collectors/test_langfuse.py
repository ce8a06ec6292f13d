"""Langfuse collector: the shared contract, the mapping field by field, and the API conversation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import yaml

from agentledger.core.errors import TerminalError, TransientError
from agentledger.ingest.collectors.langfuse import LangfuseCollector
from agentledger.ingest.collectors.registry import build_collector
from agentledger.ingest.config import parse_config
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
    SECRET_KEY,
    TRACE_IDS_FROM_REFERENCE,
    LangfuseApi,
    build_dataset,
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
