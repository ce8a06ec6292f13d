"""A threaded loopback HTTP server with fault injection, shared by the per-source fakes.

A fake API subclasses :class:`FakeApi` and implements ``route``; the server counts requests per path so a
test can say "answer the 2nd observations request with a 429 and Retry-After: 1" or "drop the connection
on the 3rd query", and keeps every request for assertions.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[4]
REFERENCE = REPO_ROOT.parent / "shared" / "reference"


def reference(relative: str) -> Path:
    """A file of the shared reference payloads; a missing one fails loudly instead of skipping."""
    path = REFERENCE / relative
    if not path.is_file():
        raise FileNotFoundError(f"reference fixture missing: {path}")
    return path


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """What to do instead of answering: a status (with headers) or ``drop`` the connection."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


class FakeApi:
    """Subclasses implement ``route(request) -> Response``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: dict[tuple[str, int], Fault] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def inject(self, path: str, nth: int, fault: Fault) -> None:
        """Answer the ``nth`` (1-based) request to ``path`` with ``fault`` instead of the real answer."""
        self.faults[(path, nth)] = fault

    def reset(self) -> None:
        """Forget the requests seen so far (and restart the per-path counts faults refer to)."""
        with self._lock:
            self.requests.clear()
            self._counts.clear()

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1
            return self.faults.pop((path, self._counts[path]), None)


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the delayed-ACK stall

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            request = Request(self.command, split.path, parse_qs(split.query), dict(self.headers), body)
            api.requests.append(request)
            fault = api._next_fault(split.path)
            if fault is not None and fault.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            response = (
                Response(fault.status, {"message": "injected"}, fault.headers)
                if fault
                else api.route(request)
            )
            self._send(response)

        def _send(self, response: Response) -> None:
            payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


class FakeServer:
    """Runs a FakeApi on 127.0.0.1 (a free port) in a background thread; use as a context manager."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
