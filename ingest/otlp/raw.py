"""The intermediate form of a decoded span, shared by the protobuf and JSON decoders and the mapping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

ContentKind = Literal["protobuf", "json"]
MAX_ATTRIBUTE_DEPTH = 16  # nesting of arrays/kvlists inside one attribute value; deeper rejects the span
NO_EVENTS: tuple[tuple[str, dict[str, Any]], ...] = ()  # shared, so event-less spans allocate nothing


@dataclass(slots=True)
class RawSpan:
    """One span as sent, independent of the wire encoding.

    ``attributes`` hold python values (arrays as lists, kvlists as dicts, bytes as base64 text);
    ``resource`` is shared by every span of one resource: treat it as read-only.
    ``end_ns`` is 0 when the sender gave no end time.
    """

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    events: Sequence[tuple[str, dict[str, Any]]]
    resource: dict[str, Any]
    scope_name: str


@dataclass(slots=True, frozen=True)
class Rejection:
    """A span that was refused, and why. ``span_id`` is what the sender gave (may be unreadable)."""

    span_id: str | None
    reason: str
    trace_id: str | None = None

    def describe(self) -> str:
        return f"span {self.span_id or '<no id>'}: {self.reason}"


@dataclass(slots=True)
class DecodedRequest:
    """The spans of one export request that could be read, and those that could not."""

    spans: list[RawSpan]
    rejected: list[Rejection]


class SpanError(ValueError):
    """Raised inside per-span decoding or mapping; turned into a :class:`Rejection` by the caller."""
