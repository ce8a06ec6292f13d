"""Authentication for the HTTP API: one :class:`Authenticator` per app, one FastAPI dependency for every router.

``require_key`` (built by :func:`require_key_dependency`) returns the caller's project: the project of the
presented key, or ``settings.project_id`` when no key exists at all. Routers take it as a router dependency
(``APIRouter(dependencies=[Depends(require_key)])``) and read the project in their endpoints with
``project: Annotated[str, Depends(require_key)]`` (FastAPI runs it once per request). The ingest receivers
take :func:`project_for_request`, which raises :class:`~agentledger.core.security.Unauthorized`; they
answer 401 in their own wire format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Header, HTTPException, Request

from agentledger.core.security import Authenticator, Unauthorized, key_from_headers
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse
from agentledger.warehouse.keys import KeyStore, keys_generation

__all__ = ["build_authenticator", "key_cache_seconds", "project_for_request", "require_key_dependency"]


# Warehouses that one process opens at a time (a DuckDB file has one writing process, a chDB directory one
# process): every key created or revoked while the server runs goes through this process's KeyStore, whose
# generation drops the cache at once, so lookups may be cached for long.
_ONE_PROCESS_SCHEMES = frozenset({"duckdb", "chdb"})
ONE_PROCESS_CACHE_SECONDS = 60.0


def key_cache_seconds(settings: Settings, warehouse: Warehouse) -> float:
    """How long a stored key's lookup is trusted: ``settings.key_cache_seconds`` (0 by default: every request
    is looked up, so a revocation made by another process applies at once) on a ClickHouse server, which
    other processes share; :data:`ONE_PROCESS_CACHE_SECONDS` on a warehouse only this process can change."""
    scheme = urlsplit(getattr(warehouse, "url", "") or "").scheme.lower()
    return ONE_PROCESS_CACHE_SECONDS if scheme in _ONE_PROCESS_SCHEMES else settings.key_cache_seconds


def build_authenticator(settings: Settings, warehouse: Warehouse) -> Authenticator:
    """Env keys (``AGENTLEDGER_API_KEYS``, mapped to ``settings.project_id``) plus the warehouse's key store."""
    store = KeyStore(warehouse)
    return Authenticator(
        settings.api_keys,
        settings.project_id,
        lookup=store.project_for_hash,
        any_stored=store.any_keys,
        cache_seconds=key_cache_seconds(settings, warehouse),
        generation=keys_generation,
    )


def require_key_dependency(auth: Authenticator) -> Callable[..., str]:
    """The FastAPI dependency: the caller's project, or 401 with ``WWW-Authenticate: Bearer``."""

    def require_key(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> str:
        try:
            return auth.project_for(key_from_headers(authorization, x_api_key))
        except Unauthorized as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None

    return require_key


def project_for_request(auth: Authenticator) -> Callable[[Request], str]:
    """For the ingest receivers: the project of the request's key; raises :class:`Unauthorized`."""

    def pick(request: Request) -> str:
        headers = request.headers
        return auth.project_for(key_from_headers(headers.get("authorization"), headers.get("x-api-key")))

    return pick
