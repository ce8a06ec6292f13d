"""Attribute names of the tracing conventions we read, and how a span is classified.

Conventions: OpenTelemetry GenAI (current and deprecated names), OpenInference, OpenLLMetry/Traceloop,
Langfuse's own ``langfuse.*`` attributes and the Vercel AI SDK's ``ai.*`` attributes. Each alias tuple is read
in order and the first attribute present wins; the order follows Langfuse's documented precedence
(``langfuse.*`` first, then OTel GenAI, then framework attributes).

Our own attributes (set them on any span with an OTel SDK):

=================================  =========================================================================
``agentledger.task.outcome``       ``success`` / ``failure``: the outcome of the task (trace) this span is in
``agentledger.task.type``          the task type of this span and the calls below it (what routing keys on)
``agentledger.feature``            the product feature an LLM call serves (``Call.feature``)
``agentledger.prompt_hash``        overrides the prompt hash we compute from the input messages
``agentledger.prefix_hash``        overrides the hash of the system prompt and tool definitions
``agentledger.response_cache_hit`` boolean: the response came from a gateway/application cache
=================================  =========================================================================

``agentledger.project`` is deliberately not read: the project always comes from the API key.

Which spans are LLM calls (first rule that applies):

1. ``langfuse.observation.type``: ``generation``/``embedding`` are calls, every other type is not;
2. the Vercel AI SDK operation (``ai.operationId`` or a span name starting with ``ai.``): only the provider
   spans ``*.doGenerate``/``*.doStream``/``*.doEmbed`` are calls; ``ai.generateText`` and friends repeat the
   usage of their children and are not;
3. ``openinference.span.kind``: ``LLM``/``EMBEDDING`` are calls, other kinds are not;
4. ``traceloop.span.kind`` of workflow/task/agent/tool: not a call;
5. ``gen_ai.operation.name``: chat, generate_content, text_completion, embeddings, responses are calls;
   ``invoke_agent`` and the other operations are not, even when they carry usage (no double counting);
6. ``llm.request.type`` (OpenLLMetry LLM spans): a call;
7. otherwise a span that names a model and reports token usage is a call (older OpenLLMetry spans).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentledger.core.providers import PROVIDERS
from agentledger.core.providers import normalize_provider as normalize_provider
from agentledger.core.providers import provider_of as provider_of
from agentledger.core.records import SpanKind

# ------------------------------------------------------------------------------------------ own attributes

OWN_OUTCOME = "agentledger.task.outcome"
OWN_TASK_TYPE = "agentledger.task.type"
OWN_FEATURE = "agentledger.feature"
OWN_PROMPT_HASH = "agentledger.prompt_hash"
OWN_PREFIX_HASH = "agentledger.prefix_hash"
OWN_CACHE_HIT = "agentledger.response_cache_hit"

# --------------------------------------------------------------------------------------------- token counts

INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "ai.usage.inputTokens",
    "ai.usage.promptTokens",
    "ai.usage.tokens",  # Vercel embeddings
    "llm.usage.prompt_tokens",
)
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "ai.usage.outputTokens",
    "ai.usage.completionTokens",
    "llm.usage.completion_tokens",
)
CACHE_READ_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cache_read_tokens",
    "gen_ai.usage.input_cached_tokens",
    "llm.token_count.prompt_details.cache_read",
    "ai.usage.cachedInputTokens",
    "ai.usage.inputTokenDetails.cacheReadTokens",  # AI SDK 6 (its inputTokens include both cache counts)
    "llm.usage.cache_read_input_tokens",
)
CACHE_WRITE_TOKENS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",  # the Anthropic SDK's own tracing, OpenLLMetry's Anthropic spans
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write_tokens",
    "gen_ai.usage.input_cache_creation",
    "llm.token_count.prompt_details.cache_write",
    "ai.usage.inputTokenDetails.cacheWriteTokens",  # AI SDK 6
    "llm.usage.cache_creation_input_tokens",
)
REASONING_TOKENS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
    "ai.usage.reasoningTokens",
    "ai.usage.outputTokenDetails.reasoningTokens",  # AI SDK 6
    "llm.usage.reasoning_tokens",
)
TOTAL_TOKENS = (
    "gen_ai.usage.total_tokens",
    "llm.usage.total_tokens",
    "llm.token_count.total",
    "ai.usage.totalTokens",
)
USAGE_ALIASES = INPUT_TOKENS + OUTPUT_TOKENS + TOTAL_TOKENS

LANGFUSE_TYPE = "langfuse.observation.type"
LANGFUSE_USAGE = "langfuse.observation.usage_details"
LANGFUSE_COST = "langfuse.observation.cost_details"
REPORTED_COST = (
    "gen_ai.usage.cost",
    "llm.cost.total",
    "gen_ai.cost.total_cost",
)  # after langfuse cost_details
# The LiteLLM SDK's own OpenTelemetry spans name input and output tokens but give the cache and reasoning
# counts only inside its usage object, rendered as a Python literal (not JSON).
LITELLM_USAGE = "metadata.usage_object"

# ------------------------------------------------------------------------------------------- call details

REQUEST_MODEL = ("gen_ai.request.model", "llm.request.model_name", "ai.model.id", "llm.request.model")
RESPONSE_MODEL = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "llm.response.model_name",
    "ai.response.model",
    "llm.model_name",
    "llm.response.model",
    "embedding.model_name",
)
MAX_TOKENS = (
    "gen_ai.request.max_tokens",
    "ai.settings.maxOutputTokens",
    "ai.settings.maxTokens",
    "llm.request.max_tokens",
)
JSON_PARAMETERS = ("llm.invocation_parameters", "langfuse.observation.model.parameters")
PARAMETER_MAX_TOKENS = (
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "maxTokens",
    "maxOutputTokens",
)
PARAMETER_MODEL = ("model",)  # the requested model, when no attribute names it (OpenInference)
FINISH_REASON = (
    "gen_ai.response.finish_reasons",
    "ai.response.finishReason",
    "gen_ai.completion.0.finish_reason",
    "llm.finish_reason",
    "anthropic.message.stop_reason",  # the Anthropic SDK's own tracing
)
RESPONSE_ID = ("gen_ai.response.id", "ai.response.id")
# Instrumentation scopes of provider SDKs that trace their own calls: an instrumentation library's span of
# the same call is preferred (see agentledger.ingest.twins).
PROVIDER_SDK_SCOPES = ("com.anthropic.sdk",)
# OpenInference records the provider's whole response as JSON text: its top-level "id" is the response id.
JSON_OUTPUT = ("output.value", "output.mime_type", "application/json")
TTFT_SECONDS = "gen_ai.response.time_to_first_chunk"
TTFT_MS = "ai.response.msToFirstChunk"
COMPLETION_START = "langfuse.observation.completion_start_time"
ERROR_TYPE = "error.type"

# ---------------------------------------------------------------------------------------- who and where

SESSION_ID = (
    "langfuse.session.id",
    "session.id",
    "gen_ai.conversation.id",
    "traceloop.association.properties.session_id",
    "traceloop.association.properties.sessionId",
    "ai.telemetry.metadata.sessionId",
    "ai.telemetry.metadata.session_id",
)
USER_ID = (
    "langfuse.user.id",
    "user.id",
    "traceloop.association.properties.user_id",
    "traceloop.association.properties.userId",
    "ai.telemetry.metadata.userId",
    "ai.telemetry.metadata.user_id",
    "gen_ai.user",
    "llm.user",
)
ENVIRONMENT_SPAN = ("langfuse.environment",)
ENVIRONMENT_RESOURCE = ("deployment.environment.name", "deployment.environment", "langfuse.environment")
RESOURCE_TAGS = ("service.name",)

# Attribute prefixes whose keys become tags (the ids among them become session/user instead).
TAG_PREFIXES = (
    "traceloop.association.properties.",
    "ai.telemetry.metadata.",
    "langfuse.trace.metadata.",
    "langfuse.observation.metadata.",
)
TAG_LISTS = ("langfuse.trace.tags", "langfuse.tags", "tag.tags")
TAG_JSON_OBJECT = "metadata"  # OpenInference: a JSON string

FEATURE = (OWN_FEATURE, "ai.telemetry.functionId", "traceloop.workflow.name", "gen_ai.workflow.name")

# ------------------------------------------------------------------------------------------ alias index

# The multi-alias fields. A span is looked at once, key by key (a span carries a handful of keys, while the
# tables hold ~80 aliases): see present_aliases().
ALIASED_FIELDS: dict[str, tuple[str, ...]] = {
    "input_tokens": INPUT_TOKENS,
    "output_tokens": OUTPUT_TOKENS,
    "cache_read_tokens": CACHE_READ_TOKENS,
    "cache_write_tokens": CACHE_WRITE_TOKENS,
    "reasoning_tokens": REASONING_TOKENS,
    "total_tokens": TOTAL_TOKENS,
    "request_model": REQUEST_MODEL,
    "response_model": RESPONSE_MODEL,
    "max_tokens": MAX_TOKENS,
    "finish_reason": FINISH_REASON,
    "response_id": RESPONSE_ID,
    "session_id": SESSION_ID,
    "user_id": USER_ID,
    "feature": FEATURE,
}
_FIELDS_OF: dict[str, tuple[str, ...]] = {}
for _field, _aliases in ALIASED_FIELDS.items():
    for _alias in _aliases:
        _FIELDS_OF[_alias] = (*_FIELDS_OF.get(_alias, ()), _field)
_RANK: dict[str, dict[str, int]] = {
    f: {a: i for i, a in enumerate(aliases)} for f, aliases in ALIASED_FIELDS.items()
}


def present_aliases(attributes: dict[str, Any]) -> dict[str, list[str]]:
    """For each field of :data:`ALIASED_FIELDS`, the aliases this span carries, in precedence order."""
    found: dict[str, list[str]] = {}
    for key in attributes:
        fields = _FIELDS_OF.get(key)
        if fields is None:
            continue
        for name in fields:
            bucket = found.get(name)
            if bucket is None:
                found[name] = [key]
            else:  # several aliases of one field: rare, keep them in precedence order
                bucket.append(key)
                bucket.sort(key=_RANK[name].__getitem__)
    return found


# ------------------------------------------------------------------------------------------- providers

# One table and one function for every source: see agentledger.core.providers. Re-exported here for the
# OTLP mapping (``c.provider_of``) and for existing imports.
_PROVIDERS = PROVIDERS


# ------------------------------------------------------------------------------------------ classification


@dataclass(slots=True, frozen=True)
class Classification:
    """What a span is: its context kind, whether it is an LLM call, and the call's operation."""

    kind: SpanKind
    is_call: bool = False
    operation: str | None = None


