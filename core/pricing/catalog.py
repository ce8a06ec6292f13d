"""The price catalog: genai-prices' packaged data snapshot, looked up by provider and model.

Only the data shipped inside the installed genai-prices package is read; nothing here fetches prices from
the network (LiteLLM's import-time price download with a silent fallback is what we avoid). Upgrading the
package is how prices are updated, and ``agentledger reprice`` re-prices history afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, Provider

__all__ = [
    "SELF_HOSTED",
    "CatalogMatch",
    "canonical_provider",
    "find_model",
    "is_local_model_name",
    "is_self_hosted",
    "provider_matches",
    "is_time_of_day_priced",
]

# Source provider names → genai-prices provider ids. Keys are lower-case with '-' and ' ' read as '_'.
# Covers OTel `gen_ai.provider.name` (and legacy `gen_ai.system`), LiteLLM `custom_llm_provider`, Helicone
# `provider` (either case) and OpenInference `llm.provider`/`llm.system`. A value of None says "known, but not
# in the catalog" (IBM watsonx): such calls fall back to matching the model alone.
PROVIDER_ALIASES: dict[str, str | None] = {
    "openai": "openai",
    "text_completion_openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "aws_bedrock": "aws",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "amazon_bedrock": "aws",
    "aws": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "azure": "azure",
    "azure_ai": "azure",
    "azure_openai": "azure",
    "azure_text": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
    "vertexai": "google",
    "vertex": "google",
    "gemini": "google",
    "google": "google",
    "google_ai_studio": "google",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "x": "x-ai",
    "grok": "x-ai",
    "mistral_ai": "mistral",
    "mistral": "mistral",
    "mistralai": "mistral",
    "codestral": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "perplexity": "perplexity",
    "perplexityai": "perplexity",
    "together_ai": "together",
    "together": "together",
    "togetherai": "together",
    "fireworks_ai": "fireworks",
    "fireworks": "fireworks",
    "openrouter": "openrouter",
    "cerebras": "cerebras",
    "moonshot": "moonshotai",
    "moonshotai": "moonshotai",
    "databricks": "databricks",
    "cloudflare": "cloudflare",
    "novita": "novita",
    "ibm.watsonx.ai": None,
    "watsonx": None,
    "watsonx_text": None,
}

# Source provider names of one platform: a price override written for one of them (`provider: gcp.vertex_ai`)
# applies to calls reported under any of them, and not to another platform that shares the catalog's price list
# (Vertex AI and the Gemini API are both `google` there; Azure OpenAI and Azure AI Inference both `azure`).
_PLATFORMS: dict[str, tuple[str, ...]] = {
    "openai": ("openai", "text_completion_openai"),
    "bedrock": ("aws.bedrock", "aws_bedrock", "bedrock", "bedrock_converse", "amazon_bedrock"),
    "azure_openai": ("azure.ai.openai", "azure_openai", "azure_text"),
    "azure_inference": ("azure.ai.inference", "azure_ai"),
    "vertex_ai": ("gcp.vertex_ai", "vertex_ai", "vertex_ai_beta", "vertexai", "vertex"),
    "gemini": ("gcp.gemini", "gemini", "google_ai_studio"),
    "x_ai": ("x_ai", "xai", "x", "grok"),
    "mistral": ("mistral_ai", "mistral", "mistralai"),
    "cohere": ("cohere", "cohere_chat"),
    "perplexity": ("perplexity", "perplexityai"),
    "together": ("together_ai", "together", "togetherai"),
    "fireworks": ("fireworks_ai", "fireworks"),
    "moonshot": ("moonshot", "moonshotai"),
    "watsonx": ("ibm.watsonx.ai", "watsonx", "watsonx_text"),
}
_PLATFORM_OF = {name: platform for platform, names in _PLATFORMS.items() for name in names}
# Names that stand for every platform of one catalog provider (OTel's "any Google generative AI endpoint").
_UMBRELLAS = frozenset({"gcp.gen_ai"})

# Runtimes that serve models on the user's own hardware (LiteLLM `ollama/…`, `hosted_vllm/…`, the provider
# names local servers report). Their calls cost what the user's hardware costs, which no catalog knows:
# `ollama` + `deepseek-r1:7b` is a local distilled model, not DeepSeek's API at DeepSeek's price. They are
# never matched by model name; the overrides file prices them (a self-hosted cost estimate), else unpriced.
SELF_HOSTED: frozenset[str] = frozenset(
    {
        "ollama",
        "ollama_chat",
        "vllm",
        "hosted_vllm",
        "lm_studio",
        "lmstudio",
        "llamafile",
        "llama_cpp",
        "llamacpp",
        "llama.cpp",
        "localai",
        "xinference",
        "triton",
        "tgi",
        "self_hosted",
        "selfhosted",
        "local",
    }
)

# When neither the provider nor genai-prices' own model patterns place a model, these first-party catalogs
# are searched in order. Resellers (OpenRouter, Together, Groq …) are left out on purpose: their prices
# differ from the maker's, and a guess there would be a confident wrong number.
# Bedrock ids (`anthropic.claude-…-v2:0`) only match under aws; Google comes last because its list falls back
# to Anthropic's and would claim those names under the wrong provider.
_MAKERS = (
    "openai",
    "anthropic",
    "mistral",
    "x-ai",
    "deepseek",
    "cohere",
    "moonshotai",
    "zhipuai",
    "aws",
    "google",
)


@dataclass(frozen=True, slots=True)
class CatalogMatch:
    """A model found in the catalog, and the provider whose price list holds it."""

    provider_id: str
    model: ModelInfo
    time_of_day: bool  # prices differ by hour (DeepSeek off-peak): resolve per call, not per day
    # Found by the model's name in another provider's list than the call's (or than the provider its model
    # prefix names): a guess at who served it. A $0 price found so is not believed (see Pricer).
    by_name: bool = False

    def model_price(self, at: datetime):  # -> genai_prices.types.ModelPrice
        """The catalog's standard price at ``at`` (dated price changes and off-peak windows applied)."""
        return self.model.get_prices(at)


