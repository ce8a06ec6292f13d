"""What a person at a terminal gets from the CLI: readable tables, one-line errors, usage errors that exit 2,
help that says what a command takes, progress bars with a total."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentledger.app.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analytics"))  # the shared hand-built ledger
from handbuilt import build  # noqa: E402

OTLP_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
WIDE = {"COLUMNS": "200"}  # usage errors are drawn in a panel: wide enough that none of them wraps


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('usability') / 'ledger.duckdb'}"
    build(url).close()
    return url


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory) -> str:
    """The demo workload (realistic ids, model names and times), as `agentledger demo` writes it."""
    url = f"duckdb:///{tmp_path_factory.mktemp('usability-demo') / 'demo.duckdb'}"
    result = invoke("demo", "--sessions", "12", "--end", "2026-11-20", "--warehouse", url)
    assert result.exit_code == 0, result.output
    return url


def one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


# -- files that cannot be written ------------------------------------------------------------------


@pytest.mark.parametrize("command", [["export", "focus"], ["report", "weekly"]])
def test_a_folder_as_the_output_file_is_a_one_line_error(ledger, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)  # no rules file around
    result = invoke(*command, "--out", str(tmp_path), "--warehouse", ledger)
    assert result.exit_code == 1
    assert one_error_line(result.output) == f"Error: cannot write {tmp_path}: it is a folder"


@pytest.mark.parametrize(
    ("command", "name"), [(["export", "focus"], "f.csv"), (["report", "weekly"], "r.md")]
)
def test_an_output_file_in_a_missing_folder_is_refused_and_no_folder_is_made(
    ledger, tmp_path, monkeypatch, command, name
):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "missing" / "dir" / name
    result = invoke(*command, "--out", str(target), "--warehouse", ledger)
    assert result.exit_code == 1
    assert one_error_line(result.output) == (
        f"Error: cannot write {target}: the folder {target.parent} does not exist"
    )
    assert not (tmp_path / "missing").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", [["export", "focus"], ["report", "weekly"]])
def test_a_file_the_system_refuses_is_a_one_line_error(ledger, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = invoke(*command, "--out", "/proc/agentledger-test.out", "--warehouse", ledger)
    assert result.exit_code == 1
    assert one_error_line(result.output).startswith("Error: cannot write /proc/agentledger-test.out: ")


def test_an_export_replaces_an_existing_file_whole(ledger, tmp_path):
    target = tmp_path / "focus.csv"
    target.write_text("stale\n" * 100_000)
    result = invoke("export", "focus", "--out", str(target), "--until", "2025-01-13", "--warehouse", ledger)
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert "BilledCost" in text.splitlines()[0] and "stale" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["focus.csv"]  # no temporary file left beside it


# -- readable tables ---------------------------------------------------------------------------------

_RAW = [
    re.compile(r"\d{2}:\d{2}:\d{2}"),  # a time with seconds (or microseconds)
    re.compile(r"\+00:00"),
    re.compile(r"\d\.\d+e-\d"),  # a float in scientific notation
    re.compile(r"\['"),  # a Python list
]


@pytest.mark.parametrize(
    "args",
    [
        ["top", "--limit", "5"],
        ["top", "sessions", "--limit", "5"],
        ["waste"],
        ["waste", "--group-by", "model"],
        ["audit"],
        ["anomalies", "--z", "0.5", "--since", "2026-11-01"],
    ],
)
def test_analytics_tables_fit_120_columns_one_line_per_row(demo_ledger, args):
    table = invoke(*args, "--warehouse", demo_ledger, env={"COLUMNS": "120"})
    assert table.exit_code == 0, table.output
    raw = invoke(*args, "--json", "--warehouse", demo_ledger)
    data = json.loads(raw.stdout)
    rows = len(data) if isinstance(data, list) else len(data["by_model"]) + len(data["unpriced"])
    body = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert len(body) == rows, table.stdout  # no cell wrapped onto a second line
    assert all(len(line) <= 120 for line in table.stdout.splitlines())
    for pattern in _RAW:
        assert not pattern.search(table.stdout), (pattern.pattern, table.stdout)


def test_top_shows_dollars_and_minutes_and_json_keeps_every_raw_column(demo_ledger):
    table = invoke("top", "--limit", "3", "--warehouse", demo_ledger, env={"COLUMNS": "120"})
    rows = json.loads(invoke("top", "--limit", "3", "--json", "--warehouse", demo_ledger).stdout)
    for row, line in zip(rows, [x for x in table.stdout.splitlines() if x.startswith("│")], strict=True):
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert row["trace_id"] in cells
        assert f"${row['cost_usd']:,.4f}" in cells  # below a dollar: four digits, as `metrics` shows it
        assert row["started_at"][:16] in cells  # YYYY-MM-DD HH:MM
    assert set(rows[0]) >= {"source", "session_key", "cache_read_tokens", "ended_at", "duration_ms"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00", rows[0]["started_at"])


def test_waste_shows_shares_as_percentages_and_one_example_trace(ledger):
    table = invoke("waste", "--since", "2025-01-06", "--until", "2025-01-13", "--warehouse", ledger)
    line = next(x for x in table.stdout.splitlines() if "failed_task" in x)
    cells = [c.strip() for c in line.strip("│").split("│")]
    assert cells[:3] == ["failed_task", "waste", "$1.00"] and cells[3].endswith("%")


# -- usage errors exit 2 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option", "allowed"),
    [
        (["report", "weekly", "--format", "pdf"], "'--format'", "'md', 'html', 'json'"),
        (["export", "focus", "x.csv", "--granularity", "day"], "'--granularity'", "'hour', 'call'"),
        (["export", "focus", "x.csv", "--format", "xlsx"], "'--format'", "'csv', 'parquet'"),
        (["waste", "--group-by", "nonsense"], "'--group-by'", "'agent'"),
        (["metrics", "--group-by", "nope"], "'--group-by'", "'environment'"),
        (["top", "foo"], "'what'", "'traces', 'sessions'"),
        (["anomalies", "--metric", "bogus"], "'--metric'", "'p95_session_cost_usd'"),
        (["ingest", "helicone", "--cost-unit", "eur"], "'--cost-unit'", "'usd', 'nano_usd'"),
    ],
)
def test_a_value_outside_an_option_s_choices_is_a_usage_error(tmp_path, args, option, allowed):
    # refused while parsing: the ledger named is never looked for
    result = invoke(*args, "--warehouse", f"duckdb:///{tmp_path / 'none.duckdb'}", env=WIDE)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}" in result.output and allowed in result.output
    assert "no ledger" not in result.output


@pytest.mark.parametrize(
    ("command", "listed"),
    [
        (["report", "weekly"], "md|html|json"),
        (["export", "focus"], "hour|call"),
        (["top"], "traces|sessions"),
        (["anomalies"], "total_cost_usd, cost_per_completed_task_usd, p95_session_cost_usd"),
        (["waste"], "day, week, agent, task_type"),
        (["metrics"], "day, week, agent, task_type"),
    ],
)
def test_help_lists_the_choices(command, listed):
    result = invoke(*command, "--help", env=WIDE)
    assert result.exit_code == 0 and listed in result.output


# -- help texts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["metrics"], ["export", "focus"], ["report", "weekly"], ["alerts", "check"], ["up"]]
)
def test_flags_show_no_value_in_the_help(command):
    result = invoke(*command, "--help", env=WIDE)
    assert result.exit_code == 0
    assert "<bool>" not in result.output


def test_metrics_help_points_at_the_readme():
    result = invoke("metrics", "--help", env=WIDE)
    assert "DESIGN.md" not in result.output and "README" in result.output


def test_export_focus_without_a_file_says_how_to_give_one(tmp_path):
    result = invoke("export", "focus", "--warehouse", f"duckdb:///{tmp_path / 'x.duckdb'}", env=WIDE)
    assert result.exit_code == 2
    assert "give the file to write: --out FILE" in result.output and "once" not in result.output


# -- settings and the running server ----------------------------------------------------------------------


def test_a_bad_recommender_setting_names_its_variable(ledger):
    env = {"AGENTLEDGER_RECOMMEND_MIN_MONTHLY_SAVINGS_USD": "abc"}
    result = invoke("recommend", "--warehouse", ledger, env=env)
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert line.startswith("Error: invalid setting: AGENTLEDGER_RECOMMEND_MIN_MONTHLY_SAVINGS_USD: ")
    assert "RecommendOptions" not in line and "abc" not in line


def test_a_request_the_server_refuses_is_one_readable_line(tmp_path, server_factory):
    url = f"duckdb:///{tmp_path / 'held.duckdb'}"
    server_factory(url)
    result = invoke("keys", "create", "--project", "", "--warehouse", url)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: project '': String should have at least 1 character"], result.output
    assert "string_too_short" not in result.output and "[{" not in result.output


# -- progress bars ------------------------------------------------------------------------------------------


def test_demo_progress_counts_sessions_to_their_total(tmp_path):
    result = invoke("demo", "--sessions", "5", "--warehouse", f"duckdb:///{tmp_path / 'demo.duckdb'}")
    assert result.exit_code == 0, result.output
    assert "5/5" in result.output and "/?" not in result.output


def test_ingest_progress_counts_files_to_their_total(tmp_path):
    files = sorted(p for p in OTLP_FIXTURES.iterdir() if p.suffix == ".json")
    result = invoke(
        "ingest", "otlp", str(OTLP_FIXTURES), "--warehouse", f"duckdb:///{tmp_path / 'otlp.duckdb'}"
    )
    assert result.exit_code == 0, result.output
    assert f"{len(files)}/{len(files)}" in result.output and "/?" not in result.output
