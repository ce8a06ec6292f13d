"""A thin client interface over the two ways of reaching a ClickHouse engine.

:class:`ClickHouseHttpClient` talks to a server through clickhouse-connect (``clickhouse://``,
``clickhouses://`` for TLS); :class:`ChdbClient` runs the same engine in-process through chDB
(``chdb:///dir``). The backend (:mod:`agentledger.warehouse.clickhouse`) only sees :class:`ChClient`, so every
statement it issues is exercised on chDB in the tests and runs unchanged on a server.

Both drivers are optional at import time and loaded lazily, with a message naming what to install.
Parameter values reach the engine as ClickHouse server-side parameters (``{name:Type}`` in the SQL text),
never formatted into the SQL text.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from agentledger.core.errors import ConfigError, TransientError, WarehouseError
from agentledger.core.security import redact_url as _redact_url
from agentledger.warehouse.dialect import format_param, normalize_param

# Applied to every session, so every read and every join behaves like DuckDB's:
# - final: reads of ReplacingMergeTree tables see only the newest version of each row (de-duplication on read);
# - join_use_nulls: an unmatched LEFT JOIN side is NULL (ClickHouse fills type defaults otherwise);
# - session_timezone: date_trunc and friends work in UTC whatever the server's zone;
# - prefer_column_name_to_alias: in `SUM(cost_usd) AS cost_usd, SUM(... cost_usd ...)` the second cost_usd is
#   the column, as in standard SQL (ClickHouse would substitute the alias and nest the aggregates).
SESSION_SETTINGS: dict[str, Any] = {
    "final": 1,
    "join_use_nulls": 1,
    "session_timezone": "UTC",
    "prefer_column_name_to_alias": 1,
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@runtime_checkable
class ChClient(Protocol):
    """What the ClickHouse backend needs from a driver: statements, Arrow reads, Arrow inserts."""

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement that returns no rows (DDL, INSERT ... SELECT)."""

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run one SELECT and return its rows as an Arrow table."""

    def insert_arrow(self, table_name: str, arrow_table: pa.Table) -> None:
        """Append the rows of ``arrow_table`` (columns matched by name) to ``table_name``."""

    def close(self) -> None:
        """Release the connection or the in-process session."""


def quote_identifier(name: str) -> str:
    """Backquote a table or column name after checking it is a plain identifier (names are code, not data)."""
    if not _IDENTIFIER.match(name):
        raise WarehouseError(f"not a plain SQL identifier: {name!r}")
    return f"`{name}`"


def _import_driver(module: str, install_hint: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"the {module} driver is not installed: {install_hint}") from exc


def _statement_head(sql: str) -> str:
    """The first line of a statement, for error messages that say which statement failed."""
    return " ".join(sql.split())[:160]


# ---------------------------------------------------------------------------------------------- chDB


class ChdbClient:
    """The ClickHouse engine in-process (chDB), on a persistent directory or a temporary one.

    chDB holds one database directory per process: opening a second directory while one is open fails with a
    ConfigError that says so. Statements on one session are serialized by chDB itself.
    """

    def __init__(self, path: str | None) -> None:
        session_mod = _import_driver("chdb.session", "pip install 'agentledger[chdb]'")
        self.path = path
        if path:
            Path(path).mkdir(parents=True, exist_ok=True)
        try:
            self._session = session_mod.Session(path) if path else session_mod.Session()
        except Exception as exc:  # chDB raises bare RuntimeError/Exception for every failure
            raise ConfigError(
                f"cannot open chDB at {path or '(temporary directory)'}: {exc}; chDB holds one database "
                "directory per process, close the other warehouse first"
            ) from exc
        for name, value in SESSION_SETTINGS.items():
            self._run(f"SET {name} = {{value:String}}", {"value": value}, "CSV")

    def _run(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> Any:
        bound = {name: format_param(normalize_param(value)) for name, value in (params or {}).items()}
        try:
            return self._session.query(sql, fmt, params=bound or None)
        except Exception as exc:  # chDB raises RuntimeError/ValueError for engine errors; name the statement
            raise WarehouseError(f"chDB statement failed: {exc} [{_statement_head(sql)}]") from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, params, "CSV")

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        return self._run(sql, params, "ArrowTable")

    def insert_arrow(self, table_name: str, arrow_table: pa.Table) -> None:
        columns = ", ".join(quote_identifier(c) for c in arrow_table.column_names)
        # chDB's Python() table function reads the local variable named in the SQL text: the Arrow table
        # itself never becomes SQL text.
        sql = f"INSERT INTO {quote_identifier(table_name)} ({columns}) SELECT {columns} FROM Python(arrow_table)"
        try:
            self._session.query(sql, "CSV")
        except Exception as exc:  # see _run
            raise WarehouseError(f"chDB insert into {table_name} failed: {exc}") from exc

    def close(self) -> None:
        self._session.close()


# ---------------------------------------------------------------------------------------------- server


@dataclass(frozen=True)
class ServerAddress:
    """Where a ClickHouse server is, parsed from ``clickhouse://user:pass@host:8123/db``."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    database: str
    secure: bool


