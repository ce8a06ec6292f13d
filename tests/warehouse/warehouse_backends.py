"""Backends of the warehouse tests and the `warehouse` fixture: every warehouse test runs once per backend.

Backends: DuckDB (embedded default), chDB (the ClickHouse engine in-process, exercising the ClickHouse backend's
SQL), and a live ClickHouse server when ``AGENTLEDGER_CLICKHOUSE_URL`` is set (each test then gets a database
of its own, dropped afterwards). Select one with ``-k duckdb`` / ``-k chdb`` / ``-k clickhouse``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

LIVE_URL = os.environ.get("AGENTLEDGER_CLICKHOUSE_URL")
BACKENDS = ["duckdb", "chdb", *(["clickhouse"] if LIVE_URL else [])]


def backend_url(backend: str, tmp_path: Path) -> str:
    """A fresh, empty warehouse URL of ``backend`` (live databases are created here)."""
    if backend == "duckdb":
        return f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    if backend == "chdb":
        return f"chdb:///{tmp_path / 'chdb'}"
    return _fresh_live_database()


def _fresh_live_database() -> str:
    from agentledger.warehouse.chclient import ClickHouseHttpClient, parse_server_url, quote_identifier

    assert LIVE_URL is not None
    name = f"agentledger_test_{uuid.uuid4().hex[:12]}"
    client = ClickHouseHttpClient(parse_server_url(LIVE_URL))
    try:
        client.command(f"CREATE DATABASE {quote_identifier(name)}")
    finally:
        client.close()
    return urlsplit(LIVE_URL)._replace(path=f"/{name}").geturl()


def drop_live_database(url: str) -> None:
    from agentledger.warehouse.chclient import ClickHouseHttpClient, parse_server_url, quote_identifier

    address = parse_server_url(url)
    client = ClickHouseHttpClient(parse_server_url(LIVE_URL or url))
    try:
        client.command(f"DROP DATABASE IF EXISTS {quote_identifier(address.database)}")
    finally:
        client.close()


@contextmanager
def every_backend(tmp_path: Path) -> Iterator[list[Warehouse]]:
    """One migrated, empty warehouse of each backend at once (for comparisons across backends)."""
    urls = [backend_url(b, tmp_path / b) for b in BACKENDS]
    warehouses: list[Warehouse] = []
    try:
        for url in urls:
            warehouses.append(connect(url))
        yield warehouses
    finally:
        for wh in warehouses:
            wh.close()
        for backend, url in zip(BACKENDS, urls, strict=True):
            if backend == "clickhouse":
                drop_live_database(url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test: duckdb, chdb or clickhouse."""
    return request.param


@pytest.fixture
def warehouse_url(backend: str, tmp_path: Path) -> Iterator[str]:
    url = backend_url(backend, tmp_path)
    yield url
    if backend == "clickhouse":
        drop_live_database(url)


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    """A migrated, empty warehouse of each backend, closed after the test."""
    wh = connect(warehouse_url)
    yield wh
    wh.close()
