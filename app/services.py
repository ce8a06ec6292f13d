"""Composition helpers: build the warehouse, pricer and pipeline from settings (shared by CLI, API, UI, scheduler)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from pathlib import Path

from agentledger.analytics.filters import Filters
from agentledger.core.errors import ConfigError
from agentledger.core.pricing import Pricer
from agentledger.core.records import LEDGER_END, LEDGER_START
from agentledger.core.security import redact_url
from agentledger.core.settings import Settings
from agentledger.ingest.demo import generate_sessions
from agentledger.ingest.otlp import decode_protobuf, map_request
from agentledger.ingest.pipeline import IngestResult, Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse
from agentledger.warehouse.duckdb import database_file

log = logging.getLogger(__name__)


def open_warehouse(settings: Settings, url: str | None = None, *, existing: bool = False) -> Warehouse:
    """The warehouse of ``url`` (default: the settings'). With ``existing`` (commands that only read the
    ledger), a DuckDB file that is not there is an error naming it, not a new empty ledger whose figures
    would read $0."""
    url = url or settings.warehouse
    if existing:
        missing = missing_ledger(url)
        if missing is not None:
            raise ConfigError(
                f"no ledger at {missing} (AGENTLEDGER_WAREHOUSE or --warehouse {redact_url(url)}): load data "
                "first (`agentledger demo`, `agentledger ingest ...`, `agentledger sync`) or point the warehouse "
                "at an existing ledger (a relative path is from the working directory)"
            )
    return connect(url)


def missing_ledger(url: str) -> Path | None:
    """The DuckDB file a warehouse URL names, when it does not exist; None otherwise (another backend, an
    in-memory database, or a file that is there)."""
    if url.partition("://")[0].lower() != "duckdb":
        return None  # a server, or chDB (its folder is made by whatever first writes to it)
    path = database_file(url)
    return None if path is None or path.exists() else path.absolute()


def build_pipeline(settings: Settings, warehouse: Warehouse) -> Pipeline:
    return Pipeline(warehouse, Pricer.from_settings(settings))


def parse_when(value: str | None, name: str) -> datetime | None:
    """ISO date (midnight UTC) or date-time (naive = UTC)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"{name}: {value!r} is not an ISO date (2026-11-01) or date-time (2026-11-01T12:00:00Z)"
        ) from exc
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not LEDGER_START <= parsed <= LEDGER_END:
        raise ConfigError(
            f"{name}: {value!r} is outside the ledger's time range "
            f"({LEDGER_START:%Y-%m-%d} to {LEDGER_END:%Y-%m-%d})"
        )
    return parsed


def scope(
    project_id: str, since: str | None, until: str | None, *, option_prefix: str = "", **equal: str | None
) -> Filters:
    """The filters of one request or command: the window from ISO text (``--since`` and ``--until`` named in
    errors with ``option_prefix="--"``), equality filters by name (``agent``, ``model`` ...), one project.
    Raises :class:`ConfigError` naming the option that is wrong. An empty value is no filter, as for the
    window (the ledger stores no empty names: ``?agent=`` would otherwise match nothing)."""
    return Filters(
        since=parse_when(since, f"{option_prefix}since"),
        until=parse_when(until, f"{option_prefix}until"),
        project_id=project_id,
        **{name: value or None for name, value in equal.items()},
    )


def load_demo(
    pipeline: Pipeline,
    *,
    project_id: str,
    sessions: int = 300,
    seed: int = 7,
    end: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    sessions_progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Write the demo workload through the real OTLP decode -> mapping -> pricing -> warehouse path.

    ``progress`` is called with the number of spans of each request written, ``sessions_progress`` with the
    number of sessions it completed (they add up to ``sessions``)."""
    total = IngestResult(calls=0, spans=0)
    done = 0
    for request, complete in generate_sessions(sessions=sessions, seed=seed, end=end):
        batch = map_request(decode_protobuf(request.SerializeToString()), project_id=project_id)
        result = pipeline.ingest(batch.calls, batch.spans)
        total = IngestResult(calls=total.calls + result.calls, spans=total.spans + result.spans)
        if progress:
            progress(len(batch.spans))
        if sessions_progress and complete > done:
            sessions_progress(complete - done)
        done = complete
    return total


def count_calls(warehouse: Warehouse, project_id: str) -> int:
    frame = warehouse.sql(
        "SELECT count(*) AS n FROM calls WHERE project_id = $project_id", {"project_id": project_id}
    )
    return int(frame["n"][0])


def first(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)


def keep_stored_fresh(warehouse: Warehouse, settings: Settings, stop: threading.Event) -> None:
    """Until ``stop`` is set: recompute the stored recommendations of the dashboard's default view whenever
    the ledger changed (checked now, then every ``recommend_refresh_minutes``), so a visit finds them ready.
    A failure is logged and retried at the next check."""
    from agentledger.analytics.recommend import refresh_stored

    while not stop.is_set():
        try:
            refresh_stored(warehouse, settings)
        except Exception as exc:  # noqa: BLE001 - a background refresh must not die; the page computes on demand
            log.warning("refreshing the stored recommendations failed: %s", exc)
        stop.wait(settings.recommend_refresh_minutes * 60)
