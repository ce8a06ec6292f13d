"""The commands (``alerts check/test/history``, ``report weekly``, ``scheduler --once``) and the HTTP endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pytest
import typer
import yaml
from alert_fixtures import P95_RULE, HttpSink, call, support_ledger, write
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agentledger.alerts.channels import build_channels
from agentledger.alerts.check import AlertEngine
from agentledger.alerts.rules import load_alerts
from agentledger.analytics.report import previous_week
from agentledger.app.alerts_api import build_alerts_router
from agentledger.app.cli_alerts import register
from agentledger.core.settings import Settings
from agentledger.warehouse import connect

NOW = datetime.now(UTC)


@pytest.fixture
def workspace(tmp_path: Path, http_sink: HttpSink) -> dict[str, str]:
    """A ledger file with support sessions an hour ago and last week, a rules file, Slack pointed at the sink."""
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    wh = connect(url)
    support_ledger(wh, at=NOW)
    last_week = NOW - timedelta(days=7)
    write(
        wh,
        [
            call(f"lw{i}", "c", 1.0 + i, last_week, task_type=f"type-{i}", agent_name="support-bot")
            for i in range(3)
        ],
    )
    wh.close()
    config = tmp_path / "agentledger.yaml"
    config.write_text(yaml.safe_dump({"sources": [], "alerts": {"rules": [P95_RULE]}}))
    return {
        "AGENTLEDGER_WAREHOUSE": url,
        "AGENTLEDGER_CONFIG_FILE": str(config),
        "AGENTLEDGER_SLACK_WEBHOOK_URL": http_sink.url,
        "AGENTLEDGER_DASHBOARD_URL": "http://ledger.example:8501",
    }


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def invoke(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli(), list(args), env=env)


def test_alerts_check_dry_run_then_for_real_then_history(
    workspace: dict[str, str], http_sink: HttpSink
) -> None:
    dry = invoke(workspace, "alerts", "check", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.stdout)
    assert [(a["alert_key"], a["firing"]) for a in data["alerts"]] == [("support-p95", True)]
    assert data["alerts"][0]["value"] == pytest.approx(0.96)
    assert http_sink.requests == []

    real = invoke(workspace, "alerts", "check")
    assert real.exit_code == 0, real.output
    assert "support-p95" in real.stdout and "fired" in real.stdout
    (request,) = http_sink.requests
    assert json.loads(request.body)["text"].startswith("FIRING: support-p95")

    again = invoke(workspace, "alerts", "check")  # inside the cooldown: nothing new
    assert again.exit_code == 0 and len(http_sink.requests) == 1

    history = invoke(workspace, "alerts", "history", "--json")
    events = json.loads(history.stdout)
    assert [(e["event"], e["deliveries"][0]["status"]) for e in events] == [("fired", "sent")]


def test_a_dry_run_needs_no_channel_secret_and_names_what_is_missing(
    workspace: dict[str, str], tmp_path: Path
) -> None:
    rule = {**P95_RULE, "channels": ["finops-mail"]}
    config = tmp_path / "mail.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "alerts": {
                    "channels": [{"name": "finops-mail", "type": "email", "to": ["a@x.test"]}],
                    "rules": [rule],
                }
            }
        )
    )
    env = {**workspace, "AGENTLEDGER_CONFIG_FILE": str(config)}
    dry = invoke(env, "alerts", "check", "--dry-run")
    assert dry.exit_code == 0, dry.output
    squeezed = " ".join(dry.output.split())
    assert "1 notification(s) would be sent" in squeezed
    assert "not configured" in squeezed and "AGENTLEDGER_SMTP_HOST" in squeezed
    real = invoke(env, "alerts", "check")  # a real check still stops on the missing server
    assert real.exit_code == 1 and "AGENTLEDGER_SMTP_HOST" in str(real.exception or real.output)


def test_a_rules_file_named_but_missing_is_an_error_not_an_empty_rule_set(
    workspace: dict[str, str], http_sink: HttpSink, tmp_path: Path
) -> None:
    assert invoke(workspace, "alerts", "check").exit_code == 0  # support-p95 fires
    typo = tmp_path / "agentledger.yml"
    for env, args in (
        ({**workspace, "AGENTLEDGER_CONFIG_FILE": str(typo)}, ("alerts", "check")),
        (workspace, ("alerts", "check", "--config", str(typo))),
    ):
        result = invoke(env, *args)
        assert result.exit_code == 1 and "no such config file" in str(result.exception)
    # the alert is still firing: a later round does not notify it again
    again = invoke(workspace, "alerts", "check", "--json")
    assert again.exit_code == 0 and len(http_sink.requests) == 1


def test_the_default_rules_file_absent_while_alerts_fire_stops_the_round(
    workspace: dict[str, str], http_sink: HttpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another folder, the default ``agentledger.yaml`` is not there: resolving every firing alert
    silently, then firing them again from the right folder, would repeat their notifications."""
    assert invoke(workspace, "alerts", "check").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    env = {**workspace, "AGENTLEDGER_CONFIG_FILE": None}
    result = invoke(env, "alerts", "check")
    assert result.exit_code == 1
    message = " ".join(str(result.exception).split())
    assert "no rules file at" in message and "support-p95" in message and "AGENTLEDGER_CONFIG_FILE" in message
    monkeypatch.chdir(tmp_path)  # where the rules file is
    assert invoke(workspace, "alerts", "check").exit_code == 0
    assert len(http_sink.requests) == 1  # still firing, inside its cooldown: not notified again


