"""Pricing: the genai-prices catalog at each call's date, user overrides, and one cost formula.

``Pricer`` prices calls in place; ``unit_prices`` and ``cost_of`` let the what-if replay reprice recorded
token volumes with exactly the same arithmetic.
"""

from agentledger.core.pricing.catalog import (
    PROVIDER_ALIASES,
    CatalogMatch,
    canonical_provider,
    find_model,
    provider_matches,
)
from agentledger.core.pricing.overrides import PriceOverride, load_overrides, parse_overrides
from agentledger.core.pricing.pricer import CostPolicy, Pricer
from agentledger.core.pricing.rates import TIER_THRESHOLDS, Tier, UnitPrices, cost_of, model_tier

__all__ = [
    "PROVIDER_ALIASES",
    "TIER_THRESHOLDS",
    "CatalogMatch",
    "CostPolicy",
    "PriceOverride",
    "Pricer",
    "Tier",
    "UnitPrices",
    "canonical_provider",
    "cost_of",
    "find_model",
    "provider_matches",
    "load_overrides",
    "model_tier",
    "parse_overrides",
]
