"""The small extras of a call record: its tag map and its raw audit JSON. Pure functions."""

from __future__ import annotations

import json
import math
from typing import Any

from agentledger.core.jsontext import compact_encoder
from agentledger.ingest.otlp import conventions as c
from agentledger.ingest.otlp.raw import RawSpan

RAW_LIMIT_CHARS = 8192
_RAW_VALUE_CHARS = 512
_MAX_TAGS = 32
_TAG_KEY_CHARS = 64
_TAG_VALUE_CHARS = 256
# allow_nan=False keeps the output valid JSON (NaN/Infinity are not JSON).
_COMPACT = compact_encoder(allow_nan=False)
_ID_KEYS = frozenset(c.SESSION_ID + c.USER_ID)  # these prefixed keys are ids, not tags


def call_tags(raw: RawSpan) -> dict[str, str]:
    """A small string map: service name, association properties, telemetry metadata and tag lists."""
    tags: dict[str, str] = {}
    for key in c.RESOURCE_TAGS:
        _put_tag(tags, key, raw.resource.get(key))
    attributes = raw.attributes
    for key, value in attributes.items():
        if key.startswith(c.TAG_PREFIXES) and key not in _ID_KEYS:
            prefix = next(p for p in c.TAG_PREFIXES if key.startswith(p))
            _put_tag(tags, key[len(prefix) :], value)
    for key in c.TAG_LISTS:
        labels = _maybe_json_list(attributes.get(key))
        for label in labels:
            _put_tag(tags, str(label), "true")
    metadata = attributes.get(c.TAG_JSON_OBJECT)
    if isinstance(metadata, str) and metadata.startswith("{"):
        try:
            parsed = json.loads(metadata)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            for key, value in parsed.items():
                _put_tag(tags, key, value)
    return tags


def _put_tag(tags: dict[str, str], key: str, value: Any) -> None:
    if value is None or not key or len(tags) >= _MAX_TAGS:
        return
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        text = _dumps(value)
    tags[key[:_TAG_KEY_CHARS]] = text[:_TAG_VALUE_CHARS]


def _maybe_json_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return []
        return parsed if isinstance(parsed, list) else []
    return []


def raw_json(attributes: dict[str, Any]) -> str:
    """Compact JSON of the span's attributes, kept valid and under ~8 KB for audit.

    Long strings are shortened first; if that is not enough, trailing attributes are dropped and
    ``"agentledger.truncated": true`` says so.
    """
    text = _dumps(attributes)
    if len(text) <= RAW_LIMIT_CHARS:
        return text
    shortened = {k: _shorten(v) for k, v in attributes.items()}
    text = _dumps(shortened)
    if len(text) <= RAW_LIMIT_CHARS:
        return text
    kept: dict[str, Any] = {"agentledger.truncated": True}
    budget = RAW_LIMIT_CHARS - 40
    for key, value in shortened.items():
        piece = len(_dumps({key: value}))
        if piece > budget:
            continue
        kept[key] = value
        budget -= piece
    return _dumps(kept)


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _RAW_VALUE_CHARS:
        return f"{value[:_RAW_VALUE_CHARS]}…[{len(value) - _RAW_VALUE_CHARS} more chars]"
    if isinstance(value, list | dict):
        text = _dumps(value)
        if len(text) > _RAW_VALUE_CHARS:
            return f"{text[:_RAW_VALUE_CHARS]}…[{len(text) - _RAW_VALUE_CHARS} more chars]"
    return value


def _dumps(value: Any) -> str:
    try:
        return _COMPACT(value)
    except ValueError:  # a NaN or an infinity somewhere: write those as text, like OTLP/JSON does
        return _COMPACT(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
