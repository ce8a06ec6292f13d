"""LiteLLM proxy spend logs read directly from its Postgres table ``"LiteLLM_SpendLogs"`` (psycopg 3).

Read-only: every batch runs in its own ``READ ONLY`` transaction, short enough not to hold a snapshot while
the runner writes the page. Paging is keyset on ``("startTime", request_id)`` ascending (both are indexed
together by LiteLLM's schema), so a batch never skips or repeats a row whatever the offsets. The stored cursor
is the newest ``startTime`` written (the same spelling as the API collector); a run starts at the cursor minus
the overlap, because the proxy writes spend logs in batches and a long call lands after shorter later ones.
``startTime`` is a ``timestamp`` without time zone holding UTC: bounds are bound as naive UTC values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from agentledger.core.errors import ConfigError, TerminalError, TransientError
from agentledger.core.security import redact_url
from agentledger.ingest.collectors.base import Page
from agentledger.ingest.collectors.litellm import LiteLLMRecords, parse_time
from agentledger.ingest.collectors.timeutil import DEFAULT_OVERLAP, format_timestamp, read_start
from agentledger.ingest.http import redact

TABLE = "LiteLLM_SpendLogs"
DEFAULT_BATCH_SIZE = 1000
_KEYWORD_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")
_SCHEMES = ("postgresql", "postgres")
_LOWEST = datetime(1, 1, 1)
_HIGHEST = datetime(9999, 12, 31)


def safe_db_url(url: str) -> str:
    """``postgresql://user@host:port/db``: the URL without its password or query (which may hold one). A URL
    that does not parse (a port that is not a number, several hosts) is shown with its password and query
    masked instead."""
    if "://" not in url:  # a libpq "key=value" string
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return redact_url(url)
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_db_url(url: str, name: str = "the LiteLLM database URL") -> None:
    """Refuse, before any connection, a database URL that psycopg could not use; the ConfigError names
    ``name`` (the option, variable or field it came from) and what is wrong, the URL without its password.

    libpq takes ``postgresql://`` or ``postgres://`` URLs (with one or several ``host:port``) and
    ``key=value`` strings."""
    text = url.strip()
    if not text:
        raise ConfigError(f"{name} is empty: give a postgresql:// URL")
    shown = safe_db_url(text)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        if scheme not in _SCHEMES:
            raise ConfigError(
                f"{name} {shown} has the scheme {scheme!r}: it must be postgresql:// or postgres:// "
                "(LiteLLM's spend logs are in PostgreSQL)"
            )
        for port in _uri_ports(text):
            if not (port.isdigit() and 0 < int(port) < 65536):
                raise ConfigError(f"{name} {shown} has the port {port!r}: a port must be a number (1-65535)")
    elif "=" not in text:
        raise ConfigError(
            f"{name} {shown!r} is not a postgresql:// URL (nor a libpq key=value connection string)"
        )
    psycopg = _import_psycopg()
    try:
        params = psycopg.conninfo.conninfo_to_dict(text)
    except psycopg.Error:  # its message quotes the whole string, password included: not shown
        raise ConfigError(
            f"{name} {shown} cannot be read as a PostgreSQL connection string: check its syntax "
            "(postgresql://user:password@host:port/database; special characters in the password "
            "percent-encoded)"
        ) from None
    port = str(params.get("port") or "")
    # one per host; an empty one is the default port (libpq: postgresql://h1,h2/db gives port ",")
    if not all(p.isdigit() and 0 < int(p) < 65536 for p in port.split(",") if p):
        raise ConfigError(f"{name} {shown} has the port {port!r}: a port must be a number (1-65535)")


def _uri_ports(uri: str) -> list[str]:
    """The port text of each ``host:port`` of a ``postgresql://`` URI (empty ones left out)."""
    netloc = re.split(r"[/?#]", uri.split("://", 1)[1], maxsplit=1)[0]
    hosts = netloc.rpartition("@")[2]
    ports = []
    for host in hosts.split(","):
        rest = host.rpartition("]")[2] if host.startswith("[") else host
        port = rest.rpartition(":")[2] if ":" in rest else ""
        if port:
            ports.append(port)
    return ports


