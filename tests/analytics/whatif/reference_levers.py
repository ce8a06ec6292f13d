"""The row-by-row what-if levers as first released: the oracle the vectorized engine is tested against."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from agentledger.analytics.whatif.policy import (
    Batch,
    ContextCap,
    OutputCap,
    PromptCaching,
    PromptTrim,
    ResponseCache,
    Scope,
    Substitution,
)

__all__ = ["State", "scope_mask"]

_MICROS = 1_000_000
_NO_LIMIT = np.iinfo(np.int64).max


@dataclass
class State:
    """Per-call arrays the levers rewrite; index i is row i of the prepared calls frame."""

    repriceable: np.ndarray
    t_us: np.ndarray  # start time, microseconds since the epoch
    provider: np.ndarray  # object: the provider that prices the call after substitution
    model: np.ndarray  # object: the model that prices the call after substitution
    inp: np.ndarray
    read: np.ndarray
    write: np.ndarray
    out: np.ndarray
    reas: np.ndarray
    ratio: np.ndarray  # output-length ratio of a substitute
    rule: np.ndarray  # index of the substitution rule that applied, -1 for none
    prefix_limit: np.ndarray  # the stable prefix after a trim (no limit without one)
    free: np.ndarray  # served from a response cache
    factor: np.ndarray  # price multiplier (batch discount)
    capped: np.ndarray  # an output cap applies
    cut: np.ndarray  # the recorded output exceeded the cap
    summarize: np.ndarray  # a summarization call is added before this call
    affected: dict[str, np.ndarray] = field(default_factory=dict)  # lever -> calls it changed

    @classmethod
    def of(cls, calls: pl.DataFrame) -> State:
        """The unchanged state of the prepared ``calls``."""
        n = calls.height

        def ints(name: str) -> np.ndarray:
            return calls[name].fill_null(0).to_numpy().astype(np.int64, copy=True)

        return cls(
            repriceable=calls["repriceable"].to_numpy().astype(bool),
            t_us=calls["started_at"].dt.epoch("us").to_numpy().astype(np.int64),
            provider=np.array(calls["provider"].to_list(), dtype=object),
            model=np.array(calls["price_model"].to_list(), dtype=object),
            inp=ints("input_tokens"),
            read=ints("cache_read_tokens"),
            write=ints("cache_write_tokens"),
            out=ints("output_tokens"),
            reas=ints("reasoning_tokens"),
            ratio=np.ones(n),
            rule=np.full(n, -1, dtype=np.int64),
            prefix_limit=np.full(n, _NO_LIMIT, dtype=np.int64),
            free=np.zeros(n, dtype=bool),
            factor=np.ones(n),
            capped=np.zeros(n, dtype=bool),
            cut=np.zeros(n, dtype=bool),
            summarize=np.zeros(n, dtype=bool),
        )

    def mark(self, lever: str, mask: np.ndarray) -> None:
        """Record that ``lever`` changed the calls in ``mask``."""
        previous = self.affected.get(lever)
        self.affected[lever] = mask.copy() if previous is None else previous | mask

    def remove_input(self, mask: np.ndarray, new_input: np.ndarray) -> None:
        """Lower input to ``new_input`` where ``mask``: uncached tokens go first, then writes, then reads."""
        removed = np.where(mask, np.clip(self.inp - new_input, 0, self.inp), 0)
        uncached = self.inp - self.read - self.write
        from_uncached = np.minimum(removed, uncached)
        removed = removed - from_uncached
        from_write = np.minimum(removed, self.write)
        from_read = removed - from_write
        self.write -= from_write
        self.read -= from_read
        self.inp -= from_uncached + from_write + from_read


# -- selection ---------------------------------------------------------------------------------------


def _in(calls: pl.DataFrame, column: str, values: Iterable[str] | None) -> np.ndarray:
    if values is None:
        return np.ones(calls.height, dtype=bool)
    return calls[column].is_in(list(values)).fill_null(False).to_numpy()


def _eq(calls: pl.DataFrame, column: str, value: str | None) -> np.ndarray:
    return _in(calls, column, None if value is None else [value])


def scope_mask(calls: pl.DataFrame, scope: Scope) -> np.ndarray:
    """Calls whose task type and agent the lever's lists name (all calls for an omitted list)."""
    return _in(calls, "task_type", scope.task_types) & _in(calls, "agent_name", scope.agents)


def _group_ids(calls: pl.DataFrame, columns: list[str], mask: np.ndarray) -> np.ndarray:
    """A dense integer id per distinct combination of ``columns`` (rows outside ``mask`` get -1)."""
    ids = calls.select(pl.struct(columns).rank("dense").cast(pl.Int64)).to_series().to_numpy()
    return np.where(mask, ids, -1)


