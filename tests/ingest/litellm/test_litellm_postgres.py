"""The Postgres collector against a REAL PostgreSQL holding a ``"LiteLLM_SpendLogs"`` table as LiteLLM creates it.

Each test gets its own schema, so tests share one server. The kill test runs the sync in a child process,
SIGKILLs it mid-run and resumes: the ledger must then hold exactly what an uninterrupted run writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import REPO, Ledger, spend_log_rows
from litellm_spend_logs_table import insert_rows
from psycopg import sql

from agentledger.analytics.sources import list_sources
from agentledger.core.errors import ConfigError, TerminalError
from agentledger.core.pricing import Pricer
from agentledger.ingest.collectors.base import Collector, Page
from agentledger.ingest.collectors.litellm_postgres import LiteLLMPostgresCollector, check_db_url, safe_db_url
from agentledger.ingest.config import parse_config, source_from_options
from agentledger.ingest.pipeline import Pipeline
from agentledger.ingest.sync import sync_all, sync_collector
from agentledger.warehouse import connect

pytestmark = pytest.mark.postgres


def _rows(spend_log: dict[str, Any], count: int, **kwargs: Any) -> list[dict[str, Any]]:
    rows = spend_log_rows(spend_log, count, **kwargs)
    for i, row in enumerate(rows):
        metadata = json.loads(row["metadata"])
        metadata["usage_object"]["prompt_tokens_details"] = {"cached_tokens": i % 7}
        row["metadata"] = json.dumps(metadata)
        row["litellm_call_id"] = f"call-{row['request_id']}"
        row["request_duration_ms"] = 250
    return rows


def _collector(pg_url: str, schema: str, **options: Any) -> LiteLLMPostgresCollector:
    options.setdefault("batch_size", 40)
    options.setdefault("initial_lookback", None)
    return LiteLLMPostgresCollector(pg_url, schema=schema, **options)


def _sync(collector: Collector, ledger: Ledger) -> Any:
    return sync_collector(collector, ledger.pipeline, ledger.warehouse, project_id="default")


def _snapshot(ledger: Ledger) -> list[tuple[Any, ...]]:
    rows = ledger.warehouse.sql(
        "SELECT trace_id, span_id, started_at, input_tokens, cache_read_tokens, output_tokens, cost_reported_usd, "
        "cost_usd, response_id, latency_ms FROM calls ORDER BY span_id"
    )
    return [tuple(r.values()) for r in rows.to_dicts()]


def test_full_sync_with_ties_on_start_time(
    pg_url: str, schema: str, spend_log: dict[str, Any], ledger: Ledger
) -> None:
    rows = _rows(spend_log, 250, step_ms=7)  # timestamp(3): many rows share a millisecond with a neighbour
    for row in rows[100:140]:
        row["startTime"] = "2025-01-24 09:00:00.700000"  # 40 identical start times across a batch boundary
    insert_rows(pg_url, schema, rows)
    collector = _collector(pg_url, schema)
    report = _sync(collector, ledger)
    assert report.ok and report.records == 250 and report.calls == 250 and report.pages == 7
    stored = {c["span_id"]: c for c in ledger.calls()}
    assert set(stored) == {r["request_id"] for r in rows}
    call = stored["req-00010"]
    assert (call["input_tokens"], call["cache_read_tokens"], call["output_tokens"]) == (20, 3, 20)
    assert call["response_id"] == "req-00010" and call["latency_ms"] == 250.0
    assert call["trace_id"] == "trace-3" and call["model"] == "gpt-4o" and call["provider"] == "openai"
    assert call["cost_reported_usd"] == pytest.approx(rows[10]["spend"])
    cursor = ledger.warehouse.get_cursor(collector.source_key)
    assert cursor is not None and cursor.value == "2025-01-24T09:00:01.743000Z"  # newest startTime (row 249)
    assert collector.source_key == f"litellm_postgres:{pg_url}"


def test_incremental_runs_pick_up_new_and_late_rows(
    pg_url: str, schema: str, spend_log: dict[str, Any], ledger: Ledger
) -> None:
    insert_rows(pg_url, schema, _rows(spend_log, 60, step_ms=1000))  # 09:00:00 .. 09:00:59
    assert _sync(_collector(pg_url, schema, overlap=timedelta(seconds=5)), ledger).records == 60
    late = _rows(
        spend_log, 1, start="2025-01-24T09:00:57.500", prefix="late"
    )  # written after the run, inside the overlap
    new = _rows(spend_log, 10, start="2025-01-24T09:05:00", prefix="new")
    insert_rows(pg_url, schema, late + new)
    second = _sync(_collector(pg_url, schema, overlap=timedelta(seconds=5)), ledger)
    # From 09:00:54 on: 6 old rows re-read, the late one, the 10 new ones.
    assert second.records == 17
    assert len(ledger.calls()) == 71
    third = _sync(_collector(pg_url, schema, overlap=timedelta(0)), ledger)
    assert third.records == 1  # only the newest row (startTime >= cursor) is read again


def test_until_bounds_the_run(pg_url: str, schema: str, spend_log: dict[str, Any], ledger: Ledger) -> None:
    insert_rows(pg_url, schema, _rows(spend_log, 10, step_ms=1000))
    collector = _collector(pg_url, schema)
    sync_collector(collector, ledger.pipeline, ledger.warehouse, project_id="default",
                   since=datetime(2025, 1, 24, 9, 0, 2, tzinfo=UTC), until=datetime(2025, 1, 24, 9, 0, 5, tzinfo=UTC))  # fmt: skip
    assert [c["span_id"] for c in ledger.calls()] == ["req-00002", "req-00003", "req-00004"]


class _DiesAfter:
    """Wraps a collector so its fetch raises after ``pages`` pages, as a crash between two pages would."""

    def __init__(self, inner: LiteLLMPostgresCollector, pages: int) -> None:
        self.inner, self.pages = inner, pages
        self.name, self.source_key = inner.name, inner.source_key
        self.normalize, self.record_id = inner.normalize, inner.record_id

    def fetch(self, cursor: str | None, **kwargs: Any) -> Iterator[Page]:
        for n, page in enumerate(self.inner.fetch(cursor, **kwargs), start=1):
            if n > self.pages:
                raise RuntimeError("killed")
            yield page


def test_resume_after_a_crash_equals_an_uninterrupted_run(
    pg_url: str, schema: str, spend_log: dict[str, Any], ledger: Ledger, tmp_path: Path
) -> None:
    insert_rows(pg_url, schema, _rows(spend_log, 200, step_ms=3))
    with pytest.raises(RuntimeError, match="killed"):
        _sync(_DiesAfter(_collector(pg_url, schema), pages=2), ledger)
    assert len(ledger.calls()) == 80
    resumed = _sync(_collector(pg_url, schema, overlap=timedelta(0)), ledger)
    assert resumed.cursor_before is not None and resumed.records < 200
    reference = connect(f"duckdb:///{tmp_path / 'reference.duckdb'}")
    try:
        _sync(_collector(pg_url, schema), Ledger(reference, Pipeline(reference, Pricer()), ""))
        assert _snapshot(ledger) == _snapshot(Ledger(reference, None, ""))  # type: ignore[arg-type]
    finally:
        reference.close()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from agentledger.core.pricing import Pricer
    from agentledger.ingest.collectors.litellm_postgres import LiteLLMPostgresCollector
    from agentledger.ingest.pipeline import Pipeline
    from agentledger.ingest.sync import sync_collector
    from agentledger.warehouse import connect

    pg_url, schema, warehouse_url = sys.argv[1:4]
    warehouse = connect(warehouse_url)
    collector = LiteLLMPostgresCollector(pg_url, schema=schema, batch_size=25, initial_lookback=None)

    def progress(report):
        print(f"page {report.pages}", flush=True)
        time.sleep(0.2)  # slow enough for the parent to kill us mid-run

    sync_collector(collector, Pipeline(warehouse, Pricer()), warehouse, project_id="default", progress=progress)
    print("done", flush=True)
    """
)


