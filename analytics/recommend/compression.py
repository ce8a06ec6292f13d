"""Compression: less input per call, where the history shows input that need not be sent.

Two findings per task type:
- a large stable prefix (system prompt + tool definitions estimated above ``prefix_target_tokens``):
  replayed as a prompt trim to that target;
- a context growing steadily per step (traces of ``context_min_steps`` steps or more, input rising at
  every step by ``context_min_growth_tokens`` on average): replayed as a cap keeping the last
  ``context_keep_last_turns`` turns. When most of the growth is not the previous step's output, it is
  tool results (or retrieved documents) piling up, and the action says to truncate those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from agentledger.analytics.recommend.base import (
    TARGET_COLUMNS,
    Context,
    Finding,
    number,
    targets_of,
)
from agentledger.analytics.whatif import ReplayResult
from agentledger.analytics.whatif.levers import prefix_tokens
from agentledger.analytics.whatif.policy import ContextCap, Policy, PromptTrim

__all__ = ["context_growth", "recommend_compression"]

# A trace grows "steadily" when its input rises at this share of its steps at least.
_RISING_STEPS = 0.8


# A proposed change: its policy, and what to make of its replay.
Pending = tuple[Policy, Callable[[ReplayResult], Finding]]


def _prefix_trim(
    ctx: Context, task_type: str, prefixed: pl.DataFrame, target: dict[str, str | None]
) -> Pending | None:
    """A prompt trim for ``task_type``, from its calls with a prefix hash (``prefixed``)."""
    o = ctx.options
    with_prefix = prefixed.with_columns(prefix_tokens().alias("prefix_tokens"))
    if with_prefix.height < o.min_calls:
        return None
    prefix = number(with_prefix["prefix_tokens"].median())
    if prefix <= o.prefix_target_tokens:
        return None
    policy = Policy(
        prompt_trim=PromptTrim(task_types=[task_type], prefix_target_tokens=o.prefix_target_tokens)
    )
    evidence = {
        "calls_with_prefix": with_prefix.height,
        "median_prefix_tokens": prefix,
        "prefix_share_of_input": number(with_prefix["prefix_tokens"].sum())
        / max(number(with_prefix["input_tokens"].sum()), 1.0),
        "prefix_target_tokens": o.prefix_target_tokens,
    }

    def build(result: ReplayResult) -> Finding:
        rec = ctx.from_replay(
            "compression",
            target,
            result,
            confidence="low",
            evidence=evidence,
            risk="Shorter instructions can change behaviour: re-run the task type's evaluation set; the saving "
            "assumes the target size is reached",
            action=f"Trim the system prompt and tool definitions of {task_type} (about {prefix:,.0f} tokens) "
            f"towards {o.prefix_target_tokens:,} tokens: drop unused tools, move examples and reference text "
            "to retrieval",
        )
        return Finding(recommendations=[rec])

    return policy, build


def context_growth(calls: pl.DataFrame, min_steps: int, by: Sequence[str] = ()) -> pl.DataFrame:
    """Per trace of at least ``min_steps`` calls: steps, input growth per step, share of rising steps,
    and the growth not explained by the previous step's output (tool results, retrieved text).

    With ``by`` (e.g. ``["task_type"]``), per trace and value of those columns: the traces of each value
    exactly as ``context_growth`` of that value's calls gives them, in one pass.

    Columns: the keys, ``steps``, ``trace_id``, ``growth_per_step`` (input of the last step minus the first,
    per step), ``rising_share`` (steps whose input rose, of those with a known growth), ``total_growth`` (Σ
    rises) and ``foreign_growth`` (Σ rises beyond the previous step's output); an unknown count gives an
    unknown growth, left out of the shares and sums. Worked out on arrays: one sort of integer codes.
    """
    keys = [*by, "trace_key"]
    # prepared calls number their traces (trace_index): the same groups as the keys, without hashing them
    grouped = [*by, "trace_index" if "trace_index" in calls.columns else "trace_key"]
    codes = [_codes(calls[name]) for name in grouped]
    step = calls["step"].fill_null(np.iinfo(np.int64).min).to_numpy()
    order = np.lexsort((step, *reversed(codes)))
    n = order.size
    new_group = np.ones(n, dtype=bool)
    for code in codes:
        ordered_code = code[order]
        new_group[1:] &= ordered_code[1:] == ordered_code[:-1]
    new_group = ~new_group
    if n:
        new_group[0] = True
    starts = np.flatnonzero(new_group)
    ends = np.r_[starts[1:], n] - 1 if n else starts
    steps = ends - starts + 1
    inp, inp_known = _ints(calls["input_tokens"], order)
    out, out_known = _ints(calls["output_tokens"], order)
    growth = np.zeros(n, dtype=np.int64)
    growth[1:] = inp[1:] - inp[:-1]
    growth_known = np.zeros(n, dtype=bool)
    growth_known[1:] = inp_known[1:] & inp_known[:-1]
    growth_known &= ~new_group
    foreign = np.zeros(n, dtype=np.int64)
    foreign[1:] = growth[1:] - out[:-1]
    foreign_known = np.zeros(n, dtype=bool)
    foreign_known[1:] = growth_known[1:] & out_known[:-1]
    known_steps = np.add.reduceat(growth_known.astype(np.int64), starts) if n else np.zeros(0, np.int64)
    rising = np.add.reduceat((growth_known & (growth > 0)).astype(np.int64), starts) if n else known_steps
    total = np.add.reduceat(np.where(growth_known, np.maximum(growth, 0), 0), starts) if n else known_steps
    beyond = np.add.reduceat(np.where(foreign_known, np.maximum(foreign, 0), 0), starts) if n else known_steps
    with np.errstate(divide="ignore", invalid="ignore"):
        per_step = (inp[ends] - inp[starts]).astype(np.float64) / (steps - 1).astype(np.float64)
        share = rising.astype(np.float64) / known_steps.astype(np.float64)
    first = order[starts]
    frame = calls.select(*keys, "trace_id")[first].with_columns(
        pl.Series("steps", steps, dtype=pl.UInt32),
        pl.Series("growth_per_step", per_step, dtype=pl.Float64).set(
            pl.Series(~(inp_known[ends] & inp_known[starts])), None
        ),
        pl.Series("rising_share", share, dtype=pl.Float64).set(pl.Series(known_steps == 0), None),
        pl.Series("total_growth", total, dtype=pl.Int64),
        pl.Series("foreign_growth", beyond, dtype=pl.Int64),
    )
    columns = [
        *keys,
        "steps",
        "trace_id",
        "growth_per_step",
        "rising_share",
        "total_growth",
        "foreign_growth",
    ]
    return frame.select(columns).filter(pl.col("steps") >= min_steps)


def _codes(values: pl.Series) -> np.ndarray:
    """An integer per distinct value of ``values`` (nulls one more value), for grouping."""
    if values.dtype.is_integer():
        return values.fill_null(np.iinfo(np.int64).min).to_numpy().astype(np.int64)
    physical = values.cast(pl.String).cast(pl.Categorical).to_physical()
    return physical.cast(pl.Int64).fill_null(-1).to_numpy()


def _ints(values: pl.Series, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` in ``order`` as int64 (0 where unknown) and where they are known."""
    known = values.is_not_null().to_numpy()[order]
    return values.fill_null(0).to_numpy().astype(np.int64)[order], known


def _context_cap(
    ctx: Context, task_type: str, traces: pl.DataFrame, target: dict[str, str | None]
) -> Pending | None:
    """A context cap for ``task_type``, from its long traces (see :func:`context_growth`)."""
    o = ctx.options
    if traces.height == 0:
        return None
    steady = traces.filter(
        (pl.col("growth_per_step") >= o.context_min_growth_tokens) & (pl.col("rising_share") >= _RISING_STEPS)
    )
    if steady.height / traces.height < o.context_min_share:
        return None
    total_growth = float(steady["total_growth"].sum())
    tool_share = float(steady["foreign_growth"].sum()) / total_growth if total_growth else 0.0
    keep = o.context_keep_last_turns
    policy = Policy(context_cap=ContextCap(task_types=[task_type], keep_last_turns=keep))
    if tool_share >= o.tool_result_share:
        action = (
            f"Tool results dominate the input growth of {task_type} ({tool_share:.0%}): truncate or "
            f"summarize tool outputs before they enter the context, and keep the last {keep} turns"
        )
    else:
        action = f"Cap the history of {task_type}: keep the last {keep} turns (or summarize older ones)"
    evidence = {
        "long_traces": traces.height,
        "steadily_growing_traces": steady.height,
        "median_growth_tokens_per_step": number(steady["growth_per_step"].median()),
        "tool_result_share_of_growth": tool_share,
        "keep_last_turns": keep,
    }

    def build(result: ReplayResult) -> Finding:
        rec = ctx.from_replay(
            "compression",
            target,
            result,
            confidence="medium",
            evidence=evidence,
            risk="Dropped turns may hold facts a later step needs; check the task type's success after the change",
            action=action,
        )
        return Finding(recommendations=[rec])

    return policy, build


def recommend_compression(ctx: Context) -> Finding:
    """Prompt trims and context caps per task type (see the module docstring)."""
    typed = ctx.priced_columns(
        *TARGET_COLUMNS,
        "prefix_hash",
        "input_tokens",
        "output_tokens",
        "session_key",
        "trace_key",
        "trace_index",
        "trace_id",
        "step",
    ).filter(pl.col("task_type").is_not_null())
    # The long traces, the calls with a prefix and the targets of every task type at once (the same figures
    # as per task type, without splitting every call by task type).
    growth = context_growth(typed, ctx.options.context_min_steps, by=["task_type"])
    traces = _split(growth)
    with_prefix = _split(typed.filter(pl.col("prefix_hash").is_not_null()))
    targets = targets_of(typed)
    trims: list[Pending | None] = []
    caps: list[Pending | None] = []
    for task_type in typed["task_type"].unique(maintain_order=True):
        target = targets[task_type]
        trims.append(_prefix_trim(ctx, task_type, with_prefix(task_type), target))
        caps.append(_context_cap(ctx, task_type, traces(task_type), target))
    # Each kind of change replayed for every task type at once (the same results as one replay each).
    findings = [_resolve(ctx, trims), _resolve(ctx, caps)]
    finding = Finding()
    for trim, cap in zip(*findings, strict=True):
        finding.extend(trim)
        finding.extend(cap)
    return finding


def _split(frame: pl.DataFrame) -> Callable[[str], pl.DataFrame]:
    """The rows of ``frame`` of a task type (without the task type column), split once."""
    parts = {key: part.drop("task_type") for (key,), part in frame.group_by(["task_type"])}
    empty = frame.clear().drop("task_type")
    return lambda task_type: parts.get(task_type, empty)


def _resolve(ctx: Context, pending: list[Pending | None]) -> list[Finding]:
    """The finding of each pending change (an empty one for None), their policies replayed together."""
    proposed = [p for p in pending if p is not None]
    results = iter(ctx.replay_each([policy for policy, _ in proposed]))
    return [Finding() if p is None else p[1](next(results)) for p in pending]
