"""Slack through an incoming webhook, with Block Kit messages.

An alert reads: a header with the event and rule, the value against the threshold and the window as
fields, the top offending sessions or traces (linked to the dashboard when ``dashboard_url`` is set) and
an "Open the dashboard" button. The webhook URL is a secret: it never appears in logs or errors.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from agentledger.alerts.channels.base import Payload, post
from agentledger.alerts.message import AlertMessage, Offender, plural
from agentledger.analytics.report import WeeklyReport
from agentledger.analytics.report_render import (
    format_value,
    headline,
    slack_escape,
    title,
    to_slack_blocks,
    truncate,
)

_ICONS = {
    "fired": ":red_circle:",
    "escalated": ":rotating_light:",
    "reminder": ":large_orange_circle:",
    "resolved": ":large_green_circle:",
    "test": ":white_check_mark:",
}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(f"*{label}*\n{slack_escape(value)}", 2000)}


def _offender_line(o: Offender) -> str:
    name = f"<{o.link}|{o.kind} {slack_escape(o.id)}>" if o.link else f"{o.kind} `{slack_escape(o.id)}`"
    who = f" · {slack_escape(o.agent)}" if o.agent else ""
    return f"• {name}: {format_value(o.cost_usd, 'usd')} · {plural(o.calls, 'call')}{who}"


def alert_blocks(message: AlertMessage) -> list[dict[str, Any]]:
    """The Block Kit blocks of an alert event."""
    icon = _ICONS.get(message.event, ":bell:")
    where = f" ({message.group_by}={message.group})" if message.group_by else ""
    fields = [
        _field("Value", format_value(message.value, message.unit)),
        _field("Threshold", f"{message.op} {format_value(message.threshold, message.unit)}"),
        _field("Metric", f"`{message.metric}`"),
        _field("Window", message.window_text()),
        _field("Severity", message.severity),
        _field("Scope", ", ".join(f"{k}={v}" for k, v in message.filters().items()) or "whole project"),
    ]
    forecast = message.forecast_text()
    if forecast is not None:
        fields.append(_field("Forecast for the period", forecast))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(f"{message.event_word}: {message.rule}{where}", 150),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(f"{icon} {slack_escape(message.summary())}", 3000)},
        },
        {"type": "section", "fields": fields[:10]},
    ]
    if message.description:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(slack_escape(message.description), 3000)},
            }
        )
    if message.offenders:
        title = "Top offending sessions" if message.offenders[0].kind == "session" else "Top offending traces"
        text = f"*{title}*\n" + "\n".join(_offender_line(o) for o in message.offenders)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}})
    link = message.link()
    if link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open the dashboard"}, "url": link}
        blocks.append({"type": "actions", "elements": [button]})
    context = (
        f"agentledger · project {message.project_id} · {message.kind} rule · {message.at:%Y-%m-%d %H:%M} UTC"
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(context)}]})
    return blocks


class SlackChannel:
    """Posts Block Kit messages to one Slack incoming webhook."""

    type = "slack"

    def __init__(self, name: str, webhook_url: SecretStr) -> None:
        self.name = name
        self._url = webhook_url

    def render_alert(self, message: AlertMessage) -> Payload:
        """``text`` (the notification fallback) and ``blocks``; names and operators escaped for mrkdwn."""
        return {"text": slack_escape(message.subject()), "blocks": alert_blocks(message)}

    def render_report(self, report: WeeklyReport) -> Payload:
        """The report's blocks (see :func:`agentledger.analytics.report_render.to_slack_blocks`)."""
        return {
            "text": slack_escape(f"{title(report)}: {headline(report)}"),
            "blocks": to_slack_blocks(report),
        }

    def send(self, payload: Payload, *, delivery_id: str, now: datetime) -> None:
        """POST the payload as JSON to the webhook."""
        body = json.dumps(payload).encode()
        post(
            self._url.get_secret_value(),
            body,
            {"Content-Type": "application/json"},
            what=f"Slack channel {self.name!r}",
        )

    def __repr__(self) -> str:
        return f"SlackChannel({self.name!r})"
