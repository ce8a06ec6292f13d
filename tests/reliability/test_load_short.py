"""bench/load.py for a few seconds: concurrent senders, and every acknowledged span stored, exactly."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow


def test_short_load_stores_exactly_the_acknowledged_spans(tmp_path: Path, load_bench: ModuleType) -> None:
    result = load_bench.run_load(duration=4, senders=4, spans_per_request=128, workdir=tmp_path)
    assert result["requests"] >= 4 and result["accepted_spans"] > 0
    assert result["stored_spans"] == result["accepted_spans"]
    assert result["other_statuses"] == {}  # only 200s (and retried 503s)
    # 7 of every 8 spans of the workload are chat calls (an agent span per trace of up to 7 calls).
    assert result["stored_calls"] == result["requests"] * 112
    assert result["spans_per_s"] > 0 and result["p50_ms"] <= result["p99_ms"]
    assert result["server_peak_rss_mb"] is not None and result["server_peak_rss_mb"] > 0


def test_template_copies_carry_fresh_trace_ids(load_bench: ModuleType) -> None:
    template = load_bench.build_template(64)
    copy = template.body.replace(template.marker, b"\x01" * 8)
    assert template.spans == 64
    assert len(copy) == len(template.body) and template.marker not in copy
    assert copy.count(b"\x01" * 8) == 64  # one trace id per span
