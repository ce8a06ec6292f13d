"""The sync runner: pull every page of a collector through the pipeline and advance its cursor.

Order per page: normalize -> ``pipeline.ingest`` (durable when it returns) -> ``warehouse.set_cursor``. A run
killed between the two re-reads that page next time, which idempotent writes make harmless; a run killed
before the write loses nothing because the cursor has not moved. A malformed record is logged with its id
and counted, never fatal. The cursor row also records when the source was last synced, how many records the
run read, and the last error (secrets masked).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from agentledger.core.errors import AgentLedgerError, InputError
from agentledger.core.records import Call, SpanContext
from agentledger.ingest.collectors.base import Collector, Page
from agentledger.ingest.collectors.registry import build_collector
from agentledger.ingest.collectors.timeutil import parse_timestamp
from agentledger.ingest.http import redact
from agentledger.warehouse.base import Cursor, Warehouse, cursor_key

log = logging.getLogger(__name__)

_ERROR_LIMIT = 500
_MALFORMED_IDS = 20  # how many malformed record ids a report keeps
_IDLE_CURSOR_INTERVAL_S = 5.0


@dataclass
class SyncReport:
    """What one collector's run did; ``progress`` callbacks receive it after every page."""

    source: str  # the collector's name
    source_key: str
    started_at: datetime
    finished_at: datetime | None = None
    pages: int = 0
    records: int = 0
    calls: int = 0
    spans: int = 0
    malformed: int = 0
    malformed_ids: list[str] = field(default_factory=list)  # the first few, for the CLI
    cursor_before: str | None = None
    cursor_after: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Ingests(Protocol):
    """What the runner needs from :class:`agentledger.ingest.pipeline.Pipeline`."""

    def ingest(self, calls: list[Call], spans: list[SpanContext]) -> Any: ...


ProgressFn = Callable[[SyncReport], None]


def sync_collector(
    collector: Collector,
    pipeline: _Ingests,
    warehouse: Warehouse,
    *,
    project_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: ProgressFn | None = None,
    raise_errors: bool = True,
) -> SyncReport:
    """Sync one collector from its stored cursor (or ``since``) to now (or ``until``).

    A failure is recorded as the cursor's ``last_error`` and in the report, then re-raised; with
    ``raise_errors=False`` agentledger's own errors (refused keys, the source down) are returned in the
    report instead, while anything else (a bug) still propagates.
    """
    key = cursor_key(collector.source_key, project_id)
    previous = warehouse.get_cursor(key)
    earlier_key = getattr(collector, "previous_source_key", None)
    if previous is None and earlier_key:  # the cursor of an earlier release, under its former name
        previous = _take_over(warehouse, cursor_key(earlier_key, project_id), key)
    report = SyncReport(collector.name, key, started_at=datetime.now(UTC))
    report.cursor_before = report.cursor_after = previous.value if previous else None
    try:
        stored_at = time.monotonic()
        for page in collector.fetch(report.cursor_before, since=since, until=until):
            _sync_page(collector, pipeline, page, project_id, report)
            # A page with records must be followed by its cursor; after an empty one (a quiet time window)
            # the write can wait: losing it only means reading nothing again.
            if page.records or time.monotonic() - stored_at > _IDLE_CURSOR_INTERVAL_S:
                _store_cursor(warehouse, report, error=None)
                stored_at = time.monotonic()
            if progress is not None:
                progress(report)
    except Exception as exc:
        report.error = redact(f"{type(exc).__name__}: {exc}")[:_ERROR_LIMIT]
        report.finished_at = datetime.now(UTC)
        _store_cursor_safely(warehouse, report)
        if raise_errors or not isinstance(exc, AgentLedgerError):
            raise
        log.error("sync of %s failed: %s", collector.source_key, report.error)
        return report
    report.finished_at = datetime.now(UTC)
    _store_cursor(warehouse, report, error=None)
    return report


def sync_all(
    config: Any,
    pipeline: _Ingests,
    warehouse: Warehouse,
    *,
    project_id: str = "default",
    since: datetime | None = None,
    until: datetime | None = None,
    progress: ProgressFn | None = None,
    env: Mapping[str, str] | None = None,
    build: Callable[..., Collector] | None = None,
) -> list[SyncReport]:
    """Sync every enabled source of a :class:`~agentledger.ingest.config.SourcesConfig`, one after another.

    A source that fails (bad credentials, the remote side down) gets a report with ``error`` set and the
    others still run; errors that are not agentledger's own (bugs) propagate. A source whose collector cannot
    even be built (a variable not set, a malformed URL) has its failure stored under the entry's name (its
    ``name``, else its type) so that ``agentledger sources`` shows it too.
    """
    build = build or build_collector
    reports = []
    for source in config.enabled():
        started = datetime.now(UTC)
        source_project = source.project_id or project_id
        entry_key = cursor_key(source.label, source_project)
        try:
            collector = build(source, env=env)
        except AgentLedgerError as exc:  # a missing env var, a bad URL: record it, go on with the others
            report = _failed_report(source.label, entry_key, exc, started)
            log.error("sync of source %r failed: %s", source.label, report.error)
            _store_cursor_safely(warehouse, report)
            reports.append(report)
            continue
        _forget_entry_error(warehouse, entry_key)
        try:
            run = sync_collector(
                collector,
                pipeline,
                warehouse,
                project_id=source_project,
                since=since,
                until=until,
                progress=progress,
                raise_errors=False,
            )
        finally:
            _close(collector)
        reports.append(run)
    return reports


