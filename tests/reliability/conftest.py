"""Shared by the reliability tests: bench/load.py (the server starter, the request template) as a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

LOAD_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "load.py"


@pytest.fixture(scope="session")
def load_bench() -> ModuleType:
    """``bench/load.py``, imported from its file (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("agentledger_bench_load", LOAD_SCRIPT)
    if spec is None or spec.loader is None:
        pytest.fail(f"cannot import {LOAD_SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module
