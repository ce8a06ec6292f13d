"""The shared HTTP client: retry and backoff, Retry-After, and errors that name what to check."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from agentledger.core.errors import TerminalError, TransientError
from agentledger.ingest.http import HttpClient, backoff_delay, parse_retry_after, redact

SECRET = "sk-lf-very-secret-value-1234"


def client(handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float], **kwargs) -> HttpClient:
    options = {
        "service": "Langfuse",
        "credential_hint": "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY",
        "auth": ("pk-lf-public-0000", SECRET),
        "secrets": ("pk-lf-public-0000", SECRET),
        "sleep": sleeps.append,
        "rng": lambda: 1.0,
        "transport": httpx.MockTransport(handler),
    }
    return HttpClient("http://source.test", **{**options, **kwargs})


def scripted(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter() -> None:
    assert [backoff_delay(n, base=0.5, cap=3.0, rng=lambda: 1.0) for n in range(5)] == [
        0.5,
        1.0,
        2.0,
        3.0,
        3.0,
    ]
    assert backoff_delay(3, base=0.5, cap=30.0, rng=lambda: 0.25) == 1.0


def test_429_honours_retry_after_then_succeeds() -> None:
    sleeps: list[float] = []
    http = client(
        scripted(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json={"ok": 1})),
        sleeps,
    )
    assert http.get_json("/x") == {"ok": 1}
    assert sleeps == [3.0]


def test_5xx_and_connection_errors_back_off_then_give_up_as_transient() -> None:
    sleeps: list[float] = []
    failures = [
        httpx.Response(503),
        httpx.ConnectError("refused"),
        httpx.Response(500),
        httpx.ReadTimeout("slow"),
    ]
    http = client(scripted(*failures), sleeps, max_attempts=4, backoff_base=0.5)
    with pytest.raises(TransientError, match="GET /x at http://source.test failed after 4 attempts"):
        http.get_json("/x")
    assert sleeps == [0.5, 1.0, 2.0]  # no sleep after the last attempt


@pytest.mark.parametrize("base_url", ["notaurl", "ftp://source.test", f"ftp://admin:{SECRET}@source.test"])
def test_a_url_that_is_not_http_is_refused_at_once_not_retried(base_url: str) -> None:
    sleeps: list[float] = []
    http = HttpClient(base_url, service="Langfuse", credential_hint="LANGFUSE_HOST", sleep=sleeps.append)
    with pytest.raises(TerminalError) as info:
        http.get_json("/api/public/v2/observations")
    message = str(info.value)
    assert "UnsupportedProtocol" in message and "check the host URL" in message and "attempts" not in message
    assert sleeps == [] and SECRET not in message


@pytest.mark.parametrize(
    "error",
    [
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."),
        httpx.LocalProtocolError("Illegal header value"),
        httpx.InvalidURL("Invalid non-printable ASCII character in URL"),
    ],
)
def test_request_errors_that_cannot_heal_are_terminal(error: Exception) -> None:
    sleeps: list[float] = []
    http = client(scripted(error, httpx.Response(200, json={})), sleeps)
    with pytest.raises(TerminalError, match=type(error).__name__):
        http.get_json("/x")
    assert sleeps == []


def test_an_unreachable_host_is_named_without_the_credentials_of_its_url() -> None:
    """A real connection refused: the message names the server (not a password in its URL)."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = HttpClient(
        f"http://admin:{SECRET}@127.0.0.1:{port}/langfuse/",
        service="Langfuse",
        credential_hint="LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY",
        secrets=[SECRET],
        max_attempts=2,
        sleep=lambda _: None,
    )
    with pytest.raises(TransientError) as info:
        http.get_json("/api/public/v2/observations")
    message = str(info.value)
    assert f"at http://127.0.0.1:{port}/langfuse failed after 2 attempts" in message
    assert "ConnectError" in message and SECRET not in message and "admin" not in message


def test_401_names_the_credentials_and_never_their_values() -> None:
    sleeps: list[float] = []
    http = client(scripted(httpx.Response(401, json={"message": f"bad key {SECRET}"})), sleeps)
    with pytest.raises(TerminalError) as info:
        http.get_json("/api/public/v2/observations")
    message = str(info.value)
    assert "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY" in message and "401" in message
    assert SECRET not in message and "pk-lf-public-0000" not in message
    assert sleeps == []  # refusals are not retried


def test_other_4xx_carry_the_server_message_redacted() -> None:
    body = {"error": f"Invalid limit (request had Authorization: Bearer {SECRET})"}
    http = client(scripted(httpx.Response(400, json=body)), [])
    with pytest.raises(TerminalError, match="HTTP 400: Invalid limit") as info:
        http.post_json("/v1/request/query", {"limit": 5000})
    assert SECRET not in str(info.value)


def test_404_is_none_when_allowed() -> None:
    http = client(scripted(httpx.Response(404, json={"message": "Trace not found"})), [])
    assert http.get_json("/api/public/traces/x", missing_ok=True) is None
    http = client(scripted(httpx.Response(404, json={"message": "Trace not found"})), [])
    with pytest.raises(TerminalError, match="Trace not found"):
        http.get_json("/api/public/traces/x")


def test_a_body_that_is_not_json_points_at_the_host() -> None:
    http = client(scripted(httpx.Response(200, text="<html>login</html>")), [])
    with pytest.raises(TerminalError, match="not JSON"):
        http.get_json("/x")


def test_repeated_query_parameters_are_kept_and_none_dropped() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.query, "ascii"))
        return httpx.Response(200, json={})

    client(handler, []).get_json("/x", [("environment", "a"), ("environment", "b"), ("cursor", None)])
    assert seen == ["environment=a&environment=b"]


def test_redact_masks_keys_tokens_and_url_passwords() -> None:
    text = "Bearer abc.def-123 pk-lf-1234abcd sk-proj-ABCDEFGH12345 postgresql://user:hunter2@db:5432/x given"
    masked = redact(text, secrets=["given"])
    for secret in ("abc.def-123", "pk-lf-1234abcd", "sk-proj-ABCDEFGH12345", "hunter2", "given"):
        assert secret not in masked
    assert "postgresql://user:***@db:5432/x" in masked
