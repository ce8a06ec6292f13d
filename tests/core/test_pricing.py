"""Pricing: hand-computed costs from the catalog's published prices, statuses, overrides, invariants.

Per-MTok prices used below were read out of genai-prices 0.2.3's packaged data (genai_prices/data.py):
gpt-4o $2.50 in / $1.25 cached / $10 out; gpt-4o-mini $0.15 / $0.075 / $0.60; claude-sonnet-4 $3 in /
$0.30 cache read / $3.75 cache write / $15 out; o1 $15 / $60; o3 $10 / $40 until 2025-06-09 and $2 / $8
from 2025-06-10; gemini-2.5-pro $1.25 / $10 up to 200k input tokens, $2.50 / $15 above.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data import providers as catalog_providers
from hypothesis import given, settings
from hypothesis import strategies as st

from agentledger.core.errors import ConfigError
from agentledger.core.pricing import (
    Pricer,
    UnitPrices,
    canonical_provider,
    cost_of,
    load_overrides,
    model_tier,
    parse_overrides,
)
from agentledger.core.pricing.rates import unit_prices_from_model_price
from agentledger.core.records import Call
from agentledger.core.settings import Settings
from agentledger.core.tokens import TokenCounts

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / ".." / "shared" / "reference"
AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MTOK = 1_000_000


def make_call(model: str | None, provider: str | None = None, at: datetime = AT, **fields) -> Call:
    return Call(
        source="test", trace_id="t", span_id="s", started_at=at, provider=provider, model=model, **fields
    )


def priced(model: str, provider: str | None = None, pricer: Pricer | None = None, **fields) -> Call:
    call = make_call(model, provider, **fields)
    (pricer or Pricer()).price(call)
    return call


# --- genai-prices semantics we rely on ------------------------------------------------------------------


def test_genai_prices_input_tokens_include_cache_tokens():
    # 1,000 input tokens of which 1,000 were cache reads cost 1,000 x $1.25/MTok: the cache tokens are a
    # subset of input_tokens (not added to it), the same convention as ours.
    result = calc_price(
        Usage(input_tokens=1000, cache_read_tokens=1000),
        "gpt-4o",
        provider_id="openai",
        genai_request_timestamp=AT,
    )
    assert result.total_price == Decimal("1000") * Decimal("1.25") / MTOK


def test_genai_prices_output_tokens_include_reasoning_tokens():
    # sonar-deep-research prices output at $8 and reasoning at $3: 100 output tokens that are all reasoning
    # cost 100 x $3/MTok, so reasoning is a subset of output.
    result = calc_price(
        Usage(output_tokens=100, output_reasoning_tokens=100),
        "sonar-deep-research",
        provider_id="perplexity",
        genai_request_timestamp=AT,
    )
    assert result.total_price == Decimal("300") / MTOK


# --- hand computations ----------------------------------------------------------------------------------


def test_gpt_4o_with_cached_input():
    call = priced("gpt-4o", "openai", input_tokens=12_000, cache_read_tokens=4_000, output_tokens=1_500)
    # 8,000 x 2.50 + 4,000 x 1.25 + 1,500 x 10 = 0.020 + 0.005 + 0.015
    assert call.cost_computed_usd == pytest.approx(0.040, abs=1e-12)
    assert (call.cost_usd, call.cost_source, call.price_status) == (
        call.cost_computed_usd,
        "computed",
        "priced",
    )


def test_gpt_4o_mini():
    call = priced("gpt-4o-mini-2024-07-18", "openai", input_tokens=100_000, output_tokens=20_000)
    assert call.cost_usd == pytest.approx(100_000 * 0.15 / MTOK + 20_000 * 0.60 / MTOK, abs=1e-12)  # 0.027


def test_claude_sonnet_4_with_cache_read_and_write():
    call = priced(
        "claude-sonnet-4-20250514",
        "anthropic",
        input_tokens=50_000,
        cache_read_tokens=30_000,
        cache_write_tokens=10_000,
        output_tokens=2_000,
    )
    # 10,000 x 3 + 30,000 x 0.30 + 10,000 x 3.75 + 2,000 x 15 = 0.03 + 0.009 + 0.0375 + 0.03
    assert call.cost_usd == pytest.approx(0.1065, abs=1e-12)


def test_o1_reasoning_tokens_are_priced_as_output():
    call = priced("o1", "openai", input_tokens=2_000, output_tokens=10_000, reasoning_tokens=8_000)
    assert call.cost_usd == pytest.approx(2_000 * 15 / MTOK + 10_000 * 60 / MTOK, abs=1e-12)  # 0.63


def test_price_follows_the_call_date():
    before = priced(
        "o3", "openai", at=datetime(2025, 6, 9, 23, 59, tzinfo=UTC), input_tokens=MTOK, output_tokens=MTOK
    )
    after = priced(
        "o3", "openai", at=datetime(2025, 6, 10, 0, 1, tzinfo=UTC), input_tokens=MTOK, output_tokens=MTOK
    )
    assert before.cost_usd == pytest.approx(10 + 40)
    assert after.cost_usd == pytest.approx(2 + 8)


def test_call_date_is_taken_in_utc():
    # 2025-06-10 01:00 in UTC+02:00 is still 2025-06-09 in UTC: the old price applies.
    at = datetime(2025, 6, 10, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert priced("o3", "openai", at=at, input_tokens=MTOK).cost_usd == pytest.approx(10)


def test_long_context_tier_applies_to_all_tokens():
    short = priced("gemini-2.5-pro", "gcp.vertex_ai", input_tokens=100_000, output_tokens=1_000)
    long = priced("gemini-2.5-pro", "gcp.vertex_ai", input_tokens=250_000, output_tokens=1_000)
    assert short.cost_usd == pytest.approx(100_000 * 1.25 / MTOK + 1_000 * 10 / MTOK)
    assert long.cost_usd == pytest.approx(250_000 * 2.50 / MTOK + 1_000 * 15 / MTOK)


def test_time_of_day_prices_are_resolved_per_call():
    # deepseek-chat has an off-peak window (16:30-00:30 UTC) in the catalog; both calls fall on one day.
    pricer = Pricer()
    peak = pricer.unit_prices("deepseek", "deepseek-chat", datetime(2025, 3, 1, 12, tzinfo=UTC))
    off_peak = pricer.unit_prices("deepseek", "deepseek-chat", datetime(2025, 3, 1, 18, tzinfo=UTC))
    assert peak is not None and off_peak is not None
    assert off_peak.input < peak.input


def test_missing_cache_rate_falls_back_to_input_rate():
    prices = Pricer().unit_prices("groq", "llama-3.1-70b-versatile", AT)
    assert prices is not None and prices.cache_read == prices.input and prices.cache_write == prices.input


def test_per_request_fee_is_included():
    # Perplexity sonar: $1 in, $1 out per MTok and $12 per thousand requests.
    call = priced("sonar", "perplexity", input_tokens=1_000, output_tokens=1_000)
    assert call.cost_usd == pytest.approx(2_000 / MTOK + 12 / 1_000)


# --- reference payloads: our computed cost equals the source's reported cost ---------------------------


def test_helicone_reference_record_cost_matches():
    records = json.loads(
        (REFERENCE / "helicone" / "heliconerequest_mock_records.requestController.test.json").read_text()
    )
    row = records["data"][1]
    call = make_call(
        row["model"],
        row["provider"],
        at=datetime(2025, 8, 16, 20, 44, tzinfo=UTC),
        input_tokens=row["prompt_tokens"],
        output_tokens=row["completion_tokens"],
        cost_reported_usd=row["cost"] / 1e9,
    )  # raw nano-USD in Helicone's mocks
    Pricer().price(call)
    assert call.cost_computed_usd == pytest.approx(call.cost_reported_usd, rel=1e-9)


def test_litellm_reference_payload_cost_matches():
    payload = json.loads((REFERENCE / "litellm" / "standard_logging_payload.json").read_text())
    call = make_call(
        payload["model"],
        payload["custom_llm_provider"],
        at=datetime(2025, 1, 24, tzinfo=UTC),
        input_tokens=payload["prompt_tokens"],
        output_tokens=payload["completion_tokens"],
        cost_reported_usd=payload["response_cost"],
    )
    Pricer().price(call)
    assert call.cost_computed_usd == pytest.approx(payload["response_cost"], rel=1e-9)


# --- providers and model names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_name", "expected"),
    [
        ("openai", "openai"),
        ("OPENAI", "openai"),
        ("OpenAI", "openai"),
        ("anthropic", "anthropic"),
        ("aws.bedrock", "aws"),
        ("bedrock", "aws"),
        ("azure.ai.openai", "azure"),
        ("azure.ai.inference", "azure"),
        ("azure", "azure"),
        ("gcp.vertex_ai", "google"),
        ("gcp.gemini", "google"),
        ("gcp.gen_ai", "google"),
        ("vertex_ai", "google"),
        ("gemini", "google"),
        ("x_ai", "x-ai"),
        ("xai", "x-ai"),
        ("mistral_ai", "mistral"),
        ("groq", "groq"),
        ("deepseek", "deepseek"),
        ("cohere", "cohere"),
        ("perplexity", "perplexity"),
        ("together_ai", "together"),
        ("fireworks_ai", "fireworks"),
        ("ibm.watsonx.ai", None),
        ("nobody", None),
    ],
)
def test_provider_aliases(source_name, expected):
    assert canonical_provider(source_name) == expected


@pytest.mark.parametrize(
    ("provider", "model", "catalog_provider", "input_per_mtok"),
    [
        ("openai", "gpt-4o", "openai", 2.5),
        (None, "gpt-4o", "openai", 2.5),
        (None, "openai/gpt-4o", "openai", 2.5),
        ("litellm", "openai/gpt-4o", "openai", 2.5),
        ("azure.ai.openai", "gpt-4o", "azure", 2.5),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "aws", 3.0),
        (None, "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "aws", 3.0),
        ("gcp.vertex_ai", "claude-3-5-sonnet@20240620", "google", 3.0),
        (None, "models/gemini-2.5-pro", "google", 1.25),
        ("mistral_ai", "mistral-large-latest", "mistral", 2.0),
        ("x_ai", "grok-2", "x-ai", 2.0),
        ("openai", "claude-sonnet-4-20250514", "anthropic", 3.0),  # provider without the model: model alone
        ("ibm.watsonx.ai", "gpt-4o-mini", "openai", 0.15),  # provider unknown to the catalog: model alone
    ],
)
def test_models_are_found_through_aliases_and_prefixes(provider, model, catalog_provider, input_per_mtok):
    prices = Pricer().unit_prices(provider, model, AT)
    assert prices is not None, f"{provider}/{model} should be priced"
    assert prices.origin == "catalog" and prices.provider == catalog_provider
    assert prices.input * MTOK == pytest.approx(input_per_mtok)


def test_model_requested_is_tried_when_model_is_unknown():
    call = make_call("my-azure-deployment", "azure", model_requested="gpt-4o", input_tokens=MTOK)
    Pricer().price(call)
    assert call.cost_usd == pytest.approx(2.5)


# --- statuses -------------------------------------------------------------------------------------------


def test_unknown_model_is_unpriced_with_null_cost_never_zero():
    call = priced("totally-unknown-model-x", "nobody", input_tokens=1000, output_tokens=10)
    assert call.cost_usd is None and call.cost_computed_usd is None
    assert (call.cost_source, call.price_status) == ("none", "unpriced")


def test_missing_model_is_unpriced():
    call = priced(None, "openai", input_tokens=10)  # type: ignore[arg-type]
    assert (call.cost_usd, call.price_status) == (None, "unpriced")


def test_unknown_model_with_reported_cost_is_reported_only():
    call = priced("totally-unknown-model-x", input_tokens=1000, cost_reported_usd=0.0123)
    assert (call.cost_usd, call.cost_computed_usd) == (0.0123, None)
    assert (call.cost_source, call.price_status) == ("reported", "reported_only")


def test_a_reported_zero_for_an_unknown_model_with_tokens_is_unknown_not_free():
    call = priced(
        "totally-unknown-model-x", "nobody", input_tokens=1000, output_tokens=10, cost_reported_usd=0.0
    )
    assert (call.cost_usd, call.price_status, call.cost_source) == (None, "unpriced", "none")
    assert call.cost_reported_usd == 0.0  # kept beside, for the audit
    # Answered without any usage recorded: the source's 0 is no more a price than its missing tokens are.
    nothing_recorded = priced("totally-unknown-model-x", "nobody", cost_reported_usd=0.0)
    assert (nothing_recorded.cost_usd, nothing_recorded.price_status) == (None, "unpriced")
    # Refused without tokens: $0 is what it cost.
    refused = priced("totally-unknown-model-x", "nobody", cost_reported_usd=0.0, status="error")
    assert (refused.cost_usd, refused.price_status) == (0.0, "reported_only")


def test_reported_policy_uses_the_reported_cost_but_keeps_the_computed_one():
    pricer = Pricer(cost_policy="reported")
    call = priced("gpt-4o", "openai", pricer, input_tokens=MTOK, cost_reported_usd=2.0)
    assert (call.cost_usd, call.cost_source, call.price_status) == (2.0, "reported", "priced")
    assert call.cost_computed_usd == pytest.approx(2.5)
    no_report = priced("gpt-4o", "openai", pricer, input_tokens=MTOK)
    assert (no_report.cost_usd, no_report.cost_source) == (pytest.approx(2.5), "computed")


def test_computed_policy_ignores_the_reported_cost():
    call = priced("gpt-4o", "openai", input_tokens=MTOK, cost_reported_usd=2.0)
    assert (call.cost_usd, call.cost_source) == (pytest.approx(2.5), "computed")


def test_an_answered_call_without_input_tokens_has_an_unknown_cost():
    # A span that carries no usage (OpenInference without token counts, a stream without usage): not $0,
    # and not the output's share alone either.
    no_usage = priced("gpt-4o", "openai")
    assert (no_usage.cost_usd, no_usage.cost_computed_usd, no_usage.price_status) == (None, None, "unpriced")
    output_only = priced("gpt-4o", "openai", output_tokens=482)
    assert (output_only.cost_usd, output_only.price_status, output_only.cost_source) == (
        None,
        "unpriced",
        "none",
    )
    reported = priced("gpt-4o", "openai", output_tokens=482, cost_reported_usd=0.004)
    assert (reported.cost_usd, reported.price_status) == (0.004, "reported_only")


def test_a_refused_call_without_tokens_costs_zero():
    call = priced("gpt-4o", "openai", status="error")
    assert (call.cost_usd, call.price_status) == (0.0, "priced")


def test_a_reported_placeholder_zero_does_not_replace_a_known_price_under_the_reported_policy():
    pricer = Pricer(cost_policy="reported")
    call = priced("gpt-4o", "openai", pricer, input_tokens=MTOK, cost_reported_usd=0.0)
    assert (call.cost_usd, call.cost_source, call.price_status) == (pytest.approx(2.5), "computed", "priced")
    assert call.cost_reported_usd == 0.0
    cached = priced(
        "gpt-4o", "openai", pricer, input_tokens=MTOK, cost_reported_usd=0.0, response_cache_hit=True
    )
    assert (cached.cost_usd, cached.cost_source) == (0.0, "reported")


def test_gateway_cache_hit_costs_zero():
    call = priced("gpt-4o", "openai", input_tokens=500, output_tokens=50, response_cache_hit=True)
    assert (call.cost_usd, call.cost_computed_usd, call.price_status) == (0.0, 0.0, "priced")


def test_inconsistent_tokens_are_not_priced_and_are_logged(caplog):
    with caplog.at_level(logging.WARNING):
        call = priced("gpt-4o", "openai", input_tokens=5, cache_read_tokens=1000, cost_reported_usd=0.01)
    assert (call.cost_computed_usd, call.cost_usd, call.price_status) == (None, 0.01, "reported_only")
    assert "cache_read_tokens" in caplog.text


def test_price_agrees_with_unit_prices_and_cost_of():
    pricer = Pricer()
    call = priced(
        "claude-sonnet-4",
        "anthropic",
        pricer,
        input_tokens=9_000,
        cache_read_tokens=5_000,
        cache_write_tokens=1_000,
        output_tokens=700,
        reasoning_tokens=300,
    )
    prices = pricer.unit_prices("anthropic", "claude-sonnet-4", AT)
    assert prices is not None
    assert call.cost_computed_usd == cost_of(prices, TokenCounts.of(call))


def test_price_many_prices_every_call():
    calls = [make_call("gpt-4o", "openai", input_tokens=MTOK), make_call("unknown-model-y", input_tokens=1)]
    Pricer().price_many(calls)
    assert [c.price_status for c in calls] == ["priced", "unpriced"]


def test_bad_cost_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="cost_policy"):
        Pricer(cost_policy="cheapest")


# --- model tier -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "tier"),
    [
        ("openai", "gpt-4o-mini", "budget"),
        ("anthropic", "claude-3-5-haiku-20241022", "budget"),
        ("openai", "gpt-4o", "standard"),
        ("anthropic", "claude-sonnet-4", "standard"),
        ("openai", "o1", "frontier"),
        ("anthropic", "claude-opus-4-20250514", "frontier"),
    ],
)
def test_model_tier(provider, model, tier):
    prices = Pricer().unit_prices(provider, model, AT)
    assert prices is not None and model_tier(prices) == tier


# --- overrides ------------------------------------------------------------------------------------------


def overrides(*entries: dict) -> list:
    return parse_overrides({"overrides": list(entries)})


def test_absolute_override_by_glob_wins_over_catalog():
    pricer = Pricer(
        overrides(
            {
                "provider": "openai",
                "model": "gpt-4o*",
                "effective_from": "2025-01-01",
                "input_per_mtok": 2.0,
                "output_per_mtok": 8.0,
                "cache_read_per_mtok": 0.5,
                "note": "contract",
            }
        )
    )
    call = priced(
        "gpt-4o-2024-08-06",
        "openai",
        pricer,
        input_tokens=MTOK,
        cache_read_tokens=400_000,
        output_tokens=MTOK,
    )
    assert call.cost_usd == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 8.0)
    assert (call.cost_source, call.price_status) == ("override", "override")
    prices = pricer.unit_prices("openai", "gpt-4o", AT)
    assert prices is not None and prices.note == "contract" and prices.cache_write == prices.input


def test_override_prices_an_unknown_self_hosted_model():
    pricer = Pricer(
        overrides(
            {
                "model": "llama-3-70b-selfhosted",
                "effective_from": "2024-01-01",
                "input_per_mtok": 0.1,
                "output_per_mtok": 0.1,
            }
        )
    )
    call = priced(
        "llama-3-70b-selfhosted", None, pricer, input_tokens=MTOK, output_tokens=MTOK, reasoning_tokens=10
    )
    assert call.cost_usd == pytest.approx(0.2)
    assert call.price_status == "override"


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("ollama", "deepseek-r1:7b"),  # a local distilled model, which DeepSeek's catalog would claim
        (None, "ollama/deepseek-r1:7b"),  # LiteLLM's model string
        ("hosted_vllm", "deepseek-r1-distill-qwen-32b"),
        ("lm-studio", "gemma-3"),  # Google lists gemma-3 as free: a local run is not $0 either
    ],
)
def test_a_self_hosted_runtime_has_no_catalog_price_only_an_override(provider, model):
    call = priced(model, provider, input_tokens=MTOK, output_tokens=MTOK)
    assert (call.cost_usd, call.price_status, call.cost_source) == (None, "unpriced", "none")
    estimate = Pricer(
        overrides(
            {
                "provider": "ollama",
                "model": "*",
                "effective_from": "2024-01-01",
                "input_per_mtok": 0.05,
                "output_per_mtok": 0.05,
            },
            {
                "model": "*",
                "effective_from": "2024-01-01",
                "discount": 0.1,
            },  # needs a catalog price: no effect here
        )
    )
    if provider == "ollama":
        call = priced(model, provider, estimate, input_tokens=MTOK, output_tokens=MTOK)
        assert (call.cost_usd, call.price_status) == (pytest.approx(0.1), "override")


def test_an_override_for_the_requested_model_wins_over_the_catalog_price_of_the_response_model():
    # OpenAI answers a request for "gpt-4o" with the dated "gpt-4o-2024-08-06": the override the user wrote
    # for the name they request applies, from its date on.
    pricer = Pricer(
        overrides(
            {
                "provider": "openai",
                "model": "gpt-4o",
                "effective_from": "2025-03-01",
                "input_per_mtok": 2.0,
                "output_per_mtok": 8.0,
            }
        )
    )
    fields = {"model_requested": "gpt-4o", "input_tokens": MTOK, "output_tokens": MTOK}
    after = priced("gpt-4o-2024-08-06", "openai", pricer, at=datetime(2025, 3, 1, tzinfo=UTC), **fields)
    assert (after.cost_usd, after.price_status) == (pytest.approx(10.0), "override")
    before = priced(
        "gpt-4o-2024-08-06", "openai", pricer, at=datetime(2025, 2, 28, 23, 59, tzinfo=UTC), **fields
    )
    assert (before.cost_usd, before.price_status) == (pytest.approx(12.5), "priced")
    other = priced(
        "gpt-4o-mini-2024-07-18", "openai", pricer, model_requested="gpt-4o-mini", input_tokens=MTOK
    )
    assert (other.cost_usd, other.price_status) == (pytest.approx(0.15), "priced")


def test_regex_override():
    pricer = Pricer(
        overrides(
            {
                "model": "re:^ft:gpt-4o",
                "effective_from": "2024-01-01",
                "input_per_mtok": 3.75,
                "output_per_mtok": 15,
            }
        )
    )
    assert priced(
        "ft:gpt-4o-2024-08-06:acme::xyz", "openai", pricer, input_tokens=MTOK
    ).cost_usd == pytest.approx(3.75)
    assert priced("gpt-4o", "openai", pricer, input_tokens=MTOK).price_status == "priced"  # not matched


def test_override_effective_dates_are_inclusive_from_and_exclusive_to():
    pricer = Pricer(
        overrides(
            {
                "model": "gpt-4o",
                "effective_from": "2025-01-01",
                "effective_to": "2025-02-01",
                "input_per_mtok": 1.0,
                "output_per_mtok": 1.0,
            }
        )
    )
    for day, expected in [
        (date(2024, 12, 31), 2.5),
        (date(2025, 1, 1), 1.0),
        (date(2025, 1, 31), 1.0),
        (date(2025, 2, 1), 2.5),
    ]:
        at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=23)
        assert priced("gpt-4o", "openai", pricer, at=at, input_tokens=MTOK).cost_usd == pytest.approx(
            expected
        ), day


def test_latest_effective_from_wins_then_later_entry():
    pricer = Pricer(
        overrides(
            {"model": "gpt-4o", "effective_from": "2025-02-01", "input_per_mtok": 2.0, "output_per_mtok": 1},
            {"model": "gpt-4o", "effective_from": "2025-01-01", "input_per_mtok": 1.0, "output_per_mtok": 1},
            {"model": "gpt-4o*", "effective_from": "2025-02-01", "input_per_mtok": 3.0, "output_per_mtok": 1},
        )
    )
    assert priced(
        "gpt-4o", "openai", pricer, at=datetime(2025, 1, 15, tzinfo=UTC), input_tokens=MTOK
    ).cost_usd == pytest.approx(1.0)
    assert priced(
        "gpt-4o", "openai", pricer, at=datetime(2025, 3, 1, tzinfo=UTC), input_tokens=MTOK
    ).cost_usd == pytest.approx(3.0)


def test_discount_on_the_catalog_price():
    pricer = Pricer(
        overrides({"provider": "openai", "model": "*", "effective_from": "2025-06-01", "discount": 0.15})
    )
    before = priced(
        "gpt-4o",
        "openai",
        pricer,
        at=datetime(2025, 5, 31, tzinfo=UTC),
        input_tokens=MTOK,
        output_tokens=MTOK,
    )
    after = priced(
        "gpt-4o", "openai", pricer, at=datetime(2025, 6, 1, tzinfo=UTC), input_tokens=MTOK, output_tokens=MTOK
    )
    assert (before.cost_usd, before.price_status) == (pytest.approx(12.5), "priced")
    assert (after.cost_usd, after.price_status, after.cost_source) == (
        pytest.approx(12.5 * 0.85),
        "override",
        "override",
    )
    other = priced(
        "claude-sonnet-4", "anthropic", pricer, at=datetime(2025, 7, 1, tzinfo=UTC), input_tokens=MTOK
    )
    assert other.price_status == "priced"  # the discount names openai only


def test_discount_provider_matches_the_catalog_provider_when_the_call_has_none():
    pricer = Pricer(
        overrides({"provider": "openai", "model": "*", "effective_from": "2025-01-01", "discount": 0.5})
    )
    assert priced("gpt-4o", None, pricer, input_tokens=MTOK).cost_usd == pytest.approx(1.25)


def test_discount_applies_to_tiers_too():
    pricer = Pricer(overrides({"model": "gemini-2.5-pro", "effective_from": "2025-01-01", "discount": 0.2}))
    call = priced("gemini-2.5-pro", "google", pricer, input_tokens=250_000)
    assert call.cost_usd == pytest.approx(250_000 * 2.50 / MTOK * 0.8)


def test_discount_without_catalog_price_falls_through_to_older_absolute_override():
    pricer = Pricer(
        overrides(
            {
                "model": "my-model",
                "effective_from": "2024-01-01",
                "input_per_mtok": 1.0,
                "output_per_mtok": 1.0,
            },
            {"model": "*", "effective_from": "2025-01-01", "discount": 0.5},
        )
    )
    assert priced("my-model", None, pricer, input_tokens=MTOK).cost_usd == pytest.approx(1.0)
    assert priced("unknown-z", None, pricer, input_tokens=MTOK).price_status == "unpriced"


def test_override_matches_a_provider_prefixed_model_name():
    pricer = Pricer(
        overrides(
            {"model": "gpt-4o", "effective_from": "2024-01-01", "input_per_mtok": 1, "output_per_mtok": 1}
        )
    )
    assert priced("openai/gpt-4o", "litellm", pricer, input_tokens=MTOK).cost_usd == pytest.approx(1.0)


def test_example_overrides_file_loads_and_prices():
    pricer = Pricer(load_overrides(REPO / "examples" / "prices.yaml"))
    call = priced("gpt-4o", "openai", pricer, at=datetime(2025, 3, 1, tzinfo=UTC), input_tokens=MTOK)
    assert (call.cost_usd, call.price_status) == (pytest.approx(2.0), "override")
    snapshot = priced(
        "gpt-4o-2024-08-06", "openai", pricer, at=datetime(2025, 3, 1, tzinfo=UTC), input_tokens=MTOK
    )
    assert snapshot.price_status == "override"
    mini = priced("gpt-4o-mini", "openai", pricer, at=datetime(2025, 3, 1, tzinfo=UTC), input_tokens=MTOK)
    assert (mini.cost_usd, mini.price_status) == (
        pytest.approx(0.15),
        "priced",
    )  # the catalog, not the contract


def test_from_settings_reads_prices_file_and_policy(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "overrides:\n  - model: mine\n    effective_from: 2024-01-01\n    input_per_mtok: 4\n    output_per_mtok: 4\n"
    )
    pricer = Pricer.from_settings(Settings(prices_file=path, cost_policy="reported"))
    assert pricer.cost_policy == "reported"
    assert priced("mine", None, pricer, input_tokens=MTOK).cost_usd == pytest.approx(4.0)
    assert Pricer.from_settings(Settings(prices_file=None)).overrides == ()


# --- overrides file errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "overrides:\n  - model: x\n    input_per_mtok: 1\n    output_per_mtok: 1\n",
            r"overrides\[0\]: effective_from: Field required",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-01-01\n    input_per_mtok: cheap\n    output_per_mtok: 1\n",
            r"overrides\[0\]: input_per_mtok: .*valid number",
        ),
        (
            "overrides:\n  - model: a\n    effective_from: 2025-01-01\n    discount: 0.1\n"
            "  - model: x\n    effective_from: 2025-01-01\n    input_per_mtok: 1\n    output_per_mtok: 1\n    inputs_per_mtok: 2\n",
            r"overrides\[1\]: inputs_per_mtok: Extra inputs are not permitted",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-01-01\n    input_per_mtok: 1\n",
            r"overrides\[0\]: .*output_per_mtok is required",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-01-01\n    discount: 0.1\n    input_per_mtok: 1\n",
            r"either prices .* or discount",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-01-01\n    discount: 1.5\n",
            r"overrides\[0\]: discount: ",
        ),
        (
            "overrides:\n  - model: 're:('\n    effective_from: 2025-01-01\n    discount: 0.1\n",
            r"overrides\[0\]: model: .*invalid regular expression",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-02-01\n    effective_to: 2025-01-01\n    discount: 0.1\n",
            r"effective_to .* must be after",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-01-01\n    input_per_mtok: -1\n    output_per_mtok: 1\n",
            r"input_per_mtok: .*greater than or equal to 0",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-01-01\n    input_per_mtok: .inf\n    output_per_mtok: 1\n",
            r":4: overrides\[0\]: input_per_mtok: .*finite number",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-01-01\n    discount: 0.1\n    cache_read_per_mtok: 0.5\n",
            r"either prices \(cache_read_per_mtok\) or discount",
        ),
        (
            "overrides:\n  - model: x\n    effective_from: 2025-13-01\n    discount: 0.1\n",
            r":3: not valid YAML: cannot read '2025-13-01': month must be in 1\.\.12",
        ),
        (
            "overrides:\n  - provider: ''\n    model: x\n    effective_from: 2025-01-01\n    discount: 0.1\n",
            r":2: overrides\[0\]: provider: must name a provider",
        ),
        ("overrides: {model: x}\n", r"'overrides' must be a list"),
        ("overrides:\n  - just a string\n", r"overrides\[0\]: expected a mapping"),
        ("prices: []\n", r"single key 'overrides'"),
        ("overrides: [\n", r"not valid YAML"),
    ],
)
def test_bad_overrides_file_names_file_entry_and_field(tmp_path, yaml_text, expected):
    path = tmp_path / "bad-prices.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_overrides(path)
    assert str(path) in str(info.value)


def test_overrides_file_errors_name_the_line_of_the_field(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "overrides:\n"
        "  - model: gpt-4o*\n"
        "    effective_from: 2025-01-01\n"
        "    input_per_mtok: 2\n"
        "    output_per_mtok: 8\n"
        "\n"
        "  - model: mine\n"
        "    effective_from: 2025-01-01\n"
        "    input_per_mtok: 1\n"
        "    output_per_mtok: free\n"
        "  - model: theirs\n"
        "    input_per_mtok: 1\n"
        "    output_per_mtok: 1\n"
    )
    with pytest.raises(ConfigError) as bad_field:
        load_overrides(path)
    assert str(bad_field.value).startswith(f"{path}:10: overrides[1]: output_per_mtok: ")
    path.write_text(path.read_text().replace("free", "1"))
    with pytest.raises(ConfigError) as missing_field:  # a missing field: the line where its entry starts
        load_overrides(path)
    assert str(missing_field.value).startswith(f"{path}:11: overrides[2]: effective_from: Field required")


def test_missing_overrides_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the prices file"):
        load_overrides(tmp_path / "absent.yaml")


def test_empty_overrides_file_means_no_overrides(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert load_overrides(path) == []


# --- source names for provider and model, priced end to end against genai-prices' calc_price ------------

# (provider and model as a source sends them, genai-prices provider id and model ref)
SOURCE_NAMES = [
    ("openai", "gpt-4o-2024-08-06", "openai", "gpt-4o-2024-08-06"),
    ("openai", "o3", "openai", "o3"),  # $10/$40 until 2025-06-09, then $2/$8
    ("openai", "gpt-4.1-mini", "openai", "gpt-4.1-mini"),
    (None, "openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
    ("litellm", "openai/gpt-4o", "openai", "gpt-4o"),
    ("anthropic", "claude-3-5-sonnet-20240620", "anthropic", "claude-3-5-sonnet-20240620"),
    ("anthropic", "claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-opus-4-20250514", "anthropic", "claude-opus-4-20250514"),
    (
        "aws.bedrock",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "aws",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    (
        "bedrock",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "aws",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
    ),
    ("azure.ai.openai", "gpt-4o", "azure", "gpt-4o"),
    ("gcp.gemini", "models/gemini-1.5-pro", "google", "gemini-1.5-pro"),  # tier above 128k
    ("gcp.vertex_ai", "gemini-2.5-pro", "google", "gemini-2.5-pro"),  # tier above 200k
    ("vertex_ai", "gemini-2.0-flash", "google", "gemini-2.0-flash"),
    ("mistral_ai", "mistral-large-latest", "mistral", "mistral-large-latest"),
    ("deepseek", "deepseek-chat", "deepseek", "deepseek-chat"),  # off-peak hours
    ("x_ai", "grok-3", "x-ai", "grok-3"),
]
SOURCE_USAGE = [
    TokenCounts(12_000, 8_000, 2_000, 1_500, 600),
    TokenCounts(250_000, 60_000, 30_000, 4_000, 1_000),
]


@pytest.mark.parametrize(("provider", "model", "catalog_provider", "ref"), SOURCE_NAMES)
@pytest.mark.parametrize("at", [datetime(2025, 3, 1, 3, tzinfo=UTC), datetime(2025, 8, 1, 17, tzinfo=UTC)])
@pytest.mark.parametrize("counts", SOURCE_USAGE, ids=["cached", "long-context"])
def test_source_names_are_priced_as_genai_prices_prices_them(
    provider, model, catalog_provider, ref, at, counts
):
    usage = Usage(
        input_tokens=counts.input_tokens,  # genai-prices' input_tokens include the cache tokens, as ours do
        cache_read_tokens=counts.cache_read_tokens,
        cache_write_tokens=counts.cache_write_tokens,
        output_tokens=counts.output_tokens,  # and its output_tokens include the reasoning tokens
        output_reasoning_tokens=counts.reasoning_tokens,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = calc_price(
            usage, ref, provider_id=catalog_provider, genai_request_timestamp=at
        ).total_price
    call = priced(model, provider, at=at, **asdict(counts))
    assert call.price_status == "priced"
    assert call.cost_usd == pytest.approx(float(expected), rel=1e-12)


# --- the whole catalog: our arithmetic equals genai-prices' own calculation -----------------------------


def _catalog_entries():
    when = (datetime(2024, 6, 1, 3, tzinfo=UTC), datetime(2025, 9, 1, 14, tzinfo=UTC))
    entries = []
    for provider in catalog_providers:
        for model in provider.models:
            for at in when:
                prices = unit_prices_from_model_price(model.get_prices(at), provider.id, model.id)
                if prices is not None:
                    entries.append((provider, model, at, prices))
    return entries


CATALOG = _catalog_entries()
FLAT = [e for e in CATALOG if not e[3].tiers and e[3].request == 0]


@st.composite
def token_counts(draw, limit: int = 2_000_000) -> TokenCounts:
    read, write, uncached = (draw(st.integers(0, limit)) for _ in range(3))
    reasoning, visible = draw(st.integers(0, limit // 10)), draw(st.integers(0, limit // 10))
    return TokenCounts(uncached + read + write, read, write, visible + reasoning, reasoning)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CATALOG), token_counts())
def test_cost_of_equals_genai_prices_calc_price(entry, counts):
    provider, model, at, prices = entry
    usage = Usage(
        input_tokens=counts.input_tokens,
        cache_read_tokens=counts.cache_read_tokens,
        cache_write_tokens=counts.cache_write_tokens,
        output_tokens=counts.output_tokens,
        output_reasoning_tokens=counts.reasoning_tokens,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = model.calc_price(usage, provider, genai_request_timestamp=at).total_price
    assert cost_of(prices, counts) == pytest.approx(float(reference), rel=1e-9, abs=1e-15)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CATALOG), token_counts())
def test_cost_is_never_negative(entry, counts):
    assert cost_of(entry[3], counts) >= 0


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FLAT), token_counts(), token_counts())
def test_cost_is_additive_over_splitting_a_call(entry, a, b):
    prices = entry[3]
    both = TokenCounts(
        *(
            getattr(a, f) + getattr(b, f)
            for f in (
                "input_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "output_tokens",
                "reasoning_tokens",
            )
        )
    )
    assert cost_of(prices, both) == pytest.approx(
        cost_of(prices, a) + cost_of(prices, b), rel=1e-9, abs=1e-15
    )


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(CATALOG),
    token_counts(),
    st.sampled_from(["input", "cache_read", "cache_write", "output", "reasoning"]),
    st.integers(1, 500_000),
)
def test_cost_is_monotone_in_tokens(entry, counts, kind, extra):
    c = counts
    more = {
        "input": TokenCounts(
            c.input_tokens + extra,
            c.cache_read_tokens,
            c.cache_write_tokens,
            c.output_tokens,
            c.reasoning_tokens,
        ),
        "cache_read": TokenCounts(
            c.input_tokens + extra,
            c.cache_read_tokens + extra,
            c.cache_write_tokens,
            c.output_tokens,
            c.reasoning_tokens,
        ),
        "cache_write": TokenCounts(
            c.input_tokens + extra,
            c.cache_read_tokens,
            c.cache_write_tokens + extra,
            c.output_tokens,
            c.reasoning_tokens,
        ),
        "output": TokenCounts(
            c.input_tokens,
            c.cache_read_tokens,
            c.cache_write_tokens,
            c.output_tokens + extra,
            c.reasoning_tokens,
        ),
        "reasoning": TokenCounts(
            c.input_tokens,
            c.cache_read_tokens,
            c.cache_write_tokens,
            c.output_tokens + extra,
            c.reasoning_tokens + extra,
        ),
    }[kind]
    assert cost_of(entry[3], more) >= cost_of(entry[3], counts) * (1 - 1e-12)


def test_unit_prices_are_frozen():
    prices = Pricer().unit_prices("openai", "gpt-4o", AT)
    assert isinstance(prices, UnitPrices)
    with pytest.raises(AttributeError):
        prices.input = 0.0  # type: ignore[misc]


# --- speed ----------------------------------------------------------------------------------------------


def test_pricing_is_fast_enough_for_the_ingest_path():
    # Ingest targets 25k spans/s in total, so pricing must stay far below 40 µs per call (measured ~2 µs).
    models = [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4"),
        ("gcp.vertex_ai", "gemini-2.5-pro"),
        (None, "unknown-q"),
    ]
    calls = [
        make_call(
            models[i % 4][1],
            models[i % 4][0],
            at=AT + timedelta(minutes=i),
            input_tokens=1000 + i,
            cache_read_tokens=i,
            output_tokens=50,
        )
        for i in range(20_000)
    ]
    pricer = Pricer()
    pricer.price_many(calls[:1000])
    start = time.perf_counter()
    pricer.price_many(calls)
    per_call_us = (time.perf_counter() - start) / len(calls) * 1e6
    assert per_call_us < 40, f"{per_call_us:.1f} µs per call"


# --- who served it: a guess by name is not a price of $0 ----------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        (None, "gemma-3-27b-it"),  # Google lists Gemma as free; served by whom, nobody said
        ("openai", "google/gemma-3-27b-it"),  # an OpenAI client pointed at vLLM, Together, DeepInfra …
    ],
)
def test_a_free_price_found_under_another_provider_is_unknown_not_zero(provider, model):
    call = priced(model, provider, input_tokens=MTOK, output_tokens=100_000)
    assert (call.cost_usd, call.price_status) == (None, "unpriced")
    # Under Google itself, the free price is the price.
    own = priced("gemma-3-27b-it", "google", input_tokens=MTOK, output_tokens=100_000)
    assert (own.cost_usd, own.price_status) == (0.0, "priced")


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("fireworks", "gemma-3-27b-it"),  # not Fireworks' own id: its price is not Google's
        ("together", "openai/gpt-4o"),  # a host's call is never priced from the maker's list
        ("groq", "claude-3-5-haiku-20241022"),
    ],
)
def test_a_host_of_other_makers_models_is_priced_from_its_own_list_only(provider, model):
    call = priced(model, provider, input_tokens=MTOK, output_tokens=MTOK)
    assert (call.cost_usd, call.price_status) == (None, "unpriced")


def test_a_bare_model_name_finds_the_hosts_entry_under_its_makers_prefix():
    bare = priced("gpt-oss-120b", "groq", input_tokens=MTOK)
    listed = priced("openai/gpt-oss-120b", "groq", input_tokens=MTOK)
    openai_price = priced("gpt-oss-120b", "openai", input_tokens=MTOK)
    assert bare.price_status == "priced"
    assert bare.cost_usd == pytest.approx(listed.cost_usd)
    assert bare.cost_usd != pytest.approx(openai_price.cost_usd)  # Groq's price, not OpenAI's


@pytest.mark.parametrize("model", ["deepseek-r1:7b", "qwen2.5:0.5b", "llama3:latest", "gemma3:27b-it-q4_K_M"])
def test_a_local_runtimes_size_tag_is_never_priced_from_the_catalog(model):
    # An OpenAI client pointed at Ollama reports the provider as openai.
    call = priced(model, "openai", input_tokens=MTOK, output_tokens=MTOK)
    assert (call.cost_usd, call.price_status) == (None, "unpriced")


def test_bedrock_and_openrouter_suffixes_are_not_size_tags():
    bedrock = priced("anthropic.claude-3-5-sonnet-20240620-v1:0", "aws.bedrock", input_tokens=MTOK)
    assert bedrock.price_status == "priced" and bedrock.cost_usd > 0
    free = priced("meta-llama/llama-3.3-70b-instruct:free", "openrouter", input_tokens=MTOK)
    assert (free.cost_usd, free.price_status) == (0.0, "priced")  # OpenRouter's own free entry


# --- overrides: which provider, which model ----------------------------------------------------------------


def test_an_override_for_one_platform_leaves_another_of_the_same_catalog_provider_alone():
    pricer = Pricer(
        overrides(
            {
                "provider": "gcp.vertex_ai",
                "model": "gemini-*",
                "effective_from": "2024-01-01",
                "discount": 0.5,
            }
        )
    )
    vertex = priced("gemini-2.5-flash", "gcp.vertex_ai", pricer, input_tokens=MTOK)
    litellm_vertex = priced("gemini-2.5-flash", "vertex_ai", pricer, input_tokens=MTOK)
    gemini_api = priced("gemini-2.5-flash", "gcp.gemini", pricer, input_tokens=MTOK)
    catalog = priced("gemini-2.5-flash", "gcp.gemini", input_tokens=MTOK)
    assert vertex.price_status == litellm_vertex.price_status == "override"
    assert vertex.cost_usd == pytest.approx(catalog.cost_usd * 0.5)
    assert gemini_api.price_status == "priced"
    assert gemini_api.cost_usd == pytest.approx(catalog.cost_usd)
    # Written as the catalog's provider, it covers both platforms.
    umbrella = Pricer(
        overrides(
            {"provider": "google", "model": "gemini-*", "effective_from": "2024-01-01", "discount": 0.5}
        )
    )
    for provider in ("gcp.vertex_ai", "gcp.gemini", "vertex_ai"):
        assert priced("gemini-2.5-flash", provider, umbrella, input_tokens=MTOK).price_status == "override"


def test_a_discount_written_for_the_requested_name_applies_to_the_model_that_answered():
    pricer = Pricer(overrides({"model": "gpt-4o", "effective_from": "2024-01-01", "discount": 0.2}))
    at = datetime(2024, 9, 1, 12, tzinfo=UTC)
    served_alone = priced("gpt-4o-2024-05-13", "openai", at=at, input_tokens=MTOK)
    call = priced("gpt-4o-2024-05-13", "openai", pricer, at=at, model_requested="gpt-4o", input_tokens=MTOK)
    assert served_alone.cost_usd == pytest.approx(5.0)
    assert (call.cost_usd, call.price_status) == (pytest.approx(4.0), "override")
    # An absolute price written for the requested name is that name's price, as before.
    absolute = Pricer(
        overrides(
            {"model": "gpt-4o", "effective_from": "2024-01-01", "input_per_mtok": 1, "output_per_mtok": 1}
        )
    )
    call = priced("gpt-4o-2024-05-13", "openai", absolute, at=at, model_requested="gpt-4o", input_tokens=MTOK)
    assert call.cost_usd == pytest.approx(1.0)


def test_a_refused_call_without_tokens_pays_no_per_request_fee():
    refused = priced("sonar", "perplexity", status="error")
    assert (refused.cost_usd, refused.price_status) == (0.0, "priced")
    answered = priced("sonar", "perplexity", input_tokens=1000, output_tokens=100)
    assert answered.cost_usd > 0.001  # the request fee is billed when it answered


def test_an_overrides_entry_giving_a_field_twice_is_refused_with_both_lines(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "overrides:\n"
        "  - model: gpt-4o\n"
        "    effective_from: 2025-01-01\n"
        "    discount: 0.1\n"
        "    discount: 0.5\n"
    )
    with pytest.raises(ConfigError, match=r"the key 'discount' is given twice \(first on line 4\)") as info:
        load_overrides(path)
    assert f"{path}:5: not valid YAML: " in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        (None, "anthropic.claude-3-5-sonnet-20240620-v1:0"),  # a Bedrock-only id, no provider recorded
        (None, "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"),  # LiteLLM's prefix names the platform
        ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),  # the umbrella name
    ],
)
def test_a_platform_override_applies_where_the_source_did_not_name_another_platform(provider, model):
    pricer = Pricer(
        overrides({"provider": "aws.bedrock", "model": "*", "effective_from": "2024-01-01", "discount": 0.3})
    )
    call = priced(model, provider, pricer, input_tokens=MTOK)
    assert (call.cost_usd, call.price_status) == (pytest.approx(2.1), "override")


def test_a_vertex_override_applies_to_otels_umbrella_google_name():
    pricer = Pricer(
        overrides(
            {
                "provider": "gcp.vertex_ai",
                "model": "gemini-*",
                "effective_from": "2024-01-01",
                "discount": 0.2,
            }
        )
    )
    umbrella = priced("gemini-2.5-pro", "gcp.gen_ai", pricer, input_tokens=MTOK)
    catalog = priced("gemini-2.5-pro", "gcp.gen_ai", input_tokens=MTOK)
    assert (umbrella.cost_usd, umbrella.price_status) == (pytest.approx(0.8 * catalog.cost_usd), "override")


def test_a_host_named_only_by_the_model_prefix_is_priced_from_its_own_list():
    call = priced("together_ai/openai/gpt-4o", None, input_tokens=MTOK)
    assert (call.cost_usd, call.price_status) == (None, "unpriced")  # not OpenAI's price for Together's call
    listed = priced("groq/llama-3.3-70b-versatile", None, input_tokens=MTOK)
    assert listed.price_status == "priced"
