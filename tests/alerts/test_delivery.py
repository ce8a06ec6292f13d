"""Delivery you can trust, end to end: rules evaluated on a ledger, sent to real local servers.

- a rule firing over three evaluations inside its cooldown is delivered once, after the cooldown again,
  and when it clears one resolution notice goes out;
- with the channel's server down the delivery is retried with backoff and recorded as failed, and once
  the server is back it goes out exactly once.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from alert_fixtures import (
    P95,
    P95_RULE,
    SMTP_PASSWORD,
    SMTP_USER,
    T0,
    FakeClock,
    HttpSink,
    SmtpSink,
    support_ledger,
)
from pydantic import SecretStr

from agentledger.alerts.channels import build_channels
from agentledger.alerts.check import AlertEngine
from agentledger.alerts.delivery import RetryPolicy
from agentledger.alerts.rules import parse_alerts
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

RULES = {"rules": [P95_RULE]}


def engine(
    wh: Warehouse, clock: FakeClock, settings: Settings, sleeps: list[float] | None = None
) -> AlertEngine:
    config = parse_alerts(RULES)
    sleep = sleeps.append if sleeps is not None else (lambda s: None)
    policy = RetryPolicy(attempts=3, backoff_seconds=0.5, retry_later=timedelta(minutes=1))
    return AlertEngine(
        wh, settings, config, build_channels(config, settings), clock=clock, sleep=sleep, policy=policy
    )


@pytest.fixture
def all_channels(http_sink: HttpSink, smtp_sink: SmtpSink) -> Settings:
    webhook = HttpSink().start()
    yield Settings(
        slack_webhook_url=SecretStr(http_sink.url),
        webhook_url=webhook.url,
        webhook_secret=SecretStr("whsec"),
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port,
        smtp_username=SMTP_USER,
        smtp_password=SecretStr(SMTP_PASSWORD),
        smtp_ca_file=smtp_sink.cert,
        smtp_from="agentledger@example.com",
        alert_email_to=["finops@example.com"],
        dashboard_url="http://ledger.example:8501",
    )
    webhook.stop()


def slack_texts(sink: HttpSink) -> list[str]:
    return [json.loads(r.body)["text"] for r in sink.requests]


def test_firing_within_cooldown_is_sent_once_then_again_then_resolved_once(
    wh: Warehouse, http_sink: HttpSink, smtp_sink: SmtpSink, all_channels: Settings
) -> None:
    support_ledger(wh)
    clock = FakeClock(T0)
    alerts = engine(wh, clock, all_channels)

    for minutes in (0, 60, 120):  # three evaluations, all inside the 6 h cooldown
        clock.set(T0 + timedelta(minutes=minutes))
        result = alerts.check()
        assert [e.breaching for e in result.evaluations] == [True]
    assert slack_texts(http_sink) == [f"FIRING: support-p95: p95_session_cost_usd ${P95:.2f} &gt; $0.50"]
    assert [m["Subject"] for m in smtp_sink.messages] == [
        f"[agentledger] FIRING: support-p95: p95_session_cost_usd ${P95:.2f} > $0.50"
    ]
    text = smtp_sink.messages[0].get_body(("plain",)).get_content()
    assert (
        "Top offending sessions:" in text and "s4: $1.00, 1 call, support-bot" in text
    )  # the costliest session

    clock.set(T0 + timedelta(hours=6))  # the cooldown has passed: a reminder
    alerts.check()
    clock.set(T0 + timedelta(hours=7))
    alerts.check()
    assert len(http_sink.requests) == 2 and slack_texts(http_sink)[1].startswith("STILL FIRING: support-p95")

    clock.set(T0 + timedelta(hours=24))  # the expensive sessions left the 24 h window: it clears
    assert [e.breaching for e in alerts.check().evaluations] == [False]
    clock.set(T0 + timedelta(hours=25))
    alerts.check()
    texts = slack_texts(http_sink)
    assert len(texts) == 3 and texts[2].startswith("RESOLVED: support-p95")
    assert [m["Subject"].split(":")[0] for m in smtp_sink.messages] == [
        "[agentledger] FIRING",
        "[agentledger] STILL FIRING",
        "[agentledger] RESOLVED",
    ]
    history = alerts.store.history()
    assert [e["event"] for e in history] == ["resolved", "reminder", "fired"]
    assert {d["channel"] for e in history for d in e["deliveries"]} == {"slack", "email", "webhook"}
    assert all(d["status"] == "sent" and d["attempts"] == 1 for e in history for d in e["deliveries"])


def test_a_down_server_is_retried_recorded_as_failed_and_sent_once_when_back(wh: Warehouse) -> None:
    support_ledger(wh)
    clock, sleeps = FakeClock(T0), []
    slack = HttpSink()  # not started: connection refused
    settings = Settings(slack_webhook_url=SecretStr(slack.url))
    alerts = engine(wh, clock, settings, sleeps)

    (outcome,) = alerts.check().deliveries
    assert (outcome.status, outcome.attempts) == ("failed", 3)
    assert "cannot reach the server" in outcome.last_error
    assert outcome.next_attempt_at == T0 + timedelta(minutes=1)
    assert sleeps == [0.5, 1.0]  # backoff between the three tries
    attempts = alerts.store.attempts(outcome.delivery_id)
    assert [(a["attempt"], a["ok"]) for a in attempts] == [(1, False), (2, False), (3, False)]
    assert alerts.store.history()[0]["deliveries"][0]["status"] == "failed"

    clock.advance(seconds=30)  # not due yet: nothing is tried
    assert alerts.check().deliveries == []

    clock.advance(minutes=1)
    slack.start()  # the server is back
    try:
        (outcome,) = alerts.check().deliveries
        assert (outcome.status, outcome.attempts) == ("sent", 4)
        clock.advance(minutes=5)
        assert alerts.check().deliveries == []  # sent exactly once
        clock.advance(minutes=5)
        alerts.check()
    finally:
        slack.stop()
    assert len(slack.requests) == 1
    assert json.loads(slack.requests[0].body)["text"].startswith("FIRING: support-p95")
    assert [a["ok"] for a in alerts.store.attempts(outcome.delivery_id)] == [False, False, False, True]


def test_a_transient_error_then_success_within_one_run(wh: Warehouse, http_sink: HttpSink) -> None:
    support_ledger(wh)
    http_sink.status = 503
    clock = FakeClock(T0)
    alerts = engine(wh, clock, Settings(slack_webhook_url=SecretStr(http_sink.url)), sleeps=[])

    def recover(seconds: float) -> None:
        http_sink.status = 200  # the server recovers during the backoff

    alerts.sleep = recover
    (outcome,) = alerts.check().deliveries
    assert (outcome.status, outcome.attempts) == ("sent", 2)
    assert len(http_sink.requests) == 2


def test_a_refusal_is_abandoned_and_not_retried(wh: Warehouse, http_sink: HttpSink) -> None:
    support_ledger(wh)
    http_sink.status = 404
    clock = FakeClock(T0)
    alerts = engine(wh, clock, Settings(slack_webhook_url=SecretStr(http_sink.url)))
    (outcome,) = alerts.check().deliveries
    assert (outcome.status, outcome.attempts) == ("abandoned", 1) and "HTTP 404" in outcome.last_error
    clock.advance(hours=1)
    assert alerts.check().deliveries == []
    assert len(http_sink.requests) == 1


def test_a_delivery_failing_for_too_long_is_abandoned(wh: Warehouse) -> None:
    support_ledger(wh)
    clock = FakeClock(T0)
    alerts = engine(wh, clock, Settings(slack_webhook_url=SecretStr(HttpSink().url)))
    (first,) = alerts.check().deliveries
    clock.advance(days=2, minutes=1)
    outcomes = {d.delivery_id: d for d in alerts.check().deliveries}
    assert (outcomes[first.delivery_id].status, outcomes[first.delivery_id].attempts) == ("abandoned", 6)
    assert alerts.store.due(clock.now + timedelta(days=1)) == [
        alerts.store.delivery(d)
        for d in outcomes
        if d != first.delivery_id  # only the resolution notice is left
    ]


def test_dry_run_stores_and_sends_nothing(wh: Warehouse, http_sink: HttpSink) -> None:
    support_ledger(wh)
    alerts = engine(wh, FakeClock(T0), Settings(slack_webhook_url=SecretStr(http_sink.url)))
    result = alerts.check(dry_run=True)
    assert [m.event for m in result.messages] == ["fired"]
    assert alerts.store.states() == {} and alerts.store.history() == [] and http_sink.requests == []


def test_a_429_waits_for_retry_after_and_then_sends_once(wh: Warehouse) -> None:
    # Slack's rate limit answers 429 with Retry-After (seconds); the retry waits that long, and the one
    # message goes out once.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    answers, bodies = [429, 200], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            status = answers.pop(0) if answers else 200
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "7")
            self.end_headers()
            self.wfile.write(b"rate_limited" if status == 429 else b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        support_ledger(wh)
        sleeps: list[float] = []
        url = f"http://127.0.0.1:{server.server_address[1]}/services/T/B/x"
        alerts = engine(wh, FakeClock(T0), Settings(slack_webhook_url=SecretStr(url)), sleeps)
        alerts.check()
    finally:
        server.shutdown()
        server.server_close()
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same payload, retried
    assert sleeps == [7.0]  # the server's Retry-After, not the 0.5 s backoff
    (event,) = alerts.store.history(10, None)
    (delivery,) = event["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)
    assert "HTTP 429" in delivery["attempt_log"][0]["error"]