def _providers() -> list[Provider]:
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot().providers


def _provider_key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def is_self_hosted(name: str | None) -> bool:
    """Whether ``name`` is a local model runtime (see ``SELF_HOSTED``): its calls have no catalog price."""
    return bool(name) and _provider_key(name) in SELF_HOSTED  # type: ignore[arg-type]


@lru_cache(maxsize=1024)
def canonical_provider(name: str | None) -> str | None:
    """The genai-prices provider id for a source's provider name, or None when the catalog has none."""
    if not name:
        return None
    key = _provider_key(name)
    if key in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[key]
    from genai_prices.data_snapshot import find_provider_by_id

    provider = find_provider_by_id(_providers(), name)
    return provider.id if provider is not None else None


def _provider_by_id(provider_id: str) -> Provider | None:
    return next((p for p in _providers() if p.id == provider_id), None)


def provider_platform(name: str) -> str:
    """The platform a source's provider name stands for (see ``_PLATFORMS``); other names stand for themselves."""
    key = _provider_key(name)
    return _PLATFORM_OF.get(key, key)


def is_catalog_provider_id(name: str) -> bool:
    """Whether ``name`` is written as a catalog provider id (``google``, ``azure``, ``aws``, ``openai`` …)."""
    return canonical_provider(name) == _provider_key(name).replace("_", "-")


def provider_matches(written: str, reported: str | None, priced_as: str | None = None) -> bool:
    """Whether a provider a user wrote (in a price override, a what-if policy) names a call's provider.

    ``reported`` is the call's provider as its source names it, ``priced_as`` the catalog provider its price
    came from. Written as a catalog provider id (``google``, ``azure``, ``openai``), it covers every source
    name of that provider; written as a platform's own name (``gcp.vertex_ai``, ``vertex_ai``, ``bedrock``),
    that platform's names only (see :func:`provider_platform`).
    """
    wanted = canonical_provider(written)
    if is_catalog_provider_id(written) or reported is None or _is_umbrella(reported):
        # A call whose source did not say which platform served it (no provider, or only the umbrella name
        # such as `gcp.gen_ai` or a bare `aws`) is matched on its catalog provider, as a catalog id is.
        return wanted is not None and any(
            name is not None and canonical_provider(name) == wanted for name in (reported, priced_as)
        )
    return provider_platform(reported) == provider_platform(written)


def _is_umbrella(name: str) -> bool:
    """A provider name that says whose catalog but not which of its platforms (see ``_UMBRELLAS``)."""
    return is_catalog_provider_id(name) or _provider_key(name) in _UMBRELLAS


def is_time_of_day_priced(model: ModelInfo) -> bool:
    """Whether any of the model's prices is limited to a time of day."""
    from genai_prices.types import TimeOfDateConstraint

    if not isinstance(model.prices, list):
        return False
    return any(isinstance(p.constraint, TimeOfDateConstraint) for p in model.prices)


