"""One call seen by two sources counts once in the metrics (the ``ledger_calls`` view).

The pair: LiteLLM logging a call into Langfuse (generation id ``time-HH-MM-SS-ffffff_<provider id>``, as
``litellm.utils.get_logging_id`` builds it) while Helicone proxied the same request (``response_body.id`` is
the provider id). Both collectors map them to ``response_id = <provider id>``; a third call without any
response id must stay. Runs on DuckDB and on ClickHouse (chDB), since the metric queries are shared.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentledger.analytics.breakdowns import trace_calls
from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import compute_metrics
from agentledger.core.pricing import Pricer
from agentledger.ingest.collectors.helicone import HeliconeCollector
from agentledger.ingest.collectors.langfuse import LangfuseCollector
from agentledger.ingest.collectors.litellm import to_call
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

from .servers.base import reference
from .servers.helicone import as_api_row, ch_time, load_mock_records
from .servers.langfuse import build_dataset, iso

PROJECT = "ledger"
PROVIDER_ID = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
AT = datetime(2025, 8, 16, 20, 44, 24, 110000, tzinfo=UTC)


@pytest.fixture(params=["duckdb", "chdb"])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    url = f"duckdb:///{tmp_path / 'l.duckdb'}" if request.param == "duckdb" else f"chdb:///{tmp_path / 'ch'}"
    warehouse = connect(url)
    yield warehouse
    warehouse.close()


def langfuse_generation() -> dict[str, Any]:
    """A generation of the synthetic Langfuse data, re-identified as LiteLLM's Langfuse logger does."""
    observations, _ = build_dataset()
    obs = copy.deepcopy(next(o for o in observations if o["id"] == "0001000000000g01"))
    obs["id"] = f"time-{AT:%H-%M-%S-%f}_{PROVIDER_ID}"
    obs.update(startTime=iso(AT), endTime=iso(AT + timedelta(seconds=1.5)), parentObservationId=None)
    obs["usageDetails"] = {"input": 13, "output": 30, "total": 43}
    return obs


def helicone_requests() -> list[dict[str, Any]]:
    """Helicone's own successful test record (as the API serves it) with the provider body, plus one more
    request of it without a body (no response id, so it can never be merged)."""
    mock = as_api_row(load_mock_records()[1], AT + timedelta(seconds=2))
    same_call = {**mock, "response_body": {"id": PROVIDER_ID, "object": "chat.completion"}}
    other = {
        **mock,
        "request_id": "fac84b2d-0000-4ee8-b246-08ba0c7ddab4",
        "request_created_at": ch_time(AT + timedelta(minutes=5)),
    }
    return [same_call, other]


def ingest_both(wh: Warehouse) -> None:
    pipeline = Pipeline(wh, Pricer())
    langfuse = LangfuseCollector("http://127.0.0.1:9", "pk", "sk").normalize(
        langfuse_generation(), project_id=PROJECT
    )
    helicone = HeliconeCollector("k")
    mapped = [helicone.normalize(r, project_id=PROJECT) for r in helicone_requests()]
    pipeline.ingest(langfuse.calls, langfuse.spans)
    pipeline.ingest([c for m in mapped for c in m.calls], [s for m in mapped for s in m.spans])


def test_both_collectors_give_the_same_response_id() -> None:
    (lf,) = (
        LangfuseCollector("http://x", "pk", "sk").normalize(langfuse_generation(), project_id=PROJECT).calls
    )
    hc = [HeliconeCollector("k").normalize(r, project_id=PROJECT).calls[0] for r in helicone_requests()]
    assert lf.response_id == hc[0].response_id == PROVIDER_ID
    assert hc[1].response_id is None


def test_a_call_in_two_sources_counts_once(wh: Warehouse) -> None:
    ingest_both(wh)
    stored = wh.sql("SELECT source, cost_usd, input_tokens FROM calls ORDER BY source").to_dicts()
    assert len(stored) == 3  # every source keeps its own record
    metrics = compute_metrics(wh, Filters(project_id=PROJECT))
    assert metrics["calls"] == 2
    assert metrics["input_tokens"] == 13 + 13
    one_call_cost = stored[0]["cost_usd"]
    assert one_call_cost and metrics["total_cost_usd"] == pytest.approx(2 * one_call_cost)
    # the Langfuse record wins (richer context); Helicone keeps only the call nobody else saw
    assert compute_metrics(wh, Filters(project_id=PROJECT, source="langfuse"))["calls"] == 1
    assert compute_metrics(wh, Filters(project_id=PROJECT, source="helicone"))["calls"] == 1