def parse_server_url(url: str) -> ServerAddress:
    """Parse ``clickhouse://`` (HTTP) or ``clickhouses://`` (HTTPS) URLs; user, password and db are optional."""
    userinfo, at, _ = url.partition("://")[2].rpartition("@")
    if at and any(c in userinfo for c in "/?#"):
        # The URL would end its host part early and show the rest of the password as a path or query.
        raise ConfigError(
            "the user or password of the ClickHouse URL contains '/', '?' or '#': percent-encode them "
            "(%2F, %3F, %23; '@' is %40 and ':' is %3A), e.g. with urllib.parse.quote(password, safe='')"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise ConfigError(f"not a ClickHouse URL (clickhouse:// or clickhouses://): {redact_url(url)}")
    if not parts.hostname:
        raise ConfigError(f"ClickHouse URL has no host: {redact_url(url)}")
    if parts.query or parts.fragment:
        raise ConfigError(f"ClickHouse URL options are not supported, remove '?...': {redact_url(url)}")
    secure = parts.scheme == "clickhouses"
    try:
        port = parts.port or (8443 if secure else 8123)
    except ValueError as exc:
        raise ConfigError(f"ClickHouse URL has a bad port: {redact_url(url)}") from exc
    return ServerAddress(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        database=unquote(parts.path.strip("/")) or "default",
        secure=secure,
    )


def redact_url(url: str) -> str:
    """The URL with its password and query string replaced, safe for logs and error messages."""
    return _redact_url(url)


class ClickHouseHttpClient:
    """A ClickHouse server over HTTP(S) through clickhouse-connect."""

    def __init__(self, address: ServerAddress) -> None:
        self._driver = _import_driver("clickhouse_connect", "pip install clickhouse-connect")
        self._errors = importlib.import_module("clickhouse_connect.driver.exceptions")
        self.address = address
        where = f"ClickHouse at {address.host}:{address.port} (user {address.username}, database {address.database})"
        with self._translated(f"cannot open {where}"):
            self._client = self._driver.get_client(
                host=address.host,
                port=address.port,
                username=address.username,
                password=address.password,
                database=address.database,
                secure=address.secure,
                settings=SESSION_SETTINGS,
                # Parameters in the request body, not the URL: a batch's trace ids exceed URL limits of proxies.
                form_encode_query_params=True,
            )

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """Driver errors -> ours: unreachable is transient, a refusal (auth, unknown database, SQL) is not."""
        try:
            yield
        except self._errors.OperationalError as exc:
            raise TransientError(f"{what}: {exc}") from exc
        except self._errors.DatabaseError as exc:
            raise WarehouseError(f"{what}: {exc}") from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._translated(f"ClickHouse statement failed [{_statement_head(sql)}]"):
            self._client.command(sql, parameters=_server_params(params))

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        with self._translated(f"ClickHouse query failed [{_statement_head(sql)}]"):
            return self._client.query_arrow(sql, parameters=_server_params(params), use_strings=True)

    def insert_arrow(self, table_name: str, arrow_table: pa.Table) -> None:
        with self._translated(f"ClickHouse insert into {table_name} failed"):
            self._client.insert_arrow(table_name, arrow_table)

    def close(self) -> None:
        self._client.close()


def _server_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # clickhouse-connect formats values itself, but drops the microseconds of datetimes: normalize first.
    return {name: normalize_param(value) for name, value in params.items()} if params else None


# ---------------------------------------------------------------------------------------------- threads


class SerializedClient:
    """One statement at a time on a client shared by threads (the API serves requests from a pool).

    A chDB session and a clickhouse-connect session both refuse concurrent statements; the lock is
    re-entrant so the backend can hold it across a read-then-write block.
    """

    def __init__(self, client: ChClient, lock: threading.RLock | None = None) -> None:
        self._client = client
        self.lock = lock or threading.RLock()

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self.lock:
            self._client.command(sql, params)

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        with self.lock:
            return self._client.query_arrow(sql, params)

    def insert_arrow(self, table_name: str, arrow_table: pa.Table) -> None:
        with self.lock:
            self._client.insert_arrow(table_name, arrow_table)

    def close(self) -> None:
        with self.lock:
            self._client.close()


def check_session(client: ChClient) -> None:
    """Refuse an engine on which the session settings did not take (a server too old to know them).

    Without ``final`` every read would count superseded rows: fail loudly rather than double-count.
    """
    row = client.query_arrow(
        "SELECT getSetting('final') AS final, getSetting('join_use_nulls') AS j"
    ).to_pylist()
    if not row or not row[0]["final"] or not row[0]["j"]:
        raise ConfigError(
            "this ClickHouse does not apply the settings final=1 and join_use_nulls=1 to its sessions; "
            "agentledger needs ClickHouse 23.8 or newer"
        )


# ---------------------------------------------------------------------------------------------- factory


def chdb_path(url: str) -> str | None:
    """The directory of a ``chdb://`` URL, SQLAlchemy-style like ``duckdb://``.

    ``chdb:///rel/dir`` is relative to the working directory, ``chdb:////abs/dir`` absolute, and
    ``chdb:///:memory:`` (or ``chdb://``) a temporary directory dropped on close.
    """
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "chdb" or not sep:
        raise ConfigError(f"not a chDB warehouse URL: {url!r} (expected chdb:///path/dir)")
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def open_client(url: str) -> ChClient:
    """The client for a warehouse URL: ``chdb:///dir``, ``clickhouse://...`` or ``clickhouses://...``."""
    scheme = url.split("://", 1)[0]
    client: ChClient
    if scheme == "chdb":
        client = ChdbClient(chdb_path(url))
    elif scheme in ("clickhouse", "clickhouses"):
        client = ClickHouseHttpClient(parse_server_url(url))
    else:
        raise ConfigError(f"not a ClickHouse warehouse URL: {redact_url(url)}")
    try:
        check_session(client)
    except BaseException:
        client.close()  # chDB keeps its directory locked for the process until closed
        raise
    return client