def _sync_page(
    collector: Collector, pipeline: _Ingests, page: Page, project_id: str, report: SyncReport
) -> None:
    calls, spans = _normalize_page(collector, page.records, project_id, report)
    if calls or spans:
        pipeline.ingest(calls, spans)
    report.pages += 1
    report.records += len(page.records) + len(page.skipped)
    report.malformed += len(page.skipped)  # logged by the collector, which could not read them
    report.malformed_ids.extend(page.skipped[: max(0, _MALFORMED_IDS - len(report.malformed_ids))])
    report.calls += len(calls)
    report.spans += len(spans)
    if page.next_cursor is not None:
        report.cursor_after = _later_cursor(report.cursor_after, page.next_cursor)


def _normalize_page(
    collector: Collector, records: list[dict[str, Any]], project_id: str, report: SyncReport
) -> tuple[list[Call], list[SpanContext]]:
    """Normalize each record; count and log the malformed ones. Records that repeat a span (the same trace
    context emitted by several observations) are merged, last one wins, so one write carries each key once."""
    calls: dict[tuple[str, str, str, str], Call] = {}
    spans: dict[tuple[str, str, str, str], SpanContext] = {}
    for record in records:
        try:
            out = collector.normalize(record, project_id=project_id)
        except InputError as exc:
            _count_malformed(collector, record, exc, report)
            continue
        calls.update((c.key(), c) for c in out.calls)
        spans.update((s.key(), s) for s in out.spans)
    return list(calls.values()), list(spans.values())


def _count_malformed(
    collector: Collector, record: dict[str, Any], exc: InputError, report: SyncReport
) -> None:
    record_id = collector.record_id(record)
    report.malformed += 1
    if len(report.malformed_ids) < _MALFORMED_IDS:
        report.malformed_ids.append(record_id)
    log.warning("%s: skipped malformed record %s: %s", collector.source_key, record_id, redact(str(exc)))


def _later_cursor(current: str | None, new: str) -> str:
    """Never move a timestamp cursor backwards (a backfill with ``--since/--until`` below the cursor must not
    make the next run re-read everything); opaque page tokens simply replace the old value."""
    if current is None:
        return new
    try:
        return new if parse_timestamp(new) >= parse_timestamp(current) else current
    except ValueError:
        return new


def _take_over(warehouse: Warehouse, earlier_key: str, key: str) -> Cursor | None:
    """The cursor stored under ``earlier_key`` (named after the host alone, before accounts were told apart),
    moved to ``key``. Only the first account to run takes it over: the old cursor is emptied, so an account
    added later reads its own history instead of starting where another account stood (and skipping what
    came before). An account that shared the old cursor reads again from its start (writes are idempotent)."""
    earlier = warehouse.get_cursor(earlier_key)
    if earlier is None or earlier.value is None:
        return None
    moved = replace(earlier, source_key=key)
    warehouse.set_cursor(moved)  # the new name first: a run stopped in between keeps its position
    warehouse.set_cursor(replace(earlier, value=None, updated_at=datetime.now(UTC)))
    return moved


def _store_cursor(warehouse: Warehouse, report: SyncReport, *, error: str | None) -> None:
    now = datetime.now(UTC)
    warehouse.set_cursor(
        Cursor(
            source_key=report.source_key,
            value=report.cursor_after,
            updated_at=now,
            last_run_at=report.started_at,
            last_error=error,
            records=report.records,
        )
    )


def _store_cursor_safely(warehouse: Warehouse, report: SyncReport) -> None:
    """Record the failure beside the cursor; if the warehouse itself is what failed, keep the first error."""
    try:
        _store_cursor(warehouse, report, error=report.error)
    except AgentLedgerError as exc:
        log.error("could not record the failure of %s: %s", report.source_key, redact(str(exc)))


def _close(collector: Collector) -> None:
    """Release the collector's connections (collectors that hold none have no ``close``)."""
    close = getattr(collector, "close", None)
    if callable(close):
        close()


def _failed_report(label: str, key: str, exc: AgentLedgerError, started: datetime) -> SyncReport:
    """The report of a source entry whose collector could not be built (its error names the variable or
    setting to fix, never a secret); it is stored under the entry's name, ``key``."""
    report = SyncReport(label, key, started_at=started, finished_at=datetime.now(UTC))
    report.error = redact(f"{type(exc).__name__}: {exc}")[:_ERROR_LIMIT]
    return report


def _forget_entry_error(warehouse: Warehouse, key: str) -> None:
    """A source entry that failed before it could be read (stored under its name, see :func:`sync_all`) is
    built now: clear that row, whose source is now listed under its own cursor. A cleared row (no cursor, no
    run, no error) is left out of :func:`agentledger.analytics.sources.list_sources`."""
    try:
        stored = warehouse.get_cursor(key)
        if stored is not None and stored.value is None and stored.last_error is not None:
            warehouse.set_cursor(Cursor(source_key=key, value=None, updated_at=datetime.now(UTC)))
    except AgentLedgerError as exc:
        log.error("could not clear the earlier failure of %s: %s", key, redact(str(exc)))
