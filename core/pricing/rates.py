"""Unit prices (USD per token) and the one cost formula shared by ingest pricing and the what-if replay."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from agentledger.core.tokens import TokenCounts

if TYPE_CHECKING:
    from genai_prices.types import ModelPrice, TieredPrices

__all__ = ["Tier", "UnitPrices", "cost_of", "model_tier", "unit_prices_from_model_price", "TIER_THRESHOLDS"]

Tier = Literal["budget", "standard", "frontier"]
PriceOrigin = Literal["catalog", "override"]

_PER_MTOK = 1_000_000
_PER_KCOUNT = 1_000


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """USD per token for each token type of one model at one time, and where the numbers come from.

    ``tiers`` holds the long-context price bands: ``(start, prices)`` pairs in ascending order; when a call's
    input exceeds ``start`` tokens, *all* its tokens are billed at that band's prices (the cliff model that
    Anthropic, Google and OpenAI use, and that genai-prices implements).
    """

    input: float
    cache_read: float
    cache_write: float
    output: float
    reasoning: float
    origin: PriceOrigin
    provider: str | None  # genai-prices provider id, or the override's provider
    model: str  # catalog model id, or the override's model pattern
    request: float = 0.0  # USD per request: a few catalog models (Perplexity) charge per call
    note: str | None = None
    tiers: tuple[tuple[int, UnitPrices], ...] = ()

    def scaled(self, factor: float) -> UnitPrices:
        """The same prices multiplied by ``factor`` (a negotiated discount is ``1 - discount``)."""
        return replace(
            self,
            input=self.input * factor,
            cache_read=self.cache_read * factor,
            cache_write=self.cache_write * factor,
            output=self.output * factor,
            reasoning=self.reasoning * factor,
            request=self.request * factor,
            tiers=tuple((start, band.scaled(factor)) for start, band in self.tiers),
        )

    def is_free(self) -> bool:
        """Whether every rate (and every long-context band's) is zero."""
        rates = (self.input, self.cache_read, self.cache_write, self.output, self.reasoning, self.request)
        return not any(rates) and all(band.is_free() for _, band in self.tiers)

    def band(self, input_tokens: int) -> UnitPrices:
        """The prices that apply to a call with ``input_tokens`` input tokens."""
        for start, band in reversed(self.tiers):
            if input_tokens > start:
                return band
        return self


def _cost(
    prices: UnitPrices, input_tokens: int, cache_read: int, cache_write: int, output: int, reasoning: int
) -> float:
    """The formula, on plain ints, so the hot path need not build a TokenCounts per call."""
    p = prices.band(input_tokens) if prices.tiers else prices
    uncached = input_tokens - cache_read - cache_write
    return (
        uncached * p.input
        + cache_read * p.cache_read
        + cache_write * p.cache_write
        + (output - reasoning) * p.output
        + reasoning * p.reasoning
        + p.request
    )


def cost_of(prices: UnitPrices, counts: TokenCounts) -> float:
    """USD cost of ``counts`` at ``prices``.

    uncached input × input + cache read × cache-read rate + cache write × cache-write rate
    + non-reasoning output × output + reasoning × reasoning rate (+ the per-request fee, if any).
    """
    return _cost(
        prices,
        counts.input_tokens,
        counts.cache_read_tokens,
        counts.cache_write_tokens,
        counts.output_tokens,
        counts.reasoning_tokens,
    )


# Blended price = (3 × input + output) / 4 USD per million tokens: the usual 3:1 input:output mix of chat
# traffic. Bands (upper bounds, exclusive) chosen so that, in the 2025 catalog, gpt-4o-mini, o4-mini,
# claude-haiku and gemini-flash are budget; gpt-4o, gpt-4.1, claude-sonnet, gemini-2.5-pro are standard;
# o1, claude-opus, gpt-4.5 are frontier.
TIER_THRESHOLDS: dict[Tier, float] = {"budget": 2.5, "standard": 10.0}


def model_tier(prices: UnitPrices) -> Tier:
    """Price band of a model from its blended base price (see ``TIER_THRESHOLDS``)."""
    blended_per_mtok = (3 * prices.input + prices.output) / 4 * _PER_MTOK
    if blended_per_mtok < TIER_THRESHOLDS["budget"]:
        return "budget"
    if blended_per_mtok < TIER_THRESHOLDS["standard"]:
        return "standard"
    return "frontier"


# --- from genai-prices ---------------------------------------------------------------------------------

_TOKEN_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok", "output_reasoning_mtok")


def _at_threshold(price: Decimal | TieredPrices | None, threshold: int | None) -> Decimal | None:
    """The per-MTok price that applies once input exceeds ``threshold`` (None: the base price)."""
    if price is None or isinstance(price, Decimal):
        return price
    applicable = price.base
    if threshold is not None:
        for tier in price.tiers:  # ascending after TieredPrices.__post_init__
            if tier.start <= threshold:
                applicable = tier.price
    return applicable


def _band(
    raw: dict[str, Decimal | TieredPrices | None], threshold: int | None, base: UnitPrices
) -> UnitPrices:
    per_mtok = {key: _at_threshold(raw.get(key), threshold) for key in _TOKEN_KEYS}
    input_rate = float(per_mtok["input_mtok"] or 0) / _PER_MTOK
    output_rate = float(per_mtok["output_mtok"] or 0) / _PER_MTOK

    # A catalog entry without a cache rate bills cached tokens like any other input token: that is what
    # genai-prices does (an unpriced subset is not split out of input) and what providers without prompt
    # caching charge. Reasoning without its own rate is billed as output, as every provider does.
    def rate(key: str, default: float) -> float:
        value = per_mtok[key]
        return default if value is None else float(value) / _PER_MTOK

    return replace(
        base,
        input=input_rate,
        cache_read=rate("cache_read_mtok", input_rate),
        cache_write=rate("cache_write_mtok", input_rate),
        output=output_rate,
        reasoning=rate("output_reasoning_mtok", output_rate),
    )


def unit_prices_from_model_price(model_price: ModelPrice, provider: str, model: str) -> UnitPrices | None:
    """Convert a genai-prices ``ModelPrice`` to per-token ``UnitPrices``; None when it has no token price.

    An entry with no price at all is a free model (``:free`` OpenRouter variants, Gemma on AI Studio) and
    costs 0. Entries priced only by audio hour, character or search carry no token rate: pricing their calls
    by tokens would report a false ``$0``, so they count as unpriced.
    """
    from genai_prices.types import TieredPrices

    raw = {key: getattr(model_price, key, None) for key in _TOKEN_KEYS}
    is_free = not any(v is not None for k, v in vars(model_price).items() if not k.startswith("_"))
    if raw["input_mtok"] is None and raw["output_mtok"] is None and not is_free:
        return None
    per_kcount = getattr(model_price, "requests_kcount", None)
    request = float(per_kcount) / _PER_KCOUNT if isinstance(per_kcount, Decimal) else 0.0
    shell = UnitPrices(
        0.0, 0.0, 0.0, 0.0, 0.0, origin="catalog", provider=provider, model=model, request=request
    )
    base = _band(raw, None, shell)
    starts = sorted({t.start for p in raw.values() if isinstance(p, TieredPrices) for t in p.tiers})
    if not starts:
        return base
    return replace(base, tiers=tuple((start, _band(raw, start, shell)) for start in starts))
