"""Shared pieces of the dashboard tests: the entry script and a demo ledger in a DuckDB file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agentledger.app.services import build_pipeline, load_demo
from agentledger.core.settings import Settings
from agentledger.warehouse import connect

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"
# A fixed end date makes the demo (and so every figure) the same on every run.
DEMO_END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DEMO_SESSIONS = 120


@dataclass(frozen=True)
class Ledger:
    url: str
    path: Path


def make_demo_ledger(path: Path, sessions: int = DEMO_SESSIONS) -> Ledger:
    """Write the demo workload through the real ingest path into a DuckDB file."""
    url = f"duckdb:///{path}"
    settings = Settings(warehouse=url)
    wh = connect(url)
    try:
        load_demo(
            build_pipeline(settings, wh),
            project_id=settings.project_id,
            sessions=sessions,
            seed=11,
            end=DEMO_END,
        )
    finally:
        wh.close()
    return Ledger(url=url, path=path)