@pytest.mark.slow  # a child process
def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(
    pg_url: str, schema: str, spend_log: dict[str, Any], tmp_path: Path
) -> None:
    insert_rows(pg_url, schema, _rows(spend_log, 300, step_ms=11))
    killed_url = f"duckdb:///{tmp_path / 'killed.duckdb'}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, pg_url, schema, killed_url], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for line in child.stdout:  # type: ignore[union-attr]
            if line.strip() == "page 4":
                child.send_signal(signal.SIGKILL)
                break
            assert line.strip() != "done", "the child finished before it could be killed"
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""

    resumed = connect(killed_url)
    uninterrupted = connect(f"duckdb:///{tmp_path / 'uninterrupted.duckdb'}")
    try:
        cursor = resumed.get_cursor(f"litellm_postgres:{pg_url}")
        assert cursor is not None and cursor.value is not None  # the killed run got somewhere
        before = resumed.sql("SELECT count(*) AS n FROM calls").to_dicts()[0]["n"]
        assert 100 <= before < 300
        resume = _collector(pg_url, schema, batch_size=25, overlap=timedelta(0))
        report = _sync(resume, Ledger(resumed, Pipeline(resumed, Pricer()), ""))
        assert report.cursor_before == cursor.value and report.records <= 300 - before + 1
        _sync(
            _collector(pg_url, schema, batch_size=25),
            Ledger(uninterrupted, Pipeline(uninterrupted, Pricer()), ""),
        )
        snapshot = _snapshot(Ledger(resumed, None, ""))  # type: ignore[arg-type]
        assert len(snapshot) == 300
        assert snapshot == _snapshot(Ledger(uninterrupted, None, ""))  # type: ignore[arg-type]
    finally:
        resumed.close()
        uninterrupted.close()


def test_the_connection_is_read_only(pg_url: str, schema: str) -> None:
    collector = _collector(pg_url, schema)
    with (
        collector._connect() as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
        conn.transaction(),
    ):
        conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(schema, "LiteLLM_SpendLogs")))


