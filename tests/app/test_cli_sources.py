"""The pull-source commands through the real CLI: ingest litellm --file, sync with a sources file, sources."""

from __future__ import annotations

import json

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
