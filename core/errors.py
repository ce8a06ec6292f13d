"""The exception tree. Every error the CLI or the API shows says what is wrong and what to do."""

from __future__ import annotations


class AgentLedgerError(Exception):
    """Root of every error agentledger raises on purpose."""


class ConfigError(AgentLedgerError):
    """A setting, URL or file given by the user is wrong; the message names it."""


class InputError(AgentLedgerError):
    """A record or request body cannot be read; the message says where and why."""


class TransientError(AgentLedgerError):
    """A remote side failed in a way that may pass (429, 5xx, timeouts): retry with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TerminalError(AgentLedgerError):
    """A remote side refused in a way that will not pass by retrying (401, 403, 404)."""


class WarehouseError(AgentLedgerError):
    """The warehouse cannot be reached, migrated or written."""
