"""The Pricer: sets the computed cost, the cost that counts, its source and the price status of each call.

Pricing runs on every ingested LLM call, so the slow part (matching a provider and model in the catalog,
applying overrides and dated price changes) is cached per (provider, model, UTC day) and the cost itself is
plain arithmetic on per-token rates (:func:`~agentledger.core.pricing.rates.cost_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, get_args

from agentledger.core.errors import ConfigError
from agentledger.core.pricing.catalog import CatalogMatch, find_model
from agentledger.core.pricing.overrides import PriceOverride, load_overrides
from agentledger.core.pricing.rates import UnitPrices, _cost, unit_prices_from_model_price
from agentledger.core.records import Call
from agentledger.core.tokens import TokenCounts

if TYPE_CHECKING:
    from agentledger.core.settings import Settings

__all__ = ["CostPolicy", "Pricer"]

log = logging.getLogger(__name__)

CostPolicy = Literal["computed", "reported"]


@dataclass(frozen=True, slots=True)
class _Resolved:
    """What applies to one (provider, model, day): fixed prices, or a catalog entry priced by time of day."""

    fixed: UnitPrices | None = None
    catalog: CatalogMatch | None = None  # only when the catalog price depends on the hour
    discount: PriceOverride | None = None
    override: PriceOverride | None = None  # the override that applied, if one did

    def at(self, moment: datetime) -> UnitPrices | None:
        if self.fixed is not None:
            return self.fixed
        assert self.catalog is not None
        return _catalog_prices(self.catalog, moment, self.discount)


@lru_cache(maxsize=4096)
def _find(provider: str | None, model: str) -> CatalogMatch | None:
    # The catalog is the packaged snapshot and never changes in-process, so one cache serves every Pricer.
    return find_model(provider, model)


_converted: dict[tuple[int, str, str], tuple[object, UnitPrices | None]] = {}


def _convert(match: CatalogMatch, model_price: object) -> UnitPrices | None:
    """ModelPrice → UnitPrices, memoised by identity: catalog price objects live as long as the process.

    The provider is part of the key because resellers share the maker's price objects (Azure → OpenAI).
    """
    key = (id(model_price), match.provider_id, match.model.id)
    hit = _converted.get(key)
    if hit is not None and hit[0] is model_price:
        return hit[1]
    prices = unit_prices_from_model_price(model_price, match.provider_id, match.model.id)  # type: ignore[arg-type]
    _converted[key] = (model_price, prices)
    return prices


def _catalog_prices(
    match: CatalogMatch, moment: datetime, discount: PriceOverride | None
) -> UnitPrices | None:
    prices = _convert(match, match.model_price(moment))
    if prices is None or discount is None or discount.discount is None:
        return prices
    return replace(prices.scaled(1.0 - discount.discount), origin="override", note=discount.note)


def _utc_day(moment: datetime) -> date:
    tz = moment.tzinfo
    if tz is None or tz is UTC:  # naive timestamps are UTC throughout agentledger
        return moment.date()
    return moment.astimezone(UTC).date()


def _model_names(model: str) -> tuple[str, ...]:
    """Names an override pattern is tried against: as given, and without a ``provider/`` prefix."""
    bare = model.rsplit("/", 1)[-1]
    return (model,) if bare == model else (model, bare)


class Pricer:
    """Prices calls from the genai-prices catalog and the user's overrides, at each call's own date.

    Statuses: a catalog price gives ``priced``/``computed``; an override ``override``/``override``; no price
    but a cost reported by the source ``reported_only``/``reported``; nothing ``unpriced``/``none`` with a
    NULL cost, never 0 (a reported $0 for a call that used tokens counts as nothing, and so does a call
    that answered without any input tokens recorded: its usage is unknown). With
    ``cost_policy="reported"`` the source's cost counts whenever it reported one.
    """

    def __init__(
        self,
        overrides: Iterable[PriceOverride] | None = None,
        cost_policy: str = "computed",
        cache_size: int = 8192,
    ) -> None:
        if cost_policy not in get_args(CostPolicy):
            raise ConfigError(f"cost_policy must be one of {get_args(CostPolicy)}, got {cost_policy!r}")
        self.cost_policy = cost_policy
        self.overrides: tuple[PriceOverride, ...] = tuple(overrides or ())
        self._resolve = lru_cache(maxsize=cache_size)(self._resolve_uncached)

    @classmethod
    def from_settings(cls, settings: Settings) -> Pricer:
        """A Pricer with ``settings.prices_file`` overrides (if set) and ``settings.cost_policy``."""
        overrides = load_overrides(settings.prices_file) if settings.prices_file else []
        return cls(overrides=overrides, cost_policy=settings.cost_policy)

    # --- lookup -----------------------------------------------------------------------------------------

    def same_price_all_day(self, provider: str | None, model: str, at: datetime) -> bool:
        """Whether ``model`` has one price (or none) for the whole UTC day of ``at``: no time-of-day bands, so
        a price looked up once serves every call of that day (the what-if replay's per-day lookups)."""
        if not model:
            return True
        resolved = self._resolve(provider, model, _utc_day(at))
        return resolved is None or resolved.fixed is not None

    def unit_prices(self, provider: str | None, model: str, at: datetime) -> UnitPrices | None:
        """USD per token by token type for ``model`` at ``at`` (overrides applied), or None when unknown."""
        if not model:
            return None
        resolved = self._resolve(provider, model, _utc_day(at))
        return None if resolved is None else resolved.at(at)

    def _resolve_uncached(self, provider: str | None, model: str, day: date) -> _Resolved | None:
        match = _find(provider, model)
        providers = (provider, match.provider_id if match else None)
        for override in self._overrides_for(providers, _model_names(model), day):
            if override.discount is None:
                return _Resolved(fixed=override.unit_prices(), override=override)
            # A discount needs a catalog token price; without one, the next entry may still apply.
            if match is not None and (resolved := self._catalog(match, day, override)) is not None:
                return resolved
        return None if match is None else self._catalog(match, day, None)

    @staticmethod
    def _catalog(match: CatalogMatch, day: date, discount: PriceOverride | None) -> _Resolved | None:
        if match.time_of_day:
            return _Resolved(catalog=match, discount=discount, override=discount)
        # Dated catalog prices switch at UTC midnight, so any moment of the day gives the day's price.
        prices = _catalog_prices(match, datetime.combine(day, time(12), UTC), discount)
        if prices is None or (match.by_name and discount is None and prices.is_free()):
            # A $0 price found under another provider than the call's (Google's free Gemma for a Gemma
            # served elsewhere) is a guess that would show a cost as $0: unknown instead.
            return None
        return _Resolved(fixed=prices, override=discount)

    def _overrides_for(
        self, providers: tuple[str | None, ...], models: tuple[str, ...], day: date
    ) -> list[PriceOverride]:
        """Overrides in effect that match, best first: latest effective_from, then later in the file."""
        ranked = [
            (o.effective_from, index, o)
            for index, o in enumerate(self.overrides)
            if o.in_effect(day) and o.matches(providers, models)
        ]
        return [o for _, _, o in sorted(ranked, key=lambda r: (r[0], r[1]), reverse=True)]

    # --- pricing ----------------------------------------------------------------------------------------

    def _prices_for(self, call: Call) -> UnitPrices | None:
        at, day = call.started_at, _utc_day(call.started_at)
        served = self._resolve(call.provider, call.model, day) if call.model else None
        if (served is None or served.override is None) and (
            call.model_requested and call.model_requested != call.model
        ):
            # The requested name is priced when the response's is not (it can be a deployment name), and an
            # override written for the requested name ("gpt-4o") wins over the catalog price of the dated
            # name the response carries ("gpt-4o-2024-08-06"); a discount applies to the price of the model
            # that answered, when the catalog has one.
            requested = self._resolve(call.provider, call.model_requested, day)
            if requested is not None and (served is None or requested.override is not None):
                override = requested.override
                if served is not None and override is not None and override.discount is not None:
                    match = _find(call.provider, call.model)
                    assert match is not None  # served without an override is a catalog price
                    return _catalog_prices(match, at, override)
                return requested.at(at)
        return None if served is None else served.at(at)

    def _computed_cost(self, call: Call, prices: UnitPrices | None) -> float | None:
        """The cost from ``prices``; None when there is no price or the token counts are inconsistent."""
        if call.response_cache_hit:
            # Served from a gateway cache (LiteLLM, Helicone): the provider was not called and bills
            # nothing, whatever usage the cached response repeats.
            return 0.0
        if prices is None:
            return None
        inp, read, write = call.input_tokens or 0, call.cache_read_tokens or 0, call.cache_write_tokens or 0
        out, reasoning = call.output_tokens or 0, call.reasoning_tokens or 0
        if not inp:
            # Every answered request reads input: none recorded means the source did not report the usage
            # (a span without token attributes, a stream without usage), so the cost is unknown, not $0 and
            # not the output's share alone. A refused request (an error) without tokens bills nothing, not
            # even a per-request fee.
            if call.status != "error":
                return None
            if not out:
                return 0.0
        if read < 0 or write < 0 or reasoning < 0 or read + write > inp or reasoning > out:
            try:
                TokenCounts.of(call)
            except ValueError as exc:
                # A misread source convention: any number computed from these counts would be wrong.
                log.warning("not pricing call %s: %s", call.key(), exc)
                return None
        return _cost(prices, inp, read, write, out, reasoning)

    def price(self, call: Call) -> None:
        """Set ``cost_computed_usd``, ``cost_usd``, ``cost_source`` and ``price_status`` of ``call`` in place."""
        prices = self._prices_for(call)
        computed = self._computed_cost(call, prices)
        call.cost_computed_usd = computed
        reported = call.cost_reported_usd
        if (
            reported == 0
            and not call.response_cache_hit
            and (call.input_tokens or call.output_tokens or call.status != "error")
        ):
            # A source without a price of its own writes 0 for a call that used tokens (Langfuse, Helicone,
            # LiteLLM, any OTLP exporter), and for an answered call whose usage it did not record: unknown,
            # not free, under either cost policy. The 0 stays in cost_reported_usd for the audit.
            reported = None
        if computed is None:
            call.cost_usd = reported
            call.cost_source = "none" if reported is None else "reported"
            call.price_status = "unpriced" if reported is None else "reported_only"
            return
        is_override = prices is not None and prices.origin == "override"
        call.price_status = "override" if is_override else "priced"
        if self.cost_policy == "reported" and reported is not None:
            call.cost_usd, call.cost_source = reported, "reported"
        else:
            call.cost_usd, call.cost_source = computed, "override" if is_override else "computed"

    def price_many(self, calls: Iterable[Call]) -> None:
        """Price each call in place."""
        for call in calls:
            self.price(call)
