"""FinOps FOCUS 1.2 export: LLM usage as cost-and-usage rows any FinOps tool can load.

One row per provider, model and token type per UTC hour (``granularity="hour"``, context columns and tags
kept apart) or per call (``"call"``, with ``x_TraceId``/``x_SpanId``); ``ChargePeriodStart``/``End`` are the
UTC hour of the calls either way, ``BillingPeriodStart``/``End`` its calendar month, ``BillingAccountId`` the
project. Token types follow the canonical
semantics: ``input`` is uncached input (input - cache reads - cache writes), then ``cache_read``,
``cache_write`` and ``output``; ``reasoning`` gets its own row only when the model prices it apart from
output (otherwise output includes it); a per-request fee, where a model has one, is a ``request`` row.

Money (all USD, ``PricingUnit`` "1000000 Tokens", ``PricingQuantity`` = tokens / 1e6):

- ``ListUnitPrice`` is the catalog price per million tokens (genai-prices, no override) at the hour, or the
  override's price for models only an override knows; ``ListCost`` = ListUnitPrice x PricingQuantity;
- ``BilledCost`` = ``EffectiveCost`` = ``ContractedCost``: the ledger's ``cost_usd`` of the row's calls, split
  over token types in proportion to their list cost (in proportion to tokens when there is no list price),
  so that Σ BilledCost over all rows = ``total_cost_usd`` of :func:`compute_metrics` for the same filters.
  ``ContractedUnitPrice`` = ContractedCost / PricingQuantity (overrides, discounts, reported costs and
  long-context price bands all show up there, against the list price);
- gateway cache hits (``x_ResponseCacheHit``) are billed what the ledger says they cost: 0 when computed
  (the provider was not called), the gateway's reported cost when that is the policy.

Unpriced calls (NULL cost) are left out: FOCUS requires a cost on every usage row, and a $0 would hide them.
The result says how many were left out; ``include_unpriced=True`` keeps them with null costs and
``x_PriceStatus`` "unpriced" (not FOCUS-conformant, for reconciliation only).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from agentledger.analytics._common import check_choice, normalized, params
from agentledger.analytics.filters import Filters
from agentledger.core.output import check_output_file, write_output_file
from agentledger.core.pricing import Pricer, UnitPrices
from agentledger.warehouse.base import Warehouse

__all__ = ["FOCUS_COLUMNS", "FocusExport", "export_focus", "focus_frame", "split_cost", "token_quantities"]

PER_UNIT = 1_000_000  # PricingUnit "1000000 Tokens"
METERS = {
    "input": "Input Tokens",
    "cache_read": "Cache Read Tokens",
    "cache_write": "Cache Write Tokens",
    "output": "Output Tokens",
    "reasoning": "Reasoning Tokens",
    "request": "Requests",
}

FOCUS_COLUMNS: dict[str, pl.DataType] = {
    "AvailabilityZone": pl.String(),
    "BilledCost": pl.Float64(),
    "BillingAccountId": pl.String(),
    "BillingAccountName": pl.String(),
    "BillingAccountType": pl.String(),
    "BillingCurrency": pl.String(),
    "BillingPeriodEnd": pl.Datetime("us", "UTC"),
    "BillingPeriodStart": pl.Datetime("us", "UTC"),
    "CapacityReservationId": pl.String(),
    "CapacityReservationStatus": pl.String(),
    "ChargeCategory": pl.String(),
    "ChargeClass": pl.String(),
    "ChargeDescription": pl.String(),
    "ChargeFrequency": pl.String(),
    "ChargePeriodEnd": pl.Datetime("us", "UTC"),
    "ChargePeriodStart": pl.Datetime("us", "UTC"),
    "CommitmentDiscountCategory": pl.String(),
    "CommitmentDiscountId": pl.String(),
    "CommitmentDiscountName": pl.String(),
    "CommitmentDiscountQuantity": pl.Float64(),
    "CommitmentDiscountStatus": pl.String(),
    "CommitmentDiscountType": pl.String(),
    "CommitmentDiscountUnit": pl.String(),
    "ConsumedQuantity": pl.Float64(),
    "ConsumedUnit": pl.String(),
    "ContractedCost": pl.Float64(),
    "ContractedUnitPrice": pl.Float64(),
    "EffectiveCost": pl.Float64(),
    "InvoiceId": pl.String(),
    "InvoiceIssuerName": pl.String(),
    "ListCost": pl.Float64(),
    "ListUnitPrice": pl.Float64(),
    "PricingCategory": pl.String(),
    "PricingCurrency": pl.String(),
    "PricingCurrencyContractedUnitPrice": pl.Float64(),
    "PricingCurrencyEffectiveCost": pl.Float64(),
    "PricingCurrencyListUnitPrice": pl.Float64(),
    "PricingQuantity": pl.Float64(),
    "PricingUnit": pl.String(),
    "ProviderName": pl.String(),
    "PublisherName": pl.String(),
    "RegionId": pl.String(),
    "RegionName": pl.String(),
    "ResourceId": pl.String(),
    "ResourceName": pl.String(),
    "ResourceType": pl.String(),
    "ServiceCategory": pl.String(),
    "ServiceName": pl.String(),
    "ServiceSubcategory": pl.String(),
    "SkuId": pl.String(),
    "SkuMeter": pl.String(),
    "SkuPriceDetails": pl.String(),
    "SkuPriceId": pl.String(),
    "SubAccountId": pl.String(),
    "SubAccountName": pl.String(),
    "SubAccountType": pl.String(),
    "Tags": pl.String(),
    "x_TokenType": pl.String(),
    "x_PriceStatus": pl.String(),
    "x_CostSource": pl.String(),
    "x_ListPriceOrigin": pl.String(),
    "x_Calls": pl.Int64(),
    "x_Source": pl.String(),
    "x_AgentName": pl.String(),
    "x_TaskType": pl.String(),
    "x_SessionId": pl.String(),
    "x_UserId": pl.String(),
    "x_Feature": pl.String(),
    "x_Environment": pl.String(),
    "x_ResponseCacheHit": pl.Boolean(),
    "x_TraceId": pl.String(),
    "x_SpanId": pl.String(),
}


@dataclass(frozen=True)
class FocusExport:
    """What an export wrote: where, how many rows, the Σ BilledCost, and what it had to leave out."""

    path: Path
    rows: int
    billed_cost_usd: float
    calls: int
    unpriced_calls_excluded: int


# -- pure parts -----------------------------------------------------------------------------------


def token_quantities(usage: dict[str, Any], prices: UnitPrices | None) -> dict[str, int]:
    """Tokens per token type of one usage row (canonical counts), reasoning apart only when priced apart."""
    inp, read, write = usage["input_tokens"], usage["cache_read_tokens"], usage["cache_write_tokens"]
    out, reasoning = usage["output_tokens"], usage["reasoning_tokens"]
    quantities = {"input": inp - read - write, "cache_read": read, "cache_write": write}
    if prices is not None and reasoning and prices.reasoning != prices.output:
        quantities |= {"output": out - reasoning, "reasoning": reasoning}
    else:
        quantities["output"] = out
    if prices is not None and prices.request:
        quantities["request"] = usage["calls"]
    return {k: v for k, v in quantities.items() if v > 0}


def split_cost(weights: dict[str, float], cost: float) -> dict[str, float]:
    """``cost`` split in proportion to ``weights``; the last part takes the remainder so the parts add up."""
    total = sum(weights.values())
    keys = list(weights)
    if not keys:
        return {}
    if total <= 0:
        weights, total = {k: 1.0 for k in keys}, float(len(keys))
    parts = {k: cost * weights[k] / total for k in keys[:-1]}
    parts[keys[-1]] = cost - sum(parts.values())
    return parts


def _tags(usage: dict[str, Any]) -> str:
    tags = {
        "agent": usage["agent_name"],
        "task_type": usage["task_type"],
        "session": usage["session_key"],
        "user": usage["user_id"],
        "feature": usage["feature"],
        "environment": usage["environment"],
    }
    return json.dumps({k: v for k, v in tags.items() if v is not None}, sort_keys=True)


def _month(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _common_columns(usage: dict[str, Any], project_id: str) -> dict[str, Any]:
    provider = usage["provider"] or "unknown"
    model = usage["model"] or "unknown"
    start = usage["charge_period_start"]
    billing_start, billing_end = _month(start)
    return {
        "BillingAccountId": project_id,
        "BillingAccountName": project_id,
        "BillingAccountType": "Project",
        "BillingCurrency": "USD",
        "BillingPeriodStart": billing_start,
        "BillingPeriodEnd": billing_end,
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": start,
        "ChargePeriodEnd": start + timedelta(hours=1),
        "ConsumedUnit": "Tokens",
        "InvoiceIssuerName": provider,
        "PricingCategory": "Standard",
        "PricingCurrency": "USD",
        "PricingUnit": f"{PER_UNIT} Tokens",
        "ProviderName": provider,
        "PublisherName": provider,
        "ResourceId": f"{provider}/{model}",
        "ResourceName": model,
        "ResourceType": "Model",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "ServiceName": f"{provider} API",
        "Tags": _tags(usage),
        "x_PriceStatus": usage["price_status"],
        "x_CostSource": usage["cost_source"],
        "x_Calls": usage["calls"],
        "x_Source": usage["source"],
        "x_AgentName": usage["agent_name"],
        "x_TaskType": usage["task_type"],
        "x_SessionId": usage["session_key"],
        "x_UserId": usage["user_id"],
        "x_Feature": usage["feature"],
        "x_Environment": usage["environment"],
        "x_ResponseCacheHit": usage["response_cache_hit"],
        "x_TraceId": usage["call_trace_id"],
        "x_SpanId": usage["call_span_id"],
    }


def _price_row(kind: str, quantity: int, rate: float | None, billed: float | None, origin: str) -> dict:
    """The money columns of one token type (request fees are priced per request, not per million)."""
    per_request = kind == "request"
    pricing_quantity = float(quantity) if per_request else quantity / PER_UNIT
    unit = 1 if per_request else PER_UNIT
    list_unit = None if rate is None else rate * unit
    if list_unit is None and billed is not None:
        list_unit = billed / pricing_quantity  # no list price anywhere: the billed price is the list
    contracted_unit = None if billed is None else billed / pricing_quantity
    return {
        "ConsumedQuantity": float(quantity),
        "PricingQuantity": pricing_quantity,
        "ListUnitPrice": list_unit,
        "PricingCurrencyListUnitPrice": list_unit,
        "ListCost": None if list_unit is None else list_unit * pricing_quantity,
        "BilledCost": billed,
        "EffectiveCost": billed,
        "ContractedCost": billed,
        "PricingCurrencyEffectiveCost": billed,
        "ContractedUnitPrice": contracted_unit,
        "PricingCurrencyContractedUnitPrice": contracted_unit,
        "x_TokenType": kind,
        "x_ListPriceOrigin": origin,
    }


def usage_rows(
    usage: dict[str, Any], prices: UnitPrices | None, origin: str, project_id: str
) -> list[dict[str, Any]]:
    """The FOCUS rows of one usage group (pure): one per token type with tokens."""
    quantities = token_quantities(usage, prices)
    cost = usage["cost_usd"]
    if not quantities:
        if cost is None or cost == 0:
            return []
        quantities = {"request": usage["calls"]}  # a cost with no tokens at all: bill it per request
    rates = {k: getattr(prices, k) for k in quantities} if prices else {}
    weights = {k: rates[k] * q for k, q in quantities.items()} if prices else {}
    if not weights or sum(weights.values()) <= 0:
        weights = {k: float(q) for k, q in quantities.items()}
    billed = {k: None for k in quantities} if cost is None else split_cost(weights, cost)
    common = _common_columns(usage, project_id)
    provider, model = common["ProviderName"], common["ResourceName"]
    rows = []
    for kind, quantity in quantities.items():
        sku = f"{provider}/{model}/{kind}"
        rows.append(
            {
                **common,
                **_price_row(kind, quantity, rates.get(kind), billed[kind], origin),
                "ConsumedUnit": "Requests" if kind == "request" else "Tokens",
                "PricingUnit": "Requests" if kind == "request" else common["PricingUnit"],
                "ChargeDescription": f"{METERS[kind]} of {model} ({provider})",
                "SkuId": sku,
                "SkuMeter": METERS[kind],
                "SkuPriceId": f"{sku}:{origin}",
                "SkuPriceDetails": json.dumps({"x_TokenType": kind, "x_ListPriceOrigin": origin}),
            }
        )
    return rows


# -- warehouse and files --------------------------------------------------------------------------


class _ListPrices:
    """List prices per (provider, model, hour): the catalog first, then the ledger's own pricer."""

    def __init__(self, pricer: Pricer | None) -> None:
        self.catalog = Pricer()
        self.pricer = pricer

    def lookup(self, provider: str | None, model: str | None, at: datetime) -> tuple[UnitPrices | None, str]:
        if not model:
            return None, "derived"
        prices = self.catalog.unit_prices(provider, model, at)
        if prices is not None:
            return prices, "catalog"
        prices = self.pricer.unit_prices(provider, model, at) if self.pricer else None
        return (prices, "override") if prices is not None else (None, "derived")