def _model_refs(model: str) -> list[tuple[str | None, str]]:
    """Ways to read a model string: as given, then each ``prefix/`` peeled off with the prefix as a hint.

    ``openai/gpt-4o`` → ("openai", "gpt-4o"); ``bedrock/us.anthropic.claude-…`` → ("bedrock", "us.anthropic…");
    ``openrouter/anthropic/claude-3.5-sonnet`` is tried under openrouter first, then under anthropic.
    """
    ref = model.strip().lower()
    refs: list[tuple[str | None, str]] = [(None, ref)]
    while "/" in ref:
        prefix, ref = ref.split("/", 1)
        refs.append((prefix, ref))
    return refs


def _in_provider(provider_id: str | None, ref: str) -> CatalogMatch | None:
    if provider_id is None or (provider := _provider_by_id(provider_id)) is None:
        return None
    # find_model falls back to the providers a reseller lists (Azure → OpenAI, Google → Anthropic).
    model = provider.find_model(ref, all_providers=_providers())
    if model is None:
        # Hosts list most models under their maker's name (Groq's `openai/gpt-oss-120b`); a client may send
        # the bare name. Only an unambiguous one is taken.
        found = [m for m in provider.models if m.id.lower().endswith(f"/{ref}")]
        model = found[0] if len(found) == 1 else None
    return None if model is None else CatalogMatch(provider.id, model, is_time_of_day_priced(model))


def _by_model_pattern(ref: str) -> CatalogMatch | None:
    """genai-prices' own rule: the first provider whose model pattern claims the name (gpt-* → openai)."""
    for provider in _providers():
        if provider.model_match is not None and provider.model_match.is_match(ref):
            return _in_provider(provider.id, ref)
    return None


# Ollama's size tags (`deepseek-r1:7b`, `qwen2.5:0.5b`, `llama3:latest`): a local model, whatever client sent it
# (an OpenAI client pointed at Ollama reports the provider as openai). Bedrock's `…-v1:0` and OpenRouter's
# `:free` are not such tags.
_LOCAL_TAG = re.compile(r":(latest|\d+(\.\d+)?[bm])([-_.][\w.-]*)?$")


def is_local_model_name(model: str) -> bool:
    """Whether ``model`` carries a local runtime's size tag (see ``_LOCAL_TAG``)."""
    return _LOCAL_TAG.search(model.strip().lower()) is not None


def find_model(provider: str | None, model: str) -> CatalogMatch | None:
    """Find ``model`` in the catalog: under the call's provider, then by the model name alone.

    Nothing is found for a self-hosted runtime, named as the provider or as a model prefix (``ollama/…``), or
    for a model name with a local runtime's size tag. A call whose provider is a host of other makers' models
    (a catalog provider that is not one of ``_MAKERS``: Groq, Together, Azure …) is priced from that host's
    list only: the maker's price would be a confident wrong number. Otherwise a model the provider's list does
    not hold is looked for under the provider its prefix names, then by genai-prices' model patterns, then in
    the makers' lists; such a match is marked ``by_name`` when it is not the call's own provider's.
    """
    refs = _model_refs(model)
    if (
        is_self_hosted(provider)
        or any(is_self_hosted(hint) for hint, _ in refs)
        or is_local_model_name(model)
    ):
        return None
    provider_id = canonical_provider(provider)
    if provider_id is None:
        # A LiteLLM-style prefix names the provider when the call does not (`together_ai/deepseek-ai/…`).
        provider_id = next((p for hint, _ in refs if (p := canonical_provider(hint)) is not None), None)
    host = provider_id is not None and provider_id not in _MAKERS
    for hint, ref in refs:
        if match := _in_provider(provider_id, ref):
            return match
        if host:
            continue
        if match := _in_provider(canonical_provider(hint), ref):
            return _guessed(match, provider_id)  # a prefix naming another provider than the call's
    if host:
        return None
    for _, ref in refs:
        if match := _by_model_pattern(ref):
            return _guessed(match, provider_id)
    for _, ref in refs:
        for maker in _MAKERS:
            if match := _in_provider(maker, ref):
                return _guessed(match, provider_id)
    return None


def _guessed(match: CatalogMatch, provider_id: str | None) -> CatalogMatch:
    """``match`` marked ``by_name`` unless it is under the call's own provider."""
    return match if match.provider_id == provider_id else replace(match, by_name=True)
