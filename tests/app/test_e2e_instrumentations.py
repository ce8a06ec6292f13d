"""End to end with real instrumentations: an agent on a real client library (``openai`` or ``anthropic``),
instrumented by OpenLLMetry, OpenInference, the OpenTelemetry contrib openai-v2 package or the Anthropic SDK's own
tracing, or calling through the LiteLLM SDK with its OpenTelemetry callback, exports over OTLP/HTTP to a running
`agentledger serve` (instrumented_client.py). Each API call is stored once, with the tokens the instrumentation
recorded, priced from the published per-MTok prices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

CLIENT = Path(__file__).with_name("instrumented_client.py")
KEY = "k-instrumented"
# Published list prices, USD per million tokens: (input, cache read, cache write (5 min), output).
PRICES = {
    "gpt-4o-2024-08-06": (2.50, 1.25, None, 10.00),
    "o3-mini-2025-01-31": (1.10, 0.55, None, 4.40),
    "claude-sonnet-4-20250514": (3.00, 0.30, 3.75, 15.00),
}
GPT, O3, SONNET = PRICES
# What each instrumentation records of the usage the APIs returned (instrumented_client.OPENAI_CALLS and
# ANTHROPIC_CALLS), in canonical form: per call (model, input incl. cache, cache read, cache write, output
# incl. reasoning, reasoning). The contrib openai-v2 package (2.4b0) records neither cached nor reasoning
# tokens; Anthropic's input_tokens exclude the cache, the canonical input includes it.
OPENAI_FULL = [(GPT, 1200, 1000, 0, 300, 0), (O3, 800, 0, 0, 500, 200)]
ANTHROPIC = [(SONNET, 2500, 0, 2000, 100, 0), (SONNET, 2500, 2000, 0, 150, 0)]
RECORDED = {
    ("openai", "openllmetry"): OPENAI_FULL,
    ("openai", "openinference"): OPENAI_FULL,
    ("openai", "otel-openai-v2"): [(GPT, 1200, 0, 0, 300, 0), (O3, 800, 0, 0, 500, 0)],
    # The LiteLLM SDK's own callback: cache and reasoning counts only in its usage object (a Python literal).
    ("openai", "litellm-otel"): OPENAI_FULL,
    ("anthropic", "native"): ANTHROPIC,
    # The SDK's own span and the instrumentation's span both record each call: counted once.
    ("anthropic", "openllmetry"): ANTHROPIC,
    ("anthropic", "openinference"): ANTHROPIC,
    # ... also when every span is exported alone, so the two records arrive in separate requests
    ("anthropic", "openllmetry+simple"): ANTHROPIC,
    ("anthropic", "openinference+simple"): ANTHROPIC,
}


def _client_env(instrumentation: str) -> dict[str, str]:
    instrumentation = instrumentation.partition("+")[0]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # LiteLLM fetches prices at import otherwise
    env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    if instrumentation != "litellm-otel":  # the prompts, for the prompt hash (LiteLLM records them unasked,
        # and with the variable set, to anything, it stops recording finish reasons on the span)
        env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    return env


def _hand_cost(model: str, input_tokens: int, read: int, written: int, output_tokens: int) -> float:
    price_in, price_read, price_write, price_out = PRICES[model]
    uncached = input_tokens - read - written
    return (
        uncached * price_in + read * price_read + written * (price_write or 0) + output_tokens * price_out
    ) / 1e6


@pytest.mark.parametrize(
    ("client", "instrumentation"), sorted(RECORDED), ids=[f"{c}-{i}" for c, i in sorted(RECORDED)]
)
def test_instrumented_client_to_priced_calls(client, instrumentation, server_factory, tmp_path) -> None:
    server = server_factory(f"duckdb:///{tmp_path / 'ledger.duckdb'}", {"AGENTLEDGER_API_KEYS": KEY})
    run = subprocess.run(
        [sys.executable, str(CLIENT), client, instrumentation, server.url, KEY],
        capture_output=True,
        text=True,
        timeout=120,
        env=_client_env(instrumentation),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    trace_id = run.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {KEY}"}

    task = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=headers, timeout=30).json()
    expected = RECORDED[(client, instrumentation)]
    assert task["calls"] == len(expected), task  # one record per API call, whatever recorded it twice
    expected_total = 0.0
    for step, (model, input_tokens, read, written, output_tokens, reasoning) in zip(
        task["steps"], expected, strict=True
    ):
        assert step["model"] == model and step["provider"] == client
        assert (step["input_tokens"], step["cache_read_tokens"], step["cache_write_tokens"]) == (
            input_tokens,
            read,
            written,
        )
        assert (step["output_tokens"], step["reasoning_tokens"]) == (output_tokens, reasoning)
        cost = _hand_cost(model, input_tokens, read, written, output_tokens)
        assert step["cost_usd"] == pytest.approx(cost, abs=1e-9)
        assert step["max_tokens"] == 600 and step["finish_reason"] in ("stop", "end_turn")
        assert step["agent_name"] == "support-bot"  # inherited from the agent span around the client
        assert step["session_id"] == f"session-{client}-{instrumentation}"
        expected_total += cost
    assert task["outcome"] == "success" and task["cost_usd"] == pytest.approx(expected_total, abs=1e-9)

    metrics = httpx.get(f"{server.url}/api/metrics", headers=headers, timeout=30).json()
    assert (metrics["calls"], metrics["tasks"], metrics["completed_tasks"], metrics["sessions"]) == (
        2,
        1,
        1,
        1,
    )
    assert metrics["unpriced_calls"] == 0
    assert metrics["total_cost_usd"] == pytest.approx(expected_total, abs=1e-9)
