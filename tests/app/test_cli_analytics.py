"""The analytics CLI commands, registered on a typer app and run against a warehouse file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from agentledger.app.cli_analytics import register

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analytics"))  # the shared hand-built ledger
from handbuilt import WEEK1_TOTAL, build  # noqa: E402


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    url = f"duckdb:///{tmp_path_factory.mktemp('cli') / 'ledger.duckdb'}"
    build(url).close()
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--warehouse", url])
        assert result.exit_code == 0, result.output
        return result.stdout

    return run


def test_export_focus_writes_the_file(cli, tmp_path):
    target = tmp_path / "focus.parquet"
    cli("export", "focus", str(target), "--until", "2025-01-13")
    frame = pl.read_parquet(target)
    assert frame["BilledCost"].sum() == pytest.approx(WEEK1_TOTAL)


def test_export_focus_takes_the_file_as_out_option(cli, tmp_path):
    # The documented form: agentledger export focus --out FILE [--format csv|parquet]
    target = tmp_path / "focus.data"
    cli("export", "focus", "--out", str(target), "--format", "csv", "--until", "2025-01-13")
    assert pl.read_csv(target)["BilledCost"].sum() == pytest.approx(WEEK1_TOTAL)


def test_export_focus_needs_exactly_one_file(tmp_path):
    app = typer.Typer()
    register(app)
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    runner = CliRunner()
    missing = runner.invoke(app, ["export", "focus", "--warehouse", url])
    assert missing.exit_code != 0 and "--out" in missing.output
    both = runner.invoke(app, ["export", "focus", str(tmp_path / "a.csv"), "--out", str(tmp_path / "b.csv")])
    assert both.exit_code != 0 and "--out" in both.output


def test_waste_and_reprice_as_json(cli):
    rows = json.loads(cli("waste", "--since", "2025-01-06", "--until", "2025-01-13", "--json"))
    assert {r["reason"]: r["cost_usd"] for r in rows}["failed_task"] == pytest.approx(1.00)
    # No prices file: the catalog knows no acme model, so a dry re-price would leave the 6 acme-small calls
    # without a price, except T1 c2 whose source reported $0.30.
    report = json.loads(cli("reprice", "--json", "--model", "acme-small"))
    assert [(r["model"], r["calls"], r["unpriced_after"]) for r in report] == [("acme-small", 6, 5)]
    assert report[0]["cost_after_usd"] == pytest.approx(0.30)


def test_top_audit_and_anomalies_run(cli):
    top = json.loads(cli("top", "traces", "--limit", "1", "--until", "2025-01-13", "--json"))
    assert top[0]["trace_id"] == "T3"
    audit = json.loads(cli("audit", "--since", "2025-01-06", "--json"))
    assert {(r["source"], r["model"]) for r in audit["by_model"]} >= {
        ("otlp", "acme-large"),
        ("otlp", "acme-small"),
    }
    assert [u["model"] for u in audit["unpriced"]] == ["mystery"]
    # planner spent $1.50 on its first day and nothing for the next six: the $1.00 of 2025-01-13 is far from
    # that baseline (median 0, MAD 0, mean absolute deviation 1.5 / 7).
    flags = json.loads(cli("anomalies", "--since", "2025-01-13", "--until", "2025-01-20", "--json"))
    assert [(f["day"], f["agent"], f["value"], f["baseline"]) for f in flags] == [
        ("2025-01-13", "planner", 1.0, 0.0)
    ]
    assert flags[0]["robust_z"] == pytest.approx(1.0 / (1.253314 * 1.5 / 7))
    assert flags[0]["top_trace_ids"] == ["T6"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["anomalies", "--since", "0001-01-10"], "--since: '0001-01-10' is outside the ledger's time range"),
        (["recommend", "--until", "0001-01-02"], "--until: '0001-01-02' is outside the ledger's time range"),
        (["metrics", "--since", "2025-01-06", "--until", "9999-12-31"], "outside the ledger's time range"),
        (["top", "--limit", "0"], "--limit"),
        (["export", "focus", "never-written.csv", "--format", "xml"], "Invalid value for '--format'"),
    ],
)
def test_bad_windows_and_limits_are_errors_not_tracebacks(tmp_path, args, message):
    from agentledger.app.cli import app as main_app

    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    build(url).close()
    result = CliRunner().invoke(main_app, [*args, "--warehouse", url])
    assert result.exit_code in (1, 2), result.output  # 2: typer's own usage error
    assert message in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_invalid_setting_names_its_variable_without_a_traceback(tmp_path):
    from agentledger.app.cli import app as main_app

    env = {"AGENTLEDGER_COST_POLICY": "bogus", "AGENTLEDGER_SMTP_PASSWORD": "hunter2-secret"}
    result = CliRunner().invoke(
        main_app, ["metrics", "--warehouse", f"duckdb:///{tmp_path / 'x.duckdb'}"], env=env
    )
    assert result.exit_code == 1
    assert "Error: invalid setting: AGENTLEDGER_COST_POLICY" in result.output
    assert "bogus" not in result.output  # values are never echoed: some settings are secrets
    assert "hunter2-secret" not in result.output and "Traceback" not in result.output
    port = CliRunner().invoke(main_app, ["metrics"], env={"AGENTLEDGER_PORT": "abc"})
    assert port.exit_code == 1 and "AGENTLEDGER_PORT" in port.output


@pytest.mark.parametrize(
    "args",
    [["metrics"], ["top"], ["waste"], ["recommend"], ["alerts", "check"], ["report", "weekly"]],
)
def test_a_command_that_reads_the_ledger_refuses_one_that_is_not_there(tmp_path, args):
    """A mistyped path or another working directory must not read as an empty ledger ($0)."""
    from agentledger.app.cli import app as main_app

    missing = tmp_path / "nowhere" / "ledger.duckdb"
    result = CliRunner().invoke(main_app, [*args, "--warehouse", f"duckdb:///{missing}"])
    assert result.exit_code == 1, result.output
    assert f"no ledger at {missing}" in " ".join(result.output.split()).replace("\n", "")
    assert not missing.exists() and not missing.parent.exists()
