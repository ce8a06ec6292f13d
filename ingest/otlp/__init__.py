"""OTLP ingest: decode OTLP/HTTP trace bodies, map tracing conventions to canonical records, receive and import.

- :mod:`.decode` (+ :mod:`.decode_json`, :mod:`.raw`): protobuf and OTLP/JSON bodies -> :class:`RawSpan`;
  a bad span becomes a :class:`Rejection`, an unreadable body raises ``InputError``
- :mod:`.conventions`: the attribute names read (OTel GenAI, OpenInference, OpenLLMetry, Langfuse, Vercel AI
  SDK, our own ``agentledger.*``) and which spans are LLM calls
- :mod:`.mapping` (+ :mod:`.prompts`, :mod:`.extras`): RawSpan -> ``SpanContext`` and ``Call`` (pure)
- :mod:`.receiver`: the FastAPI router for ``POST /v1/traces`` and ``/api/public/otel/v1/traces``
- :mod:`.files`: importing OTLP files (JSON, JSON lines, protobuf, gzipped)
"""

from agentledger.ingest.otlp.decode import (
    DecodedRequest,
    RawSpan,
    Rejection,
    decode_body,
    decode_json,
    decode_protobuf,
)
from agentledger.ingest.otlp.mapping import MappedBatch, map_request, map_spans

__all__ = [
    "DecodedRequest",
    "MappedBatch",
    "RawSpan",
    "Rejection",
    "decode_body",
    "decode_json",
    "decode_protobuf",
    "map_request",
    "map_spans",
]
