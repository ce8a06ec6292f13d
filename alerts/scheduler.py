"""The scheduler: collector sync every N minutes, alert evaluation every M minutes, the stored
recommendations refreshed when the ledger changed, the weekly report at a weekday, hour and time zone.
APScheduler 3 fires the jobs; their state lives in the warehouse.

Why nothing is lost or repeated:

- **Run keys.** Each firing has a key derived from its scheduled time: the interval slot
  (``2026-11-24T10:05Z``) or the report's ISO week (``2026-W47``). A job claims its key in
  ``scheduler_runs`` before doing anything and marks it done afterwards; a key that is done is skipped. A
  restarted scheduler first runs what is due (:meth:`Scheduler.run_due`): the report of a week whose
  firing it missed (within ``catch_up``) goes out once, one that was sent is not sent again.
- **The lease.** Only the holder of the ``scheduler_leases`` row runs jobs; it renews the lease on a
  heartbeat and on every job. A second scheduler on the same warehouse waits until the lease expires
  (its holder died) and then takes over. On DuckDB a second *process* cannot even open the file (one
  writing process per file), so the lease matters for ClickHouse and for several schedulers in one process.
- **Deliveries** are idempotent on their own (see :mod:`agentledger.alerts.delivery`): a run re-claimed
  after a crash does not send what the first one sent.

Time comes from an injectable clock, so tests drive every job at its time with :meth:`Scheduler.run_due`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agentledger.alerts.check import AlertEngine
from agentledger.alerts.state import Clock, system_clock
from agentledger.alerts.store import AlertStore
from agentledger.analytics.recommend import refresh_stored
from agentledger.analytics.report import build_weekly_report, previous_week
from agentledger.core.settings import Settings

log = logging.getLogger(__name__)

# Interval slots are aligned to this instant, so every scheduler process computes the same fire times.
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Job:
    """A scheduled job: when it fires, how a firing is keyed, and what it does."""

    name: str
    trigger: BaseTrigger
    run: Callable[[str, datetime], Any]  # (run key, now) -> anything (logged)
    run_key: Callable[[datetime], str]  # fire time -> run key
    catch_up: timedelta  # a firing missed by at most this long still runs (on start or on the next tick)
    stale_after: timedelta  # a run left "running" this long by another owner may be taken over


def slot_key(fire_time: datetime) -> str:
    """The run key of an interval slot: its UTC time to the minute."""
    return fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def interval_job(name: str, minutes: int, run: Callable[[str, datetime], Any]) -> Job:
    """A job every ``minutes`` minutes, on slots aligned to :data:`EPOCH`."""
    every = timedelta(minutes=minutes)
    trigger = IntervalTrigger(minutes=minutes, start_date=EPOCH, timezone=UTC)
    return Job(
        name, trigger, run, slot_key, catch_up=every, stale_after=max(2 * every, timedelta(minutes=10))
    )


def weekly_job(name: str, weekday: str, hour: int, tz: str, run: Callable[[str, datetime], Any]) -> Job:
    """A job at ``hour``:00 on ``weekday`` in ``tz``, keyed by the previous ISO week (the one it reports)."""
    trigger = CronTrigger(day_of_week=weekday, hour=hour, minute=0, timezone=tz)
    return Job(
        name,
        trigger,
        run,
        lambda fire: previous_week(fire, tz),
        catch_up=timedelta(days=1),
        stale_after=timedelta(hours=1),
    )


def last_fire_time(trigger: BaseTrigger, now: datetime, horizon: timedelta) -> datetime | None:
    """The latest fire time of ``trigger`` in (now - horizon, now], or None."""
    fire = trigger.get_next_fire_time(None, now - horizon + _TICK)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + _TICK)
    return last


def default_owner() -> str:
    """``host:pid:random``: unique per scheduler object, readable in ``scheduler_leases``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    """Runs jobs under the lease and their run keys; :meth:`start` hands the timing to APScheduler."""

    def __init__(
        self,
        store: AlertStore,
        jobs: list[Job],
        *,
        owner: str | None = None,
        clock: Clock = system_clock,
        lease_ttl: timedelta = timedelta(minutes=2),
    ) -> None:
        self.store = store
        self.jobs = {job.name: job for job in jobs}
        self.owner = owner or default_owner()
        self.clock = clock
        self.lease_ttl = lease_ttl
        self.lease_name = f"scheduler:{store.project_id}"
        self._aps: BaseScheduler | None = None
        self._stopping = False

    # -- the lease ------------------------------------------------------------------------------

    def heartbeat(self) -> bool:
        """Take or renew the lease; True while this scheduler holds it."""
        return self.store.acquire_lease(self.lease_name, self.owner, self.clock(), self.lease_ttl)

    def release(self) -> None:
        """Give the lease up now (on a clean shutdown) so another scheduler need not wait for it to expire."""
        self.store.release_lease(self.lease_name, self.owner, self.clock())

    # -- running --------------------------------------------------------------------------------

    def run_job(self, name: str, fire_time: datetime) -> str:
        """Run one firing of ``name``: ``ran``, ``failed``, or ``skipped`` (not the leader, or already done)."""
        job = self.jobs[name]
        key = job.run_key(fire_time)
        if not self.heartbeat():
            log.info("job %s (%s): another scheduler holds the lease; skipped", name, key)
            return "skipped"
        started = self.clock()
        if not self.store.claim_run(name, key, self.owner, started, job.stale_after):
            return "skipped"
        try:
            outcome = job.run(key, started)
        except Exception as exc:  # a failing job must not stop the scheduler: record it, log it, go on
            log.exception("job %s (%s) failed", name, key)
            self.store.finish_run(
                name, key, self.owner, started, self.clock(), error=f"{type(exc).__name__}: {exc}"[:500]
            )
            return "failed"
        self.store.finish_run(name, key, self.owner, started, self.clock())
        log.info("job %s (%s) done: %s", name, key, outcome)
        return "ran"

    def fire(self, name: str) -> str:
        """What APScheduler calls: run the firing of ``name`` that is due now, if any."""
        job = self.jobs[name]
        fire_time = last_fire_time(job.trigger, self.clock(), job.catch_up)
        return "skipped" if fire_time is None else self.run_job(name, fire_time)

    def run_due(self) -> dict[str, str]:
        """Run every job whose latest firing (within its catch-up window) is not done yet."""
        return {name: self.fire(name) for name in self.jobs}

    # -- APScheduler ----------------------------------------------------------------------------

    def build(self) -> BaseScheduler:
        """An APScheduler 3 background scheduler firing each job on its trigger and renewing the lease."""
        aps = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
        )
        for job in self.jobs.values():
            aps.add_job(self.fire, job.trigger, args=[job.name], id=job.name, name=job.name)
        beat = max(self.lease_ttl.total_seconds() / 3, 1.0)
        aps.add_job(
            self.heartbeat, IntervalTrigger(seconds=beat, timezone=UTC), id="lease", name="lease heartbeat"
        )
        return aps

    def request_stop(self) -> None:
        """Ask :meth:`start` to stop after the jobs that are running.

        Only sets a flag, so it is safe in a signal handler. (Raising there instead would interrupt a running
        DuckDB query, which turns the interruption into an ordinary query error that a job records and the
        scheduler survives: the stop would be lost.)
        """
        self._stopping = True

    def start(self, *, blocking: bool = True) -> BaseScheduler:
        """Catch up on what is due, then run on APScheduler; with ``blocking``, until :meth:`request_stop`."""
        self.run_due()
        self._aps = self.build()
        if self._stopping:
            self.release()
            return self._aps
        self._aps.start()
        if blocking:
            try:
                while not self._stopping:
                    time.sleep(0.2)
            finally:
                self.shutdown()
        return self._aps

    def shutdown(self) -> None:
        """Stop APScheduler (waiting for running jobs) and release the lease."""
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=True)
        self.release()


