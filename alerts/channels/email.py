"""Email over SMTP: STARTTLS before login, then a multipart message with a plain-text and an HTML part.

SMTP settings come from :class:`~agentledger.core.settings.Settings` (``smtp_host``, ``smtp_port``,
``smtp_starttls``, ``smtp_username``, ``smtp_password``, ``smtp_from``, ``smtp_ca_file``); recipients
from the channel. A refused login or recipients refused with 5xx are terminal; a server that is down, times
out or answers 4xx (recipients deferred by greylisting too) is transient. When only some recipients are
refused the message is sent to the others and the refusal is logged as a warning.
"""

from __future__ import annotations

import email.policy
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html import escape
from pathlib import Path

from pydantic import SecretStr

from agentledger.alerts.channels.base import Payload
from agentledger.alerts.message import AlertMessage, plural
from agentledger.analytics.report import WeeklyReport
from agentledger.analytics.report_render import format_value, headline, title, to_html, to_markdown
from agentledger.core.errors import TerminalError, TransientError
from agentledger.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail."""

    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "agentledger@localhost"
    ca_file: Path | None = None
    timeout: float = 15.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """The settings' SMTP server (``smtp_host`` must be set)."""
        assert settings.smtp_host is not None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout_seconds,
        )


# -- rendering --------------------------------------------------------------------------------------


def alert_text(message: AlertMessage) -> str:
    """The plain-text body of an alert."""
    lines = [
        message.subject(),
        "",
        f"Rule:      {message.rule} ({message.kind}, {message.severity})",
        f"Metric:    {message.metric}",
        f"Value:     {format_value(message.value, message.unit)}",
        f"Threshold: {message.op} {format_value(message.threshold, message.unit)}",
        f"Window:    {message.window_text()}",
        f"Scope:     {', '.join(f'{k}={v}' for k, v in message.filters().items()) or 'whole project'}",
    ]
    forecast = message.forecast_text()
    if forecast is not None:
        lines.append(f"Forecast:  {forecast} by the end of the period")
    if message.description:
        lines += ["", message.description]
    if message.offenders:
        lines += ["", f"Top offending {message.offenders[0].kind}s:"]
        lines += [
            f"  - {o.id}: {format_value(o.cost_usd, 'usd')}, {plural(o.calls, 'call')}"
            + (f", {o.agent}" if o.agent else "")
            + (f"  {o.link}" if o.link else "")
            for o in message.offenders
        ]
    link = message.link()
    if link:
        lines += ["", f"Dashboard: {link}"]
    return "\n".join(lines) + "\n"


_TD = "padding:4px 10px 4px 0;color:#24292f;font-size:14px;vertical-align:top;"
_COLORS = {
    "fired": "#cf222e",
    "escalated": "#cf222e",
    "reminder": "#bc4c00",
    "resolved": "#1a7f37",
    "test": "#0969da",
}


def alert_html(message: AlertMessage) -> str:
    """The HTML body of an alert (inline CSS only)."""
    color = _COLORS.get(message.event, "#24292f")
    facts = [
        ("Value", format_value(message.value, message.unit)),
        ("Threshold", f"{message.op} {format_value(message.threshold, message.unit)}"),
        ("Metric", message.metric),
        ("Window", message.window_text()),
        ("Scope", ", ".join(f"{k}={v}" for k, v in message.filters().items()) or "whole project"),
        ("Severity", message.severity),
    ]
    forecast = message.forecast_text()
    if forecast is not None:
        facts.append(("Forecast", forecast))
    rows = "".join(
        f'<tr><td style="{_TD}font-weight:600;">{escape(k)}</td><td style="{_TD}">{escape(v)}</td></tr>'
        for k, v in facts
    )
    offenders = ""
    if message.offenders:
        items = "".join(
            "<li>"
            + (f'<a href="{escape(o.link)}">{escape(o.id)}</a>' if o.link else escape(o.id))
            + f" {escape(format_value(o.cost_usd, 'usd'))}, {plural(o.calls, 'call')}"
            + (f", {escape(o.agent)}" if o.agent else "")
            + "</li>"
            for o in message.offenders
        )
        offenders = f'<p style="font-weight:600;margin:16px 0 4px 0;">Top offending {message.offenders[0].kind}s</p><ul style="margin:0;padding-left:20px;font-size:14px;">{items}</ul>'
    link = message.link()
    button = (
        f'<p style="margin-top:16px;"><a href="{escape(link)}" style="background:#0969da;color:#fff;padding:8px 14px;border-radius:6px;text-decoration:none;">Open the dashboard</a></p>'
        if link
        else ""
    )
    description = (
        f'<p style="font-size:14px;">{escape(message.description)}</p>' if message.description else ""
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0;padding:0;">'
        '<div style="max-width:640px;margin:0 auto;padding:20px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;">'
        f'<h1 style="font-size:18px;color:{color};margin:0 0 8px 0;">{escape(message.event_word)}: {escape(message.rule)}</h1>'
        f'<p style="font-size:15px;color:#24292f;">{escape(message.summary())}</p>{description}'
        f'<table style="border-collapse:collapse;">{rows}</table>{offenders}{button}'
        "</div></body></html>"
    )


