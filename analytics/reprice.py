"""Re-pricing: recompute the cost of stored calls with the current prices (overrides may have changed).

:func:`reprice` reads the calls in scope page by page (``reprice_calls.sql``, from ``calls``: every source's
record is re-priced, whatever the ledger view keeps), prices each with the given :class:`Pricer` exactly as
ingest does (``cost_computed_usd``, ``cost_usd``, ``price_status``, ``cost_source``), and reports the change
per model. A dry run stops there. A real run writes the changed calls back through the warehouse's own
idempotent upsert (``write_calls``: the same rows, new prices), all inside one warehouse transaction, and
records the run in ``reprices`` (``record_reprice.sql``); on DuckDB the whole run is all or nothing.

Deltas count an unknown cost as 0 (a call that becomes priced adds its cost; one that loses its price
subtracts it) and the report says how many calls were unpriced before and after.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from agentledger.analytics._common import params
from agentledger.analytics.filters import Filters
from agentledger.core.pricing import Pricer
from agentledger.core.records import CALL_FIELDS, Call, calls_to_arrow
from agentledger.warehouse.base import Warehouse

__all__ = ["ModelChange", "RepriceReport", "price_changes", "reprice"]

PRICE_FIELDS = ("cost_computed_usd", "cost_usd", "price_status", "cost_source")


@dataclass
class ModelChange:
    """How one model's calls move under the new prices."""

    provider: str | None
    model: str | None
    calls: int = 0
    changed_calls: int = 0
    cost_before_usd: float | None = None
    cost_after_usd: float | None = None
    delta_usd: float = 0.0
    unpriced_before: int = 0
    unpriced_after: int = 0

    def add(self, before: Call, after: Call) -> None:
        """Account one call, before and after re-pricing."""
        self.calls += 1
        self.changed_calls += int(_price_of(before) != _price_of(after))
        self.cost_before_usd = _plus(self.cost_before_usd, before.cost_usd)
        self.cost_after_usd = _plus(self.cost_after_usd, after.cost_usd)
        self.delta_usd += (after.cost_usd or 0.0) - (before.cost_usd or 0.0)
        self.unpriced_before += int(before.cost_usd is None)
        self.unpriced_after += int(after.cost_usd is None)


@dataclass
class RepriceReport:
    """The outcome of a re-price: totals, the change per model, and the recorded run (real runs only)."""

    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    run_id: str | None = None
    calls_examined: int = 0
    calls_changed: int = 0
    cost_before_usd: float | None = None
    cost_after_usd: float | None = None
    delta_usd: float = 0.0
    models: list[ModelChange] = field(default_factory=list)

    def by_model(self) -> pl.DataFrame:
        """The change per model, largest absolute delta first."""
        schema = {
            "provider": pl.String(),
            "model": pl.String(),
            "calls": pl.Int64(),
            "changed_calls": pl.Int64(),
            "cost_before_usd": pl.Float64(),
            "cost_after_usd": pl.Float64(),
            "delta_usd": pl.Float64(),
            "unpriced_before": pl.Int64(),
            "unpriced_after": pl.Int64(),
        }
        rows = [asdict(m) for m in self.models]
        frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
        return frame.sort(pl.col("delta_usd").abs(), descending=True, maintain_order=True)


def _plus(total: float | None, value: float | None) -> float | None:
    """A cost sum where unknown values are skipped and a sum of only unknowns stays unknown."""
    if value is None:
        return total
    return value if total is None else total + value


def _price_of(call: Call) -> tuple[Any, ...]:
    return tuple(getattr(call, name) for name in PRICE_FIELDS)


def _tags(value: Any) -> dict[str, str]:
    """A map column as polars reads it (a list of key/value structs, or a dict) -> dict."""
    if not value:
        return {}
    if isinstance(value, dict):
        return dict(value)
    return {entry["key"]: entry["value"] for entry in value}


def row_to_call(row: dict[str, Any]) -> Call:
    """A stored call row (all CALL_SCHEMA columns) back into a :class:`Call`."""
    values = {name: row[name] for name in CALL_FIELDS}
    values["tags"] = _tags(values["tags"])
    return Call(**values)


def price_changes(calls: list[Call], pricer: Pricer) -> list[tuple[Call, Call]]:
    """(before, after) for each call, ``after`` priced by ``pricer`` (pure: ``calls`` are not modified)."""
    pairs = []
    for call in calls:
        after = copy.copy(call)
        pricer.price(after)
        pairs.append((call, after))
    return pairs


def _pages(wh: Warehouse, filters: Filters, size: int) -> Iterator[list[Call]]:
    offset = 0
    while True:
        frame = wh.query("reprice_calls", params(filters, limit=size, offset=offset))
        if frame.is_empty():
            return
        yield [row_to_call(row) for row in frame.iter_rows(named=True)]
        offset += frame.height


def _filters_json(filters: Filters) -> str:
    values = {k: v for k, v in asdict(filters).items() if v is not None and k not in ("since", "until")}
    return json.dumps(values, sort_keys=True)


def _record(wh: Warehouse, report: RepriceReport, filters: Filters, pricer: Pricer) -> None:
    wh.query(
        "record_reprice",
        {
            "run_id": report.run_id,
            "project_id": filters.project_id,
            "started_at": report.started_at,
            "finished_at": report.finished_at,
            "window_since": filters.since,
            "window_until": filters.until,
            "filters": _filters_json(filters),
            "cost_policy": pricer.cost_policy,
            "calls_examined": report.calls_examined,
            "calls_changed": report.calls_changed,
            "cost_before_usd": report.cost_before_usd,
            "cost_after_usd": report.cost_after_usd,
            "delta_usd": report.delta_usd,
        },
    )


def _run(wh: Warehouse, pricer: Pricer, filters: Filters, report: RepriceReport, batch_size: int) -> None:
    models: dict[tuple[str | None, str | None], ModelChange] = {}
    for page in _pages(wh, filters, batch_size):
        pairs = price_changes(page, pricer)
        for before, after in pairs:
            models.setdefault(
                (before.provider, before.model), ModelChange(before.provider, before.model)
            ).add(before, after)
        changed = [after for before, after in pairs if _price_of(before) != _price_of(after)]
        if changed and not report.dry_run:
            wh.write_calls(calls_to_arrow(changed))
    report.models = list(models.values())
    report.calls_examined = sum(m.calls for m in report.models)
    report.calls_changed = sum(m.changed_calls for m in report.models)
    for m in report.models:
        report.cost_before_usd = _plus(report.cost_before_usd, m.cost_before_usd)
        report.cost_after_usd = _plus(report.cost_after_usd, m.cost_after_usd)
        report.delta_usd += m.delta_usd


def reprice(
    wh: Warehouse, pricer: Pricer, filters: Filters, dry_run: bool = True, batch_size: int = 5000
) -> RepriceReport:
    """Re-price the calls in scope with ``pricer``; report per model, and write unless ``dry_run``."""
    report = RepriceReport(dry_run=dry_run, started_at=datetime.now(UTC))
    if dry_run:
        _run(wh, pricer, filters, report, batch_size)
        report.finished_at = datetime.now(UTC)
        return report
    report.run_id = uuid.uuid4().hex
    with wh.transaction():
        _run(wh, pricer, filters, report, batch_size)
        report.finished_at = datetime.now(UTC)
        _record(wh, report, filters, pricer)
    return report
