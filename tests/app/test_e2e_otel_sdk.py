"""End to end: the real OpenTelemetry SDK exports GenAI spans over OTLP/HTTP protobuf to a running
`agentledger serve`; the metrics then equal a hand computation from the published per-MTok prices."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

pytestmark = pytest.mark.slow

# Published list prices, USD per million tokens (the catalog must agree: asserted below).
GPT_4O = {"input": 2.50, "cache_read": 1.25, "output": 10.00}
SONNET_4 = {"input": 3.00, "cache_read": 0.30, "cache_write": 3.75, "output": 15.00}


def _record_spans() -> list:
    """Two tasks of an agent: one succeeds (3 calls, cache reads and writes), one fails (explicit outcome)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "e2e", "deployment.environment.name": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("e2e")
    calls = [
        # (model, provider, input incl. cache, cache_read, cache_write, output)
        ("gpt-4o", "openai", 1000, 400, 0, 200),
        ("claude-sonnet-4-20250514", "anthropic", 3000, 0, 2000, 100),
        ("claude-sonnet-4-20250514", "anthropic", 3500, 2000, 0, 300),
    ]
    with tracer.start_as_current_span(
        "invoke_agent support-bot",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-bot",
            "gen_ai.conversation.id": "s1",
        },
    ):
        for model, prov, inp, cr, cw, out in calls:
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": prov,
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": inp,
                "gen_ai.usage.output_tokens": out,
            }
            if cr:
                attrs["gen_ai.usage.cache_read.input_tokens"] = cr
            if cw:
                attrs["gen_ai.usage.cache_creation.input_tokens"] = cw
            with tracer.start_as_current_span(f"chat {model}", attributes=attrs):
                pass
    with (
        tracer.start_as_current_span(
            "invoke_agent support-bot",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support-bot",
                "gen_ai.conversation.id": "s2",
                "agentledger.task.outcome": "failure",
            },
        ),
        tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 500,
                "gen_ai.usage.output_tokens": 0,
            },
        ) as span,
    ):
        span.set_status(Status(StatusCode.ERROR, "rate limited"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def _hand_costs() -> tuple[float, float]:
    mt = 1_000_000
    ok_task = ((1000 - 400) * GPT_4O["input"] + 400 * GPT_4O["cache_read"] + 200 * GPT_4O["output"]) / mt
    ok_task += (
        (3000 - 2000) * SONNET_4["input"] + 2000 * SONNET_4["cache_write"] + 100 * SONNET_4["output"]
    ) / mt
    ok_task += (
        (3500 - 2000) * SONNET_4["input"] + 2000 * SONNET_4["cache_read"] + 300 * SONNET_4["output"]
    ) / mt
    failed_task = 500 * GPT_4O["input"] / mt
    return ok_task, failed_task


def test_catalog_agrees_with_published_prices() -> None:
    now = datetime.now(UTC)
    gpt = calc_price(
        Usage(input_tokens=1_000_000, cache_read_tokens=0, output_tokens=1_000_000),
        "gpt-4o",
        provider_id="openai",
        genai_request_timestamp=now,
    ).model_price
    assert float(gpt.input_mtok) == GPT_4O["input"] and float(gpt.output_mtok) == GPT_4O["output"]
    assert float(gpt.cache_read_mtok) == GPT_4O["cache_read"]
    sonnet = calc_price(
        Usage(input_tokens=1),
        "claude-sonnet-4-20250514",
        provider_id="anthropic",
        genai_request_timestamp=now,
    ).model_price
    assert (
        float(sonnet.cache_write_mtok) == SONNET_4["cache_write"]
        and float(sonnet.cache_read_mtok) == SONNET_4["cache_read"]
    )


def _export(url: str, spans: list, key: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=headers, timeout=30)
    result = exporter.export(spans)
    exporter.shutdown()
    assert result.name == "SUCCESS"


def test_sdk_spans_to_metrics_to_the_cent(server_factory, tmp_path) -> None:
    server = server_factory(f"duckdb:///{tmp_path / 'ledger.duckdb'}", {"AGENTLEDGER_API_KEYS": "k-test"})
    spans = _record_spans()

    # Without the key the exporter is refused.
    refused = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", timeout=10).export(spans)
    assert refused.name == "FAILURE"

    _export(server.url, spans, key="k-test")
    metrics = httpx.get(f"{server.url}/api/metrics", headers={"Authorization": "Bearer k-test"}).json()
    ok_cost, failed_cost = _hand_costs()

    assert metrics["calls"] == 4 and metrics["tasks"] == 2
    assert metrics["completed_tasks"] == 1 and metrics["failed_tasks"] == 1
    assert metrics["total_cost_usd"] == pytest.approx(ok_cost + failed_cost, abs=0.005)
    assert round(metrics["total_cost_usd"], 6) == round(ok_cost + failed_cost, 6)
    assert metrics["waste_usd"] == pytest.approx(failed_cost, abs=1e-9)
    assert metrics["cost_per_completed_task_usd"] == pytest.approx(ok_cost + failed_cost, abs=1e-9)
    assert metrics["cache_hit_rate"] == pytest.approx(2400 / 8000)
    assert metrics["cache_read_tokens"] == 2400 and metrics["input_tokens"] == 8000
    assert metrics["sessions"] == 2
    by_agent = httpx.get(
        f"{server.url}/api/metrics", params={"group_by": "agent"}, headers={"Authorization": "Bearer k-test"}
    ).json()["groups"]
    assert [g["key"] for g in by_agent] == ["support-bot"]

    # The same spans again: every metric unchanged.
    _export(server.url, spans, key="k-test")
    again = httpx.get(f"{server.url}/api/metrics", headers={"Authorization": "Bearer k-test"}).json()
    assert again == metrics
    assert httpx.get(f"{server.url}/api/metrics").status_code == 401
