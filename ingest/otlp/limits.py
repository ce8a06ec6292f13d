"""Limits on what one span may carry into the ledger: attribute count, string length, and text we can store.

A span with more than :data:`MAX_ATTRIBUTES` attributes keeps the ones the mapping reads first (the names
:mod:`~agentledger.ingest.otlp.conventions` declares, then the conventions' prefixes, then the others in
order); a string attribute longer than :data:`MAX_STRING_CHARS` is cut there. Either way the call records
``agentledger.truncated=true`` in its tags. Prompt and tool attributes are only hashed, never stored, so
they are not cut (cutting them would make different long prompts look identical); for the same reason the
mapping hashes the prompt from all the attributes sent, not from those kept.

OTLP/JSON can carry text that is not Unicode (a lone ``\\ud800`` escape): :func:`scrub_surrogates` replaces
such characters, which no database can store, with U+FFFD. Pure functions.
"""

from __future__ import annotations

import re
from typing import Any

from agentledger.ingest.otlp import conventions as c

MAX_ATTRIBUTES = 256
MAX_STRING_CHARS = 8192
TRUNCATED_TAG = "agentledger.truncated"

# Attributes that are hashed into prompt_hash/prefix_hash and otherwise only kept, shortened, in `raw`.
_HASHED_ONLY = frozenset(
    {
        "gen_ai.input.messages",
        "llm.input_messages",
        "ai.prompt.messages",
        "gen_ai.prompt",
        "llm.prompts",
        "input.value",
        "langfuse.observation.input",
        "ai.values",
        "ai.value",
        "ai.prompt",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "llm.tools",
        "ai.prompt.tools",
    }
)
_HASHED_ONLY_PREFIXES = (
    "llm.input_messages.",
    "gen_ai.prompt.",
    "llm.prompts.",
    "llm.tools.",
    "llm.request.functions.",
)
_CONVENTION_PREFIXES = (
    "agentledger.",
    "gen_ai.",
    "langfuse.",
    "llm.",
    "ai.",
    "traceloop.",
    "openinference.",
    "session.",
    "user.",
    "error.",
    "tag.",
)


def _declared_names() -> frozenset[str]:
    """Every attribute name the conventions module declares (its upper-case str and tuple-of-str constants)."""
    names: set[str] = set()
    for attr, value in vars(c).items():
        if not attr.isupper():
            continue
        if isinstance(value, str):
            names.add(value)
        elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            names.update(value)
    names.update(("gen_ai.operation.name", "gen_ai.system", "gen_ai.provider.name", "gen_ai.agent.name"))
    return frozenset(names)


_DECLARED = _declared_names()


def _rank(key: str) -> int:
    if key in _DECLARED:
        return 0
    return 1 if key.startswith(_CONVENTION_PREFIXES) else 2


def _hashed_only(key: str) -> bool:
    return key in _HASHED_ONLY or key.startswith(_HASHED_ONLY_PREFIXES)


def limit_attributes(attributes: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``attributes`` within the limits, and whether anything was dropped or cut. Never modifies the input."""
    truncated = False
    if len(attributes) > MAX_ATTRIBUTES:
        kept = sorted(attributes, key=_rank)[:MAX_ATTRIBUTES]  # stable: sender's order within a rank
        attributes = {key: attributes[key] for key in kept}
        truncated = True
    long = [
        key
        for key, value in attributes.items()
        if type(value) is str and len(value) > MAX_STRING_CHARS and not _hashed_only(key)
    ]
    if long:
        attributes = dict(attributes)
        for key in long:
            attributes[key] = attributes[key][:MAX_STRING_CHARS]
        truncated = True
    return attributes, truncated


def clip(text: str) -> str:
    """``text`` cut to :data:`MAX_STRING_CHARS`."""
    return text if len(text) <= MAX_STRING_CHARS else text[:MAX_STRING_CHARS]


# ------------------------------------------------------------------------------------------- surrogates

# A \\uD800-\\uDFFF escape: json.loads turns an unpaired one into a lone surrogate, which is not Unicode.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def may_hold_surrogates(body: bytes) -> bool:
    """Whether a JSON body has a surrogate escape at all (most have none: then nothing needs scrubbing)."""
    return _SURROGATE_ESCAPE.search(body) is not None


def _fix(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16: each lone surrogate becomes one U+FFFD, pairs stay the character they encode.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def scrub_surrogates(document: Any) -> Any:
    """``document`` (parsed JSON) with every lone surrogate in keys and strings replaced by U+FFFD.

    Walks iteratively (a deeply nested document cannot exhaust the stack) and fixes containers in place.
    """
    if isinstance(document, str):
        return _fix(document)
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, str):
                    node[index] = _fix(value)
                elif isinstance(value, list | dict):
                    stack.append(value)
        elif isinstance(node, dict):
            for key in list(node):
                value = node[key]
                fixed = _fix(key)
                if fixed != key:
                    del node[key]
                if isinstance(value, str):
                    value = _fix(value)
                elif isinstance(value, list | dict):
                    stack.append(value)
                node[fixed] = value
    return document
