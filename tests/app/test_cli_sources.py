"""The pull-source commands through the real CLI: ingest litellm --file, sync with a sources file, sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from agentledger.app.cli import app
from agentledger.warehouse import connect

runner = CliRunner()


def _payload_file(reference_dir, tmp_path):
    record = json.loads((reference_dir / "litellm" / "standard_logging_payload.json").read_text())
    path = tmp_path / "slp.jsonl"
    path.write_text(json.dumps(record) + "\n" + "{not json\n")
    return path, record


def _calls(url: str) -> list[dict]:
    wh = connect(url)
    try:
        return wh.sql(
            "SELECT source, model, input_tokens, output_tokens, cost_reported_usd FROM calls"
        ).to_dicts()
    finally:
        wh.close()


def test_ingest_litellm_file_and_sources(reference_dir, tmp_path) -> None:
    path, record = _payload_file(reference_dir, tmp_path)
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    result = runner.invoke(app, ["ingest", "litellm", "--file", str(path), "--warehouse", url])
    assert result.exit_code == 0, result.output
    calls = _calls(url)
    assert len(calls) == 1 and calls[0]["source"] == "litellm"
    assert calls[0]["input_tokens"] == record["prompt_tokens"]
    assert calls[0]["cost_reported_usd"] == record["response_cost"]

    again = runner.invoke(app, ["ingest", "litellm", "--file", str(path), "--warehouse", url])
    assert again.exit_code == 0, again.output
    assert len(_calls(url)) == 1

    listed = runner.invoke(app, ["sources", "--warehouse", url])
    assert listed.exit_code == 0 and "litellm" in listed.output


def test_ingest_litellm_file_counts_a_bad_line_as_malformed(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("garbage{\n")
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    result = runner.invoke(
        app, ["ingest", "litellm", "--file", str(path), "--warehouse", url], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "litellm_file:" in line)
    assert [cell.strip() for cell in row.split("│")[2:5]] == ["1", "0", "1"]  # records, calls, malformed


def test_a_host_that_is_not_http_is_refused_naming_the_option(tmp_path) -> None:
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    env = {
        "HELICONE_API_KEY": "x",
        "LANGFUSE_PUBLIC_KEY": "pk",
        "LANGFUSE_SECRET_KEY": "sk",
        "LITELLM_API_KEY": "x",
    }
    for args, option in [
        (["helicone", "--host", "notaurl"], "--host"),
        (["langfuse", "--host", "ftp://x"], "--host"),
        (["litellm", "--api-url", "localhost:4000"], "--api-url"),
    ]:
        result = runner.invoke(app, ["ingest", *args, "--warehouse", url], env=env)
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"Error: {option}: ") and "attempts" not in result.output


def test_a_malformed_database_url_is_one_error_line_without_the_password(tmp_path) -> None:
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    for db_url, says in [
        ("mysql://u:hunter2@127.0.0.1:4698/db", "has the scheme 'mysql': it must be postgresql://"),
        ("notaurl", "is not a postgresql:// URL"),
        ("postgresql://u:hunter2@host:notaport/db", "has the port 'notaport': a port must be a number"),
    ]:
        result = runner.invoke(app, ["ingest", "litellm", "--db-url", db_url, "--warehouse", url])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: --db-url ") and says in result.output, result.output
        assert "hunter2" not in result.output and "Traceback" not in result.output


def test_sync_records_a_source_that_cannot_be_built_and_runs_the_others(reference_dir, tmp_path) -> None:
    path, _ = _payload_file(reference_dir, tmp_path)
    config = tmp_path / "agentledger.yaml"
    config.write_text(
        f"sources:\n  - type: helicone\n  - type: litellm_postgres\n  - type: litellm_file\n    path: {path}\n"
    )
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    env = {"DATABASE_URL": "mysql://u:hunter2@127.0.0.1:4698/db", "HELICONE_API_KEY": "", "COLUMNS": "300"}
    result = runner.invoke(app, ["sync", "--config", str(config), "--warehouse", url], env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output and "hunter2" not in result.output
    assert len(_calls(url)) == 1  # the file source after the failing ones still ran
    listed = runner.invoke(app, ["sources", "--warehouse", url], env={"COLUMNS": "500"})
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if line.startswith("│")}
    assert "HELICONE_API_KEY is not set" in rows["helicone"]
    assert "DATABASE_URL mysql://u@127.0.0.1:4698/db has the scheme 'mysql'" in rows["litellm_postgres"]
    assert f"litellm_file:{path}" in rows and "hunter2" not in listed.output


def test_ingest_litellm_needs_exactly_one_way_in(tmp_path) -> None:
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    none = runner.invoke(app, ["ingest", "litellm", "--warehouse", url])
    assert none.exit_code == 1 and "exactly one of --api-url, --db-url or --file" in none.output
    two = runner.invoke(
        app,
        ["ingest", "litellm", "--api-url", "http://127.0.0.1:9", "--file", str(tmp_path), "--warehouse", url],
    )
    assert two.exit_code == 1 and "--api-url, --file" in two.output


def test_sync_reads_the_sources_file(reference_dir, tmp_path) -> None:
    path, _ = _payload_file(reference_dir, tmp_path)
    config = tmp_path / "agentledger.yaml"
    config.write_text(f"sources:\n  - type: litellm_file\n    path: {path}\n")
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    result = runner.invoke(app, ["sync", "--config", str(config), "--warehouse", url])
    assert result.exit_code == 0, result.output
    assert len(_calls(url)) == 1
    missing = runner.invoke(app, ["sync", "--config", str(tmp_path / "nope.yaml"), "--warehouse", url])
    assert missing.exit_code == 1 and "nope.yaml not found" in missing.output


def test_ingest_otlp_files_through_the_cli(tmp_path) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
    for name in ("vercel_generate_text.json", "genai_cache_vector.json", "openllmetry_openai_chat.json"):
        shutil.copy(fixtures / name, tmp_path / name)
    (tmp_path / "broken.json").write_text('{"resourceSpans": [')
    bad_id = json.loads((fixtures / "openllmetry_openai_chat.json").read_text())
    bad_id["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "not-hex"
    (tmp_path / "bad_id.json").write_text(json.dumps(bad_id))
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    first = runner.invoke(app, ["ingest", "otlp", str(tmp_path), "--workers", "2", "--warehouse", url])
    assert first.exit_code == 2, first.output  # a file was skipped: reported, and the others kept
    squeezed = "".join(first.output.split())  # the console wraps long lines at its width
    assert "broken.json:line1,column20:invalidJSON" in squeezed
    assert "bad_id.json:line1:span2000000000000001:traceid'not-hex'" in squeezed  # the rejected span, named
    assert "1rejected" in squeezed
    stored = sorted((c["source"], c["model"], c["input_tokens"]) for c in _calls(url))
    # Vercel: one call (its parent span repeats the usage); the cache vector: two calls; OpenLLMetry: one.
    assert [s[1] for s in stored] == [
        "claude-sonnet-4",
        "claude-sonnet-4-20250514",
        "gpt-3.5-turbo-0125",
        "gpt-4o-2024-08-06",
    ]
    again = runner.invoke(
        app, ["ingest", "otlp", str(tmp_path / "vercel_generate_text.json"), "--warehouse", url]
    )
    assert again.exit_code == 0, again.output
    assert "1 files" in again.output
    assert sorted((c["source"], c["model"], c["input_tokens"]) for c in _calls(url)) == stored
