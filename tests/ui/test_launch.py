"""`agentledger ui` (ui/launch.py): the dashboard alone, as its own process, on the configured warehouse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from ui_helpers import REPO

from agentledger.ui import launch


def test_streamlit_flags_bind_where_asked_and_stay_quiet() -> None:
    flags = launch.streamlit_flags("127.0.0.1", 8765)
    assert flags["server.address"] == "127.0.0.1"
    assert flags["server.port"] == 8765
    assert flags["server.headless"] is True
    assert flags["browser.gatherUsageStats"] is False
    assert launch.APP_SCRIPT.is_file()


@pytest.mark.slow
def test_ui_command_serves_the_dashboard(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    warehouse = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    env = {k: v for k, v in os.environ.items() if k != "AGENTLEDGER_WAREHOUSE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentledger.ui.launch", "--port", str(port), "--warehouse", warehouse],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("the dashboard did not answer /_stcore/health within 60 s")
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        proc.terminate()
        proc.wait(20)
    assert f"warehouse {warehouse}" in (proc.stdout.read().decode() if proc.stdout else "")
