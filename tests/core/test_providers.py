"""One provider spelling for every source (agentledger.core.providers), and pricing unchanged by it.

The canonical value is OTel GenAI ``gen_ai.provider.name`` (FORMATS.md §4). Each source's own words:
Helicone ``ProviderName``/``ModelProviderName`` (its swagger), LiteLLM ``custom_llm_provider``, Langfuse
``modelParameters.system`` and span attributes, OTLP ``gen_ai.*``/``llm.*``/``ai.model.provider``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentledger.core import providers
from agentledger.core.pricing import Pricer, canonical_provider
from agentledger.core.providers import PROVIDERS, normalize_provider, provider_of
from agentledger.ingest.otlp import conventions

AT = datetime(2025, 9, 1, 12, tzinfo=UTC)
MTOK = 1_000_000
GENAI_VALUES = {
    "openai",
    "anthropic",
    "aws.bedrock",
    "azure.ai.openai",
    "azure.ai.inference",
    "gcp.gemini",
    "gcp.vertex_ai",
    "gcp.gen_ai",
    "cohere",
    "deepseek",
    "groq",
    "mistral_ai",
    "perplexity",
    "x_ai",
    "ibm.watsonx.ai",
}

# (canonical, Helicone spellings, LiteLLM custom_llm_provider, other spellings: OTel/OpenInference/Vercel)
SAME_PROVIDER = [
    (
        "gcp.vertex_ai",
        ["vertex"],
        ["vertex_ai", "vertex_ai_beta"],
        ["vertex_ai", "vertexai", "google.vertex.chat"],
    ),
    ("gcp.gemini", ["google-ai-studio"], ["gemini"], ["gcp.gemini", "google.generative-ai"]),
    ("gcp.gen_ai", ["GOOGLE", "google"], [], ["google"]),
    (
        "aws.bedrock",
        ["AWS", "BEDROCK", "bedrock", "aws"],
        ["bedrock", "bedrock_converse"],
        ["aws", "amazon-bedrock"],
    ),
    ("x_ai", ["X", "xai", "x-ai"], ["xai"], ["xai", "x_ai", "xai.chat"]),
    ("mistral_ai", ["MISTRAL", "mistral"], ["mistral", "codestral"], ["mistralai", "mistral.chat"]),
    ("azure.ai.openai", ["AZURE", "azure"], ["azure", "azure_text"], ["az.ai.openai", "azure-openai.chat"]),
    ("azure.ai.inference", [], ["azure_ai"], ["az.ai.inference"]),
    ("openai", ["OPENAI", "openai"], ["openai", "text-completion-openai"], ["OpenAI", "openai.chat"]),
    ("anthropic", ["ANTHROPIC", "anthropic"], ["anthropic"], ["Anthropic", "anthropic.messages"]),
    ("cohere", ["COHERE"], ["cohere", "cohere_chat"], ["cohere.chat"]),
    ("deepseek", ["DEEPSEEK", "deepseek"], ["deepseek"], ["deepseek.chat"]),
    ("groq", ["GROQ", "groq"], ["groq"], ["groq.chat"]),
    ("perplexity", ["PERPLEXITY", "perplexity"], ["perplexity"], ["perplexity"]),
    ("together", ["TOGETHER"], ["together_ai"], ["togetherai.chat"]),
    ("fireworks", ["FIREWORKS", "fireworks"], ["fireworks_ai"], ["fireworks.chat"]),
    ("openrouter", ["OPENROUTER", "openrouter"], ["openrouter"], []),
    ("ibm.watsonx.ai", [], ["watsonx", "watsonx_text"], ["ibm.watsonx.ai"]),
]


@pytest.mark.parametrize(("canonical", "helicone", "litellm", "other"), SAME_PROVIDER, ids=lambda v: str(v))
def test_every_spelling_of_a_provider_becomes_one_value(
    canonical: str, helicone: list[str], litellm: list[str], other: list[str]
) -> None:
    for spelling in (*helicone, *litellm, *other):
        assert normalize_provider(spelling) == canonical, spelling
        assert normalize_provider(f"  {spelling.upper()} ") == canonical, spelling


def test_canonical_values_are_the_genai_values_where_the_convention_has_one() -> None:
    values = set(PROVIDERS.values())
    assert values >= GENAI_VALUES
    # the rest are the genai-prices ids of providers the convention does not name
    assert values - GENAI_VALUES == {"together", "fireworks", "openrouter"}
    for value in values:
        assert normalize_provider(value) == value  # canonical values are fixed points


def test_unknown_providers_are_kept_lower_cased() -> None:
    assert normalize_provider("Some-New-Lab") == "some-new-lab"
    assert normalize_provider("ollama") == "ollama"  # local runtimes stay recognisable to the pricer
    assert normalize_provider("hosted_vllm") == "hosted_vllm"
    assert normalize_provider("acme.chat") == "acme.chat"
    assert normalize_provider("acme.chat", vercel=True) == "acme"
    assert (
        normalize_provider(None) is None
        and normalize_provider("") is None
        and normalize_provider("  ") is None
    )


def test_google_ai_studio_is_not_vertex() -> None:
    """LiteLLM ``gemini`` and Helicone ``google-ai-studio`` are the Gemini API; a bare ``google`` (Helicone's
    proxy, any googleapis.com endpoint) says only "Google"."""
    assert normalize_provider("gemini") == normalize_provider("google-ai-studio") == "gcp.gemini"
    assert normalize_provider("vertex_ai") == normalize_provider("vertex") == "gcp.vertex_ai"
    assert normalize_provider("GOOGLE") == "gcp.gen_ai"


def test_helicone_swagger_provider_names_all_normalize(reference_dir: Path) -> None:
    schemas = json.loads((reference_dir / "helicone" / "swagger.json").read_text())["components"]["schemas"]
    names = schemas["ProviderName"]["enum"] + schemas["ModelProviderName"]["enum"]
    assert {"X", "AWS", "BEDROCK", "GOOGLE", "vertex", "google-ai-studio", "xai"} <= set(names)
    for name in names:
        value = normalize_provider(name)
        assert value is not None and value == value.lower()
        if name.lower() in PROVIDERS:
            assert value in GENAI_VALUES | {"together", "fireworks", "openrouter"}


@pytest.mark.parametrize(
    ("attributes", "provider"),
    [
        ({"gen_ai.provider.name": "gcp.vertex_ai", "llm.system": "openai"}, "gcp.vertex_ai"),
        ({"gen_ai.system": "xai"}, "x_ai"),
        ({"llm.system": "openai", "llm.provider": "azure"}, "azure.ai.openai"),  # azure is the host
        ({"llm.system": "anthropic", "llm.provider": "aws"}, "aws.bedrock"),
        ({"llm.system": "vertexai", "llm.provider": "google"}, "gcp.vertex_ai"),  # google is the vendor
        ({"llm.provider": "mistralai"}, "mistral_ai"),
        ({"ai.model.provider": "google.vertex.chat"}, "gcp.vertex_ai"),
        ({"ai.model.provider": "acme.chat"}, "acme"),
        ({"gen_ai.system": "openai.chat", "ai.model.provider": "openai.chat"}, "openai"),
        ({"gen_ai.system": ""}, None),
        ({}, None),
    ],
)
def test_provider_of_attributes(attributes: dict, provider: str | None) -> None:
    assert provider_of(attributes) == provider


def test_the_otlp_conventions_re_export_the_shared_function() -> None:
    assert conventions.normalize_provider is providers.normalize_provider
    assert conventions.provider_of is providers.provider_of
    assert conventions._PROVIDERS is PROVIDERS


# --- pricing: the canonical spelling finds the price the source's own spelling found ---------------------

# (canonical provider, the spellings the sources wrote before, model, catalog provider, $/MTok in, out),
# measured with the old spellings before the collectors were changed.
PRICED = [
    ("gcp.vertex_ai", ["google", "vertex_ai", "vertex_ai_beta"], "gemini-2.5-pro", "google", 1.25, 10),
    ("gcp.vertex_ai", ["google", "vertex_ai"], "claude-3-5-sonnet-v2@20241022", "google", 3, 15),
    ("gcp.gemini", ["google", "gemini"], "gemini-2.5-flash", "google", 0.3, 2.5),
    ("gcp.gen_ai", ["google"], "gemini-2.5-flash", "google", 0.3, 2.5),
    (
        "aws.bedrock",
        ["aws", "bedrock", "bedrock_converse"],
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "aws",
        3,
        15,
    ),
    ("aws.bedrock", ["aws", "bedrock"], "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "aws", 3, 15),
    ("aws.bedrock", ["aws", "bedrock"], "amazon.nova-pro-v1:0", "aws", 0.8, 3.2),
    ("azure.ai.openai", ["azure"], "gpt-4o", "azure", 2.5, 10),
    ("azure.ai.inference", ["azure_ai"], "gpt-4o", "azure", 2.5, 10),
    ("x_ai", ["x-ai", "xai"], "grok-3", "x-ai", 3, 15),
    ("x_ai", ["x-ai", "xai"], "grok-4", "x-ai", 3, 15),
    ("mistral_ai", ["mistral"], "mistral-large-latest", "mistral", 2, 6),
    ("cohere", ["cohere_chat"], "command-r-plus", "cohere", 2.5, 10),
    ("together", ["together_ai"], "meta-llama/Llama-3.3-70B-Instruct-Turbo", "together", 0.88, 0.88),
    ("openai", ["text-completion-openai"], "gpt-3.5-turbo-instruct", "openai", 1.5, 2),
]


@pytest.mark.parametrize(("canonical", "before", "model", "catalog", "per_mtok_in", "per_mtok_out"), PRICED)
def test_a_call_is_priced_under_its_canonical_provider_as_under_the_old_spelling(
    canonical: str, before: list[str], model: str, catalog: str, per_mtok_in: float, per_mtok_out: float
) -> None:
    pricer = Pricer()
    prices = pricer.unit_prices(canonical, model, AT)
    assert prices is not None, f"{canonical}/{model} lost its price"
    assert prices.origin == "catalog" and prices.provider == catalog
    assert (prices.input * MTOK, prices.output * MTOK) == (
        pytest.approx(per_mtok_in),
        pytest.approx(per_mtok_out),
    )
    for old in before:
        assert normalize_provider(old) in (canonical, "gcp.gen_ai")  # a bare "google" says only Google
        assert pricer.unit_prices(old, model, AT) == prices, old


def test_no_spelling_loses_its_catalog_provider_when_normalized() -> None:
    for spelling, canonical in PROVIDERS.items():
        before = canonical_provider(spelling)
        if before is None:
            continue
        after = canonical_provider(canonical)
        assert after is not None, spelling
        if not spelling.startswith(
            "az."
        ):  # deprecated GenAI Azure values: the OTLP path always normalized them
            assert after == before, spelling
