"""Prompt and prefix fingerprints: hashes of what was sent to the model, never the text itself.

``prompt_hash`` fingerprints the whole input (system instructions and messages): two calls with the same hash
sent the same prompt, which is how exact-duplicate calls are found. ``prefix_hash`` fingerprints the stable
part that provider prompt caching can reuse: the system instructions, the system/developer messages and the
tool definitions (also when they were recorded as messages, see :func:`_tool_definition_messages`). Both are
:func:`fingerprint` hashes (SHA-256 of JSON with sorted keys). Message lists sent as a JSON string are hashed as
recorded (parsing and re-rendering them costs more than the rest of the mapping), so ``prompt_hash`` compares
calls recorded by the same instrumentation; the prefix is always extracted from the parsed messages, so
``prefix_hash`` does not depend on the encoding. Explicit ``agentledger.prompt_hash`` /
``agentledger.prefix_hash`` attributes win.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agentledger.core.jsontext import compact_encoder
from agentledger.ingest.otlp.conventions import OWN_PREFIX_HASH, OWN_PROMPT_HASH
from agentledger.ingest.otlp.limits import clip

_HASH_HEX_DIGITS = 16
_CANONICAL = compact_encoder(sort_keys=True)
_SYSTEM_ROLES = frozenset({"system", "developer"})

# Structured or JSON-string message lists, in order of preference.
_MESSAGE_LISTS = ("gen_ai.input.messages", "llm.input_messages", "ai.prompt.messages")
# Flattened per-index forms: llm.input_messages.0.message.role, gen_ai.prompt.0.content, ...
_INDEXED_MESSAGES = ("llm.input_messages.", "gen_ai.prompt.")
# Whole-prompt text forms, last resort.
_PROMPT_TEXTS = (
    "gen_ai.prompt",
    "llm.prompts",
    "input.value",
    "langfuse.observation.input",
    "ai.values",
    "ai.value",
)
_TOOL_LISTS = ("gen_ai.tool.definitions", "llm.tools", "ai.prompt.tools")
_INDEXED_TOOLS = ("llm.tools.", "llm.request.functions.")
# Index 0 of every flattened form carries one of these: a few dict lookups instead of scanning every key.
_FLATTENED_SENTINELS = (
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "llm.tools.0.tool.json_schema",
    "llm.request.functions.0.name",
    "llm.prompts.0.prompt.text",
)


def prompt_hashes(attributes: dict[str, Any]) -> tuple[str | None, str | None]:
    """Return ``(prompt_hash, prefix_hash)`` for one LLM-call span; ``None`` where nothing was recorded."""
    explicit_prompt = _text(attributes.get(OWN_PROMPT_HASH))
    explicit_prefix = _text(attributes.get(OWN_PREFIX_HASH))
    if explicit_prompt and explicit_prefix:
        return explicit_prompt, explicit_prefix
    # Whether any flattened (per-index) attributes exist at all; most spans have none.
    flattened = _has_flattened(attributes)
    messages, system = _input(attributes, flattened)
    prompt_hash = explicit_prompt
    if prompt_hash is None and (messages is not None or system is not None):
        prompt_hash = fingerprint({"system": system, "messages": messages})
    prefix_hash = explicit_prefix
    if prefix_hash is None:
        prefix = _prefix(system, messages, _tools(attributes, flattened))
        prefix_hash = fingerprint(prefix) if prefix else None
    return prompt_hash, prefix_hash


def request_hashes(messages: Any, system: Any = None, tools: Any = None) -> tuple[str | None, str | None]:
    """``(prompt_hash, prefix_hash)`` of a request body's parts, as the OTLP path hashes the same prompt.

    For sources that record the provider request itself (LiteLLM's ``messages``, a gateway's request body):
    ``messages`` the input messages, ``system`` separate system instructions (Anthropic's ``system``, the
    Responses API's ``instructions``), ``tools`` the tool definitions. ``None`` where nothing was sent.
    """
    if messages in (None, {}, [], "") and system in (None, ""):
        return None, None
    prefix = _prefix(system, messages, tools)
    return fingerprint({"system": system, "messages": messages}), (fingerprint(prefix) if prefix else None)


# A provider request object's parts, by the names the APIs give them: Chat Completions and Anthropic
# ``messages``, the Responses API's ``input``, legacy Completions ``prompt``, Gemini ``contents``; Anthropic
# ``system``, the Responses API's ``instructions``, Gemini ``system_instruction``.
_BODY_MESSAGES = ("messages", "input", "prompt", "contents")
_BODY_SYSTEM = ("system", "instructions", "system_instruction", "systemInstruction")


def request_body_hashes(
    body: dict[str, Any], *, system: Any = None, tools: Any = None
) -> tuple[str | None, str | None] | None:
    """``(prompt_hash, prefix_hash)`` of a provider request object (a gateway's request body, an SDK's
    recorded request), or None when ``body`` is not one (it names neither messages nor system instructions).

    ``system`` and ``tools`` stand in for parts the body does not carry (recorded beside it). Without the
    messages there is no prompt hash (calls that share only a system prompt are not the same prompt), only
    the prefix. Other fields (model, temperature...) do not count.
    """
    messages = next((body[k] for k in _BODY_MESSAGES if body.get(k) is not None), None)
    own_system = next((body[k] for k in _BODY_SYSTEM if body.get(k) is not None), None)
    if messages is None and own_system is None:
        return None
    system = own_system if own_system is not None else system
    tools = body.get("tools") if body.get("tools") is not None else tools
    if messages in ({}, [], ""):
        messages = None
    if messages is None:
        prefix = _prefix(system, None, tools)
        return None, (fingerprint(prefix) if prefix else None)
    return request_hashes(messages, system, tools)


def recorded_system_and_tools(attributes: dict[str, Any]) -> tuple[Any, Any]:
    """The system instructions and tool definitions among span attributes, read as :func:`prompt_hashes`
    reads them (for sources that keep a span's attributes beside its input)."""
    return _maybe_json(attributes.get("gen_ai.system_instructions")), _tools(
        attributes, _has_flattened(attributes)
    )


def _has_flattened(attributes: dict[str, Any]) -> bool:
    return any(key in attributes for key in _FLATTENED_SENTINELS)


def fingerprint(value: Any) -> str:
    """First 16 hex digits of the SHA-256 of ``value`` rendered as JSON with sorted keys.

    The OTLP path hashes ``{"system": ..., "messages": ...}`` for the prompt and
    ``{"system": ..., "system_messages": [...], "tools": ...}`` for the prefix; other sources build the same
    shapes so that equal structured prompts hash alike wherever they were recorded.
    """
    canonical = _CANONICAL(value)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX_DIGITS]


def _input(attributes: dict[str, Any], flattened: bool) -> tuple[Any, Any]:
    """The input messages and the separately given system instructions."""
    system = _maybe_json(attributes.get("gen_ai.system_instructions"))
    for key in _MESSAGE_LISTS:
        if key in attributes:
            return attributes[key], system  # a JSON string stays text until the prefix needs it
    for prefix in _INDEXED_MESSAGES if flattened else ():
        indexed = _indexed(attributes, prefix)
        if indexed:
            return indexed, system
    vercel_prompt = _maybe_json(attributes.get("ai.prompt"))
    if isinstance(vercel_prompt, dict):
        # The AI SDK's top-level prompt: {system?, prompt?, messages?}
        messages = vercel_prompt.get("messages", vercel_prompt.get("prompt"))
        return messages, vercel_prompt.get("system", system)
    if vercel_prompt is not None:
        return vercel_prompt, system
    for key in _PROMPT_TEXTS:
        if key in attributes:
            return attributes[key], system
    indexed_prompts = _indexed(attributes, "llm.prompts.") if flattened else None
    return (indexed_prompts or None), system


def _prefix(system: Any, messages: Any, tools: Any) -> dict[str, Any] | None:
    system_messages = []
    if isinstance(messages, str) and (
        "system" in messages or "developer" in messages or (tools is None and '"tool"' in messages)
    ):
        messages = _maybe_json(messages)
    if isinstance(messages, list):
        system_messages = [m for m in messages if isinstance(m, dict) and _role(m) in _SYSTEM_ROLES]
        if tools is None:
            tools = _tool_definition_messages(messages)
    if system is None and not system_messages and tools is None:
        return None
    return {"system": system, "system_messages": system_messages, "tools": tools}


def _tool_definition_messages(messages: list[Any]) -> list[Any] | None:
    """Tool definitions sent among the messages: Langfuse's LangChain integration appends each tool of the
    request as ``{"role": "tool", "content": <its definition>}``. A tool *result* is a ``tool`` message too,
    but its content is text (or content parts) and it answers a ``tool_call_id``."""
    found = [
        m["content"]
        for m in messages
        if isinstance(m, dict)
        and isinstance(m.get("content"), dict)
        and "tool_call_id" not in m
        and _role(m) == "tool"
    ]
    return found or None


def _tools(attributes: dict[str, Any], flattened: bool) -> Any:
    for key in _TOOL_LISTS:
        if key in attributes:
            value = attributes[key]
            if isinstance(value, list):
                return [_maybe_json(v) for v in value]
            return _maybe_json(value)
    for prefix in _INDEXED_TOOLS if flattened else ():
        indexed = _indexed(attributes, prefix)
        if indexed:
            return indexed
    return None


def _role(message: dict[str, Any]) -> Any:
    role = message.get("role")
    if role is None:
        role = message.get("message.role")
    return role.lower() if isinstance(role, str) else role


def _indexed(attributes: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Gather ``prefix.<i>.<rest>`` attributes into a list of ``{rest: value}`` ordered by ``i``."""
    by_index: dict[int, dict[str, Any]] = {}
    cut = len(prefix)
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[cut:].partition(".")
        if index.isascii() and index.isdigit() and rest:
            by_index.setdefault(int(index), {})[rest] = value
    return [by_index[i] for i in sorted(by_index)]


def _maybe_json(value: Any) -> Any:
    """JSON-looking strings are parsed, so a JSON string and its structured form hash alike."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _text(value: Any) -> str | None:
    return clip(value) if isinstance(value, str) and value else None
