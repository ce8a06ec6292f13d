"""Constructed histories with a known answer, written through the real pipeline into DuckDB.

Every history lies in June 2025 (catalog prices below, USD per million tokens) inside the 30-day window
``WINDOW``, so a saving over the window is also the monthly saving.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentledger.analytics.filters import Filters
from agentledger.analytics.recommend import RecommendOptions
from agentledger.core.pricing import Pricer
from agentledger.core.records import Call
from agentledger.core.settings import Settings
from agentledger.ingest.pipeline import Pipeline
from agentledger.warehouse import connect
from agentledger.warehouse.base import Warehouse

D0 = datetime(2025, 6, 2, tzinfo=UTC)
WINDOW = Filters(since=D0, until=D0 + timedelta(days=30))
SETTINGS = Settings(_env_file=None, prices_file=None, cost_policy="computed", api_keys=[])
# A low threshold: the histories are small, and the history without patterns must stay silent even so.
OPTIONS = RecommendOptions(min_monthly_savings_usd=0.01, non_interactive_task_types=[])

GPT4O = {"input": 2.5, "cache_read": 1.25, "cache_write": 2.5, "output": 10.0}
GPT4O_MINI = {"input": 0.15, "cache_read": 0.075, "cache_write": 0.15, "output": 0.6}
SONNET4 = {"input": 3.0, "cache_read": 0.3, "cache_write": 3.75, "output": 15.0}


def llm(trace: str, span: str, at: datetime, model: str = "gpt-4o", **kw) -> Call:
    """An LLM call; provider from the model's family."""
    kw.setdefault("provider", "anthropic" if model.startswith("claude") else "openai")
    kw.setdefault("operation", "chat")
    kw.setdefault("status", "ok")
    return Call(source="otlp", trace_id=trace, span_id=span, started_at=at, model=model, **kw)


def ledger(calls: list[Call], url: str = "duckdb:///:memory:") -> Warehouse:
    """A warehouse holding ``calls``, priced and resolved by the ingest pipeline."""
    wh = connect(url)
    Pipeline(wh, Pricer()).ingest(calls, [])
    return wh


def classification_history() -> list[Call]:
    """(a) 100 classify tasks on gpt-4o, one failed (99 % success), 20-token outputs; 50 classify tasks
    on gpt-4o-mini, all succeeded. 500 input tokens each."""
    calls = []
    for i in range(100):
        calls.append(
            llm(
                f"big-{i}",
                "c",
                D0 + timedelta(hours=i),
                task_type="classify",
                agent_name="triage",
                input_tokens=500,
                output_tokens=20,
                status="error" if i == 42 else "ok",
                prompt_hash=f"q{i}",
                max_tokens=50,
            )
        )
    for i in range(50):
        calls.append(
            llm(
                f"mini-{i}",
                "c",
                D0 + timedelta(hours=i, minutes=30),
                model="gpt-4o-mini",
                task_type="classify",
                agent_name="triage",
                input_tokens=500,
                output_tokens=20,
                prompt_hash=f"m{i}",
                max_tokens=50,
            )
        )
    return calls


def classification_saving() -> float:
    """Hand computation: the 100 gpt-4o calls priced on gpt-4o-mini with the same volumes."""
    per_call = (500 * GPT4O["input"] + 20 * GPT4O["output"]) - (
        500 * GPT4O_MINI["input"] + 20 * GPT4O_MINI["output"]
    )
    return 100 * per_call / 1e6


def system_prompt_history() -> list[Call]:
    """(b) 20 sessions of 6 research steps a minute apart on claude-sonnet-4, each resending the same
    3,000-token system prompt (prefix_hash SYS) plus 400 tokens more history a step, no cache reads."""
    calls = []
    for s in range(20):
        start = D0 + timedelta(hours=6 * s)
        for step in range(6):
            calls.append(
                llm(
                    f"research-{s}",
                    f"step{step}",
                    start + timedelta(minutes=step),
                    model="claude-sonnet-4",
                    session_id=f"session-{s}",
                    task_type="research",
                    agent_name="researcher",
                    input_tokens=3000 + 400 * step,
                    output_tokens=150,
                    prefix_hash="SYS",
                    prompt_hash=f"r{s}-{step}",
                    max_tokens=400,
                )
            )
    return calls


