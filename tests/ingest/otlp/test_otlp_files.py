"""Importing OTLP files: JSON, JSON lines, protobuf, gzip; bad records are named and skipped."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
from pathlib import Path

import pytest
from otlp_helpers import SpanSpec, fixture, json_request, pb_body, reference

from agentledger.core.records import Call, SpanContext
from agentledger.ingest.otlp.files import FileError, FileItem, import_files, iter_file_requests

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5}


def request_line(*span_ids: str) -> str:
    return json.dumps(json_request([SpanSpec(span_id=s, attributes=CHAT) for s in span_ids]))


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[list[Call], list[SpanContext]]] = []

    def __call__(self, calls: list[Call], spans: list[SpanContext]) -> None:
        self.batches.append((calls, spans))


def test_json_lines_with_a_bad_line_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    lines = [
        request_line("0000000000000001"),
        '{"resourceSpans": [oops',
        "",
        request_line("0000000000000002", "0000000000000003"),
        '{"resourceSpans": 5}',
    ]
    path.write_text("\n".join(lines) + "\n")
    items = list(iter_file_requests(path))
    assert [type(i).__name__ for i in items] == ["FileItem", "FileError", "FileItem", "FileError"]
    assert [i.position for i in items] == ["line 1", "line 2", "line 4", "line 5"]
    assert "invalid JSON" in items[1].message and "resourceSpans" in items[3].message
    assert str(path) in items[1].describe()

    recorder = Recorder()
    report = import_files([path], recorder, project_id="imported")
    assert (report.files, report.requests, report.spans, report.calls, report.rejected) == (1, 2, 3, 3, 0)
    assert len(report.errors) == 2 and "line 2" in report.errors[0]
    assert {c.project_id for calls, _ in recorder.batches for c in calls} == {"imported"}


def test_pretty_json_file_and_collector_style_json_lines(tmp_path: Path) -> None:
    pretty = tmp_path / "trace.json"
    shutil.copy(reference("otel/examples_trace.json"), pretty)
    [item] = iter_file_requests(pretty)
    assert isinstance(item, FileItem) and item.position == "file"
    assert item.request.spans[0].span_id == "eee19b7ec3c1b174"

    collector = (
        tmp_path / "collector.json"
    )  # the Collector's file exporter: one request per line, .json suffix
    collector.write_text(request_line("0000000000000011") + "\n" + request_line("0000000000000012") + "\n")
    assert [i.position for i in iter_file_requests(collector)] == ["line 1", "line 2"]


def test_pretty_documents_one_after_another_and_a_bad_first_line(tmp_path: Path) -> None:
    # `jq . traces.json > pretty.json` on a Collector file: pretty-printed requests one after another
    pretty = [json.dumps(json.loads(request_line(f"{i:016x}")), indent=2) for i in (0x71, 0x72, 0x73)]
    path = tmp_path / "pretty.json"
    path.write_text("\n" + "\n".join(pretty[:2]) + "\n\n" + pretty[2] + "\n")
    items = list(iter_file_requests(path))
    lines_each = pretty[0].count("\n") + 1
    assert [type(i).__name__ for i in items] == ["FileItem"] * 3
    assert [i.position for i in items] == ["line 2", f"line {2 + lines_each}", f"line {3 + 2 * lines_each}"]
    assert [i.request.spans[0].span_id for i in items] == [f"{i:016x}" for i in (0x71, 0x72, 0x73)]

    cut = tmp_path / "cut.json"  # the last document cut short: the ones before it are kept
    cut.write_text(pretty[0] + "\n" + pretty[1][:40])
    items = list(iter_file_requests(cut))
    assert [type(i).__name__ for i in items] == ["FileItem", "FileError"]
    assert int(items[1].position.split()[1].rstrip(",")) > lines_each  # where the second one breaks off

    collector = tmp_path / "collector.json"  # JSON lines whose first line is damaged
    collector.write_text('{"resourceSpans": [oops}\n' + request_line("0000000000000074") + "\n")
    items = list(iter_file_requests(collector))
    assert [(type(i).__name__, i.position) for i in items] == [
        ("FileError", "line 1"),
        ("FileItem", "line 2"),
    ]


def test_invalid_whole_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "resourceSpans": [\n    {,}\n  ]\n}\n')
    [error] = iter_file_requests(path)
    assert isinstance(error, FileError) and error.position == "line 3, column 6"
    path.write_text('\n\n{\n  "resourceSpans": [\n    {,}\n  ]\n}\n')  # counted from the file's first line
    [error] = iter_file_requests(path)
    assert isinstance(error, FileError) and error.position == "line 5, column 6"


def test_protobuf_and_gzip_files(tmp_path: Path) -> None:
    body = pb_body([SpanSpec(span_id="0000000000000021", attributes=CHAT)])
    (tmp_path / "a.pb").write_bytes(body)
    (tmp_path / "b.binpb.gz").write_bytes(gzip.compress(body))
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress((request_line("0000000000000022") + "\n").encode()))
    (tmp_path / "d.json.gz").write_bytes(gzip.compress(fixture("vercel_generate_text.json").read_bytes()))
    (tmp_path / "notes.txt").write_text("ignored inside a directory")
    recorder = Recorder()
    report = import_files([tmp_path], recorder, project_id="p")
    assert report.errors == []
    assert (report.files, report.requests, report.calls, report.spans) == (4, 4, 4, 6)


def collector_proto_file(*bodies: bytes) -> bytes:
    """What the Collector's file exporter writes with ``format: proto``: each request after its size as 4 bytes
    (big-endian)."""
    return b"".join(struct.pack(">I", len(body)) + body for body in bodies)


def test_collector_proto_files_with_length_prefixed_requests(tmp_path: Path) -> None:
    first = pb_body([SpanSpec(span_id="0000000000000041", attributes=CHAT)])
    second = pb_body([SpanSpec(span_id=f"{i:016x}", attributes=CHAT) for i in (0x42, 0x43)])
    (tmp_path / "traces.pb").write_bytes(collector_proto_file(first, second))
    (tmp_path / "rotated.binpb.gz").write_bytes(gzip.compress(collector_proto_file(second)))
    items = list(iter_file_requests(tmp_path / "traces.pb"))
    assert [type(i).__name__ for i in items] == ["FileItem", "FileItem"]
    assert [[s.span_id for s in i.request.spans] for i in items] == [
        ["0000000000000041"],
        ["0000000000000042", "0000000000000043"],
    ]
    assert items[1].position == f"message 2 (bytes {8 + len(first)}-{8 + len(first) + len(second)})"
    report = import_files([tmp_path], Recorder(), project_id="p")
    assert report.errors == [] and (report.requests, report.calls) == (3, 5)


def test_collector_proto_file_cut_short_or_with_a_bad_message(tmp_path: Path) -> None:
    good = pb_body([SpanSpec(span_id="0000000000000051", attributes=CHAT)])
    bad = b"\x0a\xff\xff"  # a length-delimited field running past the end of its message
    path = tmp_path / "killed.pb"  # the Collector stopped in the middle of its last write
    path.write_bytes(collector_proto_file(good, bad, good) + struct.pack(">I", 500) + good[:10])
    items = list(iter_file_requests(path))
    assert [type(i).__name__ for i in items] == ["FileItem", "FileError", "FileItem", "FileError"]
    assert items[1].position.startswith("message 2 ") and "protobuf" in items[1].message
    assert items[3].position.startswith("message 4 ") and "cut short" in items[3].message
    report = import_files([path], Recorder(), project_id="p")
    assert (report.requests, report.calls, len(report.errors)) == (2, 2, 2)


def test_lone_surrogates_in_json_files_are_replaced_not_fatal(tmp_path: Path) -> None:
    span = SpanSpec(span_id="0000000000000061", attributes={**CHAT, "gen_ai.conversation.id": "S"})
    lines = [json.dumps(json_request([span])).replace('"S"', '"a\\ud800b"'), request_line("0000000000000062")]
    (tmp_path / "lines.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "whole.json").write_text(
        json.dumps(json_request([span]), indent=2).replace('"S"', '"c\\udfffd"')
    )
    recorder = Recorder()
    report = import_files([tmp_path], recorder, project_id="p")
    assert report.errors == [] and report.calls == 3
    sessions = sorted(c.session_id or "" for calls, _ in recorder.batches for c in calls)
    assert sessions == ["", "a\ufffdb", "c\ufffdd"]
    for session in sessions:
        session.encode("utf-8")  # storable text


def test_truncated_gzip_and_bad_protobuf_are_reported(tmp_path: Path) -> None:
    many = "\n".join(request_line(f"{i:016x}") for i in range(1, 200)) + "\n"
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(many.encode())[:-200])
    body = pb_body([SpanSpec(span_id="0000000000000031", attributes={"k": "v" * 100})])
    (tmp_path / "cut.pb").write_bytes(body[:-30])
    report = import_files(
        [tmp_path / "cut.jsonl.gz", tmp_path / "cut.pb", tmp_path / "missing.pb", tmp_path / "x.csv"],
        Recorder(),
        project_id="p",
    )
    assert report.requests > 0  # the readable part of the gzip stream was imported
    assert len(report.errors) == 4
    assert "cannot read further" in report.errors[0]
    assert "bytes 0-" in report.errors[1] and "protobuf" in report.errors[1]
    assert "cannot open" in report.errors[2]
    assert "unknown file type" in report.errors[3]


def test_batches_progress_and_rejections(tmp_path: Path) -> None:
    bad_span = SpanSpec(span_id="00000000000000ff", attributes={**CHAT, "gen_ai.usage.input_tokens": -1})
    lines = [request_line(f"{i:016x}", f"{i + 100:016x}") for i in range(1, 6)]
    lines.append(json.dumps(json_request([bad_span])))
    path = tmp_path / "spans.ndjson"
    path.write_text("\n".join(lines))
    recorder = Recorder()
    seen: list[int] = []
    report = import_files([path], recorder, project_id="p", batch_spans=4, progress=seen.append)
    assert sum(seen) == 11
    assert [len(spans) for _, spans in recorder.batches] == [4, 4, 2]
    assert (report.spans, report.calls, report.rejected) == (10, 10, 1)
    assert "00000000000000ff" in report.rejection_samples[0] and "line 6" in report.rejection_samples[0]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("\n\n")
    [error] = iter_file_requests(path)
    assert isinstance(error, FileError) and "empty" in error.message


@pytest.mark.parametrize(
    "name",
    ["genai_cache_vector.json", "openllmetry_openai_chat.json", "langfuse_generation_usage_details.json"],
)
def test_fixtures_import_without_errors(name: str) -> None:
    report = import_files([fixture(name)], Recorder(), project_id="p")
    assert report.errors == [] and report.rejected == 0 and report.calls >= 1