def focus_frame(
    wh: Warehouse,
    filters: Filters,
    granularity: str = "hour",
    pricer: Pricer | None = None,
    include_unpriced: bool = False,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The FOCUS rows for ``filters`` and counts of what they cover: ``calls`` and ``unpriced_calls_excluded``."""
    check_choice("granularity", granularity, ("hour", "call"))
    usage = normalized(wh.query("focus_usage", params(filters, per_call=granularity == "call")))
    prices = _ListPrices(pricer)
    rows: list[dict[str, Any]] = []
    counts = {"calls": 0, "unpriced_calls_excluded": 0}
    for group in usage.iter_rows(named=True):
        if group["cost_usd"] is None and not include_unpriced:
            counts["unpriced_calls_excluded"] += group["calls"]
            continue
        counts["calls"] += group["calls"]
        unit_prices, origin = prices.lookup(group["provider"], group["model"], group["charge_period_start"])
        if group["cost_source"] == "reported" and unit_prices is None:
            origin = "reported"
        rows.extend(usage_rows(group, unit_prices, origin, filters.project_id))
    frame = (
        pl.DataFrame(rows, schema=FOCUS_COLUMNS, orient="row") if rows else pl.DataFrame(schema=FOCUS_COLUMNS)
    )
    return frame, counts


def focus_csv(
    wh: Warehouse,
    filters: Filters,
    granularity: str = "hour",
    pricer: Pricer | None = None,
    include_unpriced: bool = False,
) -> tuple[str, dict[str, int]]:
    """The FOCUS 1.2 rows for ``filters`` as CSV text (what ``export_focus`` writes), with ``focus_frame``'s counts."""
    frame, counts = focus_frame(wh, filters, granularity, pricer, include_unpriced)
    return _for_csv(frame).write_csv(), counts


def _for_csv(frame: pl.DataFrame) -> pl.DataFrame:
    """Date-times as ISO 8601 UTC text with a Z, as FOCUS's DateTimeFormat asks."""
    return frame.with_columns(
        [
            pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            for name, dtype in frame.schema.items()
            if isinstance(dtype, pl.Datetime)
        ]
    )


def export_focus(
    wh: Warehouse,
    filters: Filters,
    out_path: str | Path,
    fmt: str = "csv",
    granularity: str = "hour",
    *,
    pricer: Pricer | None = None,
    include_unpriced: bool = False,
) -> FocusExport:
    """Write the FOCUS 1.2 rows for ``filters`` to ``out_path`` as CSV or Parquet (see the module docstring).

    ``pricer`` (e.g. ``Pricer.from_settings``) supplies list prices for models only an override prices. A path
    that cannot be written (a folder, a folder that does not exist) is refused before the ledger is read, and
    the file is written whole or not at all (see :mod:`agentledger.core.output`)."""
    check_choice("fmt", fmt, ("csv", "parquet"))
    path = check_output_file(out_path)
    frame, counts = focus_frame(wh, filters, granularity, pricer, include_unpriced)
    if fmt == "csv":
        write_output_file(path, _for_csv(frame).write_csv())
    else:
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        write_output_file(path, buffer.getvalue())
    billed = float(frame["BilledCost"].sum()) if frame.height else 0.0
    return FocusExport(path, frame.height, billed, counts["calls"], counts["unpriced_calls_excluded"])
