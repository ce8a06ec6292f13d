"""Fixtures for the LiteLLM tests: the authentic payloads, a real DuckDB ledger, a real PostgreSQL server."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentledger.core.pricing import Pricer
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

REPO = Path(__file__).resolve().parents[3]
PG_SCRIPT = REPO / ".ci" / "postgres.sh"

# The shared fake-server helpers live in tests/ingest/collectors/servers (imported as pytest itself does for
# the tests beside them: tests/ingest on sys.path, ``collectors.servers.base``).
_TESTS_INGEST = str(Path(__file__).resolve().parents[1])
if _TESTS_INGEST not in sys.path:
    sys.path.insert(0, _TESTS_INGEST)


@pytest.fixture(scope="session")
def spend_log(reference_dir: Path) -> dict[str, Any]:
    """LiteLLM's own SpendLogs test payload (``metadata`` is a JSON string, as in exports)."""
    return json.loads((reference_dir / "litellm" / "spend_logs_payload.json").read_text())


@pytest.fixture(scope="session")
def payload(reference_dir: Path) -> dict[str, Any]:
    """LiteLLM's own StandardLoggingPayload test payload (times are strings there)."""
    return json.loads((reference_dir / "litellm" / "standard_logging_payload.json").read_text())


@pytest.fixture
def spend_log_copy(spend_log: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(spend_log)


@pytest.fixture
def payload_copy(payload: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(payload)


@dataclass
class Ledger:
    """A real DuckDB warehouse with the real pipeline (and pricer) in front of it."""

    warehouse: Warehouse
    pipeline: Pipeline
    url: str

    def calls(self, order_by: str = "started_at, span_id") -> list[dict[str, Any]]:
        return self.warehouse.sql(f"SELECT * FROM calls ORDER BY {order_by}").to_dicts()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    warehouse = connect(url)
    yield Ledger(warehouse, Pipeline(warehouse, Pricer()), url)
    warehouse.close()


def spend_log_rows(
    template: dict[str, Any],
    count: int,
    *,
    start: str = "2025-01-24T09:00:00",
    step_ms: int = 1000,
    prefix: str = "req",
) -> list[dict[str, Any]]:
    """Rows derived from the authentic SpendLogs payload: new ids, start times ``step_ms`` apart, tokens varied."""
    from datetime import datetime, timedelta

    base = datetime.fromisoformat(start)
    rows = []
    for i in range(count):
        row = copy.deepcopy(template)
        started = base + timedelta(milliseconds=i * step_ms)
        row["request_id"] = f"{prefix}-{i:05d}"
        row["session_id"] = f"trace-{i // 3}"
        row["startTime"] = started.strftime("%Y-%m-%d %H:%M:%S.%f")
        row["endTime"] = (started + timedelta(milliseconds=250)).strftime("%Y-%m-%d %H:%M:%S.%f")
        row["completionStartTime"] = row["endTime"]
        row["prompt_tokens"] = 10 + i
        row["completion_tokens"] = 20
        row["total_tokens"] = 30 + i
        row["spend"] = round((10 + i) * 2.5e-06 + 20 * 1e-05, 12)
        rows.append(row)
    return rows


# --- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """``AGENTLEDGER_TEST_PG_URL`` when set; otherwise a throwaway cluster started by ``.ci/postgres.sh``.

    Never skips: a test marked ``postgres`` that cannot get a server fails and says why.
    """
    url = os.environ.get("AGENTLEDGER_TEST_PG_URL")
    if url:
        yield url
        return
    cluster_dir = tempfile.mkdtemp(prefix="agentledger-pg-")
    env = dict(os.environ, AGENTLEDGER_PG_DIR=cluster_dir)
    try:
        started = subprocess.run(
            ["bash", str(PG_SCRIPT)], env=env, capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"could not run {PG_SCRIPT} to start PostgreSQL: {exc}")
    if started.returncode != 0 or not started.stdout.strip():
        pytest.fail(
            f"PostgreSQL is needed by the tests marked 'postgres' and could not be started by {PG_SCRIPT} "
            f"(exit {started.returncode}); set AGENTLEDGER_TEST_PG_URL to use an existing server.\n{started.stderr}"
        )
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(PG_SCRIPT), "stop", cluster_dir], capture_output=True, timeout=120)


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    """A schema of its own with an empty ``"LiteLLM_SpendLogs"`` table."""
    from litellm_spend_logs_table import spend_logs_schema

    with spend_logs_schema(pg_url) as name:
        yield name
