"""API keys and the checks shared by every HTTP entry point (ingest and query), and the dashboard password.

Pure parts only: no warehouse, no FastAPI. Stored keys are looked up through a function handed to
:class:`Authenticator` (the store lives in :mod:`agentledger.warehouse.keys`).

Key format: ``al_<project>_<32 random base62 characters>`` (about 190 bits). Only the SHA-256 of a key is
stored: the key is random and long, so a fast hash is enough (a slow password hash protects guessable
secrets, which these are not). The visible prefix (``al_<project>_`` and the first 6 random characters) is
stored too, so a listing tells keys apart without revealing them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr

from agentledger.core.errors import AgentLedgerError, ConfigError

KEY_SCHEME = "al"
_SECRET_ALPHABET = string.ascii_letters + string.digits
_SECRET_CHARS = 32  # 32 base62 characters: ~190 bits
_PREFIX_SECRET_CHARS = 6  # how much of the random part the listing shows
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ENV_KEY_ID = "env"  # the key id reported for AGENTLEDGER_API_KEYS keys


class Unauthorized(AgentLedgerError):
    """A request presented no key, or one that is unknown or revoked (HTTP 401). Never holds the key."""


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: ``key`` is shown once and never stored; the rest is what the store keeps."""

    key_id: str
    project_id: str
    key: str
    prefix: str
    key_hash: str


