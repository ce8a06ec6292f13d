"""An agent built on a real LLM client library under real OpenTelemetry instrumentation, exporting over
OTLP/HTTP: run as a script by test_e2e_instrumentations.py (instrumentations patch the clients process-wide, so
each runs in a process of its own).

    python instrumented_client.py CLIENT INSTRUMENTATION RECEIVER_URL API_KEY

    openai     openllmetry | openinference | otel-openai-v2 | litellm-otel
    anthropic  native | openllmetry | openinference

INSTRUMENTATION may end in ``+simple``: spans are then exported one by one as they end (``SimpleSpanProcessor``)
instead of in batches.

``litellm-otel`` calls the API through the LiteLLM SDK (``litellm.completion``) with its own OpenTelemetry
callback. The Anthropic SDK traces its calls itself once a tracer provider is set (``native``); under
OpenLLMetry or OpenInference each call is then recorded by two spans.

The providers' APIs cannot be called from the tests: a loopback server answers as the APIs document it (OpenAI
chat completions with ``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``;
Anthropic messages whose ``input_tokens`` exclude the cache reads and writes reported beside them). Prints the
trace id of the agent's task.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The calls the agent makes, per client: the model asked for, then what the stand-in answers (the dated
# model and the usage as the provider reports it).
OPENAI_CALLS = {
    "gpt-4o": {
        "model": "gpt-4o-2024-08-06",
        "prompt": 1200,
        "cached": 1000,
        "completion": 300,
        "reasoning": 0,
    },
    "o3-mini": {
        "model": "o3-mini-2025-01-31",
        "prompt": 800,
        "cached": 0,
        "completion": 500,
        "reasoning": 200,
    },
}
ANTHROPIC_MODEL = "claude-sonnet-4-20250514"
ANTHROPIC_CALLS = [  # the first call writes the system prompt to the cache, the second reads it
    {
        "input_tokens": 500,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 0,
        "output_tokens": 100,
    },
    {
        "input_tokens": 500,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2000,
        "output_tokens": 150,
    },
]


def openai_completion(request: dict) -> dict:
    answer = OPENAI_CALLS[request["model"]]
    return {
        "id": f"chatcmpl-{request['model']}-1",
        "object": "chat.completion",
        "created": 1_747_872_000,
        "model": answer["model"],
        "system_fingerprint": "fp_e2e",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": answer["prompt"],
            "completion_tokens": answer["completion"],
            "total_tokens": answer["prompt"] + answer["completion"],
            "prompt_tokens_details": {"cached_tokens": answer["cached"], "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": answer["reasoning"],
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


def anthropic_message(request: dict) -> dict:
    index = int(request["messages"][-1]["content"].split()[-1])  # "... question N"
    usage = ANTHROPIC_CALLS[index]
    written = usage["cache_creation_input_tokens"]
    return {
        "id": f"msg_01E2E{index:04d}",
        "type": "message",
        "role": "assistant",
        "model": request["model"],
        "content": [{"type": "text", "text": "Paris."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            **usage,
            "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        },
    }


class _StandIn(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802  # the http.server hook
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = anthropic_message(request) if self.path.endswith("/messages") else openai_completion(request)
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _instrument(client: str, name: str, provider) -> None:
    if name in ("native", "litellm-otel"):
        return
    if (client, name) == ("openai", "openllmetry"):
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as Instrumentor
    elif (client, name) == ("openai", "openinference"):
        from openinference.instrumentation.openai import OpenAIInstrumentor as Instrumentor
    elif (client, name) == ("openai", "otel-openai-v2"):
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as Instrumentor
    elif (client, name) == ("anthropic", "openllmetry"):
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as Instrumentor
    elif (client, name) == ("anthropic", "openinference"):
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as Instrumentor
    else:
        raise SystemExit(f"unknown instrumentation {name!r} of the {client} client")
    Instrumentor().instrument(tracer_provider=provider)


# What the LiteLLM callback sets on the active span once it has logged the call.
_LITELLM_RECORDED = (
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.output_tokens",
    "gen_ai.cost.total_cost",
    "metadata.usage_object",
)


def _wait_for(span, keys: tuple[str, ...], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(key in span.attributes for key in keys):
        if time.monotonic() > deadline:
            raise SystemExit(f"the LiteLLM callback recorded {sorted(span.attributes)}, not all of {keys}")
        time.sleep(0.02)


def _openai_calls(name: str, provider, base_url: str) -> None:
    import openai

    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France?"},
    ]
    if name != "litellm-otel":
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-e2e")
        for model in OPENAI_CALLS:
            client.chat.completions.create(model=model, messages=messages, max_tokens=600)
        return
    import litellm
    from litellm.integrations.opentelemetry import OpenTelemetry

    litellm.callbacks = [OpenTelemetry(tracer_provider=provider)]
    tracer = provider.get_tracer("e2e-agent")
    for model in OPENAI_CALLS:
        # LiteLLM records the call on the active span when there is one (here: the agent's step).
        with tracer.start_as_current_span(f"step {model}") as step:
            litellm.completion(
                model=f"openai/{model}",
                api_base=f"{base_url}/v1",
                api_key="sk-e2e",
                messages=messages,
                max_tokens=600,
            )
            _wait_for(step, _LITELLM_RECORDED)  # the callback runs in a thread of LiteLLM's


def _anthropic_calls(base_url: str) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-e2e")
    system = [
        {"type": "text", "text": "You are a geography tutor. " * 200, "cache_control": {"type": "ephemeral"}}
    ]
    for index in range(len(ANTHROPIC_CALLS)):
        client.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=600,
            system=system,
            messages=[{"role": "user", "content": f"Capital of France? question {index}"}],
        )


def main(client: str, name: str, receiver: str, key: str) -> None:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    stand_in = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{stand_in.server_port}"
    provider = TracerProvider(resource=Resource.create({"service.name": f"agent-{client}-{name}"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver}/v1/traces", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    instrumentation, _, export = name.partition("+")
    # "+simple": every span exported alone as it ends (as Phoenix's register() does by default), so the two
    # records of one call never share a request
    provider.add_span_processor(
        SimpleSpanProcessor(exporter) if export == "simple" else BatchSpanProcessor(exporter)
    )
    trace.set_tracer_provider(provider)
    _instrument(client, instrumentation, provider)

    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support-bot",
        "gen_ai.conversation.id": f"session-{client}-{name}",
    }
    tracer = provider.get_tracer("e2e-agent")
    with tracer.start_as_current_span("invoke_agent support-bot", attributes=attributes) as agent:
        if client == "anthropic":
            _anthropic_calls(base_url)
        else:
            _openai_calls(instrumentation, provider, base_url)
        trace_id = format(agent.get_span_context().trace_id, "032x")
    provider.shutdown()  # flushes the batch processor: every span is exported before we answer
    stand_in.shutdown()
    print(trace_id)


if __name__ == "__main__":
    main(*sys.argv[1:5])
