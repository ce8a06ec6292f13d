"""An agent built on the real ``openai`` client under a real OpenTelemetry instrumentation, exporting over
OTLP/HTTP: run as a script by test_e2e_instrumentations.py (instrumentations patch the client process-wide, so
each runs in a process of its own).

    python instrumented_openai.py {openllmetry|openinference|otel-openai-v2|litellm-otel} RECEIVER_URL API_KEY

``litellm-otel`` calls the API through the LiteLLM SDK (``litellm.completion``) with its own OpenTelemetry
callback instead of instrumenting the openai client.

The OpenAI API itself cannot be called from the tests: a loopback server answers with chat completion objects
as the API documents them (usage with ``prompt_tokens_details.cached_tokens`` and
``completion_tokens_details.reasoning_tokens``). Prints the trace id of the agent's task.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# What the stand-in answers per requested model: the dated model, prompt tokens (cached among them),
# completion tokens (reasoning among them).
ANSWERS = {
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


def chat_completion(model: str) -> dict:
    answer = ANSWERS[model]
    return {
        "id": f"chatcmpl-{model}-1",
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


class _OpenAIStandIn(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802  # the http.server hook
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(chat_completion(request["model"])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _instrumentor(name: str):
    if name == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    elif name == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
    elif name == "otel-openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    else:
        raise SystemExit(f"unknown instrumentation {name!r}")
    return OpenAIInstrumentor()


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
            raise SystemExit(
                f"the LiteLLM callback did not record {keys} on {span.name} within {timeout} s: {sorted(span.attributes)}"
            )
        time.sleep(0.02)


def _litellm_completion(provider, base_url: str):
    import litellm
    from litellm.integrations.opentelemetry import OpenTelemetry

    litellm.callbacks = [OpenTelemetry(tracer_provider=provider)]

    tracer = provider.get_tracer("e2e-agent")

    def complete(model: str, **kwargs) -> None:
        # LiteLLM records the call on the active span when there is one (here: the agent's step).
        with tracer.start_as_current_span(f"step {model}") as step:
            litellm.completion(model=f"openai/{model}", api_base=base_url, api_key="sk-e2e", **kwargs)
            _wait_for(step, _LITELLM_RECORDED)  # the callback runs in a thread of LiteLLM's

    return complete


def main(name: str, receiver: str, key: str) -> None:
    import openai
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    stand_in = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIStandIn)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    provider = TracerProvider(resource=Resource.create({"service.name": f"agent-{name}"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver}/v1/traces", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    base_url = f"http://127.0.0.1:{stand_in.server_port}/v1"
    if name == "litellm-otel":
        complete = _litellm_completion(provider, base_url)
    else:
        _instrumentor(name).instrument(tracer_provider=provider)
        complete = openai.OpenAI(base_url=base_url, api_key="sk-e2e").chat.completions.create
    tracer = provider.get_tracer("e2e-agent")
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support-bot",
        "gen_ai.conversation.id": f"session-{name}",
    }
    with tracer.start_as_current_span("invoke_agent support-bot", attributes=attributes) as agent:
        for model in ANSWERS:
            complete(
                model=model,
                messages=[
                    {"role": "system", "content": "Answer in one word."},
                    {"role": "user", "content": "Capital of France?"},
                ],
                max_tokens=600,
            )
        trace_id = format(agent.get_span_context().trace_id, "032x")
    provider.shutdown()  # flushes the batch processor: every span is exported before we answer
    stand_in.shutdown()
    print(trace_id)


if __name__ == "__main__":
    main(*sys.argv[1:4])