# -- the standard jobs ------------------------------------------------------------------------------


def standard_jobs(
    settings: Settings,
    make_engine: Callable[[], AlertEngine],
    sync: Callable[[], Any] | None = None,
) -> list[Job]:
    """``sync`` (when given) every ``sync_interval_minutes``, ``alerts`` every ``alert_interval_minutes``,
    ``report`` at ``report_weekday`` ``report_hour``:00 in ``report_timezone``, ``recommendations`` (the
    stored report of the dashboard's default view, recomputed only when the ledger changed) every
    ``recommend_refresh_minutes``.

    ``make_engine`` is called on every run, so edits to the rules file apply without a restart.
    """

    def run_alerts(key: str, now: datetime) -> str:
        result = make_engine().check()
        return f"{len(result.firing)} firing, {len(result.messages)} notified, {len(result.deliveries)} sends"

    def run_report(week: str, now: datetime) -> str:
        engine = make_engine()
        if not engine.config.report.enabled:
            return "the weekly report is disabled"
        report = build_weekly_report(engine.warehouse, settings, week, now=now, top=engine.config.report.top)
        sent = engine.send_report(report)
        return ", ".join(f"{d.channel}: {d.status}" for d in sent) or "no channel configured"

    def run_recommendations(key: str, now: datetime) -> str:
        report = refresh_stored(make_engine().warehouse, settings)
        return f"{len(report.recommendations)} recommendations in the stored report"

    jobs = [
        interval_job("alerts", settings.alert_interval_minutes, run_alerts),
        weekly_job(
            "report", settings.report_weekday, settings.report_hour, settings.report_timezone, run_report
        ),
        interval_job("recommendations", settings.recommend_refresh_minutes, run_recommendations),
    ]
    if sync is not None:
        jobs.insert(0, interval_job("sync", settings.sync_interval_minutes, lambda key, now: sync()))
    return jobs
