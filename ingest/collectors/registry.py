"""Build a collector from a ``sources`` entry or from CLI options.

Each source type maps to a factory ``(source_config, env=..., **overrides) -> Collector``: the ones below,
the ``from_source`` classmethods of the LiteLLM collectors, or any registered with :func:`register`. A
collector's module is imported only when a source of its type is built, so an optional driver (psycopg
for LiteLLM's Postgres) is needed only by the people who use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from agentledger.core.errors import ConfigError
from agentledger.ingest.collectors.base import Collector
from agentledger.ingest.config import HeliconeSource, LangfuseSource, source_from_options

Factory = Callable[..., Collector]

_FACTORIES: dict[str, Factory] = {}
# type -> (module, class) whose ``from_source(source, env=..., **overrides)`` builds the collector.
_FROM_SOURCE = {
    "litellm": ("agentledger.ingest.collectors.litellm_api", "LiteLLMApiCollector"),
    "litellm_postgres": ("agentledger.ingest.collectors.litellm_postgres", "LiteLLMPostgresCollector"),
    "litellm_file": ("agentledger.ingest.collectors.litellm_files", "LiteLLMFileCollector"),
}


def register(source_type: str) -> Callable[[Factory], Factory]:
    """Decorator: make ``build_collector`` use this factory for sources of ``source_type``."""

    def decorate(factory: Factory) -> Factory:
        _FACTORIES[source_type] = factory
        return factory

    return decorate


def build_collector(source: Any, *, env: Mapping[str, str] | None = None, **overrides: Any) -> Collector:
    """The collector for one validated source entry; secrets are read from ``env`` (default os.environ).

    ``overrides`` go to the collector's constructor (tests pass ``transport``/``sleep``/``clock``).
    """
    factory = _factory(source.type)
    return factory(source, env=env, **overrides)


def collector_from_options(
    options: Mapping[str, Any], *, env: Mapping[str, str] | None = None, **overrides: Any
) -> Collector:
    """The collector for CLI options such as ``{"type": "helicone", "cost_unit": "usd"}``."""
    return build_collector(source_from_options(options), env=env, **overrides)


def _factory(source_type: str) -> Factory:
    if source_type in _FACTORIES:
        return _FACTORIES[source_type]
    if source_type in _FROM_SOURCE:
        module_name, class_name = _FROM_SOURCE[source_type]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigError(f"source type {source_type!r} cannot be loaded: {exc}") from exc
        return getattr(module, class_name).from_source
    known = ", ".join(sorted({*_FACTORIES, *_FROM_SOURCE}))
    raise ConfigError(f"unknown source type {source_type!r} (known: {known})")


@register("langfuse")
def _langfuse(source: LangfuseSource, *, env: Mapping[str, str] | None = None, **overrides: Any) -> Collector:
    from agentledger.ingest.collectors.langfuse import LangfuseCollector

    public_key, secret_key = source.credentials(env)
    options: dict[str, Any] = {
        "page_size": source.page_size,
        "window": timedelta(hours=source.window_hours),
        "overlap": source.overlap,
        "initial_lookback": source.initial_lookback,
        "outcome_scores": source.outcome_scores,
        "environments": source.environments,
        "trace_details": source.trace_details,
        "include_inputs": source.include_inputs,
    }
    return LangfuseCollector(source.resolve_host(env), public_key, secret_key, **{**options, **overrides})


@register("helicone")
def _helicone(source: HeliconeSource, *, env: Mapping[str, str] | None = None, **overrides: Any) -> Collector:
    from agentledger.ingest.collectors.helicone import HeliconeCollector

    options: dict[str, Any] = {
        "base_url": source.base_url,
        "cost_unit": source.cost_unit,
        "page_size": source.page_size,
        "include_inputs": source.include_inputs,
        "overlap": source.overlap,
        "initial_lookback": source.initial_lookback,
    }
    return HeliconeCollector(source.api_key(env), **{**options, **overrides})
