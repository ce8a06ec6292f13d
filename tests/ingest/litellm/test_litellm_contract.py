"""The shared collector contract over the three LiteLLM pull collectors (API, Postgres, files)."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from collectors.contract import CollectorContract, SourceHarness
from collectors.servers.base import FakeServer
from conftest import spend_log_rows
from litellm_fake_proxy import FakeLiteLLMProxy
from litellm_spend_logs_table import insert_rows

from agentledger.ingest.collectors.litellm_api import LiteLLMApiCollector
from agentledger.ingest.collectors.litellm_files import LiteLLMFileCollector
from agentledger.ingest.collectors.litellm_postgres import LiteLLMPostgresCollector

API_KEY = "sk-contract-master-key-0001"
PG_PASSWORD = "contract-pw-7f3a"  # the test cluster trusts loopback: sent, never needed, never shown
NOW = datetime(2025, 1, 25, tzinfo=UTC)


def _dataset(spend_log: dict[str, Any], count: int = 35) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """SpendLogs rows derived from LiteLLM's own payload, one of them malformed (negative prompt tokens)."""
    rows = spend_log_rows(spend_log, count, step_ms=900)
    rows[17]["prompt_tokens"] = -5
    return rows, rows[17]


class TestLiteLLMApiContract(CollectorContract):
    @pytest.fixture
    def harness(self, spend_log: dict[str, Any]) -> Iterator[SourceHarness]:
        rows, malformed = _dataset(spend_log)
        with FakeServer(FakeLiteLLMProxy(rows, api_key=API_KEY)) as server:
            yield SourceHarness(
                make_collector=lambda: LiteLLMApiCollector(
                    server.url, API_KEY, page_size=10, clock=lambda: NOW, sleep=lambda _s: None
                ),
                samples=[spend_log, *rows[:5]],
                malformed_record=malformed,
                expected_calls=len(rows) - 1,
                expected_malformed=1,
                secrets=(API_KEY,),
            )


@pytest.mark.postgres
class TestLiteLLMPostgresContract(CollectorContract):
    @pytest.fixture
    def harness(self, pg_url: str, schema: str, spend_log: dict[str, Any]) -> Iterator[SourceHarness]:
        rows, malformed = _dataset(spend_log)
        insert_rows(pg_url, schema, rows)
        parts = urlsplit(pg_url)
        with_password = urlunsplit(
            parts._replace(netloc=f"{parts.username}:{PG_PASSWORD}@{parts.hostname}:{parts.port}")
        )
        yield SourceHarness(
            make_collector=lambda: LiteLLMPostgresCollector(
                with_password, schema=schema, batch_size=10, clock=lambda: NOW
            ),
            samples=[spend_log, *rows[:5]],
            malformed_record=malformed,
            expected_calls=len(rows) - 1,
            expected_malformed=1,
            secrets=(PG_PASSWORD,),
        )


class TestLiteLLMFilesContract(CollectorContract):
    @pytest.fixture
    def harness(
        self, tmp_path: Path, spend_log: dict[str, Any], payload: dict[str, Any]
    ) -> Iterator[SourceHarness]:
        rows, malformed = _dataset(spend_log, 20)
        base = datetime(2025, 1, 24, 11, 0, tzinfo=UTC).timestamp()
        payloads = [
            copy.deepcopy(payload) | {"id": f"slp-{i}", "startTime": base + i, "endTime": base + i + 1}
            for i in range(12)
        ]
        folder = tmp_path / "litellm-exports"
        folder.mkdir()
        (folder / "01-spend-logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / "02-callbacks.jsonl.gz").write_bytes(
            gzip.compress("".join(json.dumps(p) + "\n" for p in payloads).encode())
        )
        yield SourceHarness(
            make_collector=lambda: LiteLLMFileCollector(folder, batch_size=8),
            samples=[spend_log, payload, *rows[:3], *payloads[:3]],
            malformed_record=malformed,
            expected_calls=len(rows) - 1 + len(payloads),
            expected_malformed=1,
        )