def test_links_list_every_record_of_a_merged_call(wh: Warehouse) -> None:
    ingest_both(wh)
    (link,) = wh.sql("SELECT response_id, records, linked_sources FROM ledger_links").to_dicts()
    assert link["response_id"] == PROVIDER_ID and link["records"] == 2
    assert [key.split(":")[0] for key in link["linked_sources"]] == ["langfuse", "helicone"]


def litellm_payload() -> dict[str, Any]:
    """The StandardLoggingPayload of the call that LiteLLM's Langfuse logger wrote as ``langfuse_generation``:
    LiteLLM's own sample with the provider's response id as ``id`` and a call id of its own."""
    payload = json.loads(reference("litellm/standard_logging_payload.json").read_text())
    payload.update(
        id=PROVIDER_ID,
        litellm_call_id="0f6b8c1e-4b1f-4c7e-9d2a-5e8f3a1b2c4d",
        startTime=AT.timestamp(),
        endTime=(AT + timedelta(seconds=1.5)).timestamp(),
        completionStartTime=(AT + timedelta(seconds=0.4)).timestamp(),
        prompt_tokens=13,
        completion_tokens=30,
        total_tokens=43,
    )
    return payload


def test_litellm_and_its_langfuse_logger_count_a_call_once(wh: Warehouse) -> None:
    """LiteLLM (callback, spend logs) and Langfuse fed by LiteLLM's Langfuse logger both hold the call."""
    litellm = to_call(litellm_payload(), project_id=PROJECT)
    langfuse = LangfuseCollector("http://127.0.0.1:9", "pk", "sk").normalize(
        langfuse_generation(), project_id=PROJECT
    )
    assert litellm.response_id == langfuse.calls[0].response_id == PROVIDER_ID
    pipeline = Pipeline(wh, Pricer())
    pipeline.ingest([litellm], [])
    pipeline.ingest(langfuse.calls, langfuse.spans)
    assert len(wh.sql("SELECT source FROM calls").to_dicts()) == 2
    metrics = compute_metrics(wh, Filters(project_id=PROJECT))
    assert metrics["calls"] == 1 and metrics["input_tokens"] == 13


def test_a_trace_drill_down_lists_and_costs_a_call_of_two_sources_once(wh: Warehouse) -> None:
    """The gateway's record of a call carries the agent's trace id too: the trace lists the call once, and
    its cost is the ledger's, as in the totals."""
    langfuse = LangfuseCollector("http://127.0.0.1:9", "pk", "sk").normalize(
        langfuse_generation(), project_id=PROJECT
    )
    (generation,) = langfuse.calls
    litellm = dataclasses.replace(
        to_call(litellm_payload(), project_id=PROJECT), trace_id=generation.trace_id
    )
    pipeline = Pipeline(wh, Pricer())
    pipeline.ingest([litellm], [])
    pipeline.ingest(langfuse.calls, langfuse.spans)
    steps = trace_calls(wh, PROJECT, generation.trace_id)
    assert steps["source"].to_list() == ["langfuse"]
    metrics = compute_metrics(wh, Filters(project_id=PROJECT))
    assert metrics["calls"] == steps.height == 1
    assert metrics["total_cost_usd"] == pytest.approx(steps["cost_usd"].sum())


def test_calls_without_a_shared_id_are_all_kept(wh: Warehouse) -> None:
    helicone = HeliconeCollector("k")
    rows = [as_api_row(m, AT) for m in load_mock_records()]
    mapped = [helicone.normalize(r, project_id=PROJECT) for r in rows]
    Pipeline(wh).ingest([c for m in mapped for c in m.calls], [s for m in mapped for s in m.spans])
    assert compute_metrics(wh, Filters(project_id=PROJECT))["calls"] == len(rows)
