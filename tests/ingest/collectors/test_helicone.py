"""Helicone collector: the shared contract, the mapping field by field on Helicone's own records, paging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from agentledger.core.errors import TerminalError
from agentledger.ingest.collectors import helicone as helicone_module
from agentledger.ingest.collectors.helicone import HeliconeCollector
from agentledger.ingest.collectors.registry import build_collector
from agentledger.ingest.config import parse_config
from agentledger.ingest.pipeline import Pipeline
from agentledger.ingest.sync import sync_collector

from .contract import PROJECT, CollectorContract, SourceHarness, open_warehouse, stored_rows
from .servers.base import FakeServer, Fault
from .servers.helicone import (
    API_KEY,
    BURST_AT,
    CACHE_REF,
    CLOCK,
    COUNT,
    QUERY,
    HeliconeApi,
    build_dataset,
    ch_time,
    load_mock_records,
)

PAGE = 10  # smaller than the 25-row burst that shares one millisecond
pytestmark = pytest.mark.slow  # starts a local server


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(HeliconeApi()) as srv:
        yield srv


def make_collector(server: FakeServer, sleeps: list[float] | None = None, **kwargs: Any) -> HeliconeCollector:
    options: dict[str, Any] = {
        "base_url": server.url,
        "page_size": PAGE,
        "clock": lambda: CLOCK,
        "sleep": (sleeps.append if sleeps is not None else lambda s: None),
    }
    return HeliconeCollector(API_KEY, **{**options, **kwargs})


def _rows() -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in build_dataset()}


def normalize(record: dict[str, Any], cost_unit: str = "usd") -> Any:
    return HeliconeCollector("unused", cost_unit=cost_unit).normalize(record, project_id=PROJECT)


class TestHeliconeContract(CollectorContract):
    @pytest.fixture
    def harness(self, server: FakeServer) -> Iterator[SourceHarness]:
        rows = build_dataset()
        malformed = [r for r in rows if r["prompt_tokens"] == "many"]
        yield SourceHarness(
            make_collector=lambda: make_collector(server),
            samples=[r for r in rows if r not in malformed],
            malformed_record=malformed[0],
            expected_calls=len(rows) - 1,
            expected_malformed=1,
            secrets=(API_KEY,),
        )


# --- mapping, field by field ----------------------------------------------------------------------------


def test_helicone_mock_records_at_raw_nano_usd_scale() -> None:
    failed, ok, *_ = load_mock_records()
    (call,) = normalize(ok, cost_unit="nano_usd").calls
    assert call.cost_reported_usd == pytest.approx(0.00001995)  # 19950 nano-USD
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (13, 30, 0)
    assert (call.provider, call.model, call.operation) == ("openai", "gpt-4o-mini-2024-07-18", "chat")
    assert (call.trace_id, call.span_id, call.parent_span_id) == (ok["request_id"], ok["request_id"], None)
    assert call.started_at.isoformat() == "2025-08-16T20:44:24.110000+00:00"
    assert call.latency_ms == pytest.approx(1500.0)  # delay_ms 0 = not measured: from the timestamps
    assert call.ttft_ms is None and call.response_cache_hit is None and call.status == "ok"
    assert call.response_id is None  # Helicone's own response_id is not the provider's
    (bad,) = normalize(failed, cost_unit="nano_usd").calls
    assert (bad.status, bad.error_type, bad.cost_reported_usd) == ("error", "http_400", 0.0)
    assert bad.model == "gpt-4o-mini"


def test_the_api_serves_usd_and_the_default_unit_reads_it_unchanged() -> None:
    row = _rows()["fac84b2d-fd86-4ee8-b246-08ba0c7ddab3"]
    assert row["cost"] == pytest.approx(0.00001995)
    assert normalize(row).calls[0].cost_reported_usd == pytest.approx(0.00001995)
    with pytest.raises(ValueError, match="cost_unit"):
        HeliconeCollector("k", cost_unit="cents")  # type: ignore[arg-type]


def test_cache_reads_are_added_back_to_input() -> None:
    (call,) = normalize(_rows()["d0000100-0000-4000-8000-000000000100"]).calls
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (1224, 1024, 0)
    assert (call.output_tokens, call.reasoning_tokens) == (30, 0)
    assert call.cost_reported_usd == pytest.approx(0.0000618)
    assert call.response_cache_hit is False  # caching on, not a hit


def test_cache_hit_cancelled_server_error_and_anthropic_rows() -> None:
    rows = _rows()
    (hit,) = normalize(rows["d0000101-0000-4000-8000-000000000101"]).calls
    assert hit.response_cache_hit is True and hit.cost_reported_usd == 0.0 and hit.input_tokens == 0
    assert rows["d0000101-0000-4000-8000-000000000101"]["cache_reference_id"] == CACHE_REF
    (cancelled,) = normalize(rows["d0000102-0000-4000-8000-000000000102"]).calls
    assert (cancelled.status, cancelled.error_type) == ("error", "cancelled")
    (failed,) = normalize(rows["d0000103-0000-4000-8000-000000000103"]).calls
    assert (failed.status, failed.error_type, failed.cost_reported_usd) == ("error", "http_500", 0.0)
    (claude,) = normalize(rows["d0000104-0000-4000-8000-000000000104"]).calls
    assert claude.provider == "anthropic"
    assert (claude.input_tokens, claude.cache_write_tokens, claude.output_tokens) == (2060, 2048, 400)


@pytest.mark.parametrize(
    ("names", "canonical"),
    [
        (["OPENAI", "openai"], "openai"),
        (["vertex"], "gcp.vertex_ai"),  # ModelProviderName (AI Gateway)
        (["google-ai-studio"], "gcp.gemini"),  # the Gemini API, not Vertex
        (["GOOGLE"], "gcp.gen_ai"),  # the proxy's name for any googleapis.com endpoint
        (["AWS", "BEDROCK", "bedrock"], "aws.bedrock"),
        (["X", "xai"], "x_ai"),
        (["MISTRAL", "mistral"], "mistral_ai"),
        (["AZURE", "azure"], "azure.ai.openai"),
        (["TOGETHER"], "together"),
        (["FIREWORKS", "fireworks"], "fireworks"),
    ],
)
def test_provider_names_become_the_canonical_otel_value(names: list[str], canonical: str) -> None:
    """Helicone's ProviderName (upper case) and ModelProviderName (lower case) land on the value the OTLP,
    LiteLLM and Langfuse paths write for the same provider (agentledger.core.providers)."""
    _, ok, *_ = load_mock_records()  # Helicone's own record; provider OPENAI
    for name in names:
        (call,) = normalize({**ok, "provider": name}, cost_unit="nano_usd").calls
        assert call.provider == canonical, name


def test_session_properties_make_the_trace_and_its_workflow_span() -> None:
    out = normalize(_rows()["d0000007-0000-4000-8000-000000000007"])
    (call,) = out.calls
    call_span, session_span = out.spans
    assert (call.trace_id, call.session_id, call.parent_span_id) == ("session-1", "session-1", "session-1")
    assert (call.user_id, call.agent_name, call.environment) == ("user-1", "planner", "production")
    assert call.tags == {
        "Helicone-Session-Path": "/plan/step-2",
        "environment": "production",
        "agent": "planner",
    }
    assert (call.latency_ms, call.ttft_ms) == (1500.0, 320.0)
    assert (call_span.kind, call_span.span_id, call_span.parent_span_id) == ("llm", call.span_id, "session-1")
    assert (session_span.span_id, session_span.kind, session_span.workflow_name) == (
        "session-1",
        "workflow",
        "Course Plan",
    )


def test_provider_body_gives_the_response_id_and_max_tokens() -> None:
    row = dict(_rows()["d0000007-0000-4000-8000-000000000007"])
    row["request_body"] = {"model": "gpt-4o-mini", "max_tokens": 256, "messages": []}
    row["response_body"] = {"id": "chatcmpl-abc123", "choices": [{"finish_reason": "length"}]}
    (call,) = normalize(row).calls
    assert (call.response_id, call.max_tokens, call.finish_reason) == ("chatcmpl-abc123", 256, "length")


def test_the_request_body_gives_the_prompt_and_prefix_hashes() -> None:
    rows = _rows()
    system = {"role": "system", "content": "You are a course planner."}

    def hashes(messages: list[dict[str, str]], row_id: str = "d0000007-0000-4000-8000-000000000007") -> tuple:
        row = dict(rows[row_id])
        row["request_body"] = {"model": "gpt-4o-mini", "messages": messages}
        (call,) = normalize(row).calls
        return call.prompt_hash, call.prefix_hash

    first = hashes([system, {"role": "user", "content": "Plan week 1"}])
    again = hashes([system, {"role": "user", "content": "Plan week 1"}], row_id=next(iter(rows)))
    other = hashes([system, {"role": "user", "content": "Plan week 2"}])
    assert first == again and None not in first  # the same request sent twice: an exact duplicate
    assert other[0] != first[0] and other[1] == first[1]  # same system prompt: the same cacheable prefix
    # The authentic records hold the flattened search text; the API's placeholder is {}: nothing to hash.
    for body in (rows[next(iter(rows))]["request_body"], {}):
        (call,) = normalize({**rows[next(iter(rows))], "request_body": body}).calls
        assert (call.prompt_hash, call.prefix_hash) == (None, None)


# --- paging ---------------------------------------------------------------------------------------------


def test_pages_cover_every_row_once_across_a_millisecond_burst(server) -> None:
    pages = list(make_collector(server).fetch(None))
    ids = [r["request_id"] for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == len(build_dataset())
    bodies = [r.body for r in server.api.requests_to(QUERY)]
    assert all(b["limit"] == PAGE and b["sort"] == {"created_at": "asc"} for b in bodies)
    burst_queries = [
        b
        for b in bodies
        if b["filter"]
        .get("left", {})
        .get("request_response_rmt", {})
        .get("request_created_at", {})
        .get("gte")
        == "2025-08-17T12:00:00.250Z"
        and b["filter"]["right"]["request_response_rmt"]["request_created_at"]["lt"]
        == "2025-08-17T12:00:00.251Z"
    ]
    assert [b["offset"] for b in burst_queries] == [0, 10, 20]  # the only offsets ever used
    assert all(b["offset"] == 0 for b in bodies if b not in burst_queries)
    cursors = [p.next_cursor for p in pages]
    assert cursors == sorted(cursors) and ch_time(BURST_AT).replace(" ", "T") + "000Z" in cursors


def _burst_queries(api: HeliconeApi) -> list[dict[str, Any]]:
    burst = {"gte": "2025-08-17T12:00:00.250Z"}
    return [
        r.body
        for r in api.requests_to(QUERY)
        if r.body["filter"].get("left", {}).get("request_response_rmt", {}).get("request_created_at") == burst
    ]


def test_a_millisecond_burst_is_read_whole_when_the_server_shuffles_ties_on_each_query() -> None:
    """ClickHouse keeps no order among rows of one created_at: the 25-row burst, paged by 10, comes back
    in a new order on every query, and is read again until it holds the 25 requests the count gives."""
    api = HeliconeApi(shuffle_ties=True)
    with FakeServer(api) as srv:
        pages = list(make_collector(srv).fetch(None))
    ids = [r["request_id"] for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == len(build_dataset())
    assert len(api.requests_to(COUNT)) == 1
    sorts = [b["sort"] for b in _burst_queries(api)]
    assert len(sorts) > 3 and {"latency": "asc"} in sorts  # read again, on another key


def test_without_a_count_a_burst_is_read_until_a_reading_adds_nothing() -> None:
    api = HeliconeApi(count=False)  # a server without /v1/request/count/query; ties keep their order
    with FakeServer(api) as srv:
        pages = list(make_collector(srv).fetch(None))
    ids = [r["request_id"] for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == len(build_dataset())
    assert [b["offset"] for b in _burst_queries(api)] == [0, 10, 20, 0, 10, 20]


def test_a_count_the_queries_never_reach_is_given_up_once_every_order_was_read_again(
    tmp_path, caplog
) -> None:
    """A count that disagrees with what the queries return (one request more, say) must not stop the
    source for good: once every sort order was read again without a new request, the run goes on with what
    was read, and says so."""

    class Overcounting(HeliconeApi):
        def _count(self, body: dict[str, Any]) -> Any:
            answer = super()._count(body)
            answer.body["data"] += 1  # one request the queries never return
            return answer

    api = Overcounting()
    wh = open_warehouse(tmp_path, "helicone")
    try:
        with FakeServer(api) as srv, caplog.at_level("WARNING", logger="agentledger.ingest.collectors.ties"):
            collector = make_collector(srv)
            report = sync_collector(collector, Pipeline(wh), wh, project_id=PROJECT)
        assert report.ok
        stored = {c["span_id"] for c in stored_rows(wh)["calls"]}
        assert stored == {r["request_id"] for r in build_dataset() if r["prompt_tokens"] != "many"}
        passes = len(_burst_queries(api)) // 3  # the 25-row burst in pages of 10
        assert passes == 1 + len(helicone_module._GROUP_SORTS)
        assert "counts 26 Helicone requests" in caplog.text and "but 25 could be read" in caplog.text
    finally:
        wh.close()


def test_a_group_larger_than_the_api_offset_limit_fails_loudly(server, monkeypatch) -> None:
    monkeypatch.setattr(helicone_module, "MAX_OFFSET", 10)
    with pytest.raises(TerminalError, match="share request_created_at"):
        list(make_collector(server).fetch(None))


def test_retries_rate_limits_server_errors_and_dropped_connections(server, tmp_path) -> None:
    sleeps: list[float] = []
    server.api.inject(QUERY, 2, Fault(status=429, headers={"Retry-After": "2"}))
    server.api.inject(QUERY, 4, Fault(status=502))
    server.api.inject(QUERY, 6, Fault(drop=True))
    wh, clean = open_warehouse(tmp_path, "retried"), open_warehouse(tmp_path, "clean")
    try:
        report = sync_collector(make_collector(server, sleeps), Pipeline(wh), wh, project_id=PROJECT)
        sync_collector(make_collector(server), Pipeline(clean), clean, project_id=PROJECT)
        assert report.ok and stored_rows(wh) == stored_rows(clean)
        assert sleeps[0] == 2.0 and len(sleeps) == 3
    finally:
        wh.close()
        clean.close()


def test_refused_key_names_the_variable_and_never_the_key(server) -> None:
    config = parse_config({"sources": [{"type": "helicone", "base_url": server.url}]})
    collector = build_collector(config.sources[0], env={"HELICONE_API_KEY": "sk-helicone-wrong-42424242"})
    with pytest.raises(TerminalError) as info:
        list(collector.fetch(None))
    assert "HELICONE_API_KEY" in str(info.value) and "401" in str(info.value)
    assert "sk-helicone-wrong-42424242" not in str(info.value)


def test_a_rejected_query_surfaces_the_server_message(server) -> None:
    collector = make_collector(server)
    collector.page_size = 5000  # past the constructor's check, to see the server's own answer
    with pytest.raises(TerminalError, match="Invalid limit"):
        list(collector.fetch(None))


def test_a_call_that_reaches_helicone_when_it_ends_is_read_by_a_later_run(tmp_path) -> None:
    """Helicone logs a request when its response completes, and the collector reads by start time: a call that
    ran 15 minutes (a reasoning model) shows up behind calls that started after it, and must still be read."""
    base = _rows()["fac84b2d-fd86-4ee8-b246-08ba0c7ddab3"]
    t0 = CLOCK - timedelta(hours=2)

    def row(request_id: str, start: datetime, duration: timedelta) -> dict[str, Any]:
        return {
            **base,
            "request_id": request_id,
            "request_created_at": ch_time(start),
            "response_created_at": ch_time(start + duration),
            "updated_at": ch_time(start + duration),
        }

    long_call = row("long-0000-4000-8000-000000000001", t0, timedelta(minutes=15))
    short_call = row("short-000-4000-8000-000000000002", t0 + timedelta(minutes=11), timedelta(seconds=2))
    api = HeliconeApi(rows=[])
    wh = open_warehouse(tmp_path, "late")
    try:
        with FakeServer(api) as srv:
            for minutes, visible in ((5, []), (12, []), (14, [short_call]), (20, [short_call, long_call])):
                api.rows = list(visible)
                now = t0 + timedelta(minutes=minutes)
                collector = make_collector(srv, clock=lambda now=now: now)
                sync_collector(collector, Pipeline(wh, None), wh, project_id=PROJECT)
        stored = {c["span_id"] for c in stored_rows(wh)["calls"]}
        assert stored == {long_call["request_id"], short_call["request_id"]}
    finally:
        wh.close()
