"""Every analytics function gives the same answer on DuckDB and on ClickHouse (chDB in-process): the
canonical SQL of sql/queries/ is portable, and the Python around it does not depend on the backend."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest
from handbuilt import PRICER, WEEK1, build
from polars.testing import assert_frame_equal

from agentledger.analytics import audit, breakdowns, focus, tokens, waste
from agentledger.analytics.filters import Filters

WINDOW = Filters(since=WEEK1[0], until=WEEK1[1])


def summary_frame(summary: dict) -> pl.DataFrame:
    """waste_summary's reasons with its headline numbers as extra columns."""
    headline = {k: v for k, v in summary.items() if k != "reasons"}
    return summary["reasons"].with_columns(pl.lit(v).alias(k) for k, v in headline.items())


CASES: dict[str, Callable[..., pl.DataFrame]] = {
    "breakdown": lambda wh: breakdowns.breakdown(wh, WINDOW, "agent"),
    "timeseries": lambda wh: breakdowns.timeseries(wh, Filters(), "day", "task_type"),
    "top_traces": lambda wh: breakdowns.top_traces(wh, WINDOW, 3, "agent"),
    "top_sessions": lambda wh: breakdowns.top_sessions(wh, Filters(), 5),
    "trace_calls": lambda wh: breakdowns.trace_calls(wh, "default", "T4"),
    "waste": lambda wh: waste.waste_attribution(wh, WINDOW, "agent", runaway_threshold=3, pricer=PRICER),
    "waste_summary": lambda wh: summary_frame(
        waste.waste_summary(wh, WINDOW, runaway_threshold=3, pricer=PRICER)
    ),
    "context_growth": lambda wh: tokens.context_growth(wh, WINDOW),
    "prefix_reuse": lambda wh: tokens.prefix_reuse(wh, Filters(), "agent"),
    "output_verbosity": lambda wh: tokens.output_verbosity(wh, WINDOW),
    "cost_audit": lambda wh: audit.cost_audit(wh, WINDOW),
    "cost_disagreements": lambda wh: audit.cost_disagreements(wh, WINDOW, 0.03),
    "unpriced_calls": lambda wh: audit.unpriced_calls(wh, Filters()),
    "focus": lambda wh: focus.focus_frame(wh, Filters(), "call", PRICER)[0],
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("backends")
    duck, ch = build(f"duckdb:///{root / 'l.duckdb'}"), build(f"chdb:///{root / 'ch'}")
    yield duck, ch
    duck.close()
    ch.close()


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in a fixed order (list columns left out of the sort key) so the two backends line up."""
    keys = [c for c, t in frame.schema.items() if not isinstance(t, pl.List)]
    return frame.sort(keys, nulls_last=True)


@pytest.mark.parametrize("case", list(CASES))
def test_same_result_on_duckdb_and_clickhouse(pair, case):
    duck, ch = pair
    expected, got = CASES[case](duck), CASES[case](ch)
    assert not expected.is_empty(), case
    assert_frame_equal(comparable(got), comparable(expected), check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
