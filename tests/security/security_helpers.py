"""Shared by the security tests: the real app on a temporary DuckDB file, OTLP/JSON builders, stored rows."""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from agentledger.app.api import create_app
from agentledger.core.settings import Settings
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

JSON = {"content-type": "application/json"}
PROTOBUF = {"content-type": "application/x-protobuf"}
START_NS = 1_763_000_000_000_000_000  # mid-November 2025

_ids = itertools.count(1)


def fresh_trace_id() -> str:
    """A trace id no other test of the process uses (32 hex digits, never all zero)."""
    return f"{0x5EC:04x}{next(_ids):028x}"


def fresh_span_id() -> str:
    """A span id no other test of the process uses (16 hex digits, never all zero)."""
    return f"{0x5E:02x}{next(_ids):014x}"


@contextmanager
def real_app(folder: Path, **overrides: Any) -> Iterator[tuple[TestClient, Warehouse]]:
    """The whole app (auth, receivers, writer, pipeline, query routers) on a DuckDB file in ``folder``."""
    settings = Settings(
        _env_file=None,
        warehouse=f"duckdb:///{folder / 'ledger.duckdb'}",
        config_file=folder / "agentledger.yaml",
        prices_file=None,
        **overrides,
    )
    wh = connect(settings.warehouse)
    try:
        with TestClient(create_app(settings, wh), raise_server_exceptions=False) as client:
            yield client, wh
    finally:
        wh.close()


def attribute(key: str, value: Any) -> dict[str, Any]:
    """An OTLP/JSON KeyValue for a python value (str, bool, int, float)."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):  # OTLP/JSON spells the non-finite doubles as strings
        number = value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
        return {"key": key, "value": {"doubleValue": number}}
    return {"key": key, "value": {"stringValue": value}}


def chat_span(trace_id: str, span_id: str, **attributes: Any) -> dict[str, Any]:
    """An OTLP/JSON chat span of gpt-4o with 100/20 tokens, plus ``attributes``."""
    values = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        **attributes,
    }
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": str(START_NS),
        "endTimeUnixNano": str(START_NS + 1_000_000_000),
        "attributes": [attribute(k, v) for k, v in values.items()],
    }


def otlp_json(spans: list[dict[str, Any]]) -> bytes:
    """An ExportTraceServiceRequest in OTLP/JSON holding ``spans``."""
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


def stored_rows(wh: Warehouse, table: str, trace_ids: list[str]) -> int:
    """Rows of ``table`` (``spans`` or ``calls``) with one of ``trace_ids``."""
    if table not in ("spans", "calls"):  # an identifier from this module, never input
        raise ValueError(f"unknown table {table!r}")
    if not trace_ids:
        return 0
    frame = wh.sql(
        f"SELECT count(*) AS n FROM {table} WHERE trace_id = ANY($ids)", {"ids": sorted(set(trace_ids))}
    )
    return int(frame["n"][0])