def _url_password(url: str) -> str | None:
    """The password a connection string holds, to mask it wherever it might be echoed."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        return conninfo_to_dict(url).get("password") or None
    except Exception:  # noqa: BLE001 - unreadable: check_db_url has refused it already
        return None


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class LiteLLMPostgresCollector(LiteLLMRecords):
    """Pull collector over ``"LiteLLM_SpendLogs"`` in the proxy's own database."""

    def __init__(
        self,
        url: SecretStr | str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        overlap: timedelta = DEFAULT_OVERLAP,
        initial_lookback: timedelta | None = timedelta(days=30),
        schema: str | None = None,
        table: str = TABLE,
        connect_timeout: int = 10,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        url_name: str = "the LiteLLM database URL",
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"LiteLLM Postgres batch_size must be at least 1, got {batch_size}")
        self._url = (url.get_secret_value() if isinstance(url, SecretStr) else url).strip()
        check_db_url(self._url, url_name)
        self._secrets = [s for s in (self._url, _url_password(self._url)) if s]
        self.safe_url = safe_db_url(self._url)
        self.source_key = f"litellm_postgres:{self.safe_url}"
        self.batch_size = batch_size
        self.overlap = overlap
        self.initial_lookback = initial_lookback
        self._table = (schema, table) if schema else (table,)
        self._connect_timeout = connect_timeout
        self._clock = clock

    @classmethod
    def from_source(
        cls, source: Any, env: Mapping[str, str] | None = None, **options: Any
    ) -> LiteLLMPostgresCollector:
        """Build from a :class:`~agentledger.ingest.config.LiteLLMPostgresSource` (URL from its env variable)."""
        batch_size = getattr(source, "batch_size", None)
        if batch_size is not None:
            options.setdefault("batch_size", batch_size)
        url = source.database_url(env)
        from_file = source.db_url is not None and url.get_secret_value() == source.db_url
        options.setdefault(
            "url_name", f"source {source.label!r}: {'db_url' if from_file else source.db_url_env}"
        )
        return cls(
            url,
            overlap=source.overlap,
            initial_lookback=source.initial_lookback,
            **options,
        )

    def fetch(
        self, cursor: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Batches of rows with ``start <= "startTime" < end``, in ``("startTime", request_id)`` order."""
        start = read_start(
            cursor,
            since=since,
            overlap=self.overlap,
            initial_lookback=self.initial_lookback,
            now=self._clock(),
        )
        after: tuple[datetime, str] = (_naive_utc(start) if start else _LOWEST, "")
        end = _naive_utc(until) if until else _HIGHEST
        with self._connect() as conn:
            while True:
                rows = self._batch(conn, after, end)
                if not rows:
                    return
                last = rows[-1]
                newest = parse_time(last["startTime"], "startTime", str(last["request_id"]))
                yield Page(records=rows, next_cursor=format_timestamp(newest))
                if len(rows) < self.batch_size:
                    return
                after = (_naive_utc(newest), str(last["request_id"]))

    def _connect(self) -> Any:
        """A read-only connection with UTC as the session time zone; TerminalError naming the URL when refused."""
        psycopg = _import_psycopg()
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout)
        except psycopg.Error as exc:  # psycopg's messages may quote the connection string: masked
            raise TerminalError(
                f"cannot connect to the LiteLLM database at {self.safe_url}: {self._redact(exc)}"
            ) from None
        try:
            conn.read_only = True  # applies to each transaction() block below
            conn.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as exc:
            conn.close()
            raise TerminalError(
                f"cannot set up the session on {self.safe_url}: {self._redact(exc)}"
            ) from None
        return conn

    def _redact(self, exc: Exception) -> str:
        return redact(f"{type(exc).__name__}: {exc}", self._secrets).strip()

    def _batch(self, conn: Any, after: tuple[datetime, str], end: datetime) -> list[dict[str, Any]]:
        from psycopg import errors, sql
        from psycopg.rows import dict_row

        query = sql.SQL(
            'SELECT * FROM {table} WHERE ("startTime", request_id) > (%(ts)s, %(id)s) AND "startTime" < %(end)s '
            'ORDER BY "startTime", request_id LIMIT %(limit)s'
        ).format(table=sql.Identifier(*self._table))
        params = {"ts": after[0], "id": after[1], "end": end, "limit": self.batch_size}
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)
                return cur.fetchall()
        except errors.UndefinedTable as exc:
            raise TerminalError(
                f"no table {'.'.join(self._table)} in {self.safe_url}: is this the LiteLLM proxy's database?"
            ) from exc
        except errors.InsufficientPrivilege as exc:
            raise TerminalError(
                f"the user of {self.safe_url} may not read {'.'.join(self._table)}: grant SELECT"
            ) from exc
        except errors.OperationalError as exc:
            raise TransientError(f"reading {self.safe_url} failed: {self._redact(exc)}") from None
        except errors.Error as exc:
            raise TerminalError(f"reading {self.safe_url} failed: {self._redact(exc)}") from None


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a core dependency
        raise ConfigError("reading LiteLLM's Postgres needs psycopg: pip install 'psycopg[binary]'") from exc
    return psycopg
