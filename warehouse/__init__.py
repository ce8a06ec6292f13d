"""Warehouse backends behind one protocol, chosen by URL scheme.

``connect("duckdb:///path/ledger.duckdb")`` opens (and migrates) the embedded default;
``chdb:///dir`` and ``clickhouse://user:pass@host:8123/db`` reach ClickHouse. Backends are imported only
when their scheme is used, so a missing optional driver fails with the extra to install, not at import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from agentledger.core.errors import ConfigError
from agentledger.core.security import redact_url
from agentledger.warehouse.base import Cursor, Warehouse

__all__ = ["BackendSpec", "Cursor", "Warehouse", "backend_for", "connect", "register_backend"]


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """Where a backend class lives and which pip extra brings its driver."""

    module: str
    attr: str
    extra: str | None = None  # e.g. "chdb" -> pip install 'agentledger[chdb]'
    drivers: tuple[str, ...] = ()  # top-level modules of the optional driver


_REGISTRY: dict[str, BackendSpec] = {}


def register_backend(scheme: str, spec: BackendSpec) -> None:
    """Make ``scheme://...`` URLs open the backend described by ``spec`` (later registrations win)."""
    _REGISTRY[scheme.lower()] = spec


register_backend("duckdb", BackendSpec("agentledger.warehouse.duckdb", "DuckDBWarehouse"))
register_backend(
    "chdb", BackendSpec("agentledger.warehouse.clickhouse", "ClickHouseWarehouse", "chdb", ("chdb",))
)
register_backend(
    "clickhouse",
    BackendSpec("agentledger.warehouse.clickhouse", "ClickHouseWarehouse", None, ("clickhouse_connect",)),
)
register_backend("clickhouses", _REGISTRY["clickhouse"])  # the same server over TLS (HTTPS)


def _shown(url: str) -> str:
    """``url`` for an error message: no password, even in a URL too malformed to parse (``host:pass@...``)."""
    text = redact_url(url)
    return text if "@" not in text or ":***@" in text else "***@" + text.rpartition("@")[2]


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise ConfigError(
            f"warehouse URL {_shown(url)!r} has no scheme: use duckdb:///path/ledger.duckdb, chdb:///dir "
            "or clickhouse://user:pass@host:8123/db (setting AGENTLEDGER_WAREHOUSE)"
        )
    return scheme.lower()


def backend_for(url: str) -> type:
    """The backend class for ``url``'s scheme, importing it (and its driver) only now."""
    scheme = _scheme(url)
    spec = _REGISTRY.get(scheme)
    if spec is None:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown warehouse scheme {scheme!r} in {redact_url(url)!r}; known: {known}")
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name in spec.drivers:
            hint = f"pip install 'agentledger[{spec.extra}]'" if spec.extra else f"pip install {exc.name}"
            raise ConfigError(f"the {scheme} warehouse needs the {exc.name!r} driver: {hint}") from exc
        if exc.name == spec.module:
            raise ConfigError(f"the {scheme} warehouse backend is not available in this build") from exc
        raise
    return getattr(module, spec.attr)


def connect(url: str) -> Warehouse:
    """Open the warehouse at ``url`` and bring its schema up to date."""
    backend = backend_for(url)(url)
    try:
        backend.migrate()
    except BaseException:
        backend.close()  # a schema it cannot use: release the file or chDB directory (held for the process)
        raise
    return backend