_OTHER = Classification("other")
_CHAT = Classification("llm", True, "chat")
_EMBEDDINGS = Classification("llm", True, "embeddings")

_LANGFUSE_TYPES = {
    "generation": _CHAT,
    "embedding": _EMBEDDINGS,
    "agent": Classification("agent"),
    "tool": Classification("tool"),
    "chain": Classification("workflow"),
    "retriever": Classification("retriever"),
    "span": Classification("task"),
}
_OPENINFERENCE_KINDS = {
    "LLM": _CHAT,
    "EMBEDDING": _EMBEDDINGS,
    "CHAIN": Classification("workflow"),
    "AGENT": Classification("agent"),
    "TOOL": Classification("tool"),
    "RETRIEVER": Classification("retriever"),
    "RERANKER": Classification("retriever"),
}
_TRACELOOP_KINDS = {
    "workflow": Classification("workflow"),
    "task": Classification("task"),
    "agent": Classification("agent"),
    "tool": Classification("tool"),
}
CALL_OPERATIONS = frozenset({"chat", "generate_content", "text_completion", "embeddings", "responses"})
_GENAI_CONTEXT_OPERATIONS = {
    "invoke_agent": Classification("agent"),
    "create_agent": Classification("agent"),
    "execute_tool": Classification("tool"),
    "retrieval": Classification("retriever"),
    "invoke_workflow": Classification("workflow"),
}
_TRACELOOP_REQUEST_TYPES = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "rerank",
}
_MODEL_HINTS = ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name", "llm.request.model")


