"""Real local servers standing in for Slack, a webhook receiver and an SMTP server; a controllable clock;
helpers that write calls into a ledger. (Imported by the tests as ``alert_fixtures``; ``conftest.py``
only registers the fixtures.)"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from agentledger.core.records import Call, SpanContext
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

SMTP_USER, SMTP_PASSWORD = "alerts", "s3cret-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


# -- an HTTP receiver (Slack webhook, generic webhook) ----------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpSink:
    """A real HTTP server on 127.0.0.1 that records every POST and answers ``status``."""

    port: int = field(default_factory=free_port)
    status: int = 200
    answer: bytes | None = None  # the body of the answer (default: "ok", or "unavailable" for an error)
    content_type: str | None = None
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> HttpSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.requests.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(sink.status)
                if sink.content_type:
                    self.send_header("Content-Type", sink.content_type)
                self.end_headers()
                default = b"ok" if sink.status < 400 else b"unavailable"
                self.wfile.write(default if sink.answer is None else sink.answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink().start()
    yield sink
    sink.stop()


# -- an SMTP server with STARTTLS and login ---------------------------------------------------------


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl from the system), and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        self.tls: list[bool] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - the aiosmtpd API
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        login = session.auth_data
        self.logins.append(login.decode() if isinstance(login, bytes) else str(login))
        self.tls.append(session.ssl is not None)
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


@dataclass
class SmtpSink:
    controller: Controller
    handler: _Handler
    port: int
    cert: Path

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages


@pytest.fixture
def smtp_sink(tls_cert: tuple[Path, Path]) -> Iterator[SmtpSink]:
    import ssl

    cert, key = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = _Handler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    controller.start()
    yield SmtpSink(controller, handler, port, cert)
    controller.stop()


# -- ledgers ----------------------------------------------------------------------------------------


def call(
    trace: str,
    span: str,
    cost: float | None,
    at: datetime,
    *,
    status: str = "ok",
    model: str = "gpt-4o",
    provider: str = "openai",
    **kw: object,
) -> Call:
    """An LLM call with a given cost (1,000 input / 100 output tokens unless given)."""
    kw.setdefault("input_tokens", 1000)
    kw.setdefault("output_tokens", 100)
    return Call(
        source="otlp",
        trace_id=trace,
        span_id=span,
        parent_span_id=None,
        started_at=at,
        model=model,
        provider=provider,
        operation="chat",
        status=status,  # type: ignore[arg-type]
        cost_usd=cost,
        price_status="priced" if cost is not None else "unpriced",
        **kw,  # type: ignore[arg-type]
    )


def write(wh: Warehouse, calls: list[Call], spans: list[SpanContext] | None = None) -> None:
    """Ingest through the real pipeline (no pricer: the given costs stand)."""
    Pipeline(wh).ingest(calls, spans or [])


@pytest.fixture
def wh() -> Iterator[Warehouse]:
    warehouse = connect("duckdb:///:memory:")
    yield warehouse
    warehouse.close()


T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # Monday of ISO week 2026-W48


# The support-bot ledger of the delivery and scheduler tests: five sessions an hour before T0 costing
# 0.2 .. 1.0, so their P95 is 0.96 (numpy's linear rule), and one expensive session of another agent.
SESSION_COSTS = [0.2, 0.4, 0.6, 0.8, 1.0]
P95 = 0.8 + 0.8 * (1.0 - 0.8)
P95_RULE = {
    "name": "support-p95",
    "kind": "threshold",
    "metric": "p95_session_cost_usd",
    "op": ">",
    "value": 0.5,
    "window": "24h",
    "cooldown": "6h",
    "scope": {"agent": "support-bot"},
}


def support_ledger(wh: Warehouse, at: datetime = T0) -> None:
    calls = [
        call(f"t{i}", "c1", cost, at - timedelta(hours=1), agent_name="support-bot", session_id=f"s{i}")
        for i, cost in enumerate(SESSION_COSTS)
    ]
    calls.append(call("other", "c1", 9.0, at - timedelta(hours=1), agent_name="coder", session_id="o"))
    write(wh, calls)
