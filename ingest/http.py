"""The HTTP client every pull collector shares: JSON in and out, retries with backoff, errors that say what to do.

Transient failures (429, 5xx, dropped connections, timeouts) are retried with exponential backoff and full
jitter, honouring ``Retry-After`` (seconds or an HTTP date) when the server sends one; after the last attempt
they surface as :class:`TransientError`. Refusals that retrying cannot fix surface at once as
:class:`TerminalError`: 401/403 name the credential to check (never its value), other 4xx carry the server's
message, and a request that cannot be sent at all (a URL that is not http(s), a malformed URL or header) is
not retried. Secrets the client was given are masked in every message it builds.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from agentledger.core.errors import ConfigError, TerminalError, TransientError
from agentledger.core.security import redact_url

DEFAULT_TIMEOUT_S = 30.0
MAX_RETRY_AFTER_S = 300.0  # a server asking for more than 5 minutes is treated as asking for 5
_MESSAGE_LIMIT = 300
Params = Mapping[str, Any] | Sequence[tuple[str, Any]]
# Failures of the request itself, before or regardless of the server: a URL without http(s), a malformed URL
# or header. Retrying sends the same request again, so they are terminal.
_CANNOT_HEAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)

# Shapes of credentials that must never reach a log line or a cursor row, whatever the source.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[^\s,;\"']+"), r"\1***"),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"), r"\1***"),
    (re.compile(r"\b(sk|pk)-lf-[A-Za-z0-9-]+"), r"\1-lf-***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-***"),
    (re.compile(r"(://[^/\s:@]+):[^/\s@]+@"), r"\1:***@"),  # password in a URL's userinfo
    (re.compile(r"(?i)\b(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'\"]+)"), r"\1***"),  # libpq key=value
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask the given secret values and anything shaped like a key, token or URL password."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng() * min(cap, base * (2**attempt))


class HttpClient:
    """A small JSON client over one base URL with retry/backoff and actionable errors.

    ``service`` names the remote side in messages ("Langfuse"); ``credential_hint`` names what the user must
    check when it refuses the credentials ("LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY"); ``secrets`` are the
    values to mask in any message. ``sleep`` and ``rng`` are injectable so tests run without waiting.
    """

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        credential_hint: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        timeout: float = DEFAULT_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.service = service
        self.credential_hint = credential_hint
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._secrets = tuple(s for s in secrets if s)
        self._sleep = sleep
        self._rng = rng
        self.host = _shown_url(base_url)
        try:
            self._client = httpx.Client(
                base_url=base_url.rstrip("/"),
                auth=auth,
                headers=dict(headers or {}),
                timeout=timeout,
                transport=transport,
            )
        except (httpx.InvalidURL, httpx.LocalProtocolError) as exc:
            raise ConfigError(
                self._redact(f"{service}: cannot use the host URL {redact_url(base_url)}: {exc}")
            ) from exc

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, missing_ok: bool = False
    ) -> Any:
        """GET ``path`` and return the decoded JSON body; with ``missing_ok`` a 404 returns None."""
        response = self.request("GET", path, params=_clean_params(params), missing_ok=missing_ok)
        return None if response.status_code == 404 else self._decode(response)

    def post_json(self, path: str, body: Any) -> Any:
        """POST ``body`` as JSON to ``path`` and return the decoded JSON body."""
        return self._decode(self.request("POST", path, json=body))

    def request(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> httpx.Response:
        """Send one request, retrying transient failures; raise Terminal/TransientError when it cannot succeed."""
        last: TransientError | None = None
        for attempt in range(self.max_attempts):
            try:
                return self._attempt(method, path, missing_ok=missing_ok, **kwargs)
            except TransientError as exc:
                last = exc
                if attempt + 1 < self.max_attempts:
                    self._sleep(self._wait_for(exc, attempt))
        assert last is not None
        raise TransientError(
            f"{self.service} {method} {path} at {self.host} failed after {self.max_attempts} attempts: {last}",
            retry_after=last.retry_after,
        ) from last

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _attempt(self, method: str, path: str, *, missing_ok: bool, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except _CANNOT_HEAL as exc:  # the same request fails the same way every time: do not retry it
            raise TerminalError(
                self._redact(
                    f"{self.service} {method} {path} at {self.host} cannot be sent: {type(exc).__name__}: {exc}"
                    " (check the host URL)"
                )
            ) from exc
        except httpx.TransportError as exc:  # connect/read errors, dropped connections, timeouts
            raise TransientError(self._redact(f"{type(exc).__name__}: {exc}")) from exc
        if not (missing_ok and response.status_code == 404):
            self._raise_for_status(response)
        return response

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"{response.request.method} {response.request.url.path}"
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError(f"HTTP {status} from {self.service} ({where})", retry_after=retry_after)
        if status in (401, 403):
            raise TerminalError(
                f"{self.service} refused the credentials (HTTP {status} on {where}): check {self.credential_hint}"
            )
        raise TerminalError(
            self._redact(f"{self.service} rejected {where} with HTTP {status}: {_server_message(response)}")
        )

    def _wait_for(self, exc: TransientError, attempt: int) -> float:
        if exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_S)
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap, rng=self._rng)

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            # A 200 that is not JSON is a proxy or a wrong URL, not something a retry fixes.
            raise TerminalError(
                f"{self.service} answered {response.request.url.path} with a body that is not JSON "
                f"(content-type {response.headers.get('content-type', 'unknown')}): check the host URL"
            ) from exc

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def _shown_url(base_url: str) -> str:
    """The server as errors name it: scheme, host, port and path, never a user name or password in the URL."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        return "the configured host"
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path.rstrip('/')}" if url.host else "the configured host"


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its body (``message``/``error`` of a JSON body, else the text)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if value:
                text = value if isinstance(value, str) else json.dumps(value)
                return text[:_MESSAGE_LIMIT]
    return (response.text or response.reason_phrase or "no message")[:_MESSAGE_LIMIT]


def _clean_params(params: Params | None) -> list[tuple[str, Any]] | None:
    """Drop None values so optional filters are simply left out of the query string. A list of pairs
    keeps repeated keys (``environment=a&environment=b``)."""
    if params is None:
        return None
    pairs = params.items() if isinstance(params, Mapping) else params
    return [(k, v) for k, v in pairs if v is not None]
