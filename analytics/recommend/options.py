"""Thresholds of the recommenders (env prefix ``AGENTLEDGER_RECOMMEND_``, e.g.
``AGENTLEDGER_RECOMMEND_NON_INTERACTIVE_TASK_TYPES=nightly_report,backfill``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["RecommendOptions"]


class RecommendOptions(BaseSettings):
    """Every threshold a recommender uses; one line each on why it is what it is."""

    model_config = SettingsConfigDict(env_prefix="AGENTLEDGER_RECOMMEND_", extra="ignore")

    min_monthly_savings_usd: float = Field(
        1.0, ge=0, description="Recommendations saving less per month are not shown"
    )
    resamples: int = Field(1000, ge=1, description="Bootstrap resamples (over sessions) for each interval")
    seed: int = Field(0, description="Bootstrap seed: the same history gives the same intervals")
    min_calls: int = Field(10, ge=1, description="Fewer calls of a task type are not evidence of anything")

    # routing
    routing_min_success: float = Field(
        0.95,
        ge=0,
        le=1,
        description="Task success rate that counts as 'high' (and that a cheaper model must show)",
    )
    routing_min_tasks: int = Field(20, ge=1, description="Tasks a success rate needs before it is evidence")
    routing_max_output_tokens: float = Field(
        256, gt=0, description="P90 output that counts as 'short' (classification, extraction, routing)"
    )

    # caching
    prompt_cache_ttl_seconds: float = Field(300, gt=0, description="Provider prompt-cache lifetime (5 min)")
    prompt_cache_min_prefix_tokens: int = Field(1024, ge=0, description="Providers cache no shorter prefix")
    response_cache_min_duplicate_rate: float = Field(
        0.20, ge=0, le=1, description="Below this share of repeats a response cache does not pay"
    )
    response_cache_ttl_seconds: float = Field(3600, gt=0, description="How long a cached answer is served")

    # compression
    prefix_target_tokens: int = Field(
        2000, gt=0, description="System prompt + tools above this are worth trimming"
    )
    context_min_steps: int = Field(6, ge=2, description="Traces shorter than this cannot grow much")
    context_min_growth_tokens: float = Field(
        500, gt=0, description="Input growth per step that counts as steady growth"
    )
    context_min_share: float = Field(
        0.5, gt=0, le=1, description="Share of a task type's long traces that must grow steadily"
    )
    context_keep_last_turns: int = Field(6, ge=1, description="History kept by the proposed context cap")
    tool_result_share: float = Field(
        0.5, gt=0, le=1, description="Share of input growth from tool results that counts as dominating"
    )

    # output caps
    output_cap_factor: float = Field(
        4.0, gt=1, description="max_tokens this many times the P99 output is 'far above' it"
    )
    output_cap_headroom: float = Field(2.0, ge=1, description="Proposed cap = P99 output x this, rounded up")
    output_truncated_share: float = Field(
        0.05, gt=0, le=1, description="Share of outputs hitting max_tokens that counts as 'many'"
    )

    # batching
    non_interactive_task_types: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Task types nobody waits for (comma-separated in the environment)"
    )
    interactive_tag: str = Field(
        "interactive", description="Tag whose value 'false' marks a call not user-facing"
    )
    batch_min_tag_share: float = Field(
        0.9, gt=0, le=1, description="Share of a task type's calls tagged non-interactive to infer it"
    )
    batch_discount: float = Field(
        0.5, ge=0, lt=1, description="Batch API discount (50 % at OpenAI, Anthropic)"
    )
    batch_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["openai", "anthropic", "google", "aws", "azure", "mistral"],
        description="Providers with a batch API at batch_discount (comma-separated in the environment); "
        "calls of the others are not recommended for batching",
    )

    @field_validator("non_interactive_task_types", "batch_providers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