def vercel_operation(name: str, attributes: dict[str, Any]) -> str | None:
    """The Vercel AI SDK operation id (``ai.generateText.doGenerate``), if this is an AI SDK span."""
    op = attributes.get("ai.operationId")
    if isinstance(op, str) and op:
        return op
    return name if name.startswith("ai.") else None


def classify(name: str, attributes: dict[str, Any]) -> Classification:
    """Apply the call-detection rules of the module docstring, in order."""
    lf_type = attributes.get(LANGFUSE_TYPE)
    if isinstance(lf_type, str) and lf_type:
        return _LANGFUSE_TYPES.get(lf_type.lower(), _OTHER)
    vercel = vercel_operation(name, attributes)
    if vercel is not None:
        return _classify_vercel(vercel)
    oi_kind = attributes.get("openinference.span.kind")
    if isinstance(oi_kind, str) and oi_kind:
        found = _OPENINFERENCE_KINDS.get(oi_kind.upper(), _OTHER)
        if found is _CHAT and _has_prefix(attributes, "llm.prompts"):
            return Classification("llm", True, "text_completion")
        return found
    tl_kind = attributes.get("traceloop.span.kind")
    if isinstance(tl_kind, str) and tl_kind.lower() in _TRACELOOP_KINDS:
        return _TRACELOOP_KINDS[tl_kind.lower()]
    return _classify_genai(attributes)


def _classify_vercel(operation: str) -> Classification:
    if operation.endswith((".doGenerate", ".doStream")):
        return _CHAT
    if operation.endswith(".doEmbed"):
        return _EMBEDDINGS
    if operation == "ai.toolCall":
        return Classification("tool")
    return Classification("task")


def _classify_genai(attributes: dict[str, Any]) -> Classification:
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation:
        if operation in CALL_OPERATIONS:
            return Classification("llm", True, operation)
        return _GENAI_CONTEXT_OPERATIONS.get(operation, _OTHER)
    request_type = attributes.get("llm.request.type")
    if isinstance(request_type, str) and request_type and request_type != "unknown":
        return Classification("llm", True, _TRACELOOP_REQUEST_TYPES.get(request_type, request_type))
    has_model = any(attributes.get(k) for k in _MODEL_HINTS)
    if has_model and any(k in attributes for k in USAGE_ALIASES):
        return _CHAT
    return _OTHER


def _has_prefix(attributes: dict[str, Any], prefix: str) -> bool:
    return prefix in attributes or any(k.startswith(prefix + ".") for k in attributes)
