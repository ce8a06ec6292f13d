"""The what-if replay: reprice recorded calls under a changed policy, with the prices ingest uses.

Pure functions over a polars frame of calls (the rows of ``sql/queries/whatif_calls.sql``):

1. :func:`prepare_calls` decides which calls can be repriced (those whose counted cost was computed from
   the catalog or an override) and computes their cost at today's prices with the formula of
   :func:`agentledger.core.pricing.cost_of`, the function ingest prices with (:mod:`.prices`). Calls whose
   cost was reported by the source, unpriced calls and calls already served from a gateway cache stay as
   recorded.
2. :func:`replay` applies the policy's levers in a fixed order (:mod:`.levers`) and reprices every call
   they changed. A call's replayed cost is its recorded cost minus (baseline − policy cost), so a call no
   lever touches keeps its recorded cost to the bit, and an empty policy reproduces Σ cost_usd exactly.

Everything works on whole columns: prices are looked up once per distinct (provider, model, UTC day), the
levers are array and polars expressions, per-session sums are one ``bincount``. The row-by-row version
it replaced is kept under tests as the oracle this one is checked against.

And only on the calls a policy can change: a lever acts on its own task types, agents and models, so a
replay gathers just those rows (:func:`scope_rows`) and leaves the others at a saving of exactly 0; the
figures a lever takes from the whole window are computed by ``prepare_calls`` beforehand. Policies that
differ only by the task type they name are replayed in one pass (:func:`replay_each`), with caches keyed
by task type so that no two meet. Either way each call gets what the whole replay gives it, to the bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from agentledger.analytics.whatif import levers, prices
from agentledger.analytics.whatif.data import with_trace_keys
from agentledger.analytics.whatif.policy import Policy
from agentledger.analytics.whatif.result import KEPT_REASONS, ReplayResult
from agentledger.analytics.whatif.scope import TOKEN_COLUMNS, lever_columns, scope_rows
from agentledger.analytics.whatif.stats import savings_interval, savings_intervals, session_numbers
from agentledger.core.errors import InputError
from agentledger.core.pricing import Pricer

__all__ = [
    "ORDER",
    "KEPT_REASONS",
    "ReplayResult",
    "prepare_calls",
    "replay",
    "replay_each",
    "savings_interval",
    "savings_intervals",
    "scope_rows",
]

# The order levers apply in (names of Policy fields): volumes first, then caches, then the price.
ORDER = (
    "substitutions",
    "context_cap",
    "prompt_trim",
    "max_tokens",
    "response_cache",
    "prompt_caching",
    "batch",
)


def prepare_calls(calls: pl.DataFrame, pricer: Pricer) -> pl.DataFrame:
    """``calls`` with what every replay needs: session and trace keys (see
    :func:`~agentledger.analytics.whatif.data.with_trace_keys`), whether the call can be repriced
    (``repriceable``, else ``kept_reason``), the model that prices it and its cost at current prices.

    Like ``Pricer.price``, a call is priced on the response's model, else the requested one; prices are
    looked up once per distinct (provider, model, UTC day). The figures the levers derive from the whole
    window (trace baselines, prefix estimates, session numbers) are added too, so a prepared frame is
    replayed as the window it was prepared from: filter calls before preparing them, not after.
    """
    # One chunk per column: every replay then reads the columns without copying them together again.
    frame = with_trace_keys(calls.rechunk()).with_columns(
        pl.coalesce("session_id", "trace_id").alias("session_key")
    )
    kept = frame.select(
        pl.when(pl.col("response_cache_hit").fill_null(False))
        .then(pl.lit("response_cache_hit"))
        .when(pl.col("cost_usd").is_null())
        .then(pl.lit("unpriced"))
        .when(~pl.col("cost_source").is_in(["computed", "override"]).fill_null(False))
        .then(pl.lit("reported"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("kept_reason")
    ).to_series()
    rows = np.flatnonzero(kept.is_null().to_numpy())
    started = frame["started_at"].gather(rows)
    provider = frame["provider"].gather(rows)
    model = frame["model"].gather(rows)
    model_requested = frame["model_requested"].gather(rows)
    on_model = prices.lookup_prices(pricer, provider, model, started)
    # The requested name is looked up where the response's has no price, or has only a catalog one that an
    # override of the requested name ("gpt-4o" for a "gpt-4o-2024-08-06" response) would beat.
    other_name = (model_requested.is_not_null() & (model_requested != model).fill_null(True)).to_numpy()
    ask = on_model.missing | (other_name & ~on_model.overridden)
    second = rows[ask]
    on_requested = prices.lookup_prices(
        pricer,
        frame["provider"].gather(second),
        model_requested.gather(np.flatnonzero(ask)),
        frame["started_at"].gather(second),
    )
    use_requested = np.zeros(rows.size, dtype=bool)
    use_requested[ask] = ~on_requested.missing & (on_model.missing[ask] | on_requested.overridden)
    priced = ~on_model.missing | use_requested
    counts = [frame[name].fill_null(0).to_numpy().astype(np.int64)[rows] for name in TOKEN_COLUMNS]
    cost = on_model.cost(*counts)
    cost[use_requested] = on_requested.cost(*(c[ask] for c in counts))[use_requested[ask]]
    bad = prices.check_counts(*(c[priced] for c in counts))
    if bad >= 0:
        prices.raise_bad_counts(*(int(c[priced][bad]) for c in counts))
    n = frame.height
    base = np.full(n, np.nan)
    base[rows[priced]] = cost[priced]
    has_base = np.zeros(n, dtype=bool)
    has_base[rows[priced]] = True
    requested = np.zeros(n, dtype=bool)
    requested[rows[use_requested]] = True
    no_price = np.zeros(n, dtype=bool)
    no_price[rows[~priced]] = True
    return (
        frame.with_columns(
            pl.when(pl.lit(pl.Series(no_price)))
            .then(pl.lit("no_current_price"))
            .otherwise(pl.lit(kept))
            .cast(pl.String)
            .alias("kept_reason"),
            pl.when(pl.lit(pl.Series(requested)))
            .then(pl.col("model_requested"))
            .otherwise(pl.col("model"))
            .cast(pl.String)
            .alias("price_model"),
            pl.when(pl.lit(pl.Series(has_base))).then(pl.lit(pl.Series(base))).alias("base_cost"),
        )
        .with_columns(
            pl.col("kept_reason").is_null().alias("repriceable"),
            # Sessions numbered in key order, for the per-session sums of every replay.
            pl.lit(pl.Series(session_numbers(frame["session_key"]))).alias("session_index"),
            *levers.derived_columns(),
        )
        .rechunk()
    )


# -- the replay -------------------------------------------------------------------------------------


def _apply(state: levers.State, calls: pl.DataFrame, policy: Policy) -> None:
    if policy.substitutions:
        levers.substitute(state, calls, policy.substitutions)
    if policy.context_cap is not None:
        levers.cap_context(state, calls, policy.context_cap)
    if policy.prompt_trim is not None:
        levers.trim_prompt(state, calls, policy.prompt_trim)
    if policy.max_tokens:
        levers.cap_outputs(state, calls, policy.max_tokens)
    levers.scale_outputs(state)
    if policy.response_cache is not None:
        levers.serve_from_cache(state, calls, policy.response_cache)
    if policy.prompt_caching is not None:
        levers.cache_prompts(state, calls, policy.prompt_caching)
    if policy.batch is not None:
        levers.price_in_batch(state, calls, policy.batch)


def _changed(state: levers.State) -> np.ndarray:
    inp, read, write, out, reas = state.recorded
    volumes = (
        (state.inp != inp)
        | (state.read != read)
        | (state.write != write)
        | (state.out != out)
        | (state.reas != reas)
    )
    return state.repriceable & (state.free | (state.rule >= 0) | volumes | (state.factor != 1.0))


def _policy_costs(state: levers.State, calls: pl.DataFrame, pricer: Pricer) -> np.ndarray:
    """Cost of each call under the policy: the baseline where nothing changed, else repriced."""
    cost = calls["base_cost"].fill_null(0.0).to_numpy().astype(np.float64, copy=True)
    changed = _changed(state)
    cost[changed & state.free] = 0.0
    rows = np.flatnonzero(changed & ~state.free)
    if rows.size == 0:
        return cost
    started = calls["started_at"].gather(rows)
    provider, model = state.provider.gather(rows), state.model.gather(rows)
    table = prices.lookup_prices(pricer, provider, model, started, state.rule[rows] >= 0)
    counts = [state.inp[rows], state.read[rows], state.write[rows], state.out[rows], state.reas[rows]]
    missing = np.flatnonzero(table.missing)
    bad = prices.check_counts(*counts)
    if missing.size and (bad < 0 or missing[0] <= bad):
        j = int(missing[0])
        rule = int(state.rule[rows[j]])
        where = f"substitutions[{rule}].model" if rule >= 0 else "model"
        raise InputError(
            f"{where}: no price for {model[j]!r} (provider {provider[j]!r}) on "
            f"{started[j]:%Y-%m-%d}: add it to the price overrides file (AGENTLEDGER_PRICES_FILE)"
        )
    if bad >= 0:
        prices.raise_bad_counts(*(int(c[bad]) for c in counts))
    cost[rows] = table.cost(*counts) * state.factor[rows]
    return cost


def _summary_costs(calls: pl.DataFrame, policy: Policy, pricer: Pricer, before: np.ndarray) -> np.ndarray:
    """Cost of the summarization calls a context cap adds (one before each call in ``before``)."""
    added = np.zeros(calls.height)
    cap = policy.context_cap
    if cap is None or not before.any():
        return added
    rows = np.flatnonzero(before)
    started = calls["started_at"].gather(rows)
    n = rows.size
    table = prices.lookup_prices(
        pricer,
        pl.Series([cap.summarizer_provider], dtype=pl.String).extend_constant(cap.summarizer_provider, n - 1),
        pl.Series([cap.summarizer_model], dtype=pl.String).extend_constant(cap.summarizer_model, n - 1),
        started,
        True,
    )
    # The summarizer reads the whole context it replaces and writes the summary.
    recorded_input = calls["input_tokens"].fill_null(0).to_numpy().astype(np.int64)[rows]
    zeros = np.zeros(n, dtype=np.int64)
    counts = [recorded_input, zeros, zeros, np.full(n, cap.summary_tokens, dtype=np.int64), zeros]
    missing = np.flatnonzero(table.missing)
    bad = prices.check_counts(*counts)
    if missing.size and (bad < 0 or missing[0] <= bad):
        raise InputError(
            f"context_cap.summarizer_model: no price for {cap.summarizer_model!r} on "
            f"{started[int(missing[0])]:%Y-%m-%d}: add it to the price overrides file (AGENTLEDGER_PRICES_FILE)"
        )
    if bad >= 0:
        prices.raise_bad_counts(*(int(c[bad]) for c in counts))
    added[rows] = table.cost(*counts)
    return added


def replay(
    calls: pl.DataFrame,
    policy: Policy,
    pricer: Pricer,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    interval: bool = True,
) -> ReplayResult:
    """Replay ``calls`` (prepared or not) under ``policy``; see the module docstring.

    With ``interval=False`` the bootstrap is skipped (``savings_ci_usd`` is NaN twice): a caller that needs
    the interval of only some replays gets it later from :func:`savings_interval`, the same draws.

    Only the calls the policy's levers can reach are replayed (:func:`scope_rows`): every lever changes
    nothing outside its task types, agents and models, and what a lever reads from the rest of the window
    (trace baselines, prefix estimates) was computed by ``prepare_calls`` over all of it. The other calls
    keep their baseline cost, so their saving is exactly 0 either way.
    """
    if "repriceable" not in calls.columns:
        calls = prepare_calls(calls, pricer)
    run = _run(calls, policy, pricer, scope_rows(calls, policy))
    return run.result(calls, policy, None, resamples=resamples, seed=seed, level=level, interval=interval)


def replay_each(
    calls: pl.DataFrame,
    policies: list[Policy],
    pricer: Pricer,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    interval: bool = True,
) -> list[ReplayResult]:
    """``[replay(calls, p, pricer, ...) for p in policies]``, the same results, in one pass when it can.

    It can when the policies are one policy restricted to disjoint task types (``task_types: [T]`` on every
    lever, no agent lists, no substitution or output cap): the levers then never let calls of two task types
    meet (the caches are keyed by task type too), so replaying all of them at once and splitting by task
    type gives every call what its own replay gives it.
    """
    if "repriceable" not in calls.columns:
        calls = prepare_calls(calls, pricer)
    union = _union_policy(policies)
    rows = scope_rows(calls, union) if union is not None else None
    if union is None or rows is None:
        return [
            replay(calls, p, pricer, resamples=resamples, seed=seed, level=level, interval=interval)
            for p in policies
        ]
    task_types = [p.model_dump()[_single_lever(p)]["task_types"][0] for p in policies]
    if rows.size > calls.height // 2:
        rows = None  # gathering most of the rows costs more than replaying the rest (they change nothing)
    keys = calls["task_type"] if rows is None else calls["task_type"].gather(rows)
    partition = keys.replace_strict(
        task_types, list(range(len(task_types))), default=-1, return_dtype=pl.Int64
    ).to_numpy()
    try:
        run = _run(calls, union, pricer, rows, partition)
    except InputError:
        # which error comes first depends on the order the policies are replayed in: replay them one by one
        return [
            replay(calls, p, pricer, resamples=resamples, seed=seed, level=level, interval=interval)
            for p in policies
        ]
    results = [
        run.result(calls, p, part, resamples=resamples, seed=seed, level=level, interval=False)
        for p, part in zip(policies, _parts(partition, len(policies)), strict=True)
    ]
    if not interval:
        return results
    savings = [result.saving for result in results]
    reached = [result.reached for result in results]
    intervals = savings_intervals(
        calls, savings, reached=reached, resamples=resamples, seed=seed, level=level
    )
    return [replace(result, savings_ci_usd=ci) for result, ci in zip(results, intervals, strict=True)]


def _parts(partition: np.ndarray, count: int) -> list[np.ndarray]:
    """The positions where ``partition`` is 0, 1, ... ``count`` - 1 (each ascending), in one stable sort."""
    order = np.argsort(partition.astype(np.int16 if count < 2**15 else np.int64), kind="stable")
    bounds = np.searchsorted(partition[order], np.arange(count + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]


def _single_lever(policy: Policy) -> str | None:
    levers_set = policy.levers()
    return levers_set[0] if len(levers_set) == 1 else None


def _union_policy(policies: list[Policy]) -> Policy | None:
    """The policy whose replay, split by task type, is each of ``policies``; None when there is none."""
    if len(policies) < 2:
        return None
    lever = _single_lever(policies[0])
    if lever is None or lever in ("substitutions", "max_tokens"):
        return None
    seen: set[str] = set()
    common: dict | None = None
    for policy in policies:
        if _single_lever(policy) != lever:
            return None
        settings = policy.model_dump()[lever]
        task_types = settings.pop("task_types")
        if settings.get("agents") is not None or task_types is None or len(task_types) != 1:
            return None
        if task_types[0] in seen or (common is not None and settings != common):
            return None
        seen.add(task_types[0])
        common = settings
    assert common is not None
    return Policy.model_validate({lever: {**common, "task_types": sorted(seen)}})


@dataclass
class _Run:
    """One pass of the levers over ``rows`` of the calls (all of them for None), in the rows' order."""

    rows: np.ndarray | None
    state: levers.State
    saving: np.ndarray  # over the rows
    added: np.ndarray  # over the rows
    model_changed: np.ndarray  # over the rows: a substitution changed the model that prices the call

    def result(
        self,
        calls: pl.DataFrame,
        policy: Policy,
        part: np.ndarray | None,
        *,
        resamples: int,
        seed: int,
        level: float,
        interval: bool,
    ) -> ReplayResult:
        """The replay of ``policy``: the rows of the pass ``part`` (ascending positions; all for None)."""
        state = self.state
        picked = np.arange(self.saving.size) if part is None else part
        at = picked if self.rows is None else self.rows[picked]
        saving = np.zeros(calls.height)
        saving[at] = self.saving[picked]
        changed = picked[self.model_changed[picked]]
        substituted = None
        if changed.size:
            substituted = (changed if self.rows is None else self.rows[changed], state.model.gather(changed))
        ci = (
            savings_interval(calls, saving, reached=at, resamples=resamples, seed=seed, level=level)
            if interval
            else (math.nan, math.nan)
        )
        flags = {"free": state.free, "capped": state.capped, "cut": state.cut, "summarized": state.summarize}
        return ReplayResult(
            policy=policy,
            calls=calls,
            saving=saving,
            reached=at,
            flags={name: mask[picked] for name, mask in flags.items()},
            savings_ci_usd=ci,
            substituted=substituted,
            added_calls=int(state.summarize[picked].sum()),
            added_cost_usd=self._added_cost(calls.height, at, picked),
            affected={name: int(mask[picked].sum()) for name, mask in state.affected.items()},
        )

    def _added_cost(self, n: int, at: np.ndarray, picked: np.ndarray) -> float:
        """Σ of the added calls' costs, summed over every call as ever (the same float)."""
        if not self.added[picked].any():
            return 0.0
        added = np.zeros(n)
        added[at] = self.added[picked]
        return float(added.sum())


def _run(
    calls: pl.DataFrame,
    policy: Policy,
    pricer: Pricer,
    rows: np.ndarray | None,
    partition: np.ndarray | None = None,
) -> _Run:
    sub = calls if rows is None else calls.select(lever_columns(calls, policy))[rows]
    state = levers.State.of(sub)
    state.partition = partition
    _apply(state, sub, policy)
    before = state.summarize
    policy_cost = _policy_costs(state, sub, pricer)
    added = _summary_costs(sub, policy, pricer, before)
    base = sub["base_cost"].fill_null(0.0).to_numpy()
    saving = np.where(state.repriceable, base - policy_cost - added, 0.0)
    if policy.substitutions:
        model_changed = state.model.ne_missing(sub["price_model"].cast(pl.String)).to_numpy()
    else:
        model_changed = np.zeros(sub.height, dtype=bool)  # only a substitution changes the model
    return _Run(rows=rows, state=state, saving=saving, added=added, model_changed=model_changed)
