"""Managing API keys through the server that holds an embedded ledger.

A DuckDB file has one writing process: while ``agentledger serve`` or ``up`` runs on it, ``agentledger keys``
cannot open it, yet a leaked key must be revocable at once. So the server publishes a control file beside the
ledger (``<ledger>.server.json``: its local URL and a random admin token, readable by the file's owner only),
and the ``keys`` commands that find the ledger locked send their change to it instead. Whoever can read the
ledger's folder may change its keys either way; the token only extends that to the running server.

The admin endpoints (``/api/admin/keys``) take the token in ``X-Agentledger-Admin``, answer loopback clients
only, and are left out of the OpenAPI schema: they are this local channel, not the public API. A key changed
there goes through the server's own :class:`~agentledger.warehouse.keys.KeyStore`, so its authenticator
refuses a revoked key at once.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from agentledger.core.errors import ConfigError, WarehouseError
from agentledger.core.security import is_loopback
from agentledger.core.settings import Settings
from agentledger.warehouse.duckdb import database_file
from agentledger.warehouse.keys import KeyStore, StoredKey

ADMIN_HEADER = "X-Agentledger-Admin"
CONTROL_SUFFIX = ".server.json"


def control_path(warehouse_url: str) -> Path | None:
    """Where the server on ``warehouse_url`` publishes its control file: beside a DuckDB file; None for a
    ledger other processes can open themselves (a ClickHouse server) or an in-memory one."""
    if not warehouse_url.lower().startswith("duckdb:"):
        return None
    path = database_file(warehouse_url)
    return None if path is None else path.with_name(path.name + CONTROL_SUFFIX)


def local_url(settings: Settings) -> str:
    """The server's URL as a process on this machine reaches it (a wildcard bind is reached on loopback)."""
    host = settings.host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"  # a "::" bind listens on IPv6 (only, on some systems)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


class ControlFile:
    """The control file of one running server (written on start, removed on stop)."""

    def __init__(self, path: Path, url: str) -> None:
        self.path, self.url = path, url
        self.token = secrets.token_urlsafe(32)

    def publish(self) -> None:
        body = json.dumps({"url": self.url, "token": self.token, "pid": os.getpid()})
        # A new file of an unguessable name, never one that exists or a link: nobody else can have opened it,
        # and it is the owner's alone from its first byte.
        temporary = self.path.with_name(f"{self.path.name}.{secrets.token_hex(8)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(temporary, flags, 0o600)
        try:
            os.fchmod(descriptor, 0o600)  # whatever the umask
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(body)
            os.replace(
                temporary, self.path
            )  # readers see the whole file or none; a link in its place is replaced
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def withdraw(self) -> None:
        """Remove the file if it is still this server's."""
        try:
            if json.loads(self.path.read_text(encoding="utf-8")).get("token") == self.token:
                self.path.unlink()
        except (OSError, ValueError):
            pass


class NewKeyRequest(BaseModel):
    project: str = Field(min_length=1, description="The project the key reads and writes")
    name: str | None = Field(None, description="A label")


def build_admin_router(store: KeyStore, token: str, bound_host: str = "127.0.0.1") -> APIRouter:
    """``/api/admin/keys``: list, create and revoke keys, for the ``keys`` commands on this machine (clients
    on loopback, or on the address the server is bound to: a process here that connects to it comes from it)."""
    own_address = bound_host.strip("[]")

    def admin_only(request: Request, given: Annotated[str | None, Header(alias=ADMIN_HEADER)] = None) -> None:
        client = request.client.host if request.client else ""
        if not (is_loopback(client) or client == own_address):
            raise HTTPException(403, "the admin endpoints answer this machine only")
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, f"missing or wrong {ADMIN_HEADER} token")

    router = APIRouter(prefix="/api/admin", dependencies=[Depends(admin_only)], include_in_schema=False)

    @router.get("/keys")
    async def list_keys(project: str | None = None) -> list[dict[str, Any]]:
        return [_public(row) for row in await run_in_threadpool(store.list, project)]

    @router.post("/keys")
    async def create_key(body: NewKeyRequest) -> dict[str, Any]:
        try:
            row, key = await run_in_threadpool(store.create, body.project, body.name)
        except ConfigError as exc:  # not a valid project id
            raise HTTPException(422, str(exc)) from exc
        return {**_public(row), "key": key}

    @router.post("/keys/{key_id}/revoke")
    async def revoke_key(key_id: str) -> dict[str, Any]:
        try:
            row = await run_in_threadpool(store.revoke, key_id)
        except ConfigError as exc:
            raise HTTPException(404, str(exc)) from exc
        return _public(row)

    return router


