"""Unit prices and costs of many calls at once: one price lookup per distinct (provider, model, UTC day).

The cost formula is :func:`agentledger.core.pricing.cost_of`'s, evaluated on whole columns in the same
order of operations, so every cost equals the per-call one to the bit. Prices resolve per UTC day (dated
catalog prices and overrides switch at midnight); a catalog price that depends on the time of day is
looked up at each call's own moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from agentledger.analytics.whatif.levers import group_index
from agentledger.core.pricing import Pricer, UnitPrices
from agentledger.core.tokens import TokenCounts

__all__ = ["PriceColumns", "check_counts", "lookup", "lookup_prices", "raise_bad_counts"]

_US_PER_DAY = 86_400_000_000
_RATES = 6  # input, cache read, cache write, output, reasoning, per request


def lookup(
    pricer: Pricer, provider: str | None, model: str | None, at: datetime, any_provider: bool = False
) -> UnitPrices | None:
    """Unit prices as ingest looks them up; with ``any_provider``, a model not found under ``provider``
    is looked up by its name alone (a substitute named without its provider, e.g. another vendor's)."""
    if not model:
        return None
    prices = pricer.unit_prices(provider, model, at)
    if prices is None and any_provider and provider is not None:
        prices = pricer.unit_prices(None, model, at)
    return prices


def _same_all_day(pricer: Pricer, provider: str | None, model: str, at: datetime) -> bool:
    """Whether ``pricer`` gives ``model`` one price (or none) for the whole UTC day of ``at``."""
    return pricer.same_price_all_day(provider, model, at)


def _day_lookup(
    pricer: Pricer, provider: str | None, model: str | None, at: datetime, any_provider: bool
) -> tuple[UnitPrices | None, bool]:
    """:func:`lookup` at ``at``, and whether its answer holds for every moment of that UTC day."""
    if not model:
        return None, True
    prices = pricer.unit_prices(provider, model, at)
    whole_day = _same_all_day(pricer, provider, model, at)
    if prices is None and any_provider and provider is not None:
        prices = pricer.unit_prices(None, model, at)
        whole_day = whole_day and _same_all_day(pricer, None, model, at)
    return prices, whole_day


@dataclass
class PriceColumns:
    """The unit prices of n calls: ``prices[key[i]]`` for call i (None: no price)."""

    prices: list[UnitPrices | None]
    key: np.ndarray

    @property
    def missing(self) -> np.ndarray:
        """The calls without a price."""
        known = np.array([p is not None for p in self.prices], dtype=bool)
        return ~known[self.key] if self.key.size else np.zeros(0, dtype=bool)

    @property
    def overridden(self) -> np.ndarray:
        """The calls priced by the user's overrides file."""
        override = np.array([p is not None and p.origin == "override" for p in self.prices], dtype=bool)
        return override[self.key] if self.key.size else np.zeros(0, dtype=bool)

    def cost(
        self, inp: np.ndarray, read: np.ndarray, write: np.ndarray, out: np.ndarray, reas: np.ndarray
    ) -> np.ndarray:
        """``cost_of`` of each call's counts at its prices (NaN where it has none)."""
        table = np.full((_RATES, len(self.prices) + 1), np.nan)
        for k, p in enumerate(self.prices):
            if p is not None:
                table[:, k] = _rates(p)
        # One array per rate (each gathered on its own reads and writes contiguous memory).
        rates = [column[self.key] for column in table]
        for k, p in enumerate(self.prices):
            if p is None or not p.tiers:
                continue
            rows = np.flatnonzero(self.key == k)
            # UnitPrices.band: the last band whose start the input exceeds.
            for start, band in p.tiers:
                banded = rows[inp[rows] > start]
                for rate, value in zip(rates, _rates(band), strict=True):
                    rate[banded] = value
        uncached = inp - read - write
        return (
            uncached * rates[0]
            + read * rates[1]
            + write * rates[2]
            + (out - reas) * rates[3]
            + reas * rates[4]
            + rates[5]
        )


def _rates(p: UnitPrices) -> tuple[float, ...]:
    return (p.input, p.cache_read, p.cache_write, p.output, p.reasoning, p.request)


def lookup_prices(
    pricer: Pricer,
    provider: pl.Series,
    model: pl.Series,
    started_at: pl.Series,
    any_provider: np.ndarray | bool = False,
) -> PriceColumns:
    """The prices of calls (one per element of the series) as :func:`lookup` gives them, looked up once per
    distinct (provider, model, UTC day, any_provider)."""
    n = started_at.len()
    t_us = started_at.dt.epoch("us").to_numpy().astype(np.int64)
    keys = pl.DataFrame(
        {
            "provider": provider.cast(pl.String),
            "model": model.cast(pl.String),
            "day": np.floor_divide(t_us, _US_PER_DAY),
            "any": np.broadcast_to(np.asarray(any_provider, dtype=bool), (n,)),
        }
    )
    if n == 0:
        return PriceColumns(prices=[], key=np.zeros(0, dtype=np.int64))
    ids, distinct = group_index(keys)
    prices: list[UnitPrices | None] = []
    by_moment: list[int] = []
    for k, row in enumerate(distinct.iter_rows(named=True)):
        found, whole_day = _day_lookup(
            pricer, row["provider"], row["model"], started_at[row["_row"]], bool(row["any"])
        )
        prices.append(found)
        if not whole_day:
            by_moment.append(k)
    key = ids
    if by_moment:
        key = ids.copy()
        for k in by_moment:
            row = distinct.row(k, named=True)
            seen: dict[int, int] = {}
            for i in np.flatnonzero(ids == k):
                moment = int(t_us[i])
                if moment not in seen:
                    seen[moment] = len(prices)
                    prices.append(
                        lookup(pricer, row["provider"], row["model"], started_at[int(i)], row["any"])
                    )
                key[i] = seen[moment]
    return PriceColumns(prices=prices, key=key)


def check_counts(
    inp: np.ndarray, read: np.ndarray, write: np.ndarray, out: np.ndarray, reas: np.ndarray
) -> int:
    """The first call whose counts break :class:`agentledger.core.tokens.TokenCounts`' invariants, or -1."""
    bad = (inp < 0) | (read < 0) | (write < 0) | (out < 0) | (reas < 0) | (read + write > inp) | (reas > out)
    rows = np.flatnonzero(bad)
    return int(rows[0]) if rows.size else -1


def raise_bad_counts(inp: int, read: int, write: int, out: int, reas: int) -> None:
    """Raise the ``ValueError`` :class:`TokenCounts` raises for these counts."""
    TokenCounts(
        input_tokens=int(inp),
        cache_read_tokens=int(read),
        cache_write_tokens=int(write),
        output_tokens=int(out),
        reasoning_tokens=int(reas),
    )
    raise AssertionError("counts reported invalid but TokenCounts accepts them")  # pragma: no cover
