"""What-if policies: the changes a replay applies to the recorded history (pydantic, loaded from YAML).

```yaml
substitutions:                 # first matching rule wins
  - task_type: classify        # and/or agent:, from_model:, from_provider: (each optional, all must match)
    model: gpt-4o-mini
    provider: openai           # optional: the call's own provider when omitted
    output_ratio: 1.0          # the substitute's outputs are this many times longer
prompt_caching:                # provider prompt caching of the stable prefix (prefix_hash)
  ttl_seconds: 300
  scope: session               # or trace: where one cached prefix is shared
  prefix_tokens: null          # the prefix size; estimated from the calls when omitted
  min_prefix_tokens: 1024      # providers do not cache shorter prefixes
response_cache:                # exact-duplicate prompts (prompt_hash) served from a gateway cache
  scope: project               # or trace
  ttl_seconds: 3600
prompt_trim:                   # a shorter system prompt / tool definitions
  prefix_target_tokens: 2000
context_cap:                   # one of keep_last_turns, summarize_every
  keep_last_turns: 8
  summarize_every: null
  summary_tokens: 500
  summarizer_model: gpt-4o-mini
  summarizer_provider: openai
max_tokens:
  - task_type: extract
    max_tokens: 300
batch:
  task_types: [nightly_report]
  discount: 0.5
  provider_discounts: {openai: 0.5, deepseek: 0}   # a provider without a batch API saves nothing
  non_interactive_tag: interactive  # optional: only calls whose tag says false (false, 0, no)
```
Every lever but ``substitutions`` and ``max_tokens`` also takes ``task_types:`` and ``agents:`` lists that
restrict it (all calls when omitted). Unknown keys are errors, so a typo never silently does nothing, and so
is a value of the wrong type (``true`` or ``"0.5"`` where a number belongs): refused, never converted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentledger.core.errors import ConfigError
from agentledger.core.yamltext import load_yaml, yaml_error

__all__ = [
    "Batch",
    "ContextCap",
    "OutputCap",
    "Policy",
    "PromptCaching",
    "PromptTrim",
    "ResponseCache",
    "Scope",
    "Substitution",
    "describe_error",
    "load_policy",
    "parse_policy",
]


# Upper bounds: larger values describe no real deployment, and overflow the replay's int64/float arithmetic.
MAX_TOKENS = 10**9
MAX_RATIO = 1000.0
MAX_TTL_SECONDS = 366 * 86400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Which calls a lever applies to: those whose task type and agent are listed (all when omitted)."""

    task_types: list[str] | None = Field(None, description="Task types the lever applies to")
    agents: list[str] | None = Field(None, description="Agents the lever applies to")


class Substitution(_Strict):
    """Serve the matching calls with another model, priced with the same token volumes."""

    task_type: str | None = Field(None, description="Only calls of this task type")
    agent: str | None = Field(None, description="Only calls of this agent")
    from_model: str | None = Field(None, description="Only calls recorded on this model")
    from_provider: str | None = Field(
        None,
        description="Only calls recorded under this provider (a catalog id such as azure covers its platforms)",
    )
    model: str = Field(..., min_length=1, description="The substitute model")
    provider: str | None = Field(None, description="The substitute's provider (the call's when omitted)")
    output_ratio: float = Field(
        1.0, gt=0, le=MAX_RATIO, description="Output length of the substitute / recorded output"
    )


class PromptCaching(Scope):
    """Provider prompt caching: a cache write on a prefix's first use, reads within the TTL after it."""

    ttl_seconds: float = Field(
        300, gt=0, le=MAX_TTL_SECONDS, description="Cache lifetime, refreshed by every read"
    )
    scope: Literal["session", "trace"] = Field("session", description="Where one cached prefix is shared")
    prefix_tokens: int | None = Field(
        None, gt=0, le=MAX_TOKENS, description="Prefix size; estimated when omitted"
    )
    min_prefix_tokens: int = Field(1024, ge=0, le=MAX_TOKENS, description="Shorter prefixes are not cached")


class ResponseCache(Scope):
    """A gateway response cache: a repeat of a prompt within the TTL of its first answer costs nothing."""

    scope: Literal["project", "trace"] = Field("project", description="Where a cached answer is shared")
    ttl_seconds: float = Field(
        3600, gt=0, le=MAX_TTL_SECONDS, description="Lifetime of a cached answer from when it was stored"
    )


class PromptTrim(Scope):
    """A shorter stable prefix: calls whose estimated prefix exceeds the target send that much less input."""

    prefix_target_tokens: int = Field(2000, gt=0, le=MAX_TOKENS, description="Prefix size after trimming")


