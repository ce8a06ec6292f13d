"""A hand-built ledger for the analytics tests: every figure the tests expect is worked out here by hand.

Models: ``acme-large`` and ``acme-small`` (provider ``acme``; unknown to the catalog, priced by PRICER's
overrides where a test needs unit prices: acme-large input $2, cache write $2.50 per million tokens).
Week 1 starts Monday D1 = 2025-01-06; every call has 100 output tokens unless noted.

| trace | agent (session, user)   | when         | calls: cost (status, notes)                                      | outcome |
|-------|-------------------------|--------------|------------------------------------------------------------------|---------|
| T1    | planner (s1, alice)     | D1 10:00     | 0.10 large in 1000 write 300 prefix x1 prompt p1 max 1000 rep 0.10 |         |
|       | task type plan          | D1 10:01     | 0.20 small in 1500 read 800 prefix x1 prompt p2 max 1000 rep 0.30  |         |
|       |                         | D1 10:02     | 0.30 small in 2000 read 900 prefix x1 prompt p2 max 100 out 100,   |         |
|       |                         |              |      finish length (duplicate of p2, truncated)                  | success |
| T2    | planner (s1, alice)     | D1 10:03     | 0.40 error, large in 1200 read 300 (reads T1's write)            |         |
|       | plan                    | D1 10:04     | 0.50 ok, small in 1800                                           | success |
| T3    | coder (s2, bob), code   | D1 11:00     | 0.25 ok, large in 3000 write 1000, reported 0.26 (4 % off)       |         |
|       |                         | D1 11:10     | 0.75 error, large in 3500 read 1000 (10 min later: too late),    |         |
|       |                         |              |      finish max_tokens                                           | failure |
| T4    | coder (s2, bob), code   | D2 10:00..04 | 0.01 0.02 0.03 0.04 0.05 ok, large, in 1000..1400, prefix y1,    |         |
|       |                         |              | prompts q1 q2 q2 q2 q3; step 1 writes 500, step 2 reads 500,     |         |
|       |                         |              | step 5 writes 400 (never read)                                   | success |
| H1    | none (helicone, hs)     | D2 12:00     | 0.05 ok, small in 1000                                           | success |
| H2    | none (helicone, hs)     | D2 12:01     | unpriced ok, mystery in 500                                      | success |
| T6    | planner (s3, alice)     | D8 10:00..01 | 0.60 ok, 0.40 ok, small in 1000 each                             | success |

Reported costs: T1 c1 0.10 (agrees), T1 c2 0.30 vs computed 0.20 (+50 %), T3 c1 0.26 vs 0.25 (+4 %).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentledger.core.pricing import PriceOverride, Pricer
from agentledger.core.records import Call, SpanContext
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

D1 = datetime(2025, 1, 6, 10, tzinfo=UTC)  # a Monday
D2 = D1 + timedelta(days=1)
D8 = D1 + timedelta(days=7)
WEEK1 = (datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 13, tzinfo=UTC))
WEEK2 = (datetime(2025, 1, 13, tzinfo=UTC), datetime(2025, 1, 20, tzinfo=UTC))
LARGE, SMALL = "acme-large", "acme-small"

PRICER = Pricer(
    [
        PriceOverride(
            provider="acme",
            model=LARGE,
            effective_from="2024-01-01",
            input_per_mtok=2.0,
            cache_write_per_mtok=2.5,
            cache_read_per_mtok=0.5,
            output_per_mtok=8.0,
        ),
        PriceOverride(
            provider="acme", model=SMALL, effective_from="2024-01-01", input_per_mtok=1.0, output_per_mtok=2.0
        ),
    ]
)


def call(
    trace: str,
    span: str,
    at: datetime,
    cost: float | None,
    *,
    model: str = LARGE,
    status: str = "ok",
    source: str = "otlp",
    parent: str | None = "root",
    **kw,
) -> Call:
    kw.setdefault("output_tokens", 100)
    return Call(
        source=source,
        trace_id=trace,
        span_id=span,
        parent_span_id=parent,
        started_at=at,
        ended_at=at + timedelta(seconds=30),
        latency_ms=30_000.0,
        model=model,
        provider="acme",
        operation="chat",
        status=status,
        cost_usd=cost,
        cost_computed_usd=cost,
        price_status="priced" if cost is not None else "unpriced",
        cost_source="computed" if cost is not None else "none",
        **kw,
    )


def root(trace: str, agent: str, session: str, user: str, task_type: str) -> SpanContext:
    return SpanContext(
        source="otlp",
        trace_id=trace,
        span_id="root",
        kind="agent",
        agent_name=agent,
        session_id=session,
        user_id=user,
        task_type=task_type,
    )


m = timedelta(minutes=1)
CALLS = [
    call(
        "T1",
        "c1",
        D1,
        0.10,
        input_tokens=1000,
        cache_write_tokens=300,
        prefix_hash="x1",
        prompt_hash="p1",
        max_tokens=1000,
        cost_reported_usd=0.10,
    ),
    call(
        "T1",
        "c2",
        D1 + m,
        0.20,
        model=SMALL,
        input_tokens=1500,
        cache_read_tokens=800,
        prefix_hash="x1",
        prompt_hash="p2",
        max_tokens=1000,
        cost_reported_usd=0.30,
    ),
    call(
        "T1",
        "c3",
        D1 + 2 * m,
        0.30,
        model=SMALL,
        input_tokens=2000,
        cache_read_tokens=900,
        prefix_hash="x1",
        prompt_hash="p2",
        max_tokens=100,
        finish_reason="length",
    ),
    call("T2", "c1", D1 + 3 * m, 0.40, status="error", input_tokens=1200, cache_read_tokens=300),
    call("T2", "c2", D1 + 4 * m, 0.50, model=SMALL, input_tokens=1800),
    call("T3", "c1", D1 + 60 * m, 0.25, input_tokens=3000, cache_write_tokens=1000, cost_reported_usd=0.26),
    call(
        "T3",
        "c2",
        D1 + 70 * m,
        0.75,
        status="error",
        input_tokens=3500,
        cache_read_tokens=1000,
        finish_reason="max_tokens",
    ),
    *[
        call(
            "T4",
            f"c{i + 1}",
            D2 + i * m,
            cost,
            input_tokens=1000 + 100 * i,
            prefix_hash="y1",
            prompt_hash=prompt,
            cache_write_tokens={0: 500, 4: 400}.get(i, 0),
            cache_read_tokens=500 if i == 1 else 0,
        )
        for i, (cost, prompt) in enumerate(
            zip((0.01, 0.02, 0.03, 0.04, 0.05), ("q1", "q2", "q2", "q2", "q3"), strict=True)
        )
    ],
    call(
        "H1",
        "h1",
        D2 + 120 * m,
        0.05,
        model=SMALL,
        source="helicone",
        parent=None,
        session_id="hs",
        input_tokens=1000,
    ),
    call(
        "H2",
        "h2",
        D2 + 121 * m,
        None,
        model="mystery",
        source="helicone",
        parent=None,
        session_id="hs",
        input_tokens=500,
    ),
    call("T6", "c1", D8, 0.60, model=SMALL, input_tokens=1000),
    call("T6", "c2", D8 + m, 0.40, model=SMALL, input_tokens=1000),
]
SPANS = [
    root("T1", "planner", "s1", "alice", "plan"),
    root("T2", "planner", "s1", "alice", "plan"),
    root("T3", "coder", "s2", "bob", "code"),
    root("T4", "coder", "s2", "bob", "code"),
    root("T6", "planner", "s3", "alice", "plan"),
]

# Week 1 by hand.
WEEK1_TOTAL = 0.10 + 0.20 + 0.30 + 0.40 + 0.50 + 0.25 + 0.75 + 0.15 + 0.05  # 2.70
PLANNER_WEEK1 = 0.10 + 0.20 + 0.30 + 0.40 + 0.50  # 1.50
CODER_WEEK1 = 0.25 + 0.75 + 0.15  # 1.15
NO_AGENT_WEEK1 = 0.05


def build(url: str = "duckdb:///:memory:") -> Warehouse:
    """The ledger in a fresh warehouse: calls first, their agent spans after (context arrives late)."""
    wh = connect(url)
    pipeline = Pipeline(wh)
    pipeline.ingest(list(CALLS), [])
    pipeline.ingest([], list(SPANS))
    return wh


def unpriced_retry(url: str, at: datetime) -> None:
    """Write into ``url`` one task on a model without a price: a failed call at ``at``, retried with success
    a second later (waste whose cost is unknown)."""
    calls = [
        Call(
            source="otlp",
            trace_id="U1",
            span_id=f"s{i}",
            started_at=at + timedelta(seconds=i),
            model="acme-internal",
            provider="acme",
            status=status,
            input_tokens=500,
            output_tokens=50,
        )
        for i, status in enumerate(("error", "ok"))
    ]
    wh = connect(url)
    try:
        Pipeline(wh, Pricer()).ingest(calls, [])
    finally:
        wh.close()
