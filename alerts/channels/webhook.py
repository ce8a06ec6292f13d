"""A generic webhook: JSON POSTed to a URL, signed so the receiver can trust it.

Every request carries:

- ``X-AgentLedger-Signature: sha256=<hex>``: HMAC-SHA256 of the **raw request body** (the exact bytes),
  keyed with the webhook secret (``AGENTLEDGER_WEBHOOK_SECRET``, or the variable the channel names);
- ``X-AgentLedger-Timestamp: <unix seconds>``: when it was sent. The body repeats it as ``sent_at``, so the
  signature covers it too: reject a request whose header and ``sent_at`` differ, or that is older than a
  few minutes (replays);
- ``X-AgentLedger-Delivery: <id>``: the same id on every retry of one delivery (de-duplicate on it).

The body is ``{"type": "alert" | "report" | "test", "delivery_id", "sent_at", ...}`` with the alert message
(``"alert"``) or the report (``"report"``) as JSON. To verify, recompute the HMAC over the body exactly as
received and compare in constant time (:func:`verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from pydantic import SecretStr

from agentledger.alerts.channels.base import Payload, post
from agentledger.alerts.message import AlertMessage
from agentledger.analytics.report import WeeklyReport

SIGNATURE_HEADER = "X-AgentLedger-Signature"
TIMESTAMP_HEADER = "X-AgentLedger-Timestamp"
DELIVERY_HEADER = "X-AgentLedger-Delivery"


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex digest>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` (the header value) signs ``body`` with ``secret``."""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


class WebhookChannel:
    """POSTs signed JSON to one URL."""

    type = "webhook"

    def __init__(self, name: str, url: str, secret: SecretStr) -> None:
        self.name = name
        self.url = url
        self._secret = secret

    def render_alert(self, message: AlertMessage) -> Payload:
        """``{"type": "alert", "event": ..., "summary": ..., "alert": <AlertMessage>}``."""
        kind = "test" if message.event == "test" else "alert"
        return {
            "type": kind,
            "event": message.event,
            "summary": message.subject(),
            "alert": message.to_dict(),
        }

    def render_report(self, report: WeeklyReport) -> Payload:
        """``{"type": "report", "week": ..., "report": <WeeklyReport>}``."""
        return {"type": "report", "week": report.week, "report": report.to_dict()}

    def body(self, payload: Payload, *, delivery_id: str, now: datetime) -> tuple[bytes, dict[str, str]]:
        """The exact bytes sent and their headers (signature over those bytes)."""
        stamp = int(now.timestamp())
        data = {**payload, "delivery_id": delivery_id, "sent_at": stamp}
        raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(stamp),
            DELIVERY_HEADER: delivery_id,
            "User-Agent": "agentledger-webhook",
            SIGNATURE_HEADER: sign(self._secret.get_secret_value(), raw),
        }
        return raw, headers

    def send(self, payload: Payload, *, delivery_id: str, now: datetime) -> None:
        """POST the signed body."""
        raw, headers = self.body(payload, delivery_id=delivery_id, now=now)
        post(self.url, raw, headers, what=f"webhook channel {self.name!r}")

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r}, {self.url!r})"
