"""``agentledger keys create|list|revoke``: API keys, each bound to one project, stored as hashes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from agentledger.core.errors import WarehouseError
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse
from agentledger.warehouse.keys import KeyStore

if TYPE_CHECKING:
    from agentledger.app.admin import RemoteKeyStore

console = Console(stderr=True)
out = Console()

keys_app = typer.Typer(help="API keys: each key sees and writes only its project.", no_args_is_help=True)

WarehouseOpt = Annotated[
    str | None, typer.Option("--warehouse", "-w", help="Warehouse URL (default: AGENTLEDGER_WAREHOUSE)")
]


@contextmanager
def _store(warehouse: str | None, *, existing: bool = False) -> Iterator[KeyStore | RemoteKeyStore]:
    """The ledger's key store; while a running server holds a DuckDB ledger, that server's (see
    :mod:`agentledger.app.admin`). With ``existing`` (listing, revoking), a DuckDB file that is not there is
    an error naming it, not a new empty ledger without keys."""
    from agentledger.app.admin import RemoteKeyStore
    from agentledger.app.services import open_warehouse

    settings = Settings(**({"warehouse": warehouse} if warehouse else {}))
    try:
        wh: Warehouse = open_warehouse(settings, existing=existing)
    except WarehouseError as exc:
        held = settings.warehouse.startswith("duckdb") and "lock" in str(exc).lower()
        remote = RemoteKeyStore.of(settings.warehouse) if held else None
        if remote is None:
            # No running server published its control file: a DuckDB file has one writing process.
            hint = (
                " (a DuckDB ledger is held by another process; an agentledger server that is starting publishes "
                "its control file once it is up: try again then, or stop the process)"
                if held
                else ""
            )
            raise WarehouseError(f"{exc}{hint}") from None
        console.print(
            f"the ledger is held by the agentledger server at {remote.url}: asking it",
            highlight=False,
            markup=False,
        )
        try:
            yield remote
        finally:
            remote.close()
        return
    try:
        yield KeyStore(wh)
    finally:
        wh.close()


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


@keys_app.command("create")
def create(
    project: Annotated[str, typer.Option("--project", "-p", help="The project this key reads and writes")],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="A label, e.g. 'ci' or 'prod-gateway'")
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Create a key and print it once (only its hash is stored: copy it now)."""
    with _store(warehouse) as store:
        row, key = store.create(project, name)
    console.print(
        f"created key {row.key_id} for project {row.project_id!r}"
        + (f" ({row.name})" if row.name else "")
        + ". It is shown once; only its hash is stored.",
        highlight=False,
    )
    print(key)  # stdout, alone on its line: `KEY=$(agentledger keys create --project p)` works


@keys_app.command("list")
def list_keys(
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's keys")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Every key: id, project, name, visible prefix, created, revoked (never the key itself)."""
    with _store(warehouse, existing=True) as store:
        rows = store.list(project)
    # The id and prefix are what people copy and compare: never wrapped, whatever the terminal's width.
    table = Table(
        Column("id", no_wrap=True),
        "project",
        "name",
        Column("prefix", no_wrap=True),
        "created",
        "revoked",
        title="API keys",
    )
    for row in rows:
        table.add_row(
            row.key_id,
            row.project_id,
            row.name or "",
            f"{row.prefix}…",
            _when(row.created_at),
            _when(row.revoked_at) or "-",
        )
    out.print(table)
    if not rows:
        console.print("no keys: the API is open unless AGENTLEDGER_API_KEYS is set")


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `agentledger keys list`)")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Revoke a key: it is refused at once, by a running server too (see AGENTLEDGER_KEY_CACHE_SECONDS)."""
    with _store(warehouse, existing=True) as store:
        row = store.revoke(key_id)
    console.print(
        f"key {row.key_id} ({row.prefix}…, project {row.project_id!r}) revoked at {_when(row.revoked_at)}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``keys`` to the main CLI."""
    app.add_typer(keys_app, name="keys")