def _ordered(group: np.ndarray, t_us: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Indices of ``mask`` sorted by group, then time (then row, for ties)."""
    rows = np.flatnonzero(mask)
    return rows[np.lexsort((rows, t_us[rows], group[rows]))]


# -- levers, in application order --------------------------------------------------------------------


def substitute(state: State, calls: pl.DataFrame, rules: list[Substitution]) -> None:
    """Price matching calls on another model (first matching rule wins); volumes are kept."""
    for index, rule in enumerate(rules):
        recorded = _eq(calls, "model", rule.from_model) | _eq(calls, "model_requested", rule.from_model)
        mask = (
            state.repriceable
            & (state.rule < 0)
            & _eq(calls, "task_type", rule.task_type)
            & _eq(calls, "agent_name", rule.agent)
            & recorded
        )
        state.rule[mask] = index
        state.model[mask] = rule.model
        if rule.provider is not None:
            state.provider[mask] = rule.provider
        state.ratio[mask] = rule.output_ratio
        state.mark("substitutions", mask)


def _trace_baseline(calls: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per call: the input of its trace's earliest call in the window, and its distance in steps from it."""
    trace = ["source", "trace_id"]
    frame = calls.select(
        pl.col("input_tokens").sort_by("step").first().over(trace).alias("base"),
        (pl.col("step") - pl.col("step").min().over(trace)).alias("distance"),
    )
    return frame["base"].to_numpy().astype(np.int64), frame["distance"].to_numpy().astype(np.int64)


def cap_context(state: State, calls: pl.DataFrame, cap: ContextCap) -> np.ndarray:
    """Cap the history each call carries; returns the calls before which a summarization call is added.

    The history of a call is its input above the input of its trace's first call (system prompt, tools and
    the task), grown about evenly per step. Keeping the last N turns keeps N steps' worth of it; summarizing
    every K steps replaces the history at steps K, 2K, ... with a summary and keeps what grew since.
    """
    base, j = _trace_baseline(calls)
    mask = state.repriceable & scope_mask(calls, cap) & (state.inp > base) & (j > 0)
    history = np.maximum(state.inp - base, 0)
    steps = np.maximum(j, 1)
    if cap.keep_last_turns is not None:
        keep = cap.keep_last_turns
        mask &= j > keep
        new_input = base + history * keep // steps
        summarized = np.zeros_like(mask)
    else:
        every = cap.summarize_every
        assert every is not None
        last = (j // every) * every
        mask &= last >= every
        new_input = np.minimum(state.inp, base + cap.summary_tokens + history * (j - last) // steps)
        summarized = mask & (j == last)
    mask &= new_input < state.inp
    state.remove_input(mask, new_input)
    state.summarize |= summarized
    state.mark("context_cap", mask | summarized)
    return summarized


def _prefix_estimate(calls: pl.DataFrame) -> np.ndarray:
    """Per call, the size of its stable prefix: the least recorded input among the calls sharing its
    prefix_hash (over the whole window); 0 without a prefix_hash."""
    sizes: dict[str, int] = {}
    for prefix_hash, tokens in zip(calls["prefix_hash"], calls["input_tokens"], strict=True):
        if prefix_hash is not None and tokens:
            sizes[prefix_hash] = min(sizes.get(prefix_hash, tokens), tokens)
    return np.array([sizes.get(h, 0) if h is not None else 0 for h in calls["prefix_hash"]], dtype=np.int64)


def trim_prompt(state: State, calls: pl.DataFrame, trim: PromptTrim) -> None:
    """Remove the part of each call's estimated prefix above the target."""
    prefix = _prefix_estimate(calls)
    mask = state.repriceable & scope_mask(calls, trim) & (prefix > trim.prefix_target_tokens)
    excess = np.where(mask, prefix - trim.prefix_target_tokens, 0)
    state.remove_input(mask, state.inp - excess)
    state.prefix_limit[mask] = trim.prefix_target_tokens
    state.mark("prompt_trim", mask)


def cap_outputs(state: State, calls: pl.DataFrame, caps: list[OutputCap]) -> None:
    """Cut recorded outputs at the first matching cap; count the calls it would have cut."""
    done = np.zeros(calls.height, dtype=bool)
    for cap in caps:
        mask = (
            state.repriceable
            & ~done
            & _eq(calls, "task_type", cap.task_type)
            & _eq(calls, "agent_name", cap.agent)
        )
        done |= mask
        state.capped |= mask
        cut = mask & (state.out > cap.max_tokens)
        state.cut |= cut
        state.out[cut] = cap.max_tokens
        state.reas = np.minimum(state.reas, state.out)
        state.mark("max_tokens", cut)


def scale_outputs(state: State) -> None:
    """Apply the substitutes' verbosity: output (and reasoning) times the rule's ratio."""
    mask = state.ratio != 1.0
    if not mask.any():
        return
    out = np.rint(state.out * state.ratio).astype(np.int64)
    reas = np.minimum(np.rint(state.reas * state.ratio).astype(np.int64), out)
    state.out = np.where(mask, out, state.out)
    state.reas = np.where(mask, reas, state.reas)


def serve_from_cache(state: State, calls: pl.DataFrame, cache: ResponseCache) -> None:
    """Make free every repeat of a prompt within the TTL of the answer stored for it.

    The first call of a prompt (per project or trace, and per model as recorded and as priced, so a
    substitution never merges two models' caches) stores its answer; a later identical prompt within
    ``ttl_seconds`` of the store is served; after that the next call stores again. A failed call stores
    nothing (caches keep successful answers only).
    """
    scope = "project_id" if cache.scope == "project" else "trace_key"
    mask = state.repriceable & scope_mask(calls, cache) & calls["prompt_hash"].is_not_null().to_numpy()
    keyed = calls.with_columns(
        pl.Series("_provider", state.provider.tolist(), dtype=pl.String),
        pl.Series("_model", state.model.tolist(), dtype=pl.String),
    )
    group = _group_ids(keyed, [scope, "prompt_hash", "price_model", "_provider", "_model"], mask)
    failed = (calls["status"] == "error").fill_null(False).to_numpy()
    ttl = int(cache.ttl_seconds * _MICROS)
    served = np.zeros(calls.height, dtype=bool)
    current, stored_at = -2, None
    for i in _ordered(group, state.t_us, mask):
        if group[i] != current:
            current, stored_at = group[i], None
        if stored_at is not None and state.t_us[i] - stored_at <= ttl:
            served[i] = True
        elif not failed[i]:
            stored_at = state.t_us[i]
    state.free |= served
    state.mark("response_cache", served)


def cache_prompts(state: State, calls: pl.DataFrame, caching: PromptCaching) -> None:
    """Bill each stable prefix as a cache write on first use and a cache read within the TTL after it.

    Calls sharing a prefix_hash in one session (or trace), recorded and priced on one model, share a
    cache. A call writes only when a later call would read within the TTL (a write nobody reads costs
    more on providers with a write premium); every read refreshes the TTL, as providers do.
    """
    scope = "session_key" if caching.scope == "session" else "trace_key"
    prefix = (
        np.full(calls.height, caching.prefix_tokens, dtype=np.int64)
        if caching.prefix_tokens is not None
        else _prefix_estimate(calls)
    )
    prefix = np.minimum(np.minimum(prefix, state.prefix_limit), state.inp)
    mask = (
        state.repriceable
        & ~state.free
        & scope_mask(calls, caching)
        & calls["prefix_hash"].is_not_null().to_numpy()
        & (prefix >= max(caching.min_prefix_tokens, 1))
    )
    keyed = calls.with_columns(
        pl.Series("_provider", state.provider.tolist(), dtype=pl.String),
        pl.Series("_model", state.model.tolist(), dtype=pl.String),
    )
    group = _group_ids(keyed, [scope, "prefix_hash", "price_model", "_provider", "_model"], mask)
    reads, writes = _cache_roles(group, state.t_us, mask, int(caching.ttl_seconds * _MICROS))
    new_read = np.where(reads, np.maximum(state.read, prefix), state.read)
    new_write = np.where(reads, np.minimum(state.write, state.inp - new_read), state.write)
    new_write = np.where(writes, np.maximum(new_write, prefix - state.read), new_write)
    changed = (new_read != state.read) | (new_write != state.write)
    state.read, state.write = new_read, new_write
    state.mark("prompt_caching", changed)


def _cache_roles(
    group: np.ndarray, t_us: np.ndarray, mask: np.ndarray, ttl: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which calls read the cached prefix and which write it (see :func:`cache_prompts`)."""
    reads = np.zeros(t_us.size, dtype=bool)
    writes = np.zeros(t_us.size, dtype=bool)
    order = _ordered(group, t_us, mask)
    valid_until = None
    for position, i in enumerate(order):
        if position == 0 or group[i] != group[order[position - 1]]:
            valid_until = None
        nxt = order[position + 1] if position + 1 < order.size else None
        read_later = nxt is not None and group[nxt] == group[i] and t_us[nxt] - t_us[i] <= ttl
        if valid_until is not None and t_us[i] <= valid_until:
            reads[i] = True
            valid_until = t_us[i] + ttl
        elif read_later:
            writes[i] = True
            valid_until = t_us[i] + ttl
    return reads, writes


def price_in_batch(state: State, calls: pl.DataFrame, batch: Batch) -> None:
    """Scale the price of calls nobody waits for by the provider's batch discount."""
    mask = state.repriceable & ~state.free & scope_mask(calls, batch)
    discounts = {k.lower(): v for k, v in batch.provider_discounts.items()}
    rate = np.array(
        [discounts.get((p or "").lower(), batch.discount) for p in state.provider], dtype=np.float64
    )
    state.factor = np.where(mask, 1.0 - rate, state.factor)
    state.mark("batch", mask & (rate > 0))
