"""The in-memory fingerprints of stored trace ids: they may skip a look-up, never one that would find spans."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from agentledger.core.records import SpanContext, spans_to_arrow
from agentledger.warehouse import connect, stored_traces
from agentledger.warehouse.stored_traces import StoredTraces, fingerprint


def spans(trace_ids: list[str], project: str = "p") -> list[SpanContext]:
    return [SpanContext(source="otlp", trace_id=t, span_id=f"{t}-s", project_id=project) for t in trace_ids]


@pytest.mark.parametrize("trace_id", ["0af7651916cd43dd8448eb211c80319c", "1234567890", "séance-😀", ""])
def test_the_fingerprint_is_duckdbs_md5_number_lower(trace_id: str) -> None:
    (expected,) = duckdb.connect().execute("SELECT md5_number_lower(?)", [trace_id]).fetchone()
    assert fingerprint(trace_id) == expected


def test_every_added_or_loaded_id_is_reported_and_unknown_ones_are_not(monkeypatch) -> None:
    monkeypatch.setattr(stored_traces, "_MERGE_AT", 4)  # exercise the merge into the sorted array
    loaded = [f"old-{i}" for i in range(50)]
    traces = StoredTraces()
    load_calls = []

    def load() -> np.ndarray:
        load_calls.append(1)
        return np.array([fingerprint(t) for t in loaded], dtype=np.uint64)

    added = [f"new-{i}" for i in range(10)]
    traces.add(added[:3])  # before the first look-up: kept, not lost
    assert traces.may_have_spans(["old-3", "new-1", "never"], load) == ["old-3", "new-1"]
    traces.add(added[3:])
    asked = loaded + added + [f"other-{i}" for i in range(1000)]
    assert traces.may_have_spans(asked, load) == loaded + added
    assert load_calls == [1]  # read once
    assert traces.may_have_spans([], load) == []


def test_look_ups_find_what_another_connection_of_the_process_wrote(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    first, second = connect(url), connect(url)
    try:
        first.write_spans(spans_to_arrow(spans(["a"])))
        assert first.stored_span_keys([("p", "otlp", "a")]) == {("p", "otlp", "a", "a-s")}
        second.write_spans(spans_to_arrow(spans(["b"])))  # after the first has loaded its fingerprints
        assert first.stored_span_keys([("p", "otlp", "b"), ("p", "otlp", "c")]) == {("p", "otlp", "b", "b-s")}
        assert first.trace_spans([("p", "otlp", "b")]).num_rows == 1
    finally:
        first.close()
        second.close()


def test_a_file_written_by_another_process_is_read_afresh(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'l.duckdb'}"
    wh = connect(url)
    wh.write_spans(spans_to_arrow(spans(["a"])))
    assert wh.stored_span_keys([("p", "otlp", "z")]) == set()  # fingerprints loaded, without "z"
    wh.close()
    writer = (
        "from agentledger.warehouse import connect\n"
        "from agentledger.core.records import SpanContext, spans_to_arrow\n"
        f"wh = connect({url!r})\n"
        "wh.write_spans(spans_to_arrow([SpanContext(source='otlp', trace_id='z', span_id='z-s', project_id='p')]))\n"
        "wh.close()\n"
    )
    subprocess.run([sys.executable, "-c", writer], check=True)
    wh = connect(url)
    try:
        assert wh.stored_span_keys([("p", "otlp", "z")]) == {("p", "otlp", "z", "z-s")}
    finally:
        wh.close()


def test_the_fingerprints_live_as_long_as_a_connection_to_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "l.duckdb")
    key = stored_traces.key_of(path)
    first, second = connect(f"duckdb:///{path}"), connect(f"duckdb:///{path}")
    shared = first._stored_traces
    assert shared is second._stored_traces is not None
    first.close()
    first.close()  # closing twice releases once
    assert stored_traces.shared(key) is shared
    stored_traces.release(key)
    second.close()
    assert key not in stored_traces._registry
    memory = connect("duckdb:///:memory:"), connect("duckdb:///:memory:")
    assert memory[0]._stored_traces is not memory[1]._stored_traces  # two databases
    for wh in memory:
        wh.close()


def test_a_connection_collected_unclosed_releases_them(tmp_path: Path) -> None:
    path = str(tmp_path / "l.duckdb")
    wh = connect(f"duckdb:///{path}")
    wh.stored_span_keys([("p", "otlp", "a")])  # loaded
    del wh
    gc.collect()
    assert stored_traces.key_of(path) not in stored_traces._registry


def test_the_file_is_the_key_whatever_the_spelling_or_the_working_directory(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    by_home, relative = connect("duckdb:///~/l.duckdb"), connect("duckdb:///l.duckdb")
    absolute = connect(f"duckdb:///{tmp_path / 'l.duckdb'}")
    assert by_home._stored_traces is relative._stored_traces is absolute._stored_traces
    assert not (tmp_path / "~").exists()
    absolute.write_spans(spans_to_arrow(spans(["a"])))
    assert by_home.stored_span_keys([("p", "otlp", "a")]) == {("p", "otlp", "a", "a-s")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the relative connection still releases the file it opened
    for wh in (by_home, relative, absolute):
        wh.close()
    assert stored_traces.key_of(str(tmp_path / "l.duckdb")) not in stored_traces._registry


@pytest.mark.parametrize("asked", [3, 40])  # an index look-up up to INDEX_LOOKUP_IDS ids, a scan past it
def test_look_ups_by_index_or_scan_find_the_same_spans(tmp_path: Path, asked: int) -> None:
    from agentledger.warehouse.duckdb import INDEX_LOOKUP_IDS

    assert 3 <= INDEX_LOOKUP_IDS < 40
    wh = connect(f"duckdb:///{tmp_path / 'l.duckdb'}")
    try:
        stored = [f"t{i}" for i in range(60)]
        wh.write_spans(spans_to_arrow(spans(stored) + spans(stored, project="q")))
        wanted = [("p", "otlp", t) for t in stored[:asked]] + [("p", "otlp", "missing")]
        assert wh.stored_span_keys(wanted) == {(*key, f"{key[2]}-s") for key in wanted[:-1]}
        found = wh.trace_spans(wanted)
        assert sorted(found["trace_id"].to_pylist()) == sorted(stored[:asked])
        assert set(found["project_id"].to_pylist()) == {"p"}
    finally:
        wh.close()
