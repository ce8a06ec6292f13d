"""What every channel offers, and the HTTP POST that Slack and webhooks share.

A channel renders a message into its own payload (a JSON-ready dict, stored with the delivery so a retry
sends exactly what the first attempt sent) and sends a payload. ``send`` raises
:class:`~agentledger.core.errors.TransientError` when trying again may work (connection refused, timeouts,
429, 5xx) and :class:`~agentledger.core.errors.TerminalError` when it will not (a refused address, 4xx).
"""

from __future__ import annotations

import html
import logging
import re
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from agentledger.core.errors import TerminalError, TransientError

if TYPE_CHECKING:
    from agentledger.alerts.message import AlertMessage
    from agentledger.analytics.report import WeeklyReport

Payload = dict[str, Any]
HTTP_TIMEOUT_S = 10.0


class Channel(Protocol):
    """A destination for alerts and reports."""

    name: str
    type: str

    def render_alert(self, message: AlertMessage) -> Payload:
        """The channel's payload for an alert event."""

    def render_report(self, report: WeeklyReport) -> Payload:
        """The channel's payload for the weekly report."""

    def send(self, payload: Payload, *, delivery_id: str, now: datetime) -> None:
        """Deliver a rendered payload; raises TransientError or TerminalError on failure."""


class _HideChannelUrls(logging.Filter):
    """Masks the URLs that channels POST to in httpx's own log lines ("HTTP Request: POST <url> ..." at
    INFO): a Slack webhook URL is a secret, and a generic webhook URL often carries a token."""

    def __init__(self) -> None:
        super().__init__()
        self._urls: set[str] = set()
        self._lock = threading.Lock()

    def add(self, url: str) -> None:
        with self._lock:
            self._urls.add(str(httpx.URL(url)))

    def filter(self, record: logging.LogRecord) -> bool:
        if self._urls and isinstance(record.args, tuple):
            record.args = tuple(
                _masked(arg) if isinstance(arg, str | httpx.URL) and str(arg) in self._urls else arg
                for arg in record.args
            )
        return True


def _masked(url: str | httpx.URL) -> str:
    parsed = httpx.URL(str(url))
    return f"{parsed.scheme}://{parsed.host}/<secret>"


_HIDE_URLS = _HideChannelUrls()
logging.getLogger("httpx").addFilter(_HIDE_URLS)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def post(
    url: str, body: bytes, headers: dict[str, str], *, what: str, timeout: float = HTTP_TIMEOUT_S
) -> None:
    """POST ``body``; 2xx is success, 408/429/5xx and transport errors are transient, other 4xx terminal.

    ``what`` names the destination in errors without its URL (a Slack webhook URL is a secret); httpx's own
    log line of the request shows only the URL's scheme and host.
    """
    _HIDE_URLS.add(url)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TransportError as exc:
        reason = str(exc).replace(url, "<url>")  # the URL may be a secret (Slack webhooks)
        raise TransientError(f"{what}: cannot reach the server: {type(exc).__name__}: {reason}") from None
    if response.is_success:
        return
    message = f"{what}: HTTP {response.status_code} {_detail(response)}".strip()
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise TransientError(message, retry_after=_retry_after(response))
    raise TerminalError(message)


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_DETAIL_CHARS = 160


def _detail(response: httpx.Response) -> str:
    """What an error answer says, on one line: an HTML page's title (or its text), a JSON or text body, cut."""
    text = response.text[:4000]
    if "html" in response.headers.get("content-type", "") or text.lstrip().startswith("<"):
        title = _TITLE.search(text)
        text = html.unescape(title.group(1) if title else _TAG.sub(" ", text))
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"
