"""One spelling per provider: the value every source's ``provider`` is normalized to.

The canonical value is the OpenTelemetry GenAI ``gen_ai.provider.name`` (FORMATS.md §4): ``openai``,
``anthropic``, ``aws.bedrock``, ``azure.ai.openai``, ``azure.ai.inference``, ``gcp.gemini``,
``gcp.vertex_ai``, ``gcp.gen_ai``, ``cohere``, ``deepseek``, ``groq``, ``mistral_ai``, ``perplexity``,
``x_ai``, ``ibm.watsonx.ai``. A provider the convention does not name keeps the genai-prices provider id
(``together``, ``fireworks``, ``openrouter``); any other value is kept as written, lower-cased, so that local
runtimes (``ollama``, ``hosted_vllm``) stay recognisable to the pricer.

Spellings folded in, per source:

- OTel GenAI: the deprecated ``gen_ai.system`` values (``xai``, ``az.ai.openai``, ``vertex_ai``);
- OpenInference ``llm.system``/``llm.provider`` (``mistralai``, ``vertexai``, ``xai``, ``aws``, ``azure``);
- Vercel AI SDK ``ai.model.provider`` (``openai.chat``, ``google.vertex.chat``, ``amazon-bedrock``);
- Helicone ``provider``: upper-case ``ProviderName`` (``X``, ``AWS``, ``BEDROCK``, ``GOOGLE``, ``TOGETHER``…)
  and lower-case ``ModelProviderName`` (``vertex``, ``google-ai-studio``, ``xai``…);
- LiteLLM ``custom_llm_provider`` (``vertex_ai``, ``vertex_ai_beta``, ``bedrock``, ``bedrock_converse``,
  ``gemini``, ``azure``, ``azure_ai``, ``xai``, ``together_ai``, ``fireworks_ai``, ``cohere_chat``…);
- Langfuse ``modelParameters.system`` and the span attributes in observation metadata (any of the above).

Google has three values: ``gcp.gemini`` is the Gemini API of Google AI Studio (generativelanguage.googleapis.com:
LiteLLM ``gemini``, Helicone ``google-ai-studio``), ``gcp.vertex_ai`` is Vertex AI (aiplatform.googleapis.com:
LiteLLM ``vertex_ai``, Helicone ``vertex``) and ``gcp.gen_ai`` is "some Google endpoint", for a bare ``google``
(Helicone's proxy names every googleapis.com request ``GOOGLE``; OpenInference's ``llm.provider`` is
``google`` for both). All three are priced from the same Google price list.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROVIDERS", "normalize_provider", "provider_of"]

# Source spelling (lower-case) -> canonical provider. Only spellings that differ from their canonical value
# need an entry, plus the canonical values themselves so that dotted ones are not cut at a dot.
PROVIDERS: dict[str, str] = {
    # OpenAI
    "openai": "openai",
    "text-completion-openai": "openai",  # LiteLLM
    "text_completion_openai": "openai",
    # Azure
    "azure": "azure.ai.openai",  # OpenInference host, Helicone, LiteLLM
    "azure_openai": "azure.ai.openai",
    "azure-openai": "azure.ai.openai",  # Vercel
    "azure_text": "azure.ai.openai",  # LiteLLM, completions endpoint
    "az.ai.openai": "azure.ai.openai",  # deprecated gen_ai.system
    "azure.ai.openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",  # LiteLLM: Azure AI Foundry model inference
    "az.ai.inference": "azure.ai.inference",
    "azure.ai.inference": "azure.ai.inference",
    # Anthropic
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",  # LiteLLM
    # AWS Bedrock
    "aws": "aws.bedrock",  # OpenInference host, Helicone AWS
    "bedrock": "aws.bedrock",  # Helicone BEDROCK / bedrock, LiteLLM
    "bedrock_converse": "aws.bedrock",  # LiteLLM
    "amazon-bedrock": "aws.bedrock",  # Vercel
    "amazon_bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "aws.bedrock": "aws.bedrock",
    # Google
    "google": "gcp.gen_ai",  # endpoint unknown: Helicone GOOGLE, OpenInference llm.provider
    "gcp.gen_ai": "gcp.gen_ai",
    "gemini": "gcp.gemini",  # LiteLLM, OpenInference
    "google-ai-studio": "gcp.gemini",  # Helicone
    "google_ai_studio": "gcp.gemini",
    "google.generative-ai": "gcp.gemini",  # Vercel
    "google_genai": "gcp.gemini",
    "google-genai": "gcp.gemini",
    "gcp.gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",  # Helicone
    "vertexai": "gcp.vertex_ai",  # OpenInference
    "vertex_ai": "gcp.vertex_ai",  # deprecated gen_ai.system, LiteLLM
    "vertex_ai_beta": "gcp.vertex_ai",  # LiteLLM
    "google.vertex": "gcp.vertex_ai",  # Vercel
    "gcp.vertex_ai": "gcp.vertex_ai",
    # Mistral
    "mistral": "mistral_ai",  # Helicone, LiteLLM, Vercel
    "mistralai": "mistral_ai",  # OpenInference
    "codestral": "mistral_ai",  # LiteLLM: Mistral's codestral endpoint
    "mistral_ai": "mistral_ai",
    # xAI
    "xai": "x_ai",  # deprecated gen_ai.system, OpenInference, Helicone, LiteLLM, Vercel
    "x": "x_ai",  # Helicone ProviderName X
    "x-ai": "x_ai",  # genai-prices id (what the Helicone collector used to write)
    "x_ai": "x_ai",
    # Others in the GenAI convention
    "cohere": "cohere",
    "cohere_chat": "cohere",  # LiteLLM
    "deepseek": "deepseek",
    "groq": "groq",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",  # LiteLLM
    "watsonx_text": "ibm.watsonx.ai",
    "ibm": "ibm.watsonx.ai",
    "ibm.watsonx.ai": "ibm.watsonx.ai",
    # Not in the GenAI convention: the genai-prices provider id
    "together": "together",  # Helicone
    "together_ai": "together",  # LiteLLM
    "togetherai": "together",  # Vercel
    "fireworks": "fireworks",  # Helicone, Vercel
    "fireworks_ai": "fireworks",  # LiteLLM
    "openrouter": "openrouter",
}


def normalize_provider(raw: Any, *, vercel: bool = False) -> str | None:
    """Map a provider spelling of any source to the canonical value (see the module docstring).

    Matching ignores case and surrounding blanks. A dotted value that is not known as a whole (the Vercel AI
    SDK's ``openai.chat``, ``google.vertex.chat``) is known by its longest known head. Unknown providers are
    kept, lower-cased; with ``vercel`` an unknown one also loses its API suffix (``acme.chat`` -> ``acme``).
    """
    if raw is None:
        return None
    value = str(raw).strip().lower()
    if not value:
        return None
    known = PROVIDERS.get(value)
    if known:
        return known
    if "." in value:
        head = value
        while "." in head:
            head = head.rsplit(".", 1)[0]
            if head in PROVIDERS:
                return PROVIDERS[head]
        if vercel:
            return value.split(".", 1)[0]
    return value


def provider_of(attributes: dict[str, Any]) -> str | None:
    """The provider named by span attributes, canonical.

    Precedence: GenAI ``gen_ai.provider.name``/``gen_ai.system``; then OpenInference ``llm.system`` (the
    vendor) unless ``llm.provider`` names a host (``azure``, ``aws``) or there is no ``llm.system``; then the
    Vercel AI SDK's ``ai.model.provider``.
    """
    # The AI SDK copies its "openai.chat"-style provider into gen_ai.system as well.
    vercel = "ai.model.provider" in attributes
    genai = _text(attributes.get("gen_ai.provider.name")) or _text(attributes.get("gen_ai.system"))
    if genai:
        return normalize_provider(genai, vercel=vercel)
    system = _text(attributes.get("llm.system"))
    host = _text(attributes.get("llm.provider"))
    if host and (not system or host.strip().lower() in ("azure", "aws")):
        return normalize_provider(host)
    if system:
        return normalize_provider(system)
    return normalize_provider(_text(attributes.get("ai.model.provider")), vercel=True)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