def system_prompt_saving() -> float:
    """Hand computation: per session one cache write of 3,000 tokens (Anthropic's write premium) and five
    reads of them (the read discount)."""
    write_premium = 3000 * (SONNET4["cache_write"] - SONNET4["input"])
    read_discount = 3000 * (SONNET4["input"] - SONNET4["cache_read"])
    return 20 * (5 * read_discount - write_premium) / 1e6


def duplicate_history(duplicates: int = 30, total: int = 100) -> list[Call]:
    """(c) ``total`` faq calls on gpt-4o, one a minute, 800 in / 200 out; ``duplicates`` of them repeat
    the prompt of the call a minute before (exact duplicates), the others are all different."""
    calls = []
    for i in range(total):
        repeat = i % 2 == 1 and i // 2 < duplicates
        prompt = f"faq-{i - 1}" if repeat else f"faq-{i}"
        calls.append(
            llm(
                f"faq-{i}",
                "c",
                D0 + timedelta(minutes=i),
                task_type="faq",
                input_tokens=800,
                output_tokens=200,
                prompt_hash=prompt,
                max_tokens=512,
            )
        )
    return calls


def duplicate_saving(duplicates: int = 30) -> float:
    """Hand computation: each duplicate is served from the cache at no cost."""
    return duplicates * (800 * GPT4O["input"] + 200 * GPT4O["output"]) / 1e6


def output_cap_history() -> list[Call]:
    """(d) 1,000 extract calls on gpt-4o with max_tokens 4,096: 995 write 100-150 tokens (P99 = 150),
    5 ramble on for 3,000."""
    calls = []
    for i in range(1000):
        out = 3000 if i >= 995 else 100 + i % 51
        calls.append(
            llm(
                f"extract-{i}",
                "c",
                D0 + timedelta(minutes=10 * i),
                task_type="extract",
                input_tokens=1000,
                output_tokens=out,
                max_tokens=4096,
                prompt_hash=f"e{i}",
            )
        )
    return calls


def output_cap_saving() -> float:
    """Hand computation: the proposed cap is 2 x P99 (150) rounded up to 16 tokens = 304; the five long
    outputs are cut to it."""
    return 5 * (3000 - 304) * GPT4O["output"] / 1e6


def plain_history() -> list[Call]:
    """A history without any of those patterns: a budget model with long-ish answers and prefixes already
    cached, a standard model writing long summaries, no duplicates, caps near the outputs, no tags."""
    calls = []
    for t in range(40):
        start = D0 + timedelta(hours=5 * t)
        for step in range(3):
            calls.append(
                llm(
                    f"chat-{t}",
                    f"s{step}",
                    start + timedelta(minutes=step),
                    model="gpt-4o-mini",
                    session_id=f"user-{t}",
                    task_type="chat",
                    agent_name="assistant",
                    input_tokens=1800 + 100 * step,
                    cache_read_tokens=1500 if step else 0,
                    output_tokens=300 + (7 * t + step) % 300,
                    prefix_hash=f"chat-prefix-{t % 4}",
                    prompt_hash=f"c{t}-{step}",
                    max_tokens=1024,
                )
            )
    for t in range(30):
        calls.append(
            llm(
                f"sum-{t}",
                "c",
                D0 + timedelta(hours=7 * t, minutes=3),
                model="claude-sonnet-4",
                task_type="summarize",
                agent_name="summarizer",
                input_tokens=1500,
                output_tokens=600 + 5 * t,
                prompt_hash=f"s{t}",
                max_tokens=2048,
            )
        )
    return calls
