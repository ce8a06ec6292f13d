"""A file import mapped in worker processes hands over exactly what the import in one process hands over."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import shutil
import signal
import struct
from pathlib import Path

import pytest
from otlp_helpers import SpanSpec, fixture, json_request, pb_body

from agentledger.core.errors import TransientError
from agentledger.core.pricing import Pricer
from agentledger.core.records import Call, SpanContext
from agentledger.ingest.otlp.files import import_files
from agentledger.ingest.pipeline import Pipeline, PreparedBatch
from agentledger.warehouse import connect

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5}


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[list[Call], list[SpanContext]]] = []

    def __call__(self, calls: list[Call], spans: list[SpanContext]) -> None:
        self.batches.append((calls, spans))


def _line(*span_ids: str, **attributes: object) -> str:
    return json.dumps(
        json_request([SpanSpec(span_id=s, attributes={**CHAT, **attributes}) for s in span_ids])
    )


def _mixed_directory(root: Path) -> Path:
    """Every kind of file, good and bad records, rejected spans, and the same span in two files."""
    for name in ("vercel_generate_text.json", "genai_cache_vector.json", "openllmetry_openai_chat.json"):
        shutil.copy(fixture(name), root / name)
    lines = [
        _line(f"{i:016x}", f"{i + 100:016x}", **{"gen_ai.conversation.id": f"s{i % 3}"}) for i in range(1, 9)
    ]
    lines.insert(3, '{"resourceSpans": [oops')
    lines.append(_line("00000000000000ff", **{"gen_ai.usage.input_tokens": -1}))  # rejected span
    (root / "a.jsonl").write_text("\n".join(lines) + "\n")
    body = pb_body([SpanSpec(span_id=f"{i:016x}", attributes=CHAT) for i in range(0x200, 0x240)])
    (root / "b.pb").write_bytes(struct.pack(">I", len(body)) + body + struct.pack(">I", 99) + body[:5])
    (root / "c.jsonl.gz").write_bytes(
        gzip.compress((_line("0000000000000001", model="later") + "\n").encode())
    )
    (root / "d.pb").write_bytes(body[:-7])  # unreadable
    (root / "e.json").write_text('{"resourceSpans": [')
    return root


def _import(paths: list[Path], workers: int) -> tuple[object, Recorder, list[int]]:
    recorder = Recorder()
    seen: list[int] = []
    report = import_files(
        paths, recorder, project_id="p", batch_spans=7, progress=seen.append, workers=workers
    )
    return report, recorder, seen


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_hand_over_the_same_records_in_the_same_order(tmp_path: Path, workers: int) -> None:
    root = _mixed_directory(tmp_path)
    alone, in_process, seen_alone = _import([root, root / "a.jsonl"], workers=0)
    report, parallel, seen = _import([root, root / "a.jsonl"], workers=workers)
    assert report == alone
    assert (alone.files, alone.rejected, len(alone.errors)) == (9, 2, 5) and alone.calls > 90
    assert seen == seen_alone
    # Same batches, same records, same order (later records of one span win as in a sequential import).
    assert [(len(c), len(s)) for c, s in parallel.batches] == [
        (len(c), len(s)) for c, s in in_process.batches
    ]
    assert parallel.batches == in_process.batches


def _small_files(root: Path, count: int) -> list[Path]:
    for i in range(count):
        (root / f"f{i:03d}.jsonl").write_text(_line(f"{i + 1:016x}") + "\n")
    return [root]


def test_the_workers_stop_when_the_import_fails_even_while_the_error_is_kept(tmp_path: Path) -> None:
    def refused(calls: list[Call], spans: list[SpanContext]) -> None:
        raise RuntimeError("the warehouse refused the batch")

    with pytest.raises(RuntimeError, match="refused") as failure:
        import_files(_small_files(tmp_path, 6), refused, project_id="p", batch_spans=1, workers=2)
    assert failure.value is not None  # the traceback (and the import's frame) is still held here
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_mid_import_stops_it_with_an_error_naming_the_file(tmp_path: Path) -> None:
    def kill_the_workers(_: int) -> None:
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
            child.join()

    with pytest.raises(TransientError, match=r"worker process died while reading .*f\d{3}\.jsonl"):
        import_files(
            _small_files(tmp_path, 40), Recorder(), project_id="p", progress=kill_the_workers, workers=1
        )
    assert multiprocessing.active_children() == []


def _ledger_of_import(root: Path, workers: int, db: Path) -> tuple[object, list, list, list[bool]]:
    """Import ``root`` into a DuckDB ledger through the pipeline, as `agentledger ingest otlp` does."""
    wh = connect(f"duckdb:///{db}")
    handed: list[bool] = []  # per batch written: whether it came from another process
    try:
        with Pipeline(wh, Pricer()).overlapped() as ingest:
            prepared = ingest.prepared

            def counted(batch: PreparedBatch) -> None:
                handed.append(batch._calls is None and batch._rows is None)
                prepared(batch)

            ingest.prepared = counted  # type: ignore[method-assign]
            report = import_files([root], ingest, project_id="p", batch_spans=7, workers=workers)
        calls = wh.sql("SELECT * EXCLUDE (ingested_at) FROM calls ORDER BY trace_id, span_id").rows()
        spans = wh.sql("SELECT * FROM spans ORDER BY trace_id, span_id").rows()
    finally:
        wh.close()
    return report, calls, spans, handed


def test_workers_that_prepare_the_records_store_what_one_process_stores(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    root = _mixed_directory(tmp_path / "files")
    alone = _ledger_of_import(root, 0, tmp_path / "alone.duckdb")
    parallel = _ledger_of_import(root, 2, tmp_path / "parallel.duckdb")
    assert parallel[:3] == alone[:3]
    assert len(alone[1]) > 80 and any("priced" in row for row in alone[1])
    # the workers prepared them (grouped by about 7 spans within a file), this process only wrote them
    assert len(parallel[3]) > 5 and all(parallel[3])
    assert alone[3] and not any(alone[3])
