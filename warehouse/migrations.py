"""The shared migration runner: applies ``sql/ddl/<dialect>/NNN_*.sql`` in order, once each.

Backends differ only in how they execute a statement and record a version; the runner owns the order,
the bookkeeping and the error messages. Applied versions live in the warehouse's ``schema_migrations``
table, so migrating twice is a no-op and a newer release applies only its new files. A warehouse already
migrated by a newer release (a version this one does not know) is refused: its tables may not be the ones
this release reads and writes.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import agentledger
from agentledger.core.errors import WarehouseError

_FILE_RE = re.compile(r"^(\d{3,})_([\w-]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One DDL file: its version (the NNN prefix), name and SQL text."""

    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The file split into single statements (for drivers that run one statement per call)."""
        return split_statements(self.sql)


class MigrationTarget(Protocol):
    """What a backend offers the runner."""

    def applied_migrations(self) -> set[int]:
        """Versions already applied (creates the bookkeeping table when missing)."""

    def apply_migration(self, migration: Migration) -> None:
        """Run the migration's statements and record its version, atomically where the engine can."""


def sql_root() -> Path:
    """The ``sql/`` folder: beside ``core/`` in a checkout, inside the package in a wheel."""
    for entry in agentledger.__path__:
        candidate = Path(entry) / "sql"
        if (candidate / "queries").is_dir():
            return candidate
    raise WarehouseError(f"cannot find the sql/ folder of agentledger in {list(agentledger.__path__)}")


def split_statements(text: str) -> list[str]:
    """Split DDL text on ``;`` ending a line, dropping ``--`` comment lines (our DDL has no ``;`` in strings)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    parts = re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE)
    return [p.strip() for p in parts if p.strip()]


def load_migrations(dialect: str, root: Path | None = None) -> list[Migration]:
    """The dialect's migrations in version order; two files with one version are an error."""
    folder = (root or sql_root()) / "ddl" / dialect
    if not folder.is_dir():
        raise WarehouseError(f"no DDL for dialect {dialect!r}: {folder} is missing")
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise WarehouseError(f"{path}: migration files are named NNN_description.sql")
        version = int(match.group(1))
        if version in found:
            raise WarehouseError(f"{path}: version {version} is used twice in {folder}")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def agentledger_version() -> str:
    """The installed release, for messages (``(unknown version)`` in a checkout that was never installed)."""
    try:
        return importlib.metadata.version("agentledger")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def migrate(target: MigrationTarget, dialect: str, root: Path | None = None) -> list[Migration]:
    """Apply the pending migrations of ``dialect`` to ``target``; returns those applied now."""
    applied = target.applied_migrations()
    known = load_migrations(dialect, root)
    latest = max((m.version for m in known), default=0)
    newer = sorted(v for v in applied if v > latest)
    if newer:
        raise WarehouseError(
            f"this warehouse's schema is at version {newer[-1]:03d}, newer than this release of agentledger "
            f"{agentledger_version()} knows (up to {latest:03d}): it was migrated by a newer release. "
            "Upgrade agentledger to use it; nothing was changed"
        )
    pending = [m for m in known if m.version not in applied]
    for migration in pending:
        try:
            target.apply_migration(migration)
        except WarehouseError:
            raise
        except Exception as exc:  # driver errors differ per backend: name the file that failed
            raise WarehouseError(
                f"migration {migration.version:03d}_{migration.name} ({dialect}) failed: {exc}"
            ) from exc
    return pending