def _public(row: StoredKey) -> dict[str, Any]:
    """A key row without its hash."""
    data = asdict(row)
    data.pop("key_hash")
    return data


def _row(data: dict[str, Any]) -> StoredKey:
    moments = {
        k: datetime.fromisoformat(data[k]) if data.get(k) else None for k in ("created_at", "revoked_at")
    }
    return StoredKey(
        key_id=data["key_id"],
        project_id=data["project_id"],
        name=data.get("name"),
        prefix=data["prefix"],
        key_hash="",
        **moments,  # type: ignore[arg-type]
    )


class RemoteKeyStore:
    """:class:`KeyStore`'s create, list and revoke, done by the server that holds the ledger."""

    def __init__(self, url: str, token: str, pid: int | None = None) -> None:
        self.url, self.pid = url, pid
        # trust_env=False: straight to the server, never through a proxy from the environment (the token)
        self._client = httpx.Client(
            base_url=url, headers={ADMIN_HEADER: token}, timeout=30.0, trust_env=False
        )

    @classmethod
    def of(cls, warehouse_url: str) -> RemoteKeyStore | None:
        """The store of the server that published a control file for ``warehouse_url``, if one did."""
        path = control_path(warehouse_url)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["url"]), str(data["token"]), data.get("pid"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        self._client.close()

    def create(self, project_id: str, name: str | None = None) -> tuple[StoredKey, str]:
        data = self._call("POST", "/api/admin/keys", json={"project": project_id, "name": name})
        return _row(data), str(data["key"])

    def list(self, project_id: str | None = None) -> list[StoredKey]:
        params = {"project": project_id} if project_id is not None else None
        return [_row(d) for d in self._call("GET", "/api/admin/keys", params=params)]

    def revoke(self, key_id: str) -> StoredKey:
        return _row(self._call("POST", f"/api/admin/keys/{quote(key_id, safe='')}/revoke"))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        server = f"the agentledger server at {self.url}" + (f" (PID {self.pid})" if self.pid else "")
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise WarehouseError(
                f"the ledger is held by {server}, which does not answer ({type(exc).__name__}): "
                "stop it, or run the command when it is up"
            ) from None
        if response.status_code in (404, 422):  # an unknown key id, an invalid project: the input's fault
            raise ConfigError(_detail(response))
        if response.status_code >= 400:
            raise WarehouseError(
                f"{server} refused the change (HTTP {response.status_code}): {_detail(response)}"
            )
        try:
            return response.json()
        except ValueError:
            raise WarehouseError(
                f"{self.url} did not answer as an agentledger server (its control file may be stale): "
                "stop the process that holds the ledger"
            ) from None


def _detail(response: httpx.Response) -> str:
    """The server's reason in one line: its message, or the fields a refused request body got wrong
    (``project '': String should have at least 1 character``) rather than the validation structure."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200]
    if isinstance(detail, list):
        return "; ".join(_problem(error) for error in detail) or response.reason_phrase
    return str(detail)


def _problem(error: Any) -> str:
    """One entry of a validation error: the field (without where the request carried it), the value given when
    it is a short one, and what is wrong with it."""
    if not isinstance(error, dict):
        return str(error)
    where = [str(part) for part in error.get("loc") or ()]
    if where and where[0] in ("body", "query", "path", "header"):
        where = where[1:]
    field = ".".join(where) or "the request"
    given = error.get("input")
    shown = f" {given!r}" if isinstance(given, str | int | float) and len(repr(given)) <= 80 else ""
    return f"{field}{shown}: {error.get('msg', 'invalid')}"
