"""Arize Phoenix as the comparison partner of the ingest benchmark (`bench/ingest.py --phoenix`).

Phoenix is installed once, at a pinned version, into a virtual environment of its own (it must not share
dependencies with agentledger), and reused from then on. Each benchmark run starts `phoenix serve` with a fresh
working directory, so it stores into a new SQLite database: Phoenix's default storage. Phoenix answers an OTLP
export before it stores the spans (a background task queues them and a bulk inserter writes them), so the
benchmark counts the rows of its `spans` table to know when they are stored.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

PHOENIX_VERSION = "20.26.1"
DEFAULT_VENV = Path.home() / ".cache" / "agentledger-bench" / "phoenix-venv"


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Python of ``venv`` with arize-phoenix at PHOENIX_VERSION, made and installed on first use (minutes)."""
    python = venv / "bin" / "python"
    if _installed_version(python) != PHOENIX_VERSION:
        print(f"installing arize-phoenix=={PHOENIX_VERSION} into {venv} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"arize-phoenix=={PHOENIX_VERSION}"], check=True
        )
    return python


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('arize-phoenix'))"],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def server_command(python: Path) -> list[str]:
    return [str(python), "-m", "phoenix.server.main", "serve"]


def server_env(home: Path, port: int, grpc_port: int) -> dict[str, str]:
    """Environment for a Phoenix server on loopback storing into ``home`` (SQLite), without telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    env.update(
        PHOENIX_WORKING_DIR=str(home),
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_TELEMETRY_ENABLED="false",
    )
    return env


def stored_spans(home: Path) -> int:
    """Spans Phoenix has written to its SQLite database so far (read-only; Phoenix's database is in WAL mode)."""
    with closing(sqlite3.connect(f"file:{home / 'phoenix.db'}?mode=ro", uri=True, timeout=10)) as con:
        return int(con.execute("SELECT count(*) FROM spans").fetchone()[0])
