"""Read-only views of the alert tables: each alert instance's state, and the history of notified changes
with where each notification went (``sql/queries/alert_*.sql``).

The alert engine writes these tables (``agentledger.alerts.store``, which reads them through the same
queries); the dashboard and any report read them here, without importing the engine. What a rule watches
(its kind, metric, unit and operator) is not in the state row: it comes from the message of the instance's
latest event, stored as JSON when the notification was built.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl

from agentledger.warehouse.base import Warehouse

__all__ = ["MESSAGE_FIELDS", "alert_history", "alert_states", "message_fields"]

# What the dashboard shows of a stored message, and its type (the message JSON has many more fields).
MESSAGE_FIELDS: dict[str, type[pl.DataType]] = {
    "kind": pl.String,
    "metric": pl.String,
    "unit": pl.String,
    "op": pl.String,
    "description": pl.String,
}
# A delivery that has not (yet) reached its channel.
UNDELIVERED = ("pending", "failed", "abandoned")


def message_fields(messages: list[str | None]) -> pl.DataFrame:
    """:data:`MESSAGE_FIELDS` of each stored message (JSON text), one row per message (pure).

    A message that is missing or not a JSON object gives nulls rather than an error: the history of a
    table written by an older version must still show.
    """
    rows = []
    for text in messages:
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError:
            data = {}
        data = data if isinstance(data, dict) else {}
        rows.append({name: _text(data.get(name)) for name in MESSAGE_FIELDS})
    return pl.DataFrame(rows, schema=MESSAGE_FIELDS)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def alert_states(wh: Warehouse, project_id: str = "default") -> pl.DataFrame:
    """Every alert instance of the project: firing ones first, then by rule and group.

    The columns of ``alert_state`` (without ``project_id``), then the latest event's ``severity``,
    ``last_event``, ``last_event_at`` and :data:`MESSAGE_FIELDS`, null for an instance never notified.
    """
    states = wh.query("alert_states", {"project_id": project_id}).drop("project_id")
    last = wh.query("alert_last_events", {"project_id": project_id})
    # Two events of one instance in the same instant: keep one, deterministically (the query orders them).
    last = last.unique(subset="alert_key", keep="last", maintain_order=True)
    described = pl.concat(
        [
            last.select(
                "alert_key",
                "severity",
                pl.col("event").alias("last_event"),
                pl.col("occurred_at").alias("last_event_at"),
            ),
            message_fields(last["message"].to_list()),
        ],
        how="horizontal",
    )
    joined = states.join(described, on="alert_key", how="left")
    return joined.sort([pl.col("status") != "firing", "rule_name", "group_key", "alert_key"], nulls_last=True)


def alert_history(
    wh: Warehouse,
    project_id: str = "default",
    limit: int = 50,
    *,
    rule: str | None = None,
    since: datetime | None = None,
) -> pl.DataFrame:
    """The latest ``limit`` alert events of the project, newest first, optionally of one ``rule`` and
    from ``since``.

    Columns: those of ``alert_events`` but the message, :data:`MESSAGE_FIELDS` from the message, and the
    deliveries: ``deliveries`` (a list of channel, channel_type, status, attempts, sent_at, last_error),
    ``channels`` (their count), ``sent`` and ``undelivered`` (pending, failed or abandoned).
    """
    params = {"project_id": project_id, "rule": rule, "since": since, "limit": limit}
    events = wh.query("alert_events", params)
    sent = wh.query("alert_event_deliveries", params)
    per_event = sent.group_by("event_id", maintain_order=True).agg(
        pl.struct("channel", "channel_type", "status", "attempts", "sent_at", "last_error").alias(
            "deliveries"
        ),
        pl.len().cast(pl.Int64).alias("channels"),
        (pl.col("status") == "sent").sum().cast(pl.Int64).alias("sent"),
        pl.col("status").is_in(UNDELIVERED).sum().cast(pl.Int64).alias("undelivered"),
    )
    described = pl.concat(
        [events.drop("message"), message_fields(events["message"].to_list())], how="horizontal"
    )
    joined = described.join(per_event, on="event_id", how="left", maintain_order="left")
    return joined.with_columns(pl.col("channels", "sent", "undelivered").fill_null(0))
