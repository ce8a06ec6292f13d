"""Where alerts and the scheduler keep their state: tables of ``sql/ddl/<dialect>/004_alerts.sql``.

Every write is a full-row upsert keyed by the table's primary key: ``INSERT OR REPLACE`` where the engine
updates in place (DuckDB), a plain insert into a ``ReplacingMergeTree`` where upserts are versioned inserts
(ClickHouse, read ``FINAL``); which one is chosen from the backend's ``capabilities``. Statements are
simple enough to run unchanged on both, with values always bound as parameters.

Check-then-write steps (claiming a run, taking the lease, enqueuing a delivery once) run inside
``warehouse.transaction()``: atomic on DuckDB. ClickHouse has no transactions, so those steps read their
row back after writing and only the owner that reads itself back goes on; two processes racing in the
same instant may both see their own write before the later one lands, a window of milliseconds that the
lease makes rare (see the README's scheduler section).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from agentledger.alerts.message import AlertMessage
from agentledger.alerts.state import AlertState
from agentledger.warehouse.base import Warehouse, upsert_statement

DELIVERY_COLUMNS = [
    "delivery_id",
    "project_id",
    "kind",
    "ref",
    "channel",
    "channel_type",
    "status",
    "attempts",
    "created_at",
    "next_attempt_at",
    "last_attempt_at",
    "sent_at",
    "last_error",
    "payload",
]
RETRYABLE = ("pending", "failed")


@dataclass(frozen=True)
class Delivery:
    """One message to one channel (a row of ``alert_deliveries``); ``payload`` is rendered for the channel."""

    delivery_id: str
    kind: str  # alert | report | test
    ref: str  # event id, or the report's ISO week
    channel: str
    channel_type: str
    payload: dict[str, Any]
    created_at: datetime
    project_id: str = "default"
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None

    def row(self) -> dict[str, Any]:
        """The ``alert_deliveries`` row (payload as JSON text)."""
        data = asdict(self)
        data["payload"] = json.dumps(self.payload, sort_keys=True, default=str)
        return data

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Delivery:
        """Inverse of :meth:`row`."""
        values = {k: row[k] for k in DELIVERY_COLUMNS}
        values["payload"] = json.loads(values["payload"])
        values["attempts"] = int(values["attempts"])
        return cls(**values)


@dataclass(frozen=True)
class Lease:
    """Who holds the scheduler lease, and until when."""

    name: str
    owner: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime


class AlertStore:
    """Alert state, history, deliveries, scheduler runs and the lease of one project, in one warehouse."""

    def __init__(self, warehouse: Warehouse, project_id: str = "default") -> None:
        self.wh = warehouse
        self.project_id = project_id

    # -- plumbing -------------------------------------------------------------------------------

    def _upsert(self, table: str, row: dict[str, Any]) -> None:
        self.wh.sql(upsert_statement(self.wh, table, list(row)), row)

    def _rows(self, text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.wh.sql(text, params).to_dicts()

    # -- alert state ----------------------------------------------------------------------------

    def states(self) -> dict[str, AlertState]:
        """Every stored alert instance of the project, by alert key."""
        # The same canonical query as the dashboard's analytics.alert_history.alert_states.
        rows = self.wh.query("alert_states", {"project_id": self.project_id}).to_dicts()
        return {r["alert_key"]: AlertState(**{k: v for k, v in r.items() if k != "project_id"}) for r in rows}

    def save_state(self, state: AlertState) -> None:
        """Insert or replace one instance's state."""
        self._upsert("alert_state", {"project_id": self.project_id, **asdict(state)})

    # -- history --------------------------------------------------------------------------------

    def add_event(self, event_id: str, state: AlertState, message: AlertMessage) -> None:
        """Record a notified change with the message that went out."""
        self._upsert(
            "alert_events",
            {
                "event_id": event_id,
                "project_id": self.project_id,
                "alert_key": state.alert_key,
                "rule_name": state.rule_name,
                "group_key": state.group_key,
                "event": message.event,
                "severity": message.severity,
                "occurred_at": message.at,
                "value": message.value,
                "threshold": message.threshold,
                "level": state.level,
                "message": json.dumps(message.to_dict(), sort_keys=True, default=str),
            },
        )

    def history(
        self, limit: int = 50, rule: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The latest events (newest first), each with its deliveries and their attempts."""
        events = self.wh.query(
            "alert_events", {"project_id": self.project_id, "rule": rule, "since": since, "limit": limit}
        ).to_dicts()
        for event in events:
            event["message"] = json.loads(event["message"])
            event["deliveries"] = [
                {**asdict(d), "payload": None, "attempt_log": self.attempts(d.delivery_id)}
                for d in self.deliveries(ref=event["event_id"])
            ]
        return events

    # -- deliveries -----------------------------------------------------------------------------

    def enqueue(self, delivery: Delivery) -> bool:
        """Add a delivery unless one with its id exists (ids are deterministic: enqueueing twice is a no-op)."""
        with self.wh.transaction():
            if self.delivery(delivery.delivery_id) is not None:
                return False
            self._upsert("alert_deliveries", delivery.row())
        return True

    def save_delivery(self, delivery: Delivery) -> None:
        """Replace a delivery's row (status, attempts, timestamps)."""
        self._upsert("alert_deliveries", delivery.row())

    def delivery(self, delivery_id: str) -> Delivery | None:
        """One delivery by id."""
        rows = self._rows(
            f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM alert_deliveries WHERE delivery_id = $id",
            {"id": delivery_id},
        )
        return Delivery.from_row(rows[0]) if rows else None

    def deliveries(self, *, ref: str | None = None, kind: str | None = None) -> list[Delivery]:
        """The project's deliveries, oldest first, optionally for one event/report or of one kind."""
        rows = self._rows(
            f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM alert_deliveries WHERE project_id = $project_id "
            "AND ($ref IS NULL OR ref = $ref) AND ($kind IS NULL OR kind = $kind) "
            "ORDER BY created_at, delivery_id",
            {"project_id": self.project_id, "ref": ref, "kind": kind},
        )
        return [Delivery.from_row(r) for r in rows]

    def due(self, now: datetime) -> list[Delivery]:
        """Deliveries not yet sent whose next attempt is due at ``now``, oldest first."""
        rows = self._rows(
            f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM alert_deliveries WHERE project_id = $project_id "
            "AND status IN ('pending', 'failed') AND (next_attempt_at IS NULL OR next_attempt_at <= $now) "
            "ORDER BY created_at, delivery_id",
            {"project_id": self.project_id, "now": now},
        )
        return [Delivery.from_row(r) for r in rows]

    def add_attempt(
        self, delivery_id: str, attempt: int, at: datetime, ok: bool, error: str | None, duration_ms: float
    ) -> None:
        """Record one attempt to send."""
        self._upsert(
            "alert_delivery_attempts",
            {
                "delivery_id": delivery_id,
                "attempt": attempt,
                "attempted_at": at,
                "ok": ok,
                "error": error,
                "duration_ms": duration_ms,
            },
        )

    def attempts(self, delivery_id: str) -> list[dict[str, Any]]:
        """Every attempt of a delivery, in order."""
        return self._rows(
            "SELECT attempt, attempted_at, ok, error, duration_ms FROM alert_delivery_attempts "
            "WHERE delivery_id = $id ORDER BY attempt",
            {"id": delivery_id},
        )

    # -- scheduler runs -------------------------------------------------------------------------

    def run(self, job: str, run_key: str) -> dict[str, Any] | None:
        """The recorded run of ``job`` under ``run_key``, if any."""
        rows = self._rows(
            "SELECT job, run_key, owner, status, started_at, finished_at, error FROM scheduler_runs "
            "WHERE project_id = $project_id AND job = $job AND run_key = $run_key",
            {"project_id": self.project_id, "job": job, "run_key": run_key},
        )
        return rows[0] if rows else None

    def runs(self, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        return self._rows(
            "SELECT job, run_key, owner, status, started_at, finished_at, error FROM scheduler_runs "
            "WHERE project_id = $project_id AND ($job IS NULL OR job = $job) "
            "ORDER BY started_at DESC, job, run_key LIMIT $limit",
            {"project_id": self.project_id, "job": job, "limit": limit},
        )

    def _write_run(
        self, job: str, run_key: str, owner: str, status: str, started: datetime, **extra: Any
    ) -> None:
        self._upsert(
            "scheduler_runs",
            {
                "project_id": self.project_id,
                "job": job,
                "run_key": run_key,
                "owner": owner,
                "status": status,
                "started_at": started,
                "finished_at": extra.get("finished_at"),
                "error": extra.get("error"),
            },
        )

    def claim_run(self, job: str, run_key: str, owner: str, now: datetime, stale_after: timedelta) -> bool:
        """Record that ``owner`` runs ``job`` for ``run_key``; False when it is done or someone else runs it.

        A run left ``running`` for longer than ``stale_after`` (its process died) and a ``failed`` run may be
        claimed again; what they already sent is not sent twice because deliveries have deterministic ids.
        """
        with self.wh.transaction():
            row = self.run(job, run_key)
            if row is not None:
                if row["status"] == "done":
                    return False
                live = row["status"] == "running" and now - row["started_at"] < stale_after
                if live and row["owner"] != owner:
                    return False
            self._write_run(job, run_key, owner, "running", now)
        mine = self.run(job, run_key)
        return mine is not None and mine["owner"] == owner and mine["status"] == "running"

    def finish_run(
        self, job: str, run_key: str, owner: str, started: datetime, now: datetime, error: str | None = None
    ) -> None:
        """Mark a claimed run done (or failed, with ``error``)."""
        status = "failed" if error else "done"
        self._write_run(job, run_key, owner, status, started, finished_at=now, error=error)

    # -- the lease ------------------------------------------------------------------------------

    def lease(self, name: str) -> Lease | None:
        """The lease row, expired or not."""
        rows = self._rows(
            "SELECT name, owner, acquired_at, renewed_at, expires_at FROM scheduler_leases WHERE name = $name",
            {"name": name},
        )
        return Lease(**rows[0]) if rows else None

    def acquire_lease(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease for ``ttl``; False while another owner holds an unexpired one."""
        with self.wh.transaction():
            current = self.lease(name)
            if current is not None and current.owner != owner and current.expires_at > now:
                return False
            kept = current is not None and current.owner == owner and current.expires_at > now
            lease = Lease(name, owner, current.acquired_at if kept else now, now, now + ttl)  # type: ignore[union-attr]
            self._upsert("scheduler_leases", asdict(lease))
        held = self.lease(name)
        return held is not None and held.owner == owner

    def release_lease(self, name: str, owner: str, now: datetime) -> None:
        """Give the lease up (expire it now) if ``owner`` holds it, so another scheduler can take over."""
        with self.wh.transaction():
            current = self.lease(name)
            if current is not None and current.owner == owner:
                self._upsert("scheduler_leases", asdict(replace(current, renewed_at=now, expires_at=now)))
