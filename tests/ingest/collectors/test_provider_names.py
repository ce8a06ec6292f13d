"""One provider, one spelling, whichever source recorded it (agentledger.core.providers).

Before, Vertex AI was ``google`` from Helicone, ``vertex_ai`` from LiteLLM and Langfuse and ``gcp.vertex_ai``
from OTLP, so the provider filter and the provider grouping (model mix) split it in several. Every source now
writes the OTel GenAI ``gen_ai.provider.name`` value. Runs on DuckDB and on ClickHouse (chDB).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentledger.analytics.filters import Filters
from agentledger.analytics.metrics import compute_metrics
from agentledger.core.pricing import Pricer
from agentledger.core.records import Call
from agentledger.ingest.collectors.helicone import HeliconeCollector
from agentledger.ingest.collectors.langfuse import LangfuseCollector
from agentledger.ingest.collectors.litellm import to_call
from agentledger.ingest.otlp.conventions import provider_of as otlp_provider_of
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

from .servers.base import reference
from .servers.helicone import as_api_row, load_mock_records
from .servers.langfuse import build_dataset, iso

PROJECT = "ledger"
AT = datetime(2025, 8, 16, 20, 44, 24, 110000, tzinfo=UTC)

# (canonical, Helicone `provider`, LiteLLM `custom_llm_provider`, Langfuse modelParameters.system, Langfuse
# span attributes, OTLP span attributes, model).
SAME_PROVIDER = [
    ("gcp.vertex_ai", "vertex", "vertex_ai", "vertex_ai", {}, {"gen_ai.provider.name": "gcp.vertex_ai"}, "gemini-2.5-pro"),
    ("gcp.gemini", "google-ai-studio", "gemini", "google.generative-ai", {}, {"gen_ai.provider.name": "gcp.gemini"}, "gemini-2.5-flash"),
    ("aws.bedrock", "BEDROCK", "bedrock", None, {"llm.system": "anthropic", "llm.provider": "aws"}, {"gen_ai.system": "aws.bedrock"}, "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("x_ai", "X", "xai", "xai", {}, {"gen_ai.system": "xai"}, "grok-3"),
    ("mistral_ai", "MISTRAL", "mistral", None, {"llm.system": "mistralai"}, {"gen_ai.provider.name": "mistral_ai"}, "mistral-large-latest"),
    ("azure.ai.openai", "AZURE", "azure", None, {"llm.system": "openai", "llm.provider": "azure"}, {"gen_ai.provider.name": "azure.ai.openai"}, "gpt-4o"),
    ("openai", "OPENAI", "openai", "OpenAI", {}, {"gen_ai.system": "OpenAI"}, "gpt-4o-mini"),
]  # fmt: skip


@pytest.fixture(params=["duckdb", "chdb"])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    url = f"duckdb:///{tmp_path / 'l.duckdb'}" if request.param == "duckdb" else f"chdb:///{tmp_path / 'ch'}"
    warehouse = connect(url)
    yield warehouse
    warehouse.close()


def calls_of_each_source(
    index: int, helicone: str, litellm: str, system: str | None, attributes: dict[str, str], model: str
) -> dict[str, Call]:
    """One call of ``model`` per source (distinct ids: nothing merges), each from the source's own record
    (Helicone's test record, LiteLLM's StandardLoggingPayload, a generation of the synthetic Langfuse data)
    with the provider written in that source's words."""
    at = AT + timedelta(minutes=index)
    row = {
        **as_api_row(load_mock_records()[1], at),
        "request_id": f"fac84b2d-0000-4ee8-b246-{index:012d}",
        "provider": helicone,
        "model": model,
        "response_model": model,
    }
    (helicone_call,) = HeliconeCollector("k").normalize(row, project_id=PROJECT).calls
    payload = json.loads(reference("litellm/standard_logging_payload.json").read_text())
    payload.update(
        id=f"chatcmpl-provider-{index}", litellm_call_id=f"call-{index}", custom_llm_provider=litellm
    )
    payload.update(model=model, startTime=at.timestamp(), endTime=(at + timedelta(seconds=1)).timestamp())
    payload.update(completionStartTime=(at + timedelta(seconds=0.4)).timestamp())
    litellm_call = to_call(payload, project_id=PROJECT)
    observations, _ = build_dataset()
    obs = copy.deepcopy(next(o for o in observations if o["id"] == "0001000000000g01"))
    params = {k: v for k, v in obs["modelParameters"].items() if k != "system"}
    obs.update(id=f"00020000000{index:05d}", providedModelName=model, parentObservationId=None)
    obs.update(startTime=iso(at), endTime=iso(at + timedelta(seconds=1)))
    obs.update(modelParameters={**params, **({"system": system} if system else {})})
    obs["metadata"] = {"attributes": attributes} if attributes else {}
    langfuse = LangfuseCollector("http://127.0.0.1:9", "pk", "sk")
    (langfuse_call,) = langfuse.normalize(obs, project_id=PROJECT).calls
    return {"helicone": helicone_call, "litellm": litellm_call, "langfuse": langfuse_call}


@pytest.mark.parametrize("case", SAME_PROVIDER, ids=[c[0] for c in SAME_PROVIDER])
def test_each_source_writes_the_same_provider_value(case: tuple) -> None:
    canonical, helicone, litellm, system, attributes, otlp_attributes, model = case
    calls = calls_of_each_source(0, helicone, litellm, system, attributes, model)
    found = {source: call.provider for source, call in calls.items()}
    found["otlp"] = otlp_provider_of(otlp_attributes)  # what the OTLP mapping calls
    assert found == dict.fromkeys(("helicone", "litellm", "langfuse", "otlp"), canonical)


def test_filtering_and_grouping_by_provider_keep_a_provider_whole(wh: Warehouse) -> None:
    """Three sources per provider: the provider grouping has one group per provider holding every source's
    call, the provider filter finds them all, and every call is priced under its canonical provider."""
    pipeline = Pipeline(wh, Pricer())
    for index, (_, helicone, litellm, system, attributes, _, model) in enumerate(SAME_PROVIDER):
        pipeline.ingest(
            list(calls_of_each_source(index, helicone, litellm, system, attributes, model).values()), []
        )
    every = Filters(project_id=PROJECT)
    groups = {g["key"]: g["calls"] for g in compute_metrics(wh, every, group_by="provider")["groups"]}
    assert groups == {canonical: 3 for canonical, *_ in SAME_PROVIDER}
    for canonical, *_ in SAME_PROVIDER:
        only = dataclasses.replace(every, provider=canonical)
        assert compute_metrics(wh, only)["calls"] == 3, canonical
    rows = wh.sql("SELECT provider, source, model, cost_usd FROM calls").to_dicts()
    assert len(rows) == 3 * len(SAME_PROVIDER)
    assert [r for r in rows if r["cost_usd"] is None] == []
