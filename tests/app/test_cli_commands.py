"""`up`, `migrate` and any command on a warehouse path that is not a ledger: clear errors, nothing created."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentledger.app.cli import app
from agentledger.warehouse import connect
from agentledger.warehouse.base import WarehouseError


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("taken", ["AGENTLEDGER_PORT", "AGENTLEDGER_UI_PORT"])
def test_up_refuses_a_taken_port_at_once_and_names_the_variable(tmp_path: Path, taken: str) -> None:
    with socket.socket() as holder, socket.socket() as free:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        free.bind(("127.0.0.1", 0))
        ports = {"AGENTLEDGER_PORT": free.getsockname()[1], "AGENTLEDGER_UI_PORT": free.getsockname()[1] + 1}
        ports[taken] = holder.getsockname()[1]
        free.close()
        ledger = tmp_path / "up.duckdb"
        env = {
            **_env(),
            **{k: str(v) for k, v in ports.items()},
            "AGENTLEDGER_WAREHOUSE": f"duckdb:///{ledger}",
        }
        done = subprocess.run(
            [sys.executable, "-m", "agentledger.app.cli", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{ports[taken]}: the port is taken" in done.stdout + done.stderr
    assert taken in done.stdout + done.stderr
    assert not ledger.exists()  # refused before the demo data was loaded


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AGENTLEDGER_")}


def test_migrate_refuses_a_missing_source_and_a_copy_onto_itself(tmp_path: Path) -> None:
    missing = tmp_path / "typo.duckdb"
    code, out = _run(
        "migrate", "--from", f"duckdb:///{missing}", "--to", f"duckdb:///{tmp_path / 'to.duckdb'}"
    )
    assert code == 1 and f"--from: no ledger at {missing}" in out
    assert not missing.exists() and not (tmp_path / "to.duckdb").exists()

    ledger = tmp_path / "ledger.duckdb"
    connect(f"duckdb:///{ledger}").close()
    same = f"duckdb:///{tmp_path}/../{tmp_path.name}/ledger.duckdb"
    code, out = _run("migrate", "--from", f"duckdb:///{ledger}", "--to", same)
    assert code == 1 and "name the same ledger" in out


def test_a_path_that_is_not_a_duckdb_database_is_refused_not_read_as_an_empty_ledger(tmp_path: Path) -> None:
    export = tmp_path / "focus.csv"
    export.write_text("BilledCost,ChargePeriodStart\n1.5,2026-11-01\n")
    with pytest.raises(WarehouseError, match="the file is not a DuckDB database"):
        connect(f"duckdb:///{export}")
    code, out = _run("metrics", "--warehouse", f"duckdb:///{export}")
    assert code == 1 and "not a DuckDB database" in out and "$0" not in out
    assert export.read_text().startswith("BilledCost")  # untouched
    code, out = _run("metrics", "--warehouse", f"duckdb:///{tmp_path}")
    assert code == 1 and "it is a directory" in out


@pytest.mark.parametrize("args", [["sources"], ["keys", "list"], ["keys", "revoke", "k_123"]])
def test_commands_that_read_the_ledger_do_not_create_one_at_a_mistyped_path(tmp_path: Path, args) -> None:
    typo = tmp_path / "ledgr.duckdb"
    code, out = _run(*args, "--warehouse", f"duckdb:///{typo}")
    assert code == 1 and f"no ledger at {typo}" in out
    assert not typo.exists()
