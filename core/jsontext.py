"""Compact JSON text from one encoder built once: the ingest path renders JSON for every call it maps.

``json.JSONEncoder.encode`` builds a new C encoder on every call, which costs more than encoding a span's
attributes; :func:`compact_encoder` builds it once. The text is exactly ``JSONEncoder.encode``'s with the same
options (the same C encoder renders it), only without the check for reference cycles: the values encoded here
come from decoded OTLP, JSON or API payloads, which cannot hold one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any


def compact_encoder(*, sort_keys: bool = False, allow_nan: bool = True) -> Callable[[Any], str]:
    """``JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str, ...).encode``, built once."""
    fallback = json.JSONEncoder(
        sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=allow_nan
    ).encode
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return fallback
    encoder = c_make_encoder(None, str, encode_basestring, None, ":", ",", sort_keys, False, allow_nan)

    def encode(value: Any) -> str:
        if isinstance(value, str):  # as JSONEncoder.encode: the C encoder takes containers and scalars alike
            return encode_basestring(value)
        return "".join(encoder(value, 0))

    return encode
