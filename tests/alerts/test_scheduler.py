"""The scheduler on a controllable clock: each job at its time, no double send after a restart or with two
schedulers on one warehouse, the lease itself (on DuckDB and on ClickHouse through chDB), APScheduler."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_fixtures import P95_RULE, FakeClock, HttpSink, support_ledger
from pydantic import SecretStr

from agentledger.alerts.channels import build_channels
from agentledger.alerts.check import AlertEngine
from agentledger.alerts.rules import parse_alerts
from agentledger.alerts.scheduler import (
    Job,
    Scheduler,
    interval_job,
    last_fire_time,
    standard_jobs,
    weekly_job,
)
from agentledger.alerts.store import AlertStore
from agentledger.app.cli_alerts import build_scheduler
from agentledger.core.settings import Settings
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

MONDAY_0850 = datetime(2026, 11, 23, 8, 50, tzinfo=UTC)  # the report goes out Mondays 09:00 UTC
REPO = Path(__file__).resolve().parents[2]


class Setup:
    """A ledger, a Slack stand-in and the standard jobs, with a sync job that records its calls."""

    def __init__(self, wh: Warehouse, sink: HttpSink, clock: FakeClock) -> None:
        self.wh, self.sink, self.clock = wh, sink, clock
        self.syncs: list[datetime] = []
        self.settings = Settings(
            slack_webhook_url=SecretStr(sink.url),
            sync_interval_minutes=15,
            alert_interval_minutes=5,
            report_weekday="mon",
            report_hour=9,
            report_timezone="UTC",
        )
        self.config = parse_alerts({"rules": [P95_RULE]})

    def engine(self) -> AlertEngine:
        channels = build_channels(self.config, self.settings)
        return AlertEngine(
            self.wh, self.settings, self.config, channels, clock=self.clock, sleep=lambda s: None
        )

    def scheduler(self, owner: str) -> Scheduler:
        jobs = standard_jobs(self.settings, self.engine, sync=lambda: self.syncs.append(self.clock()))
        return Scheduler(AlertStore(self.wh, "default"), jobs, owner=owner, clock=self.clock)

    def texts(self) -> list[str]:
        return [json.loads(r.body)["text"] for r in self.sink.requests]

    def reports(self) -> list[str]:
        return [t for t in self.texts() if t.startswith("agentledger weekly cost report")]

    def alerts(self) -> list[str]:
        return [t for t in self.texts() if t.startswith(("FIRING", "STILL FIRING", "RESOLVED"))]


@pytest.fixture
def file_wh(tmp_path: Path) -> Iterator[str]:
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    wh = connect(url)
    support_ledger(wh, at=MONDAY_0850)
    wh.close()
    yield url


def test_each_job_runs_at_its_time(wh: Warehouse, http_sink: HttpSink) -> None:
    support_ledger(wh, at=MONDAY_0850)
    clock = FakeClock(MONDAY_0850)
    s = Setup(wh, http_sink, clock)
    sched = s.scheduler("a")

    assert sched.run_due() == {
        "sync": "ran",
        "alerts": "ran",
        "report": "skipped",
        "recommendations": "ran",
    }  # last Monday 09:00 is too old
    assert s.alerts() == [t for t in s.texts() if "support-p95" in t] and len(s.alerts()) == 1
    clock.set(MONDAY_0850 + timedelta(minutes=2))
    assert sched.run_due() == {
        "sync": "skipped",
        "alerts": "skipped",
        "report": "skipped",
        "recommendations": "skipped",
    }  # slots done
    clock.set(MONDAY_0850 + timedelta(minutes=5))
    assert sched.run_due() == {
        "sync": "skipped",
        "alerts": "ran",
        "report": "skipped",
        "recommendations": "ran",
    }
    clock.set(MONDAY_0850 + timedelta(minutes=10))  # 09:00: everything is due
    assert sched.run_due() == {"sync": "ran", "alerts": "ran", "report": "ran", "recommendations": "ran"}
    clock.set(MONDAY_0850 + timedelta(minutes=40))
    sched.run_due()

    assert s.syncs == [MONDAY_0850, MONDAY_0850 + timedelta(minutes=10), MONDAY_0850 + timedelta(minutes=40)]
    assert s.reports() == [s.reports()[0]] and "2026-W47" in s.reports()[0]
    assert len(s.alerts()) == 1  # firing all along, inside its 6 h cooldown
    runs = {(r["job"], r["run_key"]): r["status"] for r in sched.store.runs(limit=100)}
    assert runs[("report", "2026-W47")] == "done"
    assert runs[("alerts", "2026-11-23T09:00Z")] == "done" and runs[("sync", "2026-11-23T09:30Z")] == "done"
    assert ("sync", "2026-11-23T09:15Z") not in runs  # a slot passed over while asleep is not replayed


def test_killed_and_restarted_it_sends_nothing_twice(file_wh: str, http_sink: HttpSink) -> None:
    clock = FakeClock(MONDAY_0850 + timedelta(minutes=10))  # 09:00
    first_wh = connect(file_wh)
    first = Setup(first_wh, http_sink, clock)
    assert first.scheduler("first").run_due() == {
        "sync": "ran",
        "alerts": "ran",
        "report": "ran",
        "recommendations": "ran",
    }
    assert (len(first.reports()), len(first.alerts())) == (1, 1)
    first_wh.close()  # killed: no clean shutdown, the lease is not released

    second_wh = connect(file_wh)
    try:
        second = Setup(second_wh, http_sink, clock)
        restarted = second.scheduler("second")
        clock.advance(minutes=1)
        assert restarted.run_due() == {
            "sync": "skipped",
            "alerts": "skipped",
            "report": "skipped",
            "recommendations": "skipped",
        }  # lease held
        clock.advance(minutes=2)  # the dead scheduler's lease (2 min) has expired
        assert restarted.run_due() == {
            "sync": "skipped",
            "alerts": "skipped",
            "report": "skipped",
            "recommendations": "skipped",
        }  # all done
        clock.advance(minutes=2)  # 09:05: a new alert slot; the alert is still inside its cooldown
        assert restarted.run_due() == {
            "sync": "skipped",
            "alerts": "ran",
            "report": "skipped",
            "recommendations": "ran",
        }
        assert (len(second.reports()), len(second.alerts())) == (1, 1)
        assert restarted.store.lease("scheduler:default").owner == "second"
    finally:
        second_wh.close()


def test_a_run_killed_after_sending_is_not_sent_again(wh: Warehouse, http_sink: HttpSink) -> None:
    clock = FakeClock(MONDAY_0850 + timedelta(minutes=10))
    s = Setup(wh, http_sink, clock)
    dying = s.scheduler("dying")
    original = dying.store.finish_run

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies after the report went out, before the run is marked done

    dying.store.finish_run = killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        dying.run_job("report", clock())
    dying.store.finish_run = original  # type: ignore[method-assign]
    assert len(s.reports()) == 1 and dying.store.run("report", "2026-W47")["status"] == "running"

    clock.advance(hours=2)  # the lease and the stale "running" claim have both expired
    other = s.scheduler("other")
    assert other.run_job("report", MONDAY_0850 + timedelta(minutes=10)) == "ran"
    assert len(s.reports()) == 1  # the delivery was already sent: not again
    assert other.store.run("report", "2026-W47")["owner"] == "other"


def test_two_schedulers_on_one_warehouse_do_not_both_send(wh: Warehouse, http_sink: HttpSink) -> None:
    support_ledger(wh, at=MONDAY_0850)
    clock = FakeClock(MONDAY_0850 + timedelta(minutes=10))
    s = Setup(wh, http_sink, clock)
    a, b = s.scheduler("a"), s.scheduler("b")
    assert a.run_due() == {"sync": "ran", "alerts": "ran", "report": "ran", "recommendations": "ran"}
    assert b.run_due() == {
        "sync": "skipped",
        "alerts": "skipped",
        "report": "skipped",
        "recommendations": "skipped",
    }
    clock.advance(minutes=1)
    assert a.heartbeat() is True  # what a's APScheduler heartbeat does every ttl/3
    clock.advance(minutes=1)
    assert b.run_due() == {
        "sync": "skipped",
        "alerts": "skipped",
        "report": "skipped",
        "recommendations": "skipped",
    }  # a's lease is live
    clock.advance(minutes=3)
    assert a.run_due()["alerts"] == "ran"
    assert (len(s.reports()), len(s.alerts()), len(s.syncs)) == (1, 1, 1)

    clock.advance(minutes=10)  # a died 10 minutes ago: b takes over
    assert b.run_due()["alerts"] == "ran"
    assert a.heartbeat() is False  # a, back, finds b holding the lease
    assert (len(s.reports()), len(s.alerts())) == (1, 1)


@pytest.mark.parametrize("backend", ["duckdb", "chdb"])
def test_the_lease_itself(backend: str, tmp_path: Path) -> None:
    url = "duckdb:///:memory:" if backend == "duckdb" else f"chdb:///{tmp_path / 'chdb'}"
    wh = connect(url)
    try:
        a, b = AlertStore(wh), AlertStore(wh)
        t0, ttl = MONDAY_0850, timedelta(minutes=2)
        assert a.acquire_lease("s", "a", t0, ttl) is True
        assert b.acquire_lease("s", "b", t0 + timedelta(seconds=30), ttl) is False
        assert a.acquire_lease("s", "a", t0 + timedelta(minutes=1), ttl) is True  # renewed until t0 + 3 min
        assert b.acquire_lease("s", "b", t0 + timedelta(minutes=2, seconds=30), ttl) is False
        assert b.acquire_lease("s", "b", t0 + timedelta(minutes=3), ttl) is True  # expired: taken over
        lease = b.lease("s")
        assert (lease.owner, lease.acquired_at, lease.expires_at) == (
            "b",
            t0 + timedelta(minutes=3),
            t0 + timedelta(minutes=5),
        )
        b.release_lease("s", "b", t0 + timedelta(minutes=4))
        assert a.acquire_lease("s", "a", t0 + timedelta(minutes=4), ttl) is True  # released: no need to wait
        # a run key is claimed once; a finished one is never run again
        assert a.claim_run("report", "2026-W47", "a", t0, timedelta(hours=1)) is True
        assert b.claim_run("report", "2026-W47", "b", t0, timedelta(hours=1)) is False
        a.finish_run("report", "2026-W47", "a", t0, t0 + timedelta(minutes=1))
        assert b.claim_run("report", "2026-W47", "b", t0 + timedelta(hours=5), timedelta(hours=1)) is False
    finally:
        wh.close()


def test_concurrent_heartbeats_elect_one_holder(wh: Warehouse) -> None:
    store = AlertStore(wh)
    results: dict[str, bool] = {}
    barrier = threading.Barrier(8)

    def contend(owner: str) -> None:
        barrier.wait()
        results[owner] = store.acquire_lease("s", owner, MONDAY_0850, timedelta(minutes=2))

    threads = [threading.Thread(target=contend, args=(f"o{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o, won in results.items() if won]
    assert len(winners) == 1 and store.lease("s").owner == winners[0]


def test_fire_times_and_run_keys() -> None:
    weekly = weekly_job("report", "mon", 9, "Europe/Berlin", lambda k, n: None)
    tuesday = datetime(2026, 11, 24, 12, tzinfo=UTC)
    fire = last_fire_time(weekly.trigger, tuesday, timedelta(days=7))
    assert fire == datetime(2026, 11, 23, 8, tzinfo=UTC)  # 09:00 in Berlin (UTC+1 in November)
    assert weekly.run_key(fire) == "2026-W47"
    every5 = interval_job("alerts", 5, lambda k, n: None)
    assert last_fire_time(
        every5.trigger, datetime(2026, 11, 24, 12, 7, 30, tzinfo=UTC), every5.catch_up
    ) == datetime(2026, 11, 24, 12, 5, tzinfo=UTC)
    assert every5.run_key(datetime(2026, 11, 24, 12, 5, tzinfo=UTC)) == "2026-11-24T12:05Z"


def test_apscheduler_fires_the_jobs_for_real(wh: Warehouse) -> None:
    ran: list[str] = []
    job = interval_job("tick", 1, lambda key, now: ran.append(key))
    fast = Job(
        "tick",
        _every_second(),
        job.run,
        lambda t: t.strftime("%H:%M:%S"),
        timedelta(seconds=1),
        timedelta(minutes=1),
    )
    sched = Scheduler(AlertStore(wh), [fast], owner="aps")
    aps = sched.start(blocking=False)
    try:
        assert {j.id for j in aps.get_jobs()} == {"tick", "lease"}
        deadline = time.monotonic() + 10
        while len(ran) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sched.shutdown()
    assert len(ran) >= 2 and len(set(ran)) == len(ran)  # one run per second, each under its own key
    assert sched.store.lease("scheduler:default").expires_at <= datetime.now(UTC)  # released on shutdown


def _every_second():
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(seconds=1, start_date=datetime(2000, 1, 3, tzinfo=UTC), timezone=UTC)


def test_a_second_process_on_a_duckdb_file_is_told_why(file_wh: str) -> None:
    holder = connect(file_wh)
    try:
        code = (
            "import typer; from agentledger.app.cli_alerts import register; app = typer.Typer(); "
            "register(app); app()"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, "scheduler", "--once", "-w", file_wh],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.close()
    assert proc.returncode != 0
    assert "is open in another process (PID" in proc.stderr
    assert "DuckDB allows one writing process per file" in proc.stderr


def test_the_sync_job_pulls_the_configured_sources(tmp_path: Path) -> None:
    """With a ``sources:`` section, ``agentledger scheduler`` runs ``ingest.sync.sync_all`` on its interval."""
    reference = REPO.parent / "shared" / "reference" / "litellm" / "spend_logs_payload.json"
    if not reference.is_file():
        pytest.fail(f"the reference payloads are missing: expected {reference}")
    config = tmp_path / "agentledger.yaml"
    config.write_text(
        json.dumps({"sources": [{"type": "litellm_file", "path": str(reference)}], "alerts": {}})
    )
    settings = Settings(config_file=config, warehouse="duckdb:///:memory:")
    wh = connect(settings.warehouse)
    try:
        sched = build_scheduler(wh, settings, clock=FakeClock(MONDAY_0850), owner="sync-test")
        assert list(sched.jobs) == ["sync", "alerts", "report", "recommendations"]
        assert sched.run_due()["sync"] == "ran"
        assert wh.sql("SELECT count(*) AS n FROM calls")["n"][0] == 1
        assert sched.store.run("sync", "2026-11-23T08:45Z")["status"] == "done"
    finally:
        wh.close()


@pytest.mark.slow
def test_the_scheduler_process_runs_then_stops_cleanly_on_sigterm(file_wh: str, tmp_path: Path) -> None:
    import os
    import signal

    config = tmp_path / "agentledger.yaml"
    config.write_text(json.dumps({"alerts": {"rules": [P95_RULE]}}))
    log = tmp_path / "scheduler.log"
    code = "import typer; from agentledger.app.cli_alerts import register; app = typer.Typer(); register(app); app()"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "scheduler", "-w", file_wh, "-c", str(config)],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "AGENTLEDGER_ALERT_INTERVAL_MINUTES": "1"},
        )
        try:
            deadline = time.monotonic() + 90
            while "job alerts" not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
            assert "job alerts" in log.read_text(), log.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()
            assert "scheduler stopped" in log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
    wh = connect(file_wh)
    try:
        store = AlertStore(wh)
        statuses = [r["status"] for r in store.runs(job="alerts")]
        assert statuses and set(statuses) == {"done"}
        lease = store.lease("scheduler:default")
        assert lease is not None and lease.expires_at <= datetime.now(UTC)  # released on the way out
    finally:
        wh.close()
