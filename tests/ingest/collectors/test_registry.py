"""Building collectors from config entries and CLI options."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agentledger.core.errors import ConfigError
from agentledger.ingest.collectors import registry
from agentledger.ingest.collectors.base import Collector
from agentledger.ingest.collectors.helicone import HeliconeCollector
from agentledger.ingest.collectors.langfuse import LangfuseCollector
from agentledger.ingest.collectors.registry import build_collector, collector_from_options, register
from agentledger.ingest.config import parse_config

ENV = {
    "LANGFUSE_PUBLIC_KEY": "pk-lf-1",
    "LANGFUSE_SECRET_KEY": "sk-lf-2",
    "HELICONE_API_KEY": "sk-helicone-3",
    "LITELLM_API_KEY": "sk-litellm-4",
}


def test_every_configured_type_builds_a_collector(tmp_path) -> None:
    config = parse_config(
        {
            "sources": [
                {"type": "langfuse", "host": "https://us.cloud.langfuse.com", "window_hours": 1},
                {"type": "helicone", "cost_unit": "nano_usd"},
                {"type": "litellm", "api_url": "http://localhost:4000"},
                {"type": "litellm_file", "path": str(tmp_path)},
            ]
        }
    )
    collectors = [build_collector(s, env=ENV) for s in config.sources]
    assert all(isinstance(c, Collector) for c in collectors)
    langfuse, helicone = collectors[:2]
    assert isinstance(langfuse, LangfuseCollector) and langfuse.source_key.startswith(
        "langfuse:https://us.cloud.langfuse.com key "
    )
    assert langfuse.window.total_seconds() == 3600
    assert isinstance(helicone, HeliconeCollector) and helicone.cost_unit == "nano_usd"
    for collector, secret in zip(collectors, ENV.values(), strict=False):
        assert secret not in collector.source_key


def test_cli_options_and_overrides() -> None:
    collector = collector_from_options(
        {"type": "helicone", "base_url": "http://127.0.0.1:1"}, env=ENV, page_size=5
    )
    assert collector.source_key.startswith("helicone:http://127.0.0.1:1 key ") and collector.page_size == 5


def test_missing_secret_and_unknown_type_are_config_errors() -> None:
    (source,) = parse_config({"sources": [{"type": "helicone"}]}).sources
    with pytest.raises(ConfigError, match="HELICONE_API_KEY"):
        build_collector(source, env={})
    with pytest.raises(ConfigError, match="unknown source type 'phoenix'"):
        build_collector(SimpleNamespace(type="phoenix"), env=ENV)


def test_registered_factories_are_used(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))  # keep the registration local
    built = []

    @register("custom-test-source")
    def factory(source, *, env=None, **overrides):
        built.append((source.name, env))
        return "collector"

    assert build_collector(SimpleNamespace(type="custom-test-source", name="x"), env=ENV) == "collector"
    assert built == [("x", ENV)]
