"""Credentials never leak: the main error paths run for real, and the secret appears in no log record, no
exception message (the whole chain, with --debug tracebacks) and no CLI output, nor in what is stored.

* a Langfuse key refused with 401 by a fake Langfuse server (which does receive the key);
* a Postgres URL with a password whose server cannot be reached, given as --db-url and as DATABASE_URL;
* an SMTP login refused by a real SMTP server (aiosmtpd) for the alert email channel;
* a ClickHouse warehouse URL with a password whose server cannot be reached (CLI and dashboard);
* then `agentledger sources`, the stored cursors and deliveries, and the dashboard's Sources page.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import streamlit as st
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner, Result

from agentledger.app.cli import app as cli_app
from agentledger.warehouse import connect

LANGFUSE_SECRET = "sk-lf-7c1e0d44-SECRET-c0ffee"
PG_PASSWORD = "pg-Secret-93f1aa"
PG_PASSWORD_ENV = "pg-Secret-env-11be77"
SMTP_PASSWORD = "smtp-Secret-5e5e21"
CLICKHOUSE_PASSWORD = "ch-Secret-0a9b8c"
SECRETS = (LANGFUSE_SECRET, PG_PASSWORD, PG_PASSWORD_ENV, SMTP_PASSWORD, CLICKHOUSE_PASSWORD)
APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Seen:
    """Everything a person or a log collector could see."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def cli(self, result: Result) -> None:
        self.texts.append(result.output)
        if result.exc_info is not None:  # --debug: the exception escapes; its whole chain is visible
            self.texts.append("".join(traceback.format_exception(*result.exc_info)))

    def logs(self, caplog: pytest.LogCaptureFixture) -> None:
        # Read from the teardown: caplog.records would be the teardown's own, so ask for the test's.
        for record in [*caplog.get_records("setup"), *caplog.get_records("call")]:
            self.texts.append(record.getMessage())
            if record.exc_info:
                self.texts.append("".join(traceback.format_exception(*record.exc_info)))

    def assert_hidden(self) -> None:
        for secret in SECRETS:
            leaks = [text for text in self.texts if secret in text]
            assert not leaks, f"{secret!r} leaked in: {leaks[0][:2000]}"


class _LangfuseRefuses(BaseHTTPRequestHandler):
    authorizations: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's API
        type(self).authorizations.append(self.headers.get("authorization", ""))
        body = json.dumps(
            {"message": "Invalid credentials. Confirm that you've configured the correct host."}
        )
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:  # quiet
        return


@pytest.fixture
def langfuse_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LangfuseRefuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_refuses() -> Iterator[int]:
    class Sink:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's API
            return "250 OK"

    def refuse(server, session, envelope, mechanism, auth_data) -> AuthResult:
        return AuthResult(success=False, handled=False)

    port = free_port()
    controller = Controller(
        Sink(), hostname="127.0.0.1", port=port, authenticator=refuse, auth_require_tls=False
    )
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def seen(caplog: pytest.LogCaptureFixture) -> Iterator[Seen]:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and psycopg included
    watcher = Seen()
    yield watcher
    watcher.logs(caplog)
    watcher.assert_hidden()


