"""The layering of DESIGN.md, checked on the source: the dashboard reads through analytics (never alerts,
app or ingest), and analytics never imports the alert engine or the application around it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from ui_helpers import REPO

FORBIDDEN = {
    "ui": ("agentledger.alerts", "agentledger.app", "agentledger.ingest"),
    "analytics": ("agentledger.alerts", "agentledger.app", "agentledger.ingest", "agentledger.ui"),
}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, package
    wrong = {
        f"{path.relative_to(REPO)}: {name}"
        for path in files
        for name in imported(path)
        if name.startswith(FORBIDDEN[package])
    }
    assert not wrong, sorted(wrong)
