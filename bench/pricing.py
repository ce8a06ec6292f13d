"""Micro-benchmark: µs per ``Pricer.price()`` on a realistic mix of models, warm caches.

Run: ``.venv/bin/python bench/pricing.py``.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from agentledger.core.pricing import Pricer, parse_overrides
from agentledger.core.records import Call

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
    ("gcp.vertex_ai", "gemini-2.5-pro"),  # long-context tiers
    (None, "o3"),  # dated price change
    ("deepseek", "deepseek-chat"),  # off-peak prices: resolved per call
    (None, "my-selfhosted-llama"),  # override
    ("litellm", "openai/gpt-4.1"),
]
OVERRIDES = {
    "overrides": [
        {"provider": "openai", "model": "*", "effective_from": "2025-06-01", "discount": 0.1},
        {
            "model": "my-selfhosted-*",
            "effective_from": "2024-01-01",
            "input_per_mtok": 0.1,
            "output_per_mtok": 0.1,
        },
    ]
}


def make_calls(n: int) -> list[Call]:
    rng = random.Random(0)
    start = datetime(2025, 5, 1, tzinfo=UTC)
    calls = []
    for i in range(n):
        provider, model = rng.choice(MODELS)
        inp = rng.randint(100, 300_000)
        out = rng.randint(1, 4000)
        calls.append(
            Call(
                source="bench",
                trace_id=str(i),
                span_id=str(i),
                started_at=start + timedelta(minutes=i),
                provider=provider,
                model=model,
                input_tokens=inp,
                cache_read_tokens=rng.randint(0, inp // 2),
                output_tokens=out,
                reasoning_tokens=out // 3,
            )
        )
    return calls


def main() -> None:
    calls = make_calls(200_000)
    for label, pricer in [("catalog only", Pricer()), ("with overrides", Pricer(parse_overrides(OVERRIDES)))]:
        pricer.price_many(calls[:20_000])
        began = time.perf_counter()
        pricer.price_many(calls)
        elapsed = time.perf_counter() - began
        print(f"{label}: {elapsed / len(calls) * 1e6:.2f} µs/call ({len(calls) / elapsed:,.0f} calls/s)")


if __name__ == "__main__":
    main()
