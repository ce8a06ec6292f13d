"""Generated OTLP workloads for the benchmarks: N spans of GenAI chat calls under agent spans, as protobuf requests."""

from __future__ import annotations

import random
from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-20250514")]
BASE_NS = 1_763_000_000_000_000_000  # mid-November 2025


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def trace_spans(
    rng: random.Random, trace_id: bytes, trace_no: int, calls: int, label: str = "bench"
) -> list[Span]:
    """One trace: an agent span and ``calls`` chat spans under it (growing input, cache reads after the first)."""
    root = rng.getrandbits(64).to_bytes(8, "big")
    start = BASE_NS + trace_no * 5_000_000_000
    spans = [
        Span(
            trace_id=trace_id,
            span_id=root,
            name=f"invoke_agent {label}",
            start_time_unix_nano=start,
            end_time_unix_nano=start + 4_000_000_000,
            attributes=[
                _kv("gen_ai.operation.name", "invoke_agent"),
                _kv("gen_ai.agent.name", f"agent-{trace_no % 5}"),
                _kv("gen_ai.conversation.id", f"s-{trace_no // 3}"),
            ],
        )
    ]
    for i in range(calls):
        provider, model = MODELS[rng.randrange(len(MODELS))]
        t = start + i * 500_000_000
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=rng.getrandbits(64).to_bytes(8, "big"),
                parent_span_id=root,
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=t,
                end_time_unix_nano=t + 400_000_000,
                attributes=[
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", provider),
                    _kv("gen_ai.request.model", model),
                    _kv("gen_ai.usage.input_tokens", 1000 + i * 400),
                    _kv("gen_ai.usage.output_tokens", rng.randint(20, 600)),
                    _kv("gen_ai.usage.cache_read.input_tokens", 512 if i else 0),
                    _kv("gen_ai.response.id", f"chatcmpl-{trace_no}-{i}"),
                ],
            )
        )
    return spans


def requests(
    total_spans: int, batch: int = 512, seed: int = 1, calls_per_trace: int = 7
) -> Iterator[ExportTraceServiceRequest]:
    """Yield requests of ``batch`` spans each: per trace one agent span and ``calls_per_trace`` chat spans."""
    rng = random.Random(seed)
    spans: list[Span] = []
    made = 0
    trace_no = 0
    while made < total_spans:
        trace_no += 1
        trace_id = rng.getrandbits(128).to_bytes(16, "big")
        trace = trace_spans(rng, trace_id, trace_no, min(calls_per_trace, total_spans - made - 1))
        spans.extend(trace)
        made += len(trace)
        while len(spans) >= batch:
            yield request_of(spans[:batch])
            spans = spans[batch:]
    if spans:
        yield request_of(spans)


def request_of(spans: list[Span], service: str = "bench") -> ExportTraceServiceRequest:
    """One export request holding ``spans`` under a resource named ``service``."""
    resource = Resource(attributes=[_kv("service.name", service)])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
