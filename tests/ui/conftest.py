"""Fixtures of the dashboard tests: a demo ledger in a temporary DuckDB file, and a clean Streamlit cache."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

# The tests import their shared helpers (ui_helpers) by name: with --import-mode=importlib the folder is not on
# sys.path by itself.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from ui_helpers import Ledger, make_demo_ledger  # noqa: E402


@pytest.fixture(scope="session")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    return make_demo_ledger(tmp_path_factory.mktemp("ui") / "demo.duckdb")


@pytest.fixture
def ledger_env(demo_ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """The demo ledger as the configured warehouse, with Streamlit's caches empty before and after."""
    monkeypatch.setenv("AGENTLEDGER_WAREHOUSE", demo_ledger.url)
    monkeypatch.setenv("AGENTLEDGER_PROJECT_ID", "default")
    st.cache_data.clear()
    yield demo_ledger
    st.cache_data.clear()
