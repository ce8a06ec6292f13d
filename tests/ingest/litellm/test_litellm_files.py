"""The file collector: JSON lines, JSON documents, CSV, gzip, bad lines, and the per-file line cursor."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Ledger, spend_log_rows

from agentledger.core.errors import ConfigError
from agentledger.ingest.collectors.base import Collector
from agentledger.ingest.collectors.litellm_files import LiteLLMFileCollector
from agentledger.ingest.config import source_from_options
from agentledger.ingest.sync import sync_collector


def _sync(collector: LiteLLMFileCollector, ledger: Ledger, **kwargs: Any) -> Any:
    return sync_collector(collector, ledger.pipeline, ledger.warehouse, project_id="default", **kwargs)


def _payloads(payload: dict[str, Any], count: int, prefix: str = "slp") -> list[dict[str, Any]]:
    """StandardLoggingPayloads derived from LiteLLM's own, with float epoch times as callbacks see them."""
    base = datetime(2025, 1, 24, 10, 0, tzinfo=UTC).timestamp()
    return [
        payload
        | {
            "id": f"{prefix}-{i}",
            "startTime": base + i,
            "endTime": base + i + 0.5,
            "completionStartTime": base + i + 0.1,
        }
        for i in range(count)
    ]


def _write_lines(path: Path, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.mark.parametrize("name", ["export.jsonl", "export.jsonl.gz"])
def test_mixed_lines_with_a_bad_one(
    tmp_path: Path, name: str, payload: dict[str, Any], spend_log: dict[str, Any], ledger: Ledger
) -> None:
    path = tmp_path / name
    lines = (
        [json.dumps(r) for r in _payloads(payload, 2)]
        + ["{not json"]
        + [json.dumps(r) for r in spend_log_rows(spend_log, 2)]
    )
    lines += ["", json.dumps({"hello": "world"}), json.dumps([1, 2])]
    _write_lines(path, lines)
    collector = LiteLLMFileCollector(path)
    assert isinstance(collector, Collector)
    report = _sync(collector, ledger)
    assert report.ok and report.calls == 4
    # the three bad lines are malformed records of the run (the blank line is nothing)
    assert (report.records, report.malformed) == (7, 3)
    assert report.malformed_ids == [f"{path}:3", f"{path}:7", f"{path}:8"]
    assert sorted(c["span_id"] for c in ledger.calls()) == ["req-00000", "req-00001", "slp-0", "slp-1"]
    assert [p.split(": ", 1)[0] for p in collector.problems] == [f"{path}:3", f"{path}:7", f"{path}:8"]
    assert "not JSON" in collector.problems[0] and "neither 'request_id'" in collector.problems[1]
    assert json.loads(ledger.warehouse.get_cursor(collector.source_key).value) == {str(path): 8}


def test_appended_lines_are_read_once(tmp_path: Path, payload: dict[str, Any], ledger: Ledger) -> None:
    path = tmp_path / "callbacks.jsonl"
    records = _payloads(payload, 5)
    _write_lines(path, [json.dumps(r) for r in records[:3]])
    assert _sync(LiteLLMFileCollector(path), ledger).records == 3
    with path.open("a") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records[3:])
    second = _sync(LiteLLMFileCollector(path), ledger)
    assert second.records == 2
    assert _sync(LiteLLMFileCollector(path), ledger).records == 0
    assert len(ledger.calls()) == 5


def test_a_line_still_being_written_is_read_whole_by_the_next_run(
    tmp_path: Path, payload: dict[str, Any], ledger: Ledger
) -> None:
    """A logger appends a line in more than one write: a sync in between sees its first part only."""
    path = tmp_path / "callbacks.jsonl"
    first, second = (json.dumps(r) for r in _payloads(payload, 2))
    path.write_text(first + "\n" + second[:40])
    collector = LiteLLMFileCollector(path)
    report = _sync(collector, ledger)
    assert (report.records, report.malformed, collector.problems) == (1, 0, [])
    with path.open("a") as handle:
        handle.write(second[40:] + "\n")
    assert _sync(LiteLLMFileCollector(path), ledger).records == 1
    assert [c["span_id"] for c in ledger.calls()] == ["slp-0", "slp-1"]


