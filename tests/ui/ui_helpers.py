"""Shared pieces of the dashboard tests: the entry script, a demo ledger in a DuckDB file, alerts on it."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from agentledger.alerts.channels import build_channels
from agentledger.alerts.check import AlertEngine
from agentledger.alerts.delivery import RetryPolicy
from agentledger.alerts.rules import parse_alerts
from agentledger.app.services import build_pipeline, load_demo
from agentledger.core.settings import Settings
from agentledger.warehouse import connect

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"
# A fixed end date makes the demo (and so every figure) the same on every run.
DEMO_END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DEMO_SESSIONS = 120


@dataclass(frozen=True)
class Ledger:
    url: str
    path: Path


def make_demo_ledger(path: Path, sessions: int = DEMO_SESSIONS) -> Ledger:
    """Write the demo workload through the real ingest path into a DuckDB file."""
    url = f"duckdb:///{path}"
    settings = Settings(warehouse=url)
    wh = connect(url)
    try:
        load_demo(
            build_pipeline(settings, wh),
            project_id=settings.project_id,
            sessions=sessions,
            seed=11,
            end=DEMO_END,
        )
    finally:
        wh.close()
    return Ledger(url=url, path=path)


# -- alerts written by the real engine -------------------------------------------------------------

ALERTS_AT = DEMO_END + timedelta(hours=1)
ALERT_RULES = {
    "rules": [
        {"name": "weekly-spend", "kind": "threshold", "metric": "total_cost_usd", "op": ">", "value": 1.0,
         "window": "7d", "severity": "critical"},
        {"name": "day-spend", "kind": "threshold", "metric": "total_cost_usd", "op": ">", "value": 0.01,
         "window": "24h"},
        {"name": "no-price", "kind": "unpriced_model", "window": "7d", "severity": "info"},
    ]
}  # fmt: skip


def write_alert_rounds(url: str) -> None:
    """Two rounds of the real alert engine on the demo ledger at ``url``: at :data:`ALERTS_AT` the three
    rules fire, two days later the 24 h rule resolves and the others remind. Slack is a real local server
    that answers; the webhook's server is down, so its deliveries fail and are retried."""
    # The local servers of the alert tests stand in for the channels.
    if str(REPO / "tests" / "alerts") not in sys.path:
        sys.path.insert(0, str(REPO / "tests" / "alerts"))
    from alert_fixtures import FakeClock, HttpSink

    slack, webhook = HttpSink().start(), HttpSink()  # the webhook server is never started
    settings = Settings(
        slack_webhook_url=SecretStr(slack.url), webhook_url=webhook.url, webhook_secret=SecretStr("whsec")
    )
    config = parse_alerts(ALERT_RULES)
    clock = FakeClock(ALERTS_AT)
    policy = RetryPolicy(attempts=2, backoff_seconds=0.0, give_up_after=timedelta(days=30))
    wh = connect(url)
    try:
        engine = AlertEngine(
            wh,
            settings,
            config,
            build_channels(config, settings),
            clock=clock,
            sleep=lambda s: None,
            policy=policy,
        )
        engine.check()
        clock.advance(days=2)
        engine.check()
    finally:
        wh.close()
        slack.stop()