def test_report_weekly_needs_no_channel_secret_unless_sent(workspace: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "mail.yaml"
    channels = [{"name": "finops-mail", "type": "email", "to": ["a@x.test"]}]
    config.write_text(
        yaml.safe_dump(
            {"alerts": {"channels": channels, "rules": [], "report": {"channels": ["finops-mail"]}}}
        )
    )
    env = {**workspace, "AGENTLEDGER_CONFIG_FILE": str(config), "AGENTLEDGER_SMTP_HOST": None}
    shown = invoke(env, "report", "weekly", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["week"] == previous_week(NOW)
    sent = invoke(env, "report", "weekly", "--send")
    assert sent.exit_code == 1 and "AGENTLEDGER_SMTP_HOST" in str(sent.exception)


def test_alerts_test_sends_through_the_channel_and_fails_loudly(
    workspace: dict[str, str], http_sink: HttpSink
) -> None:
    ok = invoke(workspace, "alerts", "test", "slack")
    assert ok.exit_code == 0, ok.output
    assert json.loads(http_sink.requests[0].body)["text"].startswith("TEST: test")
    http_sink.stop()
    down = invoke(workspace, "alerts", "test", "slack")
    assert down.exit_code == 1 and "failed after 3 attempt(s)" in down.output
    unknown = invoke(workspace, "alerts", "test", "pager")
    assert unknown.exit_code == 1 and "not configured" in str(unknown.exception)


def test_report_weekly_in_every_format_and_sent_once(
    workspace: dict[str, str], http_sink: HttpSink, tmp_path: Path
) -> None:
    week = previous_week(NOW)
    for fmt, marker in (
        ("md", f"# agentledger weekly cost report {week}"),
        ("html", "<!DOCTYPE html>"),
        ("json", f'"week": "{week}"'),
    ):
        out = tmp_path / f"report.{fmt}"
        result = invoke(workspace, "report", "weekly", "--format", fmt, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert marker in out.read_text()
    md = invoke(workspace, "report", "weekly", "--week", week).stdout
    assert "| 1 | type-2 | $3.00 |" in md and "| 3 | type-0 | $1.00 |" in md

    sent = invoke(workspace, "report", "weekly", "--send", "--format", "json")
    assert sent.exit_code == 0, sent.output
    assert len(http_sink.requests) == 1 and json.loads(http_sink.requests[0].body)["text"].startswith(
        f"agentledger weekly cost report {week}"
    )
    again = invoke(workspace, "report", "weekly", "--send")
    assert again.exit_code == 0
    assert len(http_sink.requests) == 1  # this week's report already went to this channel
    assert "already sent → slack" in again.output and "--resend" in again.output
    assert invoke(workspace, "report", "weekly", "--send", "--resend").exit_code == 0
    assert len(http_sink.requests) == 2

    bad = invoke(workspace, "report", "weekly", "--format", "xml")
    assert bad.exit_code == 2 and "Invalid value for '--format'" in bad.output  # a usage error


def test_report_weekly_send_without_a_channel_names_the_settings(
    workspace: dict[str, str], tmp_path: Path
) -> None:
    from agentledger.app.cli import app

    env = {**workspace, "AGENTLEDGER_SLACK_WEBHOOK_URL": None, "AGENTLEDGER_SMTP_HOST": None}
    env |= {"AGENTLEDGER_WEBHOOK_URL": None, "AGENTLEDGER_ALERT_EMAIL_TO": None}
    out = tmp_path / "report.md"
    result = CliRunner().invoke(app, ["report", "weekly", "--send", "--out", str(out)], env=env)
    assert result.exit_code == 1  # the CLI's exit code for a configuration error
    assert isinstance(result.exception, SystemExit)  # an error message, not a traceback
    message = " ".join(result.output.split())
    assert message.startswith("Error:")
    for setting in ("SLACK_WEBHOOK_URL", "SMTP_HOST", "ALERT_EMAIL_TO", "WEBHOOK_URL"):
        assert f"AGENTLEDGER_{setting}" in message
    assert not out.exists()  # nothing half done: the report is not written when it cannot be sent


def test_scheduler_once_runs_what_is_due(workspace: dict[str, str], http_sink: HttpSink) -> None:
    result = invoke(workspace, "scheduler", "--once")
    assert result.exit_code == 0, result.output
    assert "alerts: ran" in result.output and "report:" in result.output
    assert any(json.loads(r.body)["text"].startswith("FIRING") for r in http_sink.requests)
    assert "sync" not in result.output  # no sources configured: no sync job


# -- HTTP -------------------------------------------------------------------------------------------


@pytest.fixture
def api(workspace: dict[str, str]):
    settings = Settings(
        warehouse=workspace["AGENTLEDGER_WAREHOUSE"],
        config_file=Path(workspace["AGENTLEDGER_CONFIG_FILE"]),
        slack_webhook_url=workspace["AGENTLEDGER_SLACK_WEBHOOK_URL"],
    )
    wh = connect(settings.warehouse)

    def require_key(x_api_key: Annotated[str | None, Header()] = None) -> str:
        """Like the app's: the caller's project (this key's is the settings' own), or 401."""
        if x_api_key != "k":
            raise HTTPException(401, "missing or invalid API key")
        return settings.project_id

    app = FastAPI()
    app.include_router(build_alerts_router(wh, settings, require_key))
    yield TestClient(app, headers={"X-API-Key": "k"}), settings, wh
    wh.close()


def test_rules_can_be_read_and_replaced(api) -> None:
    client, settings, _ = api
    got = client.get("/api/alerts/rules").json()
    assert [r["name"] for r in got["rules"]] == ["support-p95"]
    assert got["rules"][0]["window"] == "1d" and got["configured_channels"] == [
        {"name": "slack", "type": "slack"}
    ]

    new = {
        "rules": [P95_RULE, {"name": "monthly", "kind": "budget", "amount_usd": 500, "channels": ["slack"]}]
    }
    put = client.put("/api/alerts/rules", json=new)
    assert put.status_code == 200, put.text
    on_disk = yaml.safe_load(settings.config_file.read_text())
    assert on_disk["sources"] == [] and [r["name"] for r in on_disk["alerts"]["rules"]] == [
        "support-p95",
        "monthly",
    ]

    bad = client.put(
        "/api/alerts/rules",
        json={"rules": [{"name": "x", "kind": "threshold", "metric": "nope", "value": 1}]},
    )
    assert bad.status_code == 422 and "alerts.rules[0].metric" in bad.json()["detail"]
    assert len(yaml.safe_load(settings.config_file.read_text())["alerts"]["rules"]) == 2  # unchanged
    # a negative window used to be saved as "-1m", leaving a file that every later read refused (500)
    negative = {"name": "x", "kind": "threshold", "metric": "calls", "value": 1, "window": -5}
    bad = client.put("/api/alerts/rules", json={"rules": [negative]})
    assert bad.status_code == 422 and "alerts.rules[0].window" in bad.json()["detail"]
    assert client.get("/api/alerts/rules").status_code == 200
    assert client.get("/api/reports/weekly", params={"week": "9999-W52"}).status_code == 422
    assert client.get("/api/alerts/rules", headers={"X-API-Key": "wrong"}).status_code == 401


def test_rules_in_a_read_only_folder_are_not_saved_and_say_why(api) -> None:
    """docker-compose.yml mounts the rules file's folder read-only: a PUT is refused with 409, not a 500."""
    client, settings, _ = api
    before = settings.config_file.read_text()
    # what cannot be written, whoever runs the tests: the file the new rules go to first is a folder
    settings.config_file.with_name(settings.config_file.name + ".tmp").mkdir()
    put = client.put("/api/alerts/rules", json={"rules": [P95_RULE]})
    assert put.status_code == 409 and "the rules were not saved" in put.json()["detail"]
    assert settings.config_file.read_text() == before


def test_history_state_and_weekly_report_endpoints(api) -> None:
    client, settings, wh = api
    assert client.get("/api/alerts/history").json() == []
    config = load_alerts(settings.config_file)
    AlertEngine(wh, settings, config, build_channels(config, settings)).check()
    (event,) = client.get("/api/alerts/history").json()
    assert (event["event"], event["rule_name"], event["deliveries"][0]["status"]) == (
        "fired",
        "support-p95",
        "sent",
    )
    assert event["message"]["value"] == pytest.approx(0.96)
    (state,) = client.get("/api/alerts/state").json()
    assert (state["alert_key"], state["status"]) == ("support-p95", "firing")
    report = client.get("/api/reports/weekly").json()
    assert report["week"] == previous_week(NOW) and [r["key"] for r in report["task_types"]] == [
        "type-2",
        "type-1",
        "type-0",
    ]
    md = client.get("/api/reports/weekly", params={"format": "md"})
    assert md.headers["content-type"].startswith("text/markdown") and md.text.startswith(
        "# agentledger weekly"
    )
    html = client.get("/api/reports/weekly", params={"format": "html", "week": "2026-W47"})
    assert html.headers["content-type"].startswith("text/html") and "2026-W47" in html.text
    assert client.get("/api/reports/weekly", params={"week": "47"}).status_code == 422
