"""Token counts in canonical form, and converters from each source's convention.

Canonical (OpenTelemetry GenAI): ``input_tokens`` counts every input token, cached ones included, so
``cache_read_tokens`` and ``cache_write_tokens`` are subsets of it; ``output_tokens`` includes
``reasoning_tokens``. Sources disagree (see FORMATS.md §0): Langfuse ``usageDetails.input`` and Helicone
``prompt_tokens`` are the *uncached remainder*, Helicone ``completion_tokens`` excludes reasoning, raw
Anthropic ``input_tokens`` excludes cache. Reading them as-is under-counts input and overstates the cache
hit rate (Langfuse #5568, #12306; LiteLLM #9812), so every source goes through one of these converters.

All converters are pure and return a validated :class:`TokenCounts`; inconsistent counts raise
``ValueError`` naming the field, and the caller decides whether to reject the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "TokenCounts",
    "from_helicone",
    "from_langfuse_usage",
    "langfuse_usage_map",
    "from_openai_usage",
    "validate",
]


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Canonical token counts of one call: cache counts are subsets of input, reasoning of output."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def __post_init__(self) -> None:
        validate(self)

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the plain input rate."""
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def non_reasoning_output_tokens(self) -> int:
        """Output tokens that are not reasoning (the visible completion)."""
        return self.output_tokens - self.reasoning_tokens

    @classmethod
    def of(cls, record: Any) -> TokenCounts:
        """The counts of anything with the five canonical attributes (a ``Call``, a row); ``None`` reads as 0."""
        return cls(**{f.name: getattr(record, f.name) or 0 for f in fields(cls)})


