"""Notification channels (Slack, email, webhook) and how they are built from the config and settings.

Channels are declared in the ``alerts.channels`` list of ``agentledger.yaml``; ``slack``, ``email`` and
``webhook`` also exist without a declaration when their settings are given (the Slack webhook URL, an SMTP
host with ``alert_email_to``, a webhook URL). Secrets come from the environment only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from agentledger.alerts.channels.base import Channel
from agentledger.alerts.channels.email import EmailChannel, SmtpConfig
from agentledger.alerts.channels.slack import SlackChannel
from agentledger.alerts.channels.webhook import WebhookChannel
from agentledger.alerts.rules import AlertsConfig
from agentledger.alerts.rules import EmailChannel as EmailConfig
from agentledger.alerts.rules import SlackChannel as SlackConfig
from agentledger.alerts.rules import WebhookChannel as WebhookConfig
from agentledger.core.errors import ConfigError
from agentledger.core.settings import Settings

__all__ = [
    "Channel",
    "EmailChannel",
    "SlackChannel",
    "UnconfiguredChannel",
    "WebhookChannel",
    "build_channels",
    "select",
]


def _env_secret(var: str, what: str, env: Mapping[str, str]) -> SecretStr:
    value = env.get(var, "").strip()
    if not value:
        raise ConfigError(f"{what}: environment variable {var} is not set")
    return SecretStr(value)


def _smtp(settings: Settings, what: str) -> SmtpConfig:
    if not settings.smtp_host:
        raise ConfigError(
            f"{what}: no SMTP server; set AGENTLEDGER_SMTP_HOST (and SMTP_PORT, SMTP_USERNAME...)"
        )
    return SmtpConfig.from_settings(settings)


def _build(
    config: SlackConfig | EmailConfig | WebhookConfig, settings: Settings, env: Mapping[str, str]
) -> Channel:
    what = f"{config.type} channel {config.name!r}"
    if isinstance(config, SlackConfig):
        if config.webhook_url_env:
            url = _env_secret(config.webhook_url_env, what, env)
            _check_url(url.get_secret_value(), f"{what}: {config.webhook_url_env}")
            return SlackChannel(config.name, url)
        if settings.slack_webhook_url is None:
            raise ConfigError(f"{what}: set AGENTLEDGER_SLACK_WEBHOOK_URL or webhook_url_env")
        _check_url(settings.slack_webhook_url.get_secret_value(), f"{what}: AGENTLEDGER_SLACK_WEBHOOK_URL")
        return SlackChannel(config.name, settings.slack_webhook_url)
    if isinstance(config, EmailConfig):
        return EmailChannel(config.name, _smtp(settings, what), config.to, config.subject_prefix)
    secret = _env_secret(config.secret_env, what, env) if config.secret_env else settings.webhook_secret
    if secret is None:
        raise ConfigError(f"{what}: webhooks are signed; set AGENTLEDGER_WEBHOOK_SECRET or secret_env")
    _check_url(config.url, f"{what}: url")
    return WebhookChannel(config.name, config.url, secret)


def _check_url(url: str, where: str) -> None:
    """A channel's endpoint must be an http(s) URL with a host: anything else is a setting to fix, not a
    delivery to retry. The URL is not echoed (a Slack webhook URL is a secret)."""
    parsed = urlsplit(url.strip())
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{where} is not an http(s) URL with a host (https://...)")


def implicit_channels(settings: Settings) -> list[SlackConfig | EmailConfig | WebhookConfig]:
    """The channels that the settings alone define."""
    found: list[SlackConfig | EmailConfig | WebhookConfig] = []
    if settings.slack_webhook_url is not None:
        found.append(SlackConfig())
    if settings.smtp_host and settings.alert_email_to:
        found.append(EmailConfig(to=settings.alert_email_to))
    if settings.webhook_url:
        found.append(WebhookConfig(url=settings.webhook_url))
    return found


@dataclass(frozen=True, slots=True)
class UnconfiguredChannel:
    """A declared channel whose secret or server is not set: enough to plan a dry run with, never to send."""

    name: str
    type: str
    problem: str

    def render_alert(self, message: Any) -> Any:
        raise ConfigError(self.problem)

    def render_report(self, report: Any) -> Any:
        raise ConfigError(self.problem)

    def send(self, payload: Any, *, delivery_id: str, now: datetime) -> None:
        raise ConfigError(self.problem)


def build_channels(
    config: AlertsConfig, settings: Settings, env: Mapping[str, str] | None = None, *, lenient: bool = False
) -> dict[str, Channel]:
    """Every channel by name: the declared ones (a missing secret is a ConfigError naming it) and the
    implicit ones whose name is not declared. ``lenient`` (a dry run) gives an :class:`UnconfiguredChannel`
    for a declared channel that cannot be built, instead of the error."""
    env = os.environ if env is None else env

    def build(c: SlackConfig | EmailConfig | WebhookConfig) -> Channel:
        try:
            return _build(c, settings, env)
        except ConfigError as exc:
            if not lenient:
                raise
            return UnconfiguredChannel(c.name, c.type, str(exc))

    declared = {c.name: build(c) for c in config.channels}
    implicit = {c.name: build(c) for c in implicit_channels(settings) if c.name not in declared}
    return {**declared, **implicit}


def select(channels: Mapping[str, Channel], names: list[str] | None, what: str) -> list[Channel]:
    """The channels ``names`` asks for (all when None); ConfigError for a name that is not configured."""
    if names is None:
        return list(channels.values())
    missing = [n for n in names if n not in channels]
    if missing:
        configured = ", ".join(sorted(channels)) or "none"
        raise ConfigError(
            f"{what} routes to channel(s) {missing} that are not configured (configured: {configured})"
        )
    return [channels[n] for n in names]
