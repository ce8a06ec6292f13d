"""A small ledger priced at ingest, for the FOCUS export and re-pricing tests; its figures by hand.

Prices (USD per million tokens, overrides: the catalog knows neither model):
acme-large input 2, cache read 0.5, cache write 2.5, output 8 (reasoning = output);
acme-think input 1, output 4, reasoning 12 (priced apart: its own row).

| call | model      | hour  | tokens                                             | cost                         |
|------|------------|-------|----------------------------------------------------|------------------------------|
| F1   | acme-large | 10:00 | in 10000 (read 4000, write 1000), out 2000         | (5000x2+4000x.5+1000x2.5+2000x8)/1e6 = 0.0305 |
| F2   | acme-large | 10:00 | in 6000, out 500                                   | (6000x2+500x8)/1e6 = 0.016   |
| F3   | acme-think | 11:00 | in 1000, out 3000 of which reasoning 2000          | (1000+1000x4+2000x12)/1e6 = 0.029 |
| F4   | acme-large | 10:00 | in 1000, out 100, served from the gateway cache    | 0                            |
| F5   | mystery    | 10:00 | in 800, out 80                                     | unpriced: left out           |
| F6   | vendor-x   | 12:00 | in 600, out 100, no price, source reported 0.07    | 0.07 (reported only)         |
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentledger.core.pricing import PriceOverride, Pricer
from agentledger.core.records import Call

H10 = datetime(2025, 1, 6, 10, tzinfo=UTC)
PRICER = Pricer(
    [
        PriceOverride(
            model="acme-large",
            effective_from="2024-01-01",
            input_per_mtok=2.0,
            cache_read_per_mtok=0.5,
            cache_write_per_mtok=2.5,
            output_per_mtok=8.0,
        ),
        PriceOverride(
            model="acme-think",
            effective_from="2024-01-01",
            input_per_mtok=1.0,
            output_per_mtok=4.0,
            reasoning_per_mtok=12.0,
        ),
    ]
)
TOTAL = 0.0305 + 0.016 + 0.029 + 0.0 + 0.07


def focus_call(span: str, model: str, at: datetime, **kw) -> Call:
    return Call(
        source="otlp",
        trace_id="FT",
        span_id=span,
        started_at=at,
        model=model,
        provider="acme",
        agent_name="writer",
        session_id="fs",
        user_id="una",
        feature="docs",
        status="ok",
        **kw,
    )


CALLS = [
    focus_call(
        "F1",
        "acme-large",
        H10 + timedelta(minutes=5),
        input_tokens=10000,
        cache_read_tokens=4000,
        cache_write_tokens=1000,
        output_tokens=2000,
    ),
    focus_call("F2", "acme-large", H10 + timedelta(minutes=20), input_tokens=6000, output_tokens=500),
    focus_call(
        "F3",
        "acme-think",
        H10 + timedelta(minutes=90),
        input_tokens=1000,
        output_tokens=3000,
        reasoning_tokens=2000,
    ),
    focus_call(
        "F4",
        "acme-large",
        H10 + timedelta(minutes=40),
        input_tokens=1000,
        output_tokens=100,
        response_cache_hit=True,
    ),
    focus_call("F5", "mystery", H10 + timedelta(minutes=50), input_tokens=800, output_tokens=80),
    focus_call(
        "F6",
        "vendor-x",
        H10 + timedelta(minutes=120),
        input_tokens=600,
        output_tokens=100,
        cost_reported_usd=0.07,
    ),
]
