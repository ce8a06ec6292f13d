"""Reading a request body safely, shared by the HTTP receivers (OTLP and LiteLLM).

A body is read only up to ``max_body_bytes`` (a declared ``Content-Length`` beyond it is refused before
reading), gunzipped only up to ``max_decompressed_bytes`` (a gzip bomb stops there), and only ``gzip`` or no
content encoding is taken. Every refusal is a :class:`RequestRefused` with its HTTP status (400, 413 or 415) and a
message naming the limit's setting; each receiver answers it in its own error format.
"""

from __future__ import annotations

import zlib

from starlette.requests import Request


class RequestRefused(Exception):
    """A request that is not taken: ``status`` is the HTTP status to answer, ``headers`` extra response headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def is_gzipped(content_encoding: str | None) -> bool:
    """Whether the body is gzip; a 415 for any encoding other than gzip or none."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return False
    if encoding in ("gzip", "x-gzip"):
        return True
    raise RequestRefused(415, f"unsupported Content-Encoding {encoding}: send gzip or none")


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it (or its declared length) passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"the body is {int(declared)} bytes, which", limit, "AGENTLEDGER_MAX_BODY_BYTES")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large("the body", limit, "AGENTLEDGER_MAX_BODY_BYTES")
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """Gunzip ``data`` (all members) without ever holding more than ``limit`` decompressed bytes.

    Raises a 413 past the limit (a gzip bomb stops there) and a 400 for data that is not gzip or is cut short.
    """
    out: list[bytes] = []
    total = 0
    pending = data
    while pending:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while True:
            try:
                chunk = decompressor.decompress(pending, limit - total + 1)
            except zlib.error as exc:
                raise RequestRefused(400, f"the body is not valid gzip: {exc}") from None
            total += len(chunk)
            if total > limit:
                raise too_large("the decompressed body", limit, "AGENTLEDGER_MAX_DECOMPRESSED_BYTES")
            out.append(chunk)
            pending = decompressor.unconsumed_tail
            if not pending:
                break
        if not decompressor.eof:
            raise RequestRefused(400, "the gzip body is truncated")
        pending = decompressor.unused_data  # a further gzip member, if any
    return b"".join(out)


def too_large(what: str, limit: int, setting: str) -> RequestRefused:
    return RequestRefused(413, f"{what} exceeds the limit of {limit} bytes ({setting}); send smaller batches")
