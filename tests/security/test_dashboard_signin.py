"""The dashboard's sign-in: a password (AGENTLEDGER_UI_PASSWORD) or Streamlit OIDC, and the refusal to
serve it beyond loopback without one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from agentledger.app.cli import app as cli_app
from agentledger.app.services import build_pipeline, load_demo
from agentledger.core.errors import ConfigError
from agentledger.core.settings import Settings
from agentledger.ui.auth import check_exposure, oidc_configured
from agentledger.warehouse import connect

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"
PASSWORD = "correct horse battery staple"
OIDC = """
[auth]
redirect_uri = "https://ledger.example.com/oauth2callback"
cookie_secret = "a-long-random-cookie-secret"
client_id = "agentledger"
client_secret = "oidc-client-secret"
server_metadata_url = "https://id.example.com/.well-known/openid-configuration"
"""


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


# ------------------------------------------------------------------------------------- start-up refusal


def test_loopback_needs_nothing_and_other_hosts_need_sign_in(tmp_path: Path) -> None:
    no_files: list[Path] = []
    check_exposure("127.0.0.1", settings(), no_files)
    check_exposure("localhost", settings(), no_files)
    with pytest.raises(ConfigError, match="AGENTLEDGER_UI_PASSWORD"):
        check_exposure("0.0.0.0", settings(), no_files)
    check_exposure("0.0.0.0", settings(ui_password=SecretStr(PASSWORD)), no_files)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(OIDC)
    assert oidc_configured([secrets])
    check_exposure("0.0.0.0", settings(), [secrets])


def test_an_incomplete_or_broken_secrets_file_is_not_oidc(tmp_path: Path) -> None:
    partial = tmp_path / "partial.toml"
    partial.write_text('[auth]\nclient_id = "x"\n')
    assert not oidc_configured([partial, tmp_path / "missing.toml"])
    broken = tmp_path / "broken.toml"
    broken.write_text("[auth\n")
    with pytest.raises(ConfigError, match="secrets file"):
        oidc_configured([broken])


def test_ui_and_up_refuse_a_public_host_without_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTLEDGER_UI_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    warehouse = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    ui = subprocess.run(
        [sys.executable, "-m", "agentledger.ui.launch", "--host", "0.0.0.0", "--warehouse", warehouse],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_clean_env(), "HOME": str(tmp_path)},
    )
    assert ui.returncode == 1 and "without sign-in" in ui.stderr
    monkeypatch.setenv("AGENTLEDGER_UI_HOST", "0.0.0.0")
    up = CliRunner().invoke(cli_app, ["up", "--no-demo", "--warehouse", warehouse])
    assert up.exit_code == 1 and "AGENTLEDGER_UI_PASSWORD" in up.output
    assert not (tmp_path / "ledger.duckdb").exists()  # refused before anything was opened


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AGENTLEDGER_")}


# ------------------------------------------------------------------------------------------- the gate


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('signin') / 'ledger.duckdb'}"
    wh = connect(url)
    try:
        load_demo(build_pipeline(settings(warehouse=url), wh), project_id="default", sessions=10, seed=5)
    finally:
        wh.close()
    return url


@pytest.fixture
def protected(ledger: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", ledger)
    monkeypatch.setenv("AGENTLEDGER_UI_PASSWORD", PASSWORD)
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def _texts(at: AppTest) -> str:
    return " ".join(str(getattr(e, "value", "")) for e in [*at.main, *at.sidebar, *at.markdown, *at.title])


@pytest.mark.usefixtures("protected")
def test_nothing_is_shown_before_sign_in_and_everything_after() -> None:
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Password"]
    assert not at.metric and not at.sidebar.date_input  # no figures, no filters
    assert "duckdb" not in _texts(at)  # not even the warehouse's name

    at.text_input[0].input("wrong")  # a form: the value travels with the submit, in one run
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert not at.metric

    at.text_input[0].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.metric, "the overview's tiles after signing in"
    assert not at.text_input or at.text_input[0].label != "Password"
    assert "agentledger_password" not in at.session_state  # the typed password is not kept