class ContextCap(Scope):
    """Cap the conversation history a call carries: keep the last N turns, or summarize every K steps."""

    keep_last_turns: int | None = Field(
        None, gt=0, le=MAX_TOKENS, description="Turns (steps) of history kept"
    )
    summarize_every: int | None = Field(None, gt=0, le=MAX_TOKENS, description="Steps between summarizations")
    summary_tokens: int = Field(500, gt=0, le=MAX_TOKENS, description="Length of a summary, tokens")
    summarizer_model: str = Field("gpt-4o-mini", min_length=1, description="Model that writes summaries")
    summarizer_provider: str | None = Field("openai", description="Its provider")

    @model_validator(mode="after")
    def _one_mode(self) -> ContextCap:
        if (self.keep_last_turns is None) == (self.summarize_every is None):
            raise ValueError("give exactly one of keep_last_turns and summarize_every")
        return self


class OutputCap(_Strict):
    """A ``max_tokens`` for the matching calls: longer outputs are cut at it."""

    task_type: str | None = Field(None, description="Only calls of this task type")
    agent: str | None = Field(None, description="Only calls of this agent")
    max_tokens: int = Field(..., gt=0, le=MAX_TOKENS, description="The cap, output tokens")


class Batch(Scope):
    """Batch pricing (the provider's batch API) for calls nobody waits for."""

    discount: float = Field(0.5, ge=0, lt=1, description="Fraction off the price (50 % at OpenAI, Anthropic)")
    provider_discounts: dict[str, float] = Field(
        default_factory=dict,
        description="Per-provider discount where it differs from `discount` (a catalog id such as azure covers "
        "its platforms; 0 for a provider without a batch API)",
    )
    non_interactive_tag: str | None = Field(
        None,
        min_length=1,
        description="Only calls whose tag of this name is false, 0 or no (all calls of the scope when omitted)",
    )

    @model_validator(mode="after")
    def _valid_discounts(self) -> Batch:
        for provider, value in self.provider_discounts.items():
            if not 0 <= value < 1:
                raise ValueError(f"provider_discounts.{provider} must be in [0, 1), got {value}")
        return self


class Policy(_Strict):
    """A combination of levers, applied in a fixed order on each call's recorded token volumes."""

    substitutions: list[Substitution] = Field(default_factory=list, description="Model substitutions")
    prompt_caching: PromptCaching | None = Field(None, description="Provider prompt caching on")
    response_cache: ResponseCache | None = Field(None, description="A response cache in front")
    prompt_trim: PromptTrim | None = Field(None, description="A shorter stable prefix")
    context_cap: ContextCap | None = Field(None, description="Capped conversation history")
    max_tokens: list[OutputCap] = Field(default_factory=list, description="Output caps")
    batch: Batch | None = Field(None, description="Batch pricing")

    def is_empty(self) -> bool:
        """True when the policy changes nothing."""
        return not any(getattr(self, name) for name in type(self).model_fields)

    def levers(self) -> list[str]:
        """Names of the levers this policy sets, in application order."""
        return [name for name in type(self).model_fields if getattr(self, name)]

    def combine(self, other: Policy) -> Policy:
        """Both policies' levers; lists are concatenated (this policy's rules first), single levers must
        not be set in both."""
        merged: dict[str, Any] = {}
        for name in type(self).model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, list):
                merged[name] = [*mine, *theirs]
            elif mine is not None and theirs is not None:
                raise ConfigError(f"cannot combine two policies that both set {name}")
            else:
                merged[name] = mine if mine is not None else theirs
        return Policy.model_validate(merged)


def describe_error(source: str, exc: ValidationError) -> str:
    """``source: field.path: message; ...`` for every problem pydantic found."""
    problems = []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in err["loc"])
        problems.append(f"{where}: {message}" if where else message)
    return f"{source}: " + "; ".join(problems)


def parse_policy(document: Any, source: str = "<policy>") -> Policy:
    """Validate a parsed policy document; a ConfigError names ``source`` and the field that is wrong."""
    if document is None:
        return Policy.model_validate({})
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a policy is a mapping of levers, got {type(document).__name__}")
    try:
        # strict: a value of the wrong type is an error (`true` is not a token count), not converted
        return Policy.model_validate(document, strict=True)
    except ValidationError as exc:
        raise ConfigError(describe_error(source, exc)) from exc


def load_policy(path: str | Path) -> Policy:
    """Read and validate the YAML policy file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the policy file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: cannot read the policy file: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from exc
    return parse_policy(document, str(path))