# -- sending ----------------------------------------------------------------------------------------


class EmailChannel:
    """Sends alerts and reports to a list of recipients through one SMTP server."""

    type = "email"

    def __init__(
        self, name: str, smtp: SmtpConfig, to: list[str], subject_prefix: str = "[agentledger]"
    ) -> None:
        self.name = name
        self.smtp = smtp
        self.to = list(to)
        self.subject_prefix = subject_prefix

    def _subject(self, text: str) -> str:
        return f"{self.subject_prefix} {text}".strip()

    def render_alert(self, message: AlertMessage) -> Payload:
        """Subject, plain text and HTML of an alert event."""
        return {
            "subject": self._subject(message.subject()),
            "text": alert_text(message),
            "html": alert_html(message),
        }

    def render_report(self, report: WeeklyReport) -> Payload:
        """Subject, the Markdown report as text, and the HTML report."""
        subject = self._subject(f"{title(report)}: {headline(report)}")
        return {"subject": subject, "text": to_markdown(report), "html": to_html(report)}

    def build(self, payload: Payload, *, delivery_id: str, now: datetime) -> EmailMessage:
        """The MIME message: multipart/alternative with the text part first, then the HTML part."""
        # RFC 5322 allows 998-character lines; the default 78 folds a long subject badly (a leading space).
        msg = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
        msg["Subject"] = payload["subject"]
        msg["From"] = self.smtp.sender
        msg["To"] = ", ".join(self.to)
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = make_msgid(idstring=delivery_id.replace(":", "-")[:40], domain="agentledger")
        msg["X-AgentLedger-Delivery"] = delivery_id
        msg.set_content(payload["text"])
        msg.add_alternative(payload["html"], subtype="html")
        return msg

    def send(self, payload: Payload, *, delivery_id: str, now: datetime) -> None:
        """Connect, STARTTLS (when configured), log in (when a user is set) and send."""
        msg = self.build(payload, delivery_id=delivery_id, now=now)
        where = f"email channel {self.name!r} via {self.smtp.host}:{self.smtp.port}"
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout) as client:
                self._open(client)
                refused = client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx for every recipient is a deferral (greylisting, a full mailbox): trying again later works
            temporary = all(400 <= code < 500 for code, _ in exc.recipients.values())
            error = TransientError if temporary else TerminalError
            raise error(f"{where}: recipients refused: {_refusals(exc.recipients)}") from exc
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as exc:
            error = TransientError if 400 <= exc.smtp_code < 500 else TerminalError
            raise error(f"{where}: refused: {exc}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise TerminalError(
                f"{where}: {exc} (set AGENTLEDGER_SMTP_STARTTLS to match the server)"
            ) from exc
        except ssl.SSLError as exc:
            raise TerminalError(f"{where}: TLS failed: {exc} (see AGENTLEDGER_SMTP_CA_FILE)") from exc
        except smtplib.SMTPResponseException as exc:
            error = TransientError if 400 <= exc.smtp_code < 500 else TerminalError
            raise error(f"{where}: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if refused:
            # Sent to the others, so it is not retried (they would get it twice); the refusal is not silent.
            log.warning("%s: sent, but these recipients were refused: %s", where, _refusals(refused))

    def _open(self, client: smtplib.SMTP) -> None:
        client.ehlo()
        if self.smtp.starttls:
            context = ssl.create_default_context(cafile=str(self.smtp.ca_file) if self.smtp.ca_file else None)
            client.starttls(context=context)
            client.ehlo()
        if self.smtp.username:
            password = self.smtp.password.get_secret_value() if self.smtp.password else ""
            client.login(self.smtp.username, password)

    def __repr__(self) -> str:
        return f"EmailChannel({self.name!r}, to={self.to})"


def _refusals(recipients: dict[str, tuple[int, bytes]]) -> str:
    """``a@x.com 550 No such user; ...``: each refused recipient with the server's answer."""
    return "; ".join(
        f"{address} {code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
        for address, (code, reply) in recipients.items()
    )
