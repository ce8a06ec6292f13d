"""End to end with real instrumentations: an agent on the real ``openai`` client, instrumented by OpenLLMetry,
OpenInference or the OpenTelemetry contrib openai-v2 package, or calling through the LiteLLM SDK with its
OpenTelemetry callback, exports over OTLP/HTTP to a running
`agentledger serve`; each call is stored with the tokens the instrumentation recorded and priced from the
published per-MTok prices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

CLIENT = Path(__file__).with_name("instrumented_openai.py")
KEY = "k-instrumented"
# Published list prices, USD per million tokens: (input, cached input, output).
PRICES = {"gpt-4o-2024-08-06": (2.50, 1.25, 10.00), "o3-mini-2025-01-31": (1.10, 0.55, 4.40)}
# What each instrumentation records of the usage the API returned (instrumented_openai.ANSWERS): the
# contrib openai-v2 package (2.4b0) records neither cached nor reasoning tokens.
RECORDED = {
    # instrumentation: {model: (input incl. cached, cached, output incl. reasoning, reasoning)}
    "openllmetry": {"gpt-4o-2024-08-06": (1200, 1000, 300, 0), "o3-mini-2025-01-31": (800, 0, 500, 200)},
    "openinference": {"gpt-4o-2024-08-06": (1200, 1000, 300, 0), "o3-mini-2025-01-31": (800, 0, 500, 200)},
    "otel-openai-v2": {"gpt-4o-2024-08-06": (1200, 0, 300, 0), "o3-mini-2025-01-31": (800, 0, 500, 0)},
    # The LiteLLM SDK's own callback: cache and reasoning counts only in its usage object (a Python literal).
    "litellm-otel": {"gpt-4o-2024-08-06": (1200, 1000, 300, 0), "o3-mini-2025-01-31": (800, 0, 500, 200)},
}


def _client_env(instrumentation: str) -> dict[str, str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # LiteLLM fetches prices at import otherwise
    env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    if instrumentation != "litellm-otel":  # the prompts, for the prompt hash (LiteLLM records them unasked,
        # and with the variable set, to anything, it stops recording finish reasons on the span)
        env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
    return env


def _hand_cost(model: str, input_tokens: int, cached: int, output_tokens: int) -> float:
    price_in, price_cached, price_out = PRICES[model]
    return ((input_tokens - cached) * price_in + cached * price_cached + output_tokens * price_out) / 1e6


@pytest.mark.parametrize("instrumentation", sorted(RECORDED))
def test_instrumented_openai_client_to_priced_calls(instrumentation, server_factory, tmp_path) -> None:
    server = server_factory(f"duckdb:///{tmp_path / 'ledger.duckdb'}", {"AGENTLEDGER_API_KEYS": KEY})
    run = subprocess.run(
        [sys.executable, str(CLIENT), instrumentation, server.url, KEY],
        capture_output=True,
        text=True,
        timeout=120,
        env=_client_env(instrumentation),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    trace_id = run.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {KEY}"}

    task = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=headers, timeout=30).json()
    steps = {step["model"]: step for step in task["steps"]}
    assert sorted(steps) == sorted(PRICES), task
    expected_total = 0.0
    for model, (input_tokens, cached, output_tokens, reasoning) in RECORDED[instrumentation].items():
        step = steps[model]
        assert (step["input_tokens"], step["cache_read_tokens"]) == (input_tokens, cached)
        assert (step["output_tokens"], step["reasoning_tokens"]) == (output_tokens, reasoning)
        assert step["cost_usd"] == pytest.approx(
            _hand_cost(model, input_tokens, cached, output_tokens), abs=1e-9
        )
        assert (step["provider"], step["max_tokens"], step["finish_reason"]) == ("openai", 600, "stop")
        assert step["agent_name"] == "support-bot"  # inherited from the agent span around the client
        assert step["session_id"] == f"session-{instrumentation}"
        expected_total += _hand_cost(model, input_tokens, cached, output_tokens)
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
