"""Figures worked out for every task type at once equal each task type's own, on generated calls with unknown
values: the long traces of ``context_growth`` (on arrays) equal its definition (a sort and a window per
trace) over each task type's calls, and ``targets_of`` equals ``target_of`` of them."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from agentledger.analytics.recommend.base import target_of, targets_of
from agentledger.analytics.recommend.compression import context_growth


def _definition(calls: pl.DataFrame, min_steps: int) -> pl.DataFrame:
    """context_growth as defined: sort each trace by step, diff the inputs, aggregate per trace."""
    ordered = calls.sort(["trace_key", "step"]).with_columns(
        pl.col("input_tokens").diff().over("trace_key").alias("growth"),
        pl.col("output_tokens").shift(1).over("trace_key").alias("previous_output"),
    )
    return (
        ordered.group_by("trace_key")
        .agg(
            pl.len().alias("steps"),
            pl.col("trace_id").first(),
            ((pl.col("input_tokens").last() - pl.col("input_tokens").first()) / (pl.len() - 1)).alias(
                "growth_per_step"
            ),
            (pl.col("growth") > 0).mean().alias("rising_share"),
            pl.col("growth").clip(lower_bound=0).sum().alias("total_growth"),
            (pl.col("growth") - pl.col("previous_output")).clip(lower_bound=0).sum().alias("foreign_growth"),
        )
        .filter(pl.col("steps") >= min_steps)
    )


def _strings(rng: np.random.Generator, values: list[str], n: int, unknown: float) -> pl.Series:
    return pl.Series(rng.choice(values, n).tolist(), dtype=pl.String).set(
        pl.Series(rng.random(n) < unknown), None
    )


def _calls(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400)) if seed % 7 else 0
    trace = rng.integers(0, 25, n)
    unknown = 0.1 * (seed % 2)
    return pl.DataFrame(
        {
            "trace_key": [f"otlp\x1ft{t}" for t in trace],
            "trace_id": [f"t{t}" for t in trace],
            "task_type": _strings(rng, ["a", "b", "c"], n, 0.1),
            "agent_name": _strings(rng, ["x", "y"], n, 0.3 * (seed % 3 == 0)),
            "model": _strings(rng, ["m1", "m2", "m3", ""], n, 0.2),
            "provider": _strings(rng, ["p", "q"], n, unknown),
            "step": rng.permutation(n).astype(np.int64),
            "input_tokens": pl.Series(rng.integers(0, 5000, n), dtype=pl.Int64).set(
                pl.Series(rng.random(n) < unknown), None
            ),
            "output_tokens": pl.Series(rng.integers(0, 500, n), dtype=pl.Int64).set(
                pl.Series(rng.random(n) < unknown), None
            ),
        }
    )


def _of(calls: pl.DataFrame, task_type: str | None) -> pl.DataFrame:
    if task_type is None:
        return calls.filter(pl.col("task_type").is_null())
    return calls.filter(pl.col("task_type") == task_type)


@pytest.mark.parametrize("seed", range(40))
def test_context_growth_per_task_type_at_once_is_each_task_types_own(seed: int) -> None:
    calls = _calls(seed)
    typed = calls.filter(pl.col("task_type").is_not_null())
    for min_steps in (1, 2, 5):
        together = context_growth(typed, min_steps, by=["task_type"])
        for task_type in ("a", "b", "c"):
            own = _of(calls, task_type)
            expected = _definition(own, min_steps).sort("trace_key")
            assert_frame_equal(context_growth(own, min_steps).sort("trace_key"), expected, check_exact=True)
            part = together.filter(pl.col("task_type") == task_type).drop("task_type").sort("trace_key")
            assert_frame_equal(part, expected, check_exact=True)


@pytest.mark.parametrize("seed", range(40))
def test_the_targets_of_every_task_type_at_once_are_each_task_types_own(seed: int) -> None:
    calls = _calls(seed)
    together = targets_of(calls)
    assert set(together) == set(calls["task_type"].unique().to_list())
    for task_type, target in together.items():
        assert target == target_of(_of(calls, task_type), task_type)