def test_secrets_stay_hidden_on_every_error_path(
    tmp_path: Path,
    langfuse_server: str,
    smtp_refuses: int,
    seen: Seen,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    warehouse = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    runner = CliRunner()
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-public")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", LANGFUSE_SECRET)
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql://litellm:{PG_PASSWORD_ENV}@127.0.0.1:{free_port()}/litellm"
    )

    def run(*args: str) -> Result:
        result = runner.invoke(cli_app, [*args, "--warehouse", warehouse], env={"COLUMNS": "300"})
        seen.cli(result)
        return result

    # Langfuse refuses the key: the run fails, naming the variable to check, never its value.
    for debug in ([], ["--debug"]):
        result = run(*debug, "ingest", "langfuse", "--host", langfuse_server)
        assert result.exit_code != 0
    assert "401" in seen.texts[0] and "LANGFUSE_SECRET_KEY" in seen.texts[0]
    sent = base64.b64decode(_LangfuseRefuses.authorizations[0].split()[1]).decode()
    assert sent == f"pk-lf-public:{LANGFUSE_SECRET}"  # the server did get the secret: the test is real

    # Postgres cannot be reached: a password in --db-url, and one in DATABASE_URL.
    dead = free_port()
    for debug in ([], ["--debug"]):
        result = run(
            *debug, "ingest", "litellm", "--db-url", f"postgresql://litellm:{PG_PASSWORD}@127.0.0.1:{dead}/db"
        )
        assert result.exit_code != 0
    config = tmp_path / "agentledger.yaml"
    config.write_text(
        f"sources:\n  - type: litellm_postgres\n  - type: langfuse\n    host: {langfuse_server}\n"
    )
    result = run("sync", "--config", str(config))
    assert "cannot connect" in result.output or "connection" in result.output.lower()
    assert any("sync of" in r.getMessage() for r in caplog.records)  # the failures were logged, and read here

    # The SMTP server refuses the login of the alert email channel.
    monkeypatch.setenv("AGENTLEDGER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AGENTLEDGER_SMTP_PORT", str(smtp_refuses))
    monkeypatch.setenv("AGENTLEDGER_SMTP_STARTTLS", "false")
    monkeypatch.setenv("AGENTLEDGER_SMTP_USERNAME", "alerts")
    monkeypatch.setenv("AGENTLEDGER_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("AGENTLEDGER_ALERT_EMAIL_TO", "ops@example.com")
    for debug in ([], ["--debug"]):
        result = run(*debug, "alerts", "test", "email", "--config", str(config))
        assert result.exit_code != 0
    assert "535" in result.output or "refused" in result.output.lower()

    # A ClickHouse warehouse that cannot be reached, its password in the URL.
    clickhouse = f"clickhouse://agentledger:{CLICKHOUSE_PASSWORD}@127.0.0.1:{free_port()}/agentledger"
    for debug in ([], ["--debug"]):
        result = runner.invoke(cli_app, [*debug, "demo", "--sessions", "1", "--warehouse", clickhouse])
        seen.cli(result)
        assert result.exit_code != 0
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", clickhouse)
    page = AppTest.from_file(str(APP), default_timeout=60).run()
    assert [e.value for e in page.error] and "agentledger:***@" in page.error[0].value
    seen.texts += [e.value for e in page.error]

    # What is stored and shown afterwards: `agentledger sources`, the tables, the dashboard's Sources page.
    result = run("sources")
    assert result.exit_code == 0 and "langfuse" in result.output
    wh = connect(warehouse)
    try:
        for table in ("cursors", "alert_deliveries", "alert_delivery_attempts"):
            seen.texts.append(json.dumps(wh.sql(f"SELECT * FROM {table}").to_dicts(), default=str))
    finally:
        wh.close()
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", warehouse)
    page = AppTest.from_file(str(APP), default_timeout=60)
    page.run()
    page.switch_page("views/sources.py").run()
    assert not page.exception, [e.value for e in page.exception]
    shown = [str(getattr(element, "value", "")) for element in [*page.main, *page.sidebar]]
    tables = [frame.value.to_json(date_format="iso") for frame in page.dataframe]  # every cell, not a repr
    assert any("litellm_postgres" in table and "last_error" in table for table in tables)
    seen.texts += [*shown, *tables]
    st.cache_data.clear()  # the next dashboard test starts from empty caches


def test_secrets_can_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentledger.core import settings as settings_module
    from agentledger.core.errors import ConfigError
    from agentledger.ingest.config import LangfuseSource, LiteLLMPostgresSource

    (tmp_path / "agentledger_smtp_password").write_text(SMTP_PASSWORD + "\n")
    monkeypatch.setenv("AGENTLEDGER_SECRETS_DIR", str(tmp_path))
    monkeypatch.setitem(settings_module.Settings.model_config, "secrets_dir", settings_module._secrets_dir())
    assert settings_module.Settings(_env_file=None).smtp_password.get_secret_value() == SMTP_PASSWORD

    (tmp_path / "lf").write_text(LANGFUSE_SECRET)
    (tmp_path / "db").write_text(f"postgresql://litellm:{PG_PASSWORD}@db/litellm")
    env = {"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY_FILE": str(tmp_path / "lf")}
    assert LangfuseSource(type="langfuse").credentials(env)[1].get_secret_value() == LANGFUSE_SECRET
    url = LiteLLMPostgresSource(type="litellm_postgres").database_url(
        {"DATABASE_URL_FILE": str(tmp_path / "db")}
    )
    assert PG_PASSWORD in url.get_secret_value()
    with pytest.raises(ConfigError, match="LANGFUSE_SECRET_KEY_FILE") as caught:
        LangfuseSource(type="langfuse").credentials(
            {"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY_FILE": "/nope"}
        )
    assert LANGFUSE_SECRET not in str(caught.value)


def test_settings_and_addresses_never_show_secrets_in_their_repr() -> None:
    """A Settings object (or a ClickHouse address) printed in a log line, a traceback's locals or a debugger
    shows no password, key, webhook token or URL credential."""
    from agentledger.core.settings import Settings
    from agentledger.warehouse.chclient import parse_server_url

    webhook_token = "hook-Secret-77aa01"
    api_key = "al_default_apiKeySecret0123456789abcdefghij"
    settings = Settings(
        _env_file=None,
        warehouse=f"clickhouse://agentledger:{CLICKHOUSE_PASSWORD}@db.internal:8123/agentledger",
        api_keys=api_key,
        ui_password="ui-Secret-31f0",
        smtp_password=SMTP_PASSWORD,
        slack_webhook_url=f"https://hooks.slack.com/services/T0/B0/{webhook_token}",
        webhook_url=f"https://hooks.example.com/in/{webhook_token}?token={webhook_token}",
        webhook_secret="whsec-Secret-5a5a",
    )
    shown = [repr(settings), str(settings)]
    for text in shown:
        for secret in (
            CLICKHOUSE_PASSWORD,
            api_key,
            "ui-Secret-31f0",
            SMTP_PASSWORD,
            webhook_token,
            "whsec-Secret",
        ):
            assert secret not in text, f"{secret!r} in {text}"
        assert "agentledger:***@db.internal:8123" in text  # still tells which warehouse
        assert "hooks.example.com" in text  # and which webhook host
    # The settings themselves are unchanged: only their printed form hides the secrets.
    assert CLICKHOUSE_PASSWORD in settings.warehouse and webhook_token in (settings.webhook_url or "")
    address = parse_server_url(f"clickhouse://agentledger:{CLICKHOUSE_PASSWORD}@db.internal:8123/agentledger")
    assert CLICKHOUSE_PASSWORD not in repr(address) and address.password == CLICKHOUSE_PASSWORD


def test_a_warehouse_url_with_options_is_refused_without_echoing_them() -> None:
    from agentledger.core.errors import ConfigError
    from agentledger.warehouse.chclient import parse_server_url

    with pytest.raises(ConfigError, match="options are not supported") as caught:
        parse_server_url(f"clickhouse://db.internal:8123/agentledger?password={CLICKHOUSE_PASSWORD}")
    assert CLICKHOUSE_PASSWORD not in str(caught.value) and "db.internal" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        f"clickhous://agentledger:{CLICKHOUSE_PASSWORD}@db.internal:8123/agentledger",  # a mistyped scheme
        f"agentledger:{CLICKHOUSE_PASSWORD}@db.internal:8123/agentledger",  # no scheme at all
        f"postgresql://litellm:{CLICKHOUSE_PASSWORD}@db.internal/litellm",  # LiteLLM's DATABASE_URL by mistake
    ],
)
def test_a_wrong_warehouse_url_is_named_without_its_password(url: str) -> None:
    from agentledger.core.errors import ConfigError
    from agentledger.warehouse import connect as open_warehouse

    with pytest.raises(ConfigError, match="scheme") as caught:
        open_warehouse(url)
    assert CLICKHOUSE_PASSWORD not in str(caught.value) and "db.internal" in str(caught.value)
