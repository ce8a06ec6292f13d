"""Builders for replay tests: priced calls as the frame ``sql/queries/whatif_calls.sql`` returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from agentledger.core.pricing import Pricer
from agentledger.core.records import Call, calls_to_arrow

T0 = datetime(2025, 6, 2, 9, tzinfo=UTC)
M = 1_000_000  # prices below are USD per million tokens, as the catalog lists them in June 2025

# (input, cache read, cache write, output) USD per million tokens, from the providers' price pages.
GPT4O = (2.5, 1.25, 2.5, 10.0)
GPT4O_MINI = (0.15, 0.075, 0.15, 0.6)
SONNET4 = (3.0, 0.3, 3.75, 15.0)
HAIKU35 = (0.8, 0.08, 1.0, 4.0)


def call(trace: str, span: str, minute: float = 0, **kw) -> Call:
    """An LLM call of ``trace`` at T0 + ``minute`` (gpt-4o, 1,000 input / 100 output tokens by default)."""
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("provider", "openai" if not kw["model"].startswith("claude") else "anthropic")
    kw.setdefault("input_tokens", 1000)
    kw.setdefault("output_tokens", 100)
    kw.setdefault("operation", "chat")
    kw.setdefault("status", "ok")
    kw.setdefault("source", "otlp")
    return Call(trace_id=trace, span_id=span, started_at=T0 + timedelta(minutes=minute), **kw)


def cost(
    prices: tuple[float, float, float, float], inp: int, out: int, read: int = 0, write: int = 0
) -> float:
    """The hand formula: uncached input, cache reads, cache writes and output at their rates."""
    p_in, p_read, p_write, p_out = prices
    return ((inp - read - write) * p_in + read * p_read + write * p_write + out * p_out) / M


def frame_of(calls: list[Call], pricer: Pricer | None = None) -> pl.DataFrame:
    """``calls`` priced like ingest prices them, as whatif_calls rows (every task a success)."""
    (pricer or Pricer()).price_many(calls)
    frame = pl.from_arrow(calls_to_arrow(calls))
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        pl.col("started_at").rank("ordinal").over(["source", "trace_id"]).cast(pl.Int64).alias("step"),
        pl.lit("success").alias("outcome"),
    ).sort(["started_at", "source", "trace_id", "span_id"])
