"""The collector protocol shared by every pull source (Langfuse, Helicone, LiteLLM API / Postgres / files).

A collector has two halves: ``fetch`` is its only I/O (pages of raw source records from a cursor on), and
``normalize`` is pure (one raw record -> canonical calls and context spans). The sync runner
(:mod:`agentledger.ingest.sync`) writes each page through the pipeline and only then advances the cursor,
so a run killed at any point resumes without loss; writes are idempotent, so re-reading is harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from agentledger.core.records import Call, SpanContext


@dataclass(slots=True)
class Page:
    """Raw records of one fetch step and the cursor value that is safe to store once they are written.

    ``skipped`` names the records the fetch step itself could not read (a line of a file that is not JSON),
    e.g. ``spend.jsonl:3``: the collector has logged them, and the runner counts them as malformed.
    """

    records: list[dict[str, Any]]
    next_cursor: str | None  # None: keep the previous cursor
    skipped: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Normalized:
    calls: list[Call] = field(default_factory=list)
    spans: list[SpanContext] = field(default_factory=list)


@runtime_checkable
class Collector(Protocol):
    name: str  # "langfuse", "helicone", "litellm"
    # Cursor identity, e.g. "langfuse:https://cloud.langfuse.com key 1a2b3c4d" (no secret in it: the account is
    # told apart by a fingerprint of its key, see account_fingerprint). A collector may also have a
    # ``previous_source_key``: the key its cursor had before, read once when the current one has no cursor yet.
    source_key: str

    def fetch(
        self, cursor: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Page]:
        """Yield pages of raw records after ``cursor`` (minus the overlap window), oldest first."""
        ...

    def normalize(self, record: dict[str, Any], *, project_id: str) -> Normalized:
        """Map one raw record to canonical records. Pure. Raises ``InputError`` for a malformed record."""
        ...

    def record_id(self, record: dict[str, Any]) -> str:
        """The source's id of a raw record, for error messages."""
        ...


def account_fingerprint(key: str) -> str:
    """Eight hex digits of the SHA-256 of an account's key: tells two accounts on one host apart (two Langfuse
    projects on cloud.langfuse.com keep a cursor each) and reveals nothing of the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]
