"""The API key store: the ``api_keys`` table of ``sql/ddl/<dialect>/005_keys.sql``, read through ``wh.sql``.

Only hashes are stored (see :mod:`agentledger.core.security`). Rows are written as full-row upserts keyed by
``key_id``: ``INSERT OR REPLACE`` where the engine updates in place (DuckDB), a plain insert into a
``ReplacingMergeTree`` where upserts are versioned inserts (ClickHouse, read ``FINAL``). Values are always
bound parameters.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from agentledger.core.errors import ConfigError
from agentledger.core.security import NewKey, generate_key
from agentledger.warehouse.base import Warehouse, upsert_statement

COLUMNS = ("key_id", "project_id", "name", "prefix", "key_hash", "created_at", "revoked_at")

# Bumped by every create and revoke in this process: an Authenticator that sees it move drops its cache, so a
# key revoked here (the dashboard under `agentledger up`, a test, an admin tool) is refused at once.
_changes = itertools.count(1)
_generation = 0
_generation_lock = threading.Lock()


def keys_generation() -> int:
    """How many key changes this process has made (see ``Authenticator(generation=...)``)."""
    return _generation


def _changed() -> None:
    global _generation
    with _generation_lock:
        _generation = next(_changes)


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One row of ``api_keys`` (no key: only its hash and visible prefix)."""

    key_id: str
    project_id: str
    name: str | None
    prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyStore:
    """Create, list, revoke and look up API keys in one warehouse."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.wh = warehouse
        self._put_row = upsert_statement(warehouse, "api_keys", list(COLUMNS))

    def _put(self, row: StoredKey) -> None:
        self.wh.sql(self._put_row, asdict(row))

    def create(self, project_id: str, name: str | None = None) -> tuple[StoredKey, str]:
        """Store a new key for ``project_id``; returns the row and the key itself (show it once)."""
        new: NewKey = generate_key(project_id)
        row = StoredKey(new.key_id, new.project_id, name, new.prefix, new.key_hash, datetime.now(UTC))
        self._put(row)
        _changed()
        return row, new.key

    def list(self, project_id: str | None = None) -> list[StoredKey]:
        """Every key (or one project's), oldest first, revoked ones included."""
        text = f"SELECT {', '.join(COLUMNS)} FROM api_keys"
        params: dict[str, str] = {}
        if project_id is not None:
            text += " WHERE project_id = $project_id"
            params["project_id"] = project_id
        frame = self.wh.sql(text + " ORDER BY created_at, key_id", params)
        return [StoredKey(**row) for row in frame.iter_rows(named=True)]

    def get(self, key_id: str) -> StoredKey | None:
        """The key with this id, or None."""
        frame = self.wh.sql(
            f"SELECT {', '.join(COLUMNS)} FROM api_keys WHERE key_id = $key_id", {"key_id": key_id}
        )
        return StoredKey(**frame.row(0, named=True)) if frame.height else None

    def revoke(self, key_id: str) -> StoredKey:
        """Mark a key revoked (idempotent: a revoked key keeps its first revocation time)."""
        with self.wh.transaction():
            row = self.get(key_id)
            if row is None:
                raise ConfigError(f"no API key with id {key_id!r}: `agentledger keys list` shows the ids")
            if row.revoked_at is None:
                row = replace(row, revoked_at=datetime.now(UTC))
                self._put(row)
        _changed()
        return row

    def project_for_hash(self, key_hash: str) -> str | None:
        """The project of the active key with this hash, or None (unknown or revoked)."""
        frame = self.wh.sql(
            "SELECT project_id FROM api_keys WHERE key_hash = $key_hash AND revoked_at IS NULL",
            {"key_hash": key_hash},
        )
        return str(frame["project_id"][0]) if frame.height else None

    def any_keys(self) -> bool:
        """Whether any key was ever created (revoked ones count: revoking all keys keeps the API closed)."""
        frame = self.wh.sql("SELECT count(*) AS n FROM api_keys")
        return int(frame["n"][0]) > 0
