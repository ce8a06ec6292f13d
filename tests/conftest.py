"""Shared test helpers: the reference payloads, free ports, a running `agentledger serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO.parent / "shared" / "reference"

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(
            f"the reference payloads are missing: expected {REFERENCE} (the shared/ folder beside the repo)"
        )
    return REFERENCE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    warehouse: str
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_server(warehouse: str, extra_env: dict[str, str] | None = None, timeout: float = 60) -> Server:
    """Start `agentledger serve` as a real subprocess on a free loopback port and wait for /healthz."""
    port = free_port()
    env = dict(
        os.environ, AGENTLEDGER_WAREHOUSE=warehouse, AGENTLEDGER_PORT=str(port), AGENTLEDGER_HOST="127.0.0.1"
    )
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentledger.app.cli", "serve"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"agentledger serve exited with {proc.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, warehouse, proc)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("agentledger serve did not answer /healthz in time")


@pytest.fixture
def server_factory() -> Iterator:
    started: list[Server] = []

    def factory(warehouse: str, extra_env: dict[str, str] | None = None) -> Server:
        server = start_server(warehouse, extra_env)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