def test_connection_failure_names_the_url_without_the_password(ledger: Ledger) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    url = f"postgresql://litellm:s3cr3t-pw@127.0.0.1:{port}/litellm"
    collector = LiteLLMPostgresCollector(url, connect_timeout=2)
    with pytest.raises(TerminalError) as excinfo:
        _sync(collector, ledger)
    message = str(excinfo.value)
    assert f"postgresql://litellm@127.0.0.1:{port}/litellm" in message
    assert "s3cr3t-pw" not in message and "s3cr3t-pw" not in collector.source_key


def test_missing_table_is_named(pg_url: str, ledger: Ledger) -> None:
    with pytest.raises(TerminalError, match="LiteLLM_SpendLogs"):
        _sync(LiteLLMPostgresCollector(pg_url, schema="no_such_schema", initial_lookback=None), ledger)


def test_safe_db_url() -> None:
    assert safe_db_url("postgresql://u:p@h:5432/db?sslmode=require&password=x") == "postgresql://u@h:5432/db"
    assert "secret" not in safe_db_url("host=h password=secret")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u:hunter2@127.0.0.1:4698/db", "scheme 'mysql': it must be postgresql:// or postgres://"),
        ("notaurl", "'notaurl' is not a postgresql:// URL"),
        ("postgresql://u:hunter2@host:notaport/db", "the port 'notaport': a port must be a number"),
        ("postgresql://u:hunter2@h1:5432,h2:x/db", "the port 'x'"),
        ("host=h port=abc password=hunter2", "the port 'abc'"),
        ("postgresql://u:hunter2%zz@h/db", "cannot be read as a PostgreSQL connection string"),
        ("host=h password='hunter2", "cannot be read as a PostgreSQL connection string"),
    ],
)
def test_a_malformed_url_is_refused_before_connecting_without_its_password(
    url: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(psycopg, "connect", lambda *a, **k: pytest.fail("connected with a malformed URL"))
    with pytest.raises(ConfigError) as excinfo:
        LiteLLMPostgresCollector(url, url_name="--db-url")
    message = str(excinfo.value)
    assert message.startswith("--db-url ") and says in message and "hunter2" not in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h1,h2/db",  # libpq's default port for each host (its port list reads ",")
        "postgresql://u:p@h1,h2:5433/db",
        "host=h1,h2 port=,5433 dbname=x",
        "postgresql://u:p@[2001:db8::1],[::1]:5433/db",
        "postgresql://u@/litellm?host=/var/run/postgresql",
        "postgresql://u:p@db.internal:5432/litellm?sslmode=require",
    ],
)
def test_urls_libpq_takes_are_taken(url: str) -> None:
    check_db_url(url, "--db-url")


def test_from_source_names_the_variable_that_holds_a_malformed_url() -> None:
    source = source_from_options({"type": "litellm_postgres"})
    with pytest.raises(ConfigError) as excinfo:
        LiteLLMPostgresCollector.from_source(
            source, env={"DATABASE_URL": "mysql://u:hunter2@127.0.0.1:4698/db"}
        )
    message = str(excinfo.value)
    assert "source 'litellm_postgres': DATABASE_URL mysql://u@127.0.0.1:4698/db has the scheme" in message
    assert "hunter2" not in message


def test_sync_records_a_malformed_url_and_runs_the_other_sources(
    tmp_path: Path, payload: dict[str, Any], ledger: Ledger
) -> None:
    path = tmp_path / "callbacks.jsonl"
    path.write_text(json.dumps(payload) + "\n")
    config = parse_config(
        {"sources": [{"type": "litellm_postgres"}, {"type": "litellm_file", "path": str(path)}]}
    )
    env = {"DATABASE_URL": "mysql://u:hunter2@127.0.0.1:4698/db"}
    reports = sync_all(config, ledger.pipeline, ledger.warehouse, env=env)
    assert [(r.source_key, r.ok, r.calls) for r in reports] == [
        ("litellm_postgres", False, 0),
        (f"litellm_file:{path}", True, 1),
    ]
    listed = {row["source_key"]: row for row in list_sources(ledger.warehouse).iter_rows(named=True)}
    error = listed["litellm_postgres"]["last_error"]
    assert "DATABASE_URL" in error and "must be postgresql://" in error and "hunter2" not in error
    assert listed[f"litellm_file:{path}"]["last_error"] is None


def test_psycopg_messages_that_echo_the_connection_string_are_masked(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(conninfo: str, **kwargs: Any) -> None:
        raise psycopg.ProgrammingError(f'invalid connection option in "{conninfo}"')

    monkeypatch.setattr(psycopg, "connect", refuse)
    for url in ("postgresql://litellm:s3cr3t-pw@db:5432/litellm", "host=db user=litellm password=s3cr3t-pw"):
        collector = LiteLLMPostgresCollector(url)
        with pytest.raises(TerminalError) as excinfo:
            _sync(collector, ledger)
        assert "ProgrammingError" in str(excinfo.value) and "s3cr3t-pw" not in str(excinfo.value)
        cursor = ledger.warehouse.get_cursor(collector.source_key)
        assert cursor is not None and "s3cr3t-pw" not in cursor.last_error