def validate(counts: TokenCounts) -> None:
    """Raise ``ValueError`` naming the field when ``counts`` break the canonical invariants.

    Every count is a non-negative int; cache read + cache write ≤ input; reasoning ≤ output. A subset larger
    than its total means the source's convention was misread, and no clamping can recover the truth.
    """
    for f in fields(counts):
        value = getattr(counts, f.name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{f.name} must be an int, got {type(value).__name__} {value!r}")
        if value < 0:
            raise ValueError(f"{f.name} must be >= 0, got {value}")
    cached = counts.cache_read_tokens + counts.cache_write_tokens
    if cached > counts.input_tokens:
        raise ValueError(
            f"cache_read_tokens ({counts.cache_read_tokens}) + cache_write_tokens ({counts.cache_write_tokens}) "
            f"exceed input_tokens ({counts.input_tokens}): input must include cached tokens"
        )
    if counts.reasoning_tokens > counts.output_tokens:
        raise ValueError(
            f"reasoning_tokens ({counts.reasoning_tokens}) exceed output_tokens ({counts.output_tokens}): "
            "output must include reasoning tokens"
        )


def _as_int(name: str, value: Any) -> int:
    """A count from JSON: ints, integral floats and decimal strings (OTLP int64) are accepted; None is 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got bool {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{name} must be a whole number, got {type(value).__name__} {value!r}")


# --- Langfuse -------------------------------------------------------------------------------------------


def _langfuse_kind(key: str) -> str | None:
    """Classify a Langfuse usage-details key: which canonical bucket it is a subset of, if any.

    Langfuse subtracts every ``input_*``/``prompt_details.*`` key from ``input`` and every
    ``output_*``/``completion_details.*`` key from ``output`` (FORMATS.md §1); Anthropic-style
    ``cache_*_input_tokens`` keys are stored beside ``input`` in the same way.
    """
    k = key.lower()
    if "cache_creation" in k or "cache_write" in k:
        return "cache_write"
    if "cache_read" in k or "cached" in k:
        return "cache_read"
    if "reasoning" in k:
        return "reasoning"
    if k.startswith(("input_", "prompt_details.", "input.")):
        return "input_other"  # audio, image … : part of input, billed at whatever rate
    if k.startswith(("output_", "completion_details.", "output.")):
        return "output_other"
    return None


def _is_split_of_present_parent(key: str, details: Mapping[str, Any]) -> bool:
    """``input_cache_creation_5m`` is a TTL split of ``input_cache_creation``: count it only once."""
    return any(key.endswith(suffix) and key[: -len(suffix)] in details for suffix in ("_5m", "_1h"))


# OpenAI usage objects that Langfuse takes as usage details (``UsageDetails`` is a map,
# ``OpenAICompletionUsageSchema`` or ``OpenAIResponseUsageSchema``): (input, output, their detail objects).
_OPENAI_USAGE_SHAPES = (
    ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"),
    ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"),
)


def langfuse_usage_map(usage_details: Mapping[str, Any]) -> Mapping[str, Any]:
    """Langfuse's flat usage map for ``usage_details``, converting an OpenAI usage object as its server does.

    The Langfuse SDKs send the usage their client library returned (the OpenAI integration, the OpenAI
    usage object), and the server turns it into its map: ``input`` = prompt tokens minus every
    ``prompt_tokens_details`` count, each detail as ``input_<name>``, the same on the output side, ``total``
    from ``total_tokens``. Spans exported over OTLP carry the object as sent. A map (it has ``input`` or
    ``output``) and any other shape are returned as they are; keys beside the OpenAI ones are kept.
    """
    if "input" in usage_details or "output" in usage_details:
        return usage_details
    for inputs, outputs, input_details, output_details in _OPENAI_USAGE_SHAPES:
        if inputs not in usage_details or outputs not in usage_details:
            continue
        known = (inputs, outputs, input_details, output_details, "total_tokens")
        converted: dict[str, Any] = {k: v for k, v in usage_details.items() if k not in known}
        for side, total_key, details_key in (
            ("input", inputs, input_details),
            ("output", outputs, output_details),
        ):
            details = usage_details.get(details_key) or {}
            if not isinstance(details, Mapping):
                raise ValueError(f"{details_key} must be an object of counts, got {details!r}")
            counts = {
                f"{side}_{name}": _as_int(f"{details_key}.{name}", v)
                for name, v in details.items()
                if v is not None
            }
            converted[side] = max(_as_int(total_key, usage_details[total_key]) - sum(counts.values()), 0)
            converted.update(counts)
        if usage_details.get("total_tokens") is not None:
            converted["total"] = usage_details["total_tokens"]
        return converted
    return usage_details


def from_langfuse_usage(usage_details: Mapping[str, Any]) -> TokenCounts:
    """Canonical counts from a Langfuse observation's ``usageDetails`` (or an OpenAI usage object given as
    such, see :func:`langfuse_usage_map`).

    ``input`` and ``output`` are the remainders after Langfuse subtracted every detail key, so the details
    are added back. When ``input`` is missing, it is derived from ``total`` (which includes everything)
    minus the output side.
    """
    usage_details = langfuse_usage_map(usage_details)
    sums = {"cache_read": 0, "cache_write": 0, "reasoning": 0, "input_other": 0, "output_other": 0}
    for key, value in usage_details.items():
        if key in ("input", "output", "total"):
            continue
        kind = _langfuse_kind(key)
        if kind is None or _is_split_of_present_parent(key, usage_details):
            continue
        sums[kind] += _as_int(key, value)
    output = _as_int("output", usage_details.get("output")) + sums["reasoning"] + sums["output_other"]
    if usage_details.get("input") is not None:
        input_side = sums["cache_read"] + sums["cache_write"] + sums["input_other"]
        input_tokens = _as_int("input", usage_details["input"]) + input_side
    elif usage_details.get("total") is not None:
        input_tokens = _as_int("total", usage_details["total"]) - output
        if input_tokens < 0:
            raise ValueError(f"total ({usage_details['total']}) is smaller than the output side ({output})")
    else:
        input_tokens = sums["cache_read"] + sums["cache_write"] + sums["input_other"]
    return TokenCounts(
        input_tokens=input_tokens,
        cache_read_tokens=sums["cache_read"],
        cache_write_tokens=sums["cache_write"],
        output_tokens=output,
        reasoning_tokens=sums["reasoning"],
    )


# --- Helicone -------------------------------------------------------------------------------------------


def from_helicone(
    prompt_tokens: Any,
    completion_tokens: Any,
    cache_read: Any = 0,
    cache_write: Any = 0,
    reasoning: Any = 0,
    audio: Any = 0,
) -> TokenCounts:
    """Canonical counts from a Helicone request row.

    Helicone's ``prompt_tokens`` excludes cached and audio tokens and ``completion_tokens`` excludes
    reasoning (``ModelUsage``; FORMATS.md §2), so they are added back. ``cache_write`` is the sum of the
    5-minute and 1-hour writes.
    """
    read = _as_int("prompt_cache_read_tokens", cache_read)
    write = _as_int("prompt_cache_write_tokens", cache_write)
    thinking = _as_int("reasoning_tokens", reasoning)
    prompt = _as_int("prompt_tokens", prompt_tokens)
    return TokenCounts(
        input_tokens=prompt + read + write + _as_int("prompt_audio_tokens", audio),
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=_as_int("completion_tokens", completion_tokens) + thinking,
        reasoning_tokens=thinking,
    )


# --- OpenAI / LiteLLM / Anthropic / Responses API -------------------------------------------------------


def _details(usage: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = usage.get(key)
    return value if isinstance(value, Mapping) else {}


def _first(*candidates: tuple[str, Any]) -> int:
    """The first count that is present (not None): sources repeat one number under several names."""
    for name, value in candidates:
        if value is not None:
            return _as_int(name, value)
    return 0


def _is_anthropic_shaped(usage: Mapping[str, Any]) -> bool:
    """Raw Anthropic ``usage``: ``input_tokens`` beside ``cache_*_input_tokens`` and no OpenAI field."""
    if "prompt_tokens" in usage or "input_tokens_details" in usage:
        return False
    return "input_tokens" in usage and (
        "cache_read_input_tokens" in usage
        or "cache_creation_input_tokens" in usage
        or "cache_creation" in usage
    )


def _anthropic_cache_write(usage: Mapping[str, Any]) -> int:
    """Cache writes: the total field, or the sum of the per-TTL split when only that is given."""
    if usage.get("cache_creation_input_tokens") is not None:
        return _as_int("cache_creation_input_tokens", usage["cache_creation_input_tokens"])
    split = _details(usage, "cache_creation")
    return sum(_as_int(f"cache_creation.{k}", v) for k, v in split.items() if k.endswith("input_tokens"))


def _from_anthropic(usage: Mapping[str, Any]) -> TokenCounts:
    # Anthropic's input_tokens counts only the tokens after the last cache breakpoint.
    read = _as_int("cache_read_input_tokens", usage.get("cache_read_input_tokens"))
    write = _anthropic_cache_write(usage)
    return TokenCounts(
        input_tokens=_as_int("input_tokens", usage.get("input_tokens")) + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=_as_int("output_tokens", usage.get("output_tokens")),
        reasoning_tokens=0,  # Anthropic bills thinking as output and does not split it out
    )


def _from_openai_inclusive(usage: Mapping[str, Any]) -> TokenCounts:
    prompt_details = _details(usage, "prompt_tokens_details") or _details(usage, "input_tokens_details")
    completion_details = _details(usage, "completion_tokens_details") or _details(
        usage, "output_tokens_details"
    )
    return TokenCounts(
        input_tokens=_first(
            ("prompt_tokens", usage.get("prompt_tokens")), ("input_tokens", usage.get("input_tokens"))
        ),
        cache_read_tokens=_first(
            ("prompt_tokens_details.cached_tokens", prompt_details.get("cached_tokens")),
            ("cache_read_input_tokens", usage.get("cache_read_input_tokens")),
        ),
        cache_write_tokens=_first(
            ("prompt_tokens_details.cache_creation_tokens", prompt_details.get("cache_creation_tokens")),
            ("cache_creation_input_tokens", usage.get("cache_creation_input_tokens")),
        ),
        output_tokens=_first(
            ("completion_tokens", usage.get("completion_tokens")),
            ("output_tokens", usage.get("output_tokens")),
        ),
        reasoning_tokens=_first(
            ("completion_tokens_details.reasoning_tokens", completion_details.get("reasoning_tokens"))
        ),
    )


def from_openai_usage(usage: Mapping[str, Any] | Any) -> TokenCounts:
    """Canonical counts from an OpenAI-style ``usage`` object (Chat Completions, Responses API, LiteLLM).

    ``prompt_tokens``/``input_tokens`` already include cached tokens there, and ``completion_tokens``
    includes reasoning. Raw Anthropic usage (``input_tokens`` + ``cache_read_input_tokens`` +
    ``cache_creation_input_tokens``, no ``prompt_tokens``) is recognised and its cache tokens added to input.
    Pydantic objects (LiteLLM's ``Usage``) are accepted through ``model_dump()``.
    """
    if not isinstance(usage, Mapping):
        if not hasattr(usage, "model_dump"):
            raise ValueError(f"usage must be a mapping, got {type(usage).__name__}")
        usage = usage.model_dump()
    if _is_anthropic_shaped(usage):
        return _from_anthropic(usage)
    return _from_openai_inclusive(usage)