def validate_project_id(project_id: str) -> str:
    """``project_id`` when it is 1-64 letters, digits, ``.``, ``_`` or ``-`` (starting with a letter or digit)."""
    if not _PROJECT_RE.fullmatch(project_id or ""):
        raise ConfigError(
            f"project {project_id!r} is not a valid project id: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return project_id


def hash_key(key: str) -> str:
    """Hex SHA-256 of a key: what the store keeps and looks keys up by."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def generate_key(project_id: str) -> NewKey:
    """A new random key for ``project_id`` with its id, visible prefix and hash."""
    validate_project_id(project_id)
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(_SECRET_CHARS))
    key = f"{KEY_SCHEME}_{project_id}_{secret}"
    prefix = f"{KEY_SCHEME}_{project_id}_{secret[:_PREFIX_SECRET_CHARS]}"
    return NewKey(secrets.token_hex(6), project_id, key, prefix, hash_key(key))


def key_from_headers(authorization: str | None, x_api_key: str | None = None) -> str | None:
    """The key a request presents: ``Authorization: Bearer <key>``, HTTP Basic whose password is the key
    (Langfuse exporters send ``public:secret``), or an ``x-api-key`` header."""
    if x_api_key:
        return x_api_key.strip()
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        _, _, password = decoded.partition(":")
        return password or None
    return None


def key_is_valid(presented: str | None, keys: Iterable[SecretStr]) -> bool:
    """Constant-time comparison against every configured key (no early exit that leaks which one matched)."""
    if presented is None:
        return False
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"),
            key.get_secret_value().encode("utf-8", "surrogatepass"),
        )
    return ok


def password_matches(presented: str, expected: SecretStr) -> bool:
    """Constant-time comparison of a typed password with the configured one (compared as SHA-256 digests,
    so not even the length leaks)."""
    a = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    b = hashlib.sha256(expected.get_secret_value().encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(a, b)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a server reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


# ``[scheme:]//user:password@rest`` (or ``user:password@rest`` with no scheme), the password read up to the
# *last* "@": an unencoded "/", "?", "#" or "@" in a password would otherwise end it early for a URL parser and
# leave its rest in plain sight as a path, query or host.
_CREDENTIALS = re.compile(
    r"(?P<head>(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^:/?#]*:|[^:/?#]*:(?!//))(?P<password>.+)@(?P<rest>[^@]*)",
    re.DOTALL,
)


def _without_query(rest: str) -> str:
    """``rest`` (host, path, query, fragment) with its query string replaced by ``***`` and no fragment."""
    rest = rest.partition("#")[0]
    rest, _, query = rest.partition("?")
    return f"{rest}?***" if query else rest


def redact_url(url: str) -> str:
    """``url`` with its password (``scheme://user:password@host``) and its query string (``?password=...``,
    ``?token=...``) replaced by ``***``: safe to print or log. Where a malformed URL is ambiguous, more is masked
    rather than less."""
    url = url.strip()
    found = _CREDENTIALS.fullmatch(url)
    if found:
        if "?" in found["password"] or "#" in found["password"]:
            # What follows the last "@" may be the end of a query or a fragment rather than the host: hide it too.
            return f"{found['head']}***@***"
        return f"{found['head']}***@{_without_query(found['rest'])}"
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not parseable as a URL: show nothing of what might be in it
        return "<unparseable URL>"
    if not password and not parts.query and not parts.fragment:
        return url
    if password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@", 1))
    return parts._replace(query="***" if parts.query else "", fragment="").geturl()


def url_origin(url: str) -> str:
    """Only the scheme, host and port of ``url`` (``https://hooks.example.com/…``): for URLs whose path or
    query is itself the credential (webhooks)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not parts.hostname:
        return "<URL>"
    return f"{parts.scheme}://{parts.hostname}{port}/…"


# ------------------------------------------------------------------------------------------ authenticator

StoredLookup = Callable[[str], str | None]  # key hash -> project of an active key, or None
AnyStored = Callable[[], bool]  # whether any key was ever stored (revoked ones included)


class Authenticator:
    """Decides which project a presented key belongs to.

    Keys come from ``AGENTLEDGER_API_KEYS`` (mapped to ``default_project``) and from the key store
    (``lookup`` by hash). Authentication is required as soon as any key exists, env or stored; revoked keys
    count, so revoking every key never opens the API. Store answers are cached for ``cache_seconds`` (a
    short time, bounding how long another process's revocation takes to reach this one);
    :meth:`invalidate` drops the cache at once, and so does a change of ``generation()`` (the key store's
    count of creations and revocations in this process).
    """

    _MAX_CACHED = 10_000

    def __init__(
        self,
        env_keys: Sequence[SecretStr],
        default_project: str,
        lookup: StoredLookup | None = None,
        any_stored: AnyStored | None = None,
        *,
        cache_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        generation: Callable[[], int] | None = None,
    ) -> None:
        self._env_keys = list(env_keys)
        self.default_project = default_project
        self._lookup = lookup
        self._any_stored = any_stored
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._stored_seen = False  # keys are never deleted: once seen, auth stays on
        self._stored_checked_at: float | None = None
        self._generation = generation
        self._seen_generation = generation() if generation else 0

    def invalidate(self) -> None:
        """Forget every cached answer (call after creating or revoking a key in this process)."""
        with self._lock:
            self._cache.clear()
            self._stored_checked_at = None

    def _follow_changes(self) -> None:
        """Drop the cache when keys changed in this process since the last look."""
        if self._generation is None:
            return
        current = self._generation()
        if current != self._seen_generation:
            self.invalidate()
            self._seen_generation = current

    def required(self) -> bool:
        """Whether requests must present a key: some env key is configured or some key was ever stored."""
        self._follow_changes()
        if self._env_keys or self._stored_seen:
            return True
        if self._any_stored is None:
            return False
        now = self._clock()
        with self._lock:
            fresh = self._stored_checked_at is not None and now - self._stored_checked_at < self.cache_seconds
        if fresh:
            return self._stored_seen
        seen = self._any_stored()
        with self._lock:
            self._stored_seen = self._stored_seen or seen
            self._stored_checked_at = now
        return self._stored_seen

    def project_for(self, presented: str | None) -> str:
        """The caller's project; raises :class:`Unauthorized` when a key is required and this one is not valid."""
        if not self.required():
            return self.default_project
        if presented is None:
            raise Unauthorized("the request has no API key: send 'Authorization: Bearer <key>'")
        if self._env_keys and key_is_valid(presented, self._env_keys):
            return self.default_project
        project = self._stored_project(hash_key(presented))
        if project is None:
            raise Unauthorized(
                "the request has an unknown or revoked API key: send 'Authorization: Bearer <key>' "
                "with a key from `agentledger keys create` or AGENTLEDGER_API_KEYS"
            )
        return project

    def _stored_project(self, key_hash: str) -> str | None:
        if self._lookup is None:
            return None
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key_hash)
        if cached is not None and now - cached[1] < self.cache_seconds:
            return cached[0]
        project = self._lookup(key_hash)
        with self._lock:
            if len(self._cache) >= self._MAX_CACHED:  # many distinct bad keys: start over, stay bounded
                self._cache.clear()
            self._cache[key_hash] = (project, now)
        return project