def test_a_replaced_shorter_file_is_read_again(
    tmp_path: Path, payload: dict[str, Any], ledger: Ledger
) -> None:
    path = tmp_path / "rotating.jsonl"
    _write_lines(path, [json.dumps(r) for r in _payloads(payload, 4)])
    _sync(LiteLLMFileCollector(path), ledger)
    _write_lines(path, [json.dumps(r) for r in _payloads(payload, 2, prefix="rotated")])
    assert _sync(LiteLLMFileCollector(path), ledger).records == 2
    assert len(ledger.calls()) == 6


def test_json_documents_list_and_api_response(
    tmp_path: Path, payload: dict[str, Any], spend_log: dict[str, Any], ledger: Ledger
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(_payloads(payload, 3)))
    api_page = {
        "data": spend_log_rows(spend_log, 2),
        "total": 2,
        "page": 1,
        "page_size": 50,
        "total_pages": 1,
    }
    (folder / "b.json.gz").write_bytes(gzip.compress(json.dumps(api_page).encode()))
    (folder / "c.json").write_text(json.dumps(spend_log))  # one record
    (folder / "notes.txt").write_text("ignored: not a record file")
    collector = LiteLLMFileCollector(folder)
    assert [p.name for p in collector.files()] == ["a.json", "b.json.gz", "c.json"]
    report = _sync(collector, ledger)
    assert report.calls == 6 and collector.problems == []


def test_json_file_holding_json_lines(tmp_path: Path, payload: dict[str, Any], ledger: Ledger) -> None:
    path = tmp_path / "logs.json"
    _write_lines(path, [json.dumps(r) for r in _payloads(payload, 3)])
    assert _sync(LiteLLMFileCollector(path), ledger).calls == 3


def test_csv_export(tmp_path: Path, spend_log: dict[str, Any], ledger: Ledger) -> None:
    rows = spend_log_rows(spend_log, 3)
    path = tmp_path / "spend_logs.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = _sync(LiteLLMFileCollector(path), ledger)
    assert report.calls == 3 and report.malformed == 0
    stored = ledger.calls()
    assert [c["input_tokens"] for c in stored] == [10, 11, 12]
    assert stored[0]["cost_reported_usd"] == pytest.approx(rows[0]["spend"])
    assert stored[0]["response_cache_hit"] is None


def test_since_filter_keeps_the_cursor(tmp_path: Path, payload: dict[str, Any], ledger: Ledger) -> None:
    path = tmp_path / "callbacks.jsonl"
    _write_lines(path, [json.dumps(r) for r in _payloads(payload, 6)])
    collector = LiteLLMFileCollector(path)
    report = _sync(collector, ledger, since=datetime(2025, 1, 24, 10, 0, 4, tzinfo=UTC))
    assert sorted(c["span_id"] for c in ledger.calls()) == ["slp-4", "slp-5"]
    assert report.cursor_after is None
    assert _sync(LiteLLMFileCollector(path), ledger).records == 6  # an unfiltered run still reads everything


def test_malformed_record_is_reported_by_the_runner(
    tmp_path: Path, payload: dict[str, Any], ledger: Ledger
) -> None:
    path = tmp_path / "callbacks.jsonl"
    records = _payloads(payload, 3)
    records[1]["startTime"] = "not a time"
    _write_lines(path, [json.dumps(r) for r in records])
    report = _sync(LiteLLMFileCollector(path, batch_size=2), ledger)
    assert report.malformed == 1 and report.malformed_ids == ["slp-1"] and report.pages == 2


def test_a_file_of_bad_lines_counts_them_as_malformed(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "bad.json"
    path.write_text("garbage{\n[1]\n")
    report = _sync(LiteLLMFileCollector(path, batch_size=1), ledger)
    assert report.ok and report.calls == 0
    assert (report.malformed, report.malformed_ids) == (2, [f"{path}:1", f"{path}:2"])
    assert json.loads(ledger.warehouse.get_cursor(f"litellm_file:{path}").value) == {str(path): 2}
    again = _sync(LiteLLMFileCollector(path), ledger)  # lines already read are not counted again
    assert (again.records, again.malformed) == (0, 0)


def test_from_source_and_missing_path(tmp_path: Path) -> None:
    source = source_from_options({"type": "litellm_file", "path": str(tmp_path)})
    assert LiteLLMFileCollector.from_source(source).path == tmp_path.resolve()
    with pytest.raises(ConfigError, match="no such file"):
        LiteLLMFileCollector(tmp_path / "missing").files()
