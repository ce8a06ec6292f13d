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
from agentledger.ingest.collectors.base import Page
from agentledger.ingest.collectors.litellm import LiteLLMRecords, parse_time
from agentledger.ingest.collectors.timeutil import DEFAULT_OVERLAP, format_timestamp, read_start
from agentledger.ingest.http import redact

TABLE = "LiteLLM_SpendLogs"
DEFAULT_BATCH_SIZE = 1000
_KEYWORD_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")
_LOWEST = datetime(1, 1, 1)
_HIGHEST = datetime(9999, 12, 31)


def safe_db_url(url: str) -> str:
    """``postgresql://user@host:port/db``: the URL without its password or query (which may hold one)."""
    parts = urlsplit(url)
    if not parts.scheme:  # a libpq "key=value" string
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


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
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"LiteLLM Postgres batch_size must be at least 1, got {batch_size}")
        self._url = url.get_secret_value() if isinstance(url, SecretStr) else url
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
        return cls(
            source.database_url(env),
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
        except psycopg.OperationalError as exc:
            raise TerminalError(
                f"cannot connect to the LiteLLM database at {self.safe_url}: {redact(str(exc), [self._url]).strip()}"
            ) from exc
        conn.read_only = True  # applies to each transaction() block below
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

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
            raise TransientError(
                f"reading {self.safe_url} failed: {redact(str(exc), [self._url]).strip()}"
            ) from exc


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a core dependency
        raise ConfigError("reading LiteLLM's Postgres needs psycopg: pip install 'psycopg[binary]'") from exc
    return psycopg
