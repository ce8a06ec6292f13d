"""The levers of a what-if policy, each a pure transformation of the per-call replay state.

The replay applies them in one fixed order (see :data:`ORDER` in :mod:`.replay`) to the *recorded* token
volumes of each call: caps and trims remove recorded tokens, a substitution's verbosity ratio scales the
(capped) recorded output, caches re-label input tokens as cache reads/writes or make a call free, and
batch pricing scales the price. Working on the same volumes is what makes levers compose sub-additively:
two levers together never save more than the sum of each alone when neither raises a call's cost.

Every lever works on whole columns (numpy arrays, polars expressions); the caches' time-to-live rules,
sequential by nature, are solved on the calls sorted by cache and time (see :func:`_cache_roles` and
:func:`_served_from_store`).
"""

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
from agentledger.core.pricing import provider_matches

__all__ = [
    "State",
    "derived_columns",
    "group_index",
    "prefix_tokens",
    "provider_mask",
    "scope_mask",
    "select",
    "tag_value",
    "tagged_false",
]

_MICROS = 1_000_000
_NO_LIMIT = np.iinfo(np.int64).max


@dataclass
class State:
    """Per-call arrays the levers rewrite; index i is row i of the prepared calls frame."""

    repriceable: np.ndarray
    t_us: np.ndarray  # start time, microseconds since the epoch
    provider: pl.Series  # String: the provider that prices the call after substitution
    model: pl.Series  # String: the model that prices the call after substitution
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
    recorded: tuple[np.ndarray, ...] = ()  # the recorded (inp, read, write, out, reas), unchanged
    partition: np.ndarray | None = None  # calls of different parts never share a cache (one replay per part)

    @classmethod
    def of(cls, calls: pl.DataFrame) -> State:
        """The unchanged state of the prepared ``calls``."""
        n = calls.height

        def ints(name: str) -> np.ndarray:
            return calls[name].fill_null(0).to_numpy().astype(np.int64, copy=False)

        recorded = tuple(
            ints(name)
            for name in (
                "input_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "output_tokens",
                "reasoning_tokens",
            )
        )
        inp, read, write, out, reas = (column.copy() for column in recorded)
        return cls(
            repriceable=calls["repriceable"].to_numpy().astype(bool),
            t_us=calls["started_at"].dt.epoch("us").to_numpy().astype(np.int64),
            provider=calls["provider"].cast(pl.String).rename("provider"),
            model=calls["price_model"].cast(pl.String).rename("model"),
            inp=inp,
            read=read,
            write=write,
            out=out,
            reas=reas,
            ratio=np.ones(n),
            rule=np.full(n, -1, dtype=np.int64),
            prefix_limit=np.full(n, _NO_LIMIT, dtype=np.int64),
            free=np.zeros(n, dtype=bool),
            factor=np.ones(n),
            capped=np.zeros(n, dtype=bool),
            cut=np.zeros(n, dtype=bool),
            summarize=np.zeros(n, dtype=bool),
            recorded=recorded,
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


def provider_mask(calls: pl.DataFrame, written: str | None) -> np.ndarray:
    """The calls whose provider ``written`` names (see :func:`~agentledger.core.pricing.provider_matches`;
    all calls for None)."""
    if written is None:
        return np.ones(calls.height, dtype=bool)
    providers = calls["provider"].fill_null("")
    names = providers.unique().to_list()
    hits = [bool(name) and provider_matches(written, name) for name in names]
    return providers.replace_strict(names, hits, return_dtype=pl.Boolean).to_numpy()


FALSE_TAG_VALUES = ("false", "0", "no")


def tag_value(calls: pl.DataFrame, key: str) -> pl.Series:
    """The value of tag ``key`` of every call (null where absent), from a Map column or the list of
    key/value structs a backend may return instead."""
    dtype = calls.schema["tags"]
    if isinstance(dtype, pl.List):
        values = calls.select(
            pl.col("tags")
            .list.eval(pl.element().filter(pl.element().struct.field("key") == key))
            .list.first()
            .struct.field("value")
        )
        return values.to_series()
    return calls.select(pl.col("tags").map.get(key)).to_series()


def tagged_false(calls: pl.DataFrame, key: str) -> pl.Series:
    """Whether each call's tag ``key`` says false (``false``, ``0``, ``no`` in any case)."""
    return tag_value(calls, key).str.to_lowercase().is_in(FALSE_TAG_VALUES).fill_null(False)


def select(calls: pl.DataFrame, column: str, value: str | None) -> np.ndarray:
    """The calls whose ``column`` equals ``value`` (all calls for None), as substitutions and caps match."""
    return _eq(calls, column, value)


def scope_mask(calls: pl.DataFrame, scope: Scope) -> np.ndarray:
    """Calls whose task type and agent the lists of the lever name (all calls for an omitted list)."""
    return _in(calls, "task_type", scope.task_types) & _in(calls, "agent_name", scope.agents)


def group_index(frame: pl.DataFrame) -> tuple[np.ndarray, pl.DataFrame]:
    """A dense integer id per row for its distinct combination of ``frame``'s columns (nulls are values
    like any other), and the distinct combinations with ``_row``, the first row of each (id order)."""
    groups = (
        frame.with_row_index("_row")
        .group_by(frame.columns, maintain_order=True)
        .agg(pl.col("_row"))
        .with_columns(pl.col("_row").list.first().alias("_first"))
    )
    rows = groups["_row"].explode().to_numpy().astype(np.int64)
    sizes = groups["_row"].list.len().to_numpy()
    ids = np.empty(frame.height, dtype=np.int64)
    ids[rows] = np.repeat(np.arange(groups.height, dtype=np.int64), sizes)
    return ids, groups.drop("_row").rename({"_first": "_row"})


def _group_ids(calls: pl.DataFrame, state: State, columns: list[str], mask: np.ndarray) -> np.ndarray:
    """A dense integer id per distinct combination of ``columns`` and the call's priced provider and model
    (rows outside ``mask`` get -1). ``columns`` name ``price_model``: the priced model unless substituted."""
    rows = np.flatnonzero(mask)
    ids = np.full(calls.height, -1, dtype=np.int64)
    if rows.size == 0:
        return ids
    keyed = calls.select(columns).with_columns(state.provider.alias("_provider"))
    if (state.rule >= 0).any():  # a substitution changed the model pricing some calls: key on that one too
        keyed = keyed.with_columns(state.model.alias("_model"))
    if state.partition is not None:
        keyed = keyed.with_columns(pl.Series("_partition", state.partition))
    # A call whose key hashes like no other call's is alone in its group (equal keys hash alike): it gets a
    # group of its own, and only the others are grouped by value, usually far fewer (and only their keys
    # are gathered).
    hashes = keyed.hash_rows()
    if rows.size < calls.height:
        hashes = hashes.gather(rows)
    shared = hashes.is_duplicated().to_numpy()
    grouped = group_index(keyed[rows[shared]])[0]
    ids[rows[shared]] = grouped
    alone = rows[~shared]
    ids[alone] = (grouped.max() + 1 if grouped.size else 0) + np.arange(alone.size)
    return ids


def _shared(group: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The calls of ``mask`` whose group (see :func:`_group_ids`) holds another call of ``mask``."""
    counts = np.bincount(group[mask], minlength=1)
    return mask & (counts[np.where(mask, group, 0)] > 1)


def _ordered(group: np.ndarray, t_us: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Indices of ``mask`` sorted by group, then time (then row, for ties)."""
    rows = np.flatnonzero(mask)
    return rows[np.lexsort((rows, t_us[rows], group[rows]))]


def _first_after(group: np.ndarray, t: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """For calls sorted by (group, t): per call p, the first position q with (group[q], t[q]) after
    (group[p], limit[p]), that is the end of its group or its first later call past ``limit``."""
    m = group.size
    kind = np.concatenate([np.zeros(m, dtype=np.int8), np.ones(m, dtype=np.int8)])
    order = np.lexsort((kind, np.concatenate([t, limit]), np.concatenate([group, group])))
    is_query = order >= m
    calls_before = np.cumsum(~is_query)
    first = np.empty(m, dtype=np.int64)
    first[order[is_query] - m] = calls_before[is_query]
    return first


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
            & provider_mask(calls, rule.from_provider)
        )
        state.rule[mask] = index
        if mask.any():
            state.model = _where(mask, rule.model, state.model)
            if rule.provider is not None:
                state.provider = _where(mask, rule.provider, state.provider)
        state.ratio[mask] = rule.output_ratio
        state.mark("substitutions", mask)


def _where(mask: np.ndarray, value: str, other: pl.Series) -> pl.Series:
    """``value`` where ``mask``, else ``other``."""
    chosen = pl.when(pl.lit(pl.Series(mask))).then(pl.lit(value, dtype=pl.String)).otherwise(pl.lit(other))
    return pl.select(chosen.alias(other.name)).to_series()


_TRACE = ["source", "trace_id"]


def derived_columns() -> list[pl.Expr]:
    """Per-call figures the levers derive from the whole window, computed once by ``prepare_calls`` (over
    its ``trace_index``, one per trace) so that every replay of the same calls reuses them: see
    :func:`_trace_baseline`, :func:`_prefix_estimate`."""
    return [
        pl.col("input_tokens").sort_by("step").first().over("trace_index").alias("trace_base_input"),
        (pl.col("step") - pl.col("step").min().over("trace_index")).alias("trace_distance"),
        prefix_tokens().alias("prefix_estimate"),
    ]


def _trace_baseline(calls: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per call: the input of its trace's earliest call in the window, and its distance in steps from it."""
    if "trace_base_input" in calls.columns and "trace_distance" in calls.columns:
        frame = calls.select(
            pl.col("trace_base_input").alias("base"), pl.col("trace_distance").alias("distance")
        )
    else:
        frame = calls.select(
            pl.col("input_tokens").sort_by("step").first().over(_TRACE).alias("base"),
            (pl.col("step") - pl.col("step").min().over(_TRACE)).alias("distance"),
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


def prefix_tokens() -> pl.Expr:
    """Per call, the size of its stable prefix (system prompt and tool definitions): the least input of
    the window's calls sharing its prefix_hash; 0 without a prefix_hash.

    Every call with that hash sends the same prefix plus something of its own (at least a user message), so
    the least input over the window, across sessions, is the closest the volumes come to the prefix alone;
    within one session it would still hold that session's first message (the whole input, for a session of one
    call). Calls without recorded input (usage unknown) are left out of the minimum.
    """
    known = pl.when(pl.col("input_tokens") > 0).then(pl.col("input_tokens"))
    return pl.when(pl.col("prefix_hash").is_not_null()).then(known.min().over("prefix_hash")).otherwise(0)


def _prefix_estimate(calls: pl.DataFrame) -> np.ndarray:
    """:func:`prefix_tokens` of each call (as derived once per window when ``calls`` carry it)."""
    name = "prefix_estimate"
    estimate = calls[name] if name in calls.columns else calls.select(prefix_tokens()).to_series()
    return estimate.fill_null(0).to_numpy().astype(np.int64)


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
    group = _group_ids(calls, state, [scope, "prompt_hash", "price_model"], mask)
    failed = (calls["status"] == "error").fill_null(False).to_numpy()
    order = _ordered(group, state.t_us, _shared(group, mask))  # a call alone in its group stores
    served = np.zeros(calls.height, dtype=bool)
    served[order] = _served_from_store(
        group[order], state.t_us[order], failed[order], int(cache.ttl_seconds * _MICROS)
    )
    state.free |= served
    state.mark("response_cache", served)


def _served_from_store(group: np.ndarray, t: np.ndarray, failed: np.ndarray, ttl: int) -> np.ndarray:
    """Which of the calls, sorted by (group, t), a response cache serves.

    A group's first successful call stores; every call up to ``ttl`` after a store is served; the first
    successful call past it stores again. So the stores form one chain per group, each store pointing to
    the next, and the chain is followed for all groups at once by pointer doubling.
    """
    m = group.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    position = np.arange(m, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    group_end = np.repeat(np.r_[starts[1:], m], np.diff(np.r_[starts, m]))
    group_start = np.repeat(starts, np.diff(np.r_[starts, m]))
    # next_ok[q]: the first successful call at or after position q (m for none).
    next_ok = np.where(failed, m, position)
    next_ok = np.minimum.accumulate(np.r_[next_ok, m][::-1])[::-1]
    after = _first_after(group, t, t + ttl)
    following = next_ok[after]
    jump = np.r_[np.where(following < group_end, following, m), m]
    first = next_ok[starts]
    store = np.zeros(m + 1, dtype=bool)
    store[first[first < group_end[starts]]] = True
    for _ in range(m.bit_length() + 1):
        store[jump[store]] = True
        jump = jump[jump]
    store = store[:m]
    last_store = np.maximum.accumulate(np.where(store, position, -1))
    held = last_store >= group_start
    served = held & ~store
    served[held] &= t[held] - t[last_store[held]] <= ttl
    return served


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
    group = _group_ids(calls, state, [scope, "prefix_hash", "price_model"], mask)
    # a call alone in its group neither reads nor writes
    reads, writes = _cache_roles(group, state.t_us, _shared(group, mask), int(caching.ttl_seconds * _MICROS))
    new_read = np.where(reads, np.maximum(state.read, prefix), state.read)
    new_write = np.where(reads, np.minimum(state.write, state.inp - new_read), state.write)
    new_write = np.where(writes, np.maximum(new_write, prefix - state.read), new_write)
    changed = (new_read != state.read) | (new_write != state.write)
    state.read, state.write = new_read, new_write
    state.mark("prompt_caching", changed)


def _cache_roles(
    group: np.ndarray, t_us: np.ndarray, mask: np.ndarray, ttl: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which calls read the cached prefix and which write it (see :func:`cache_prompts`).

    In a group sorted by time, a call reads when the call before it wrote or read within the TTL; every
    read refreshes the TTL, so that is exactly when the gap to the previous call is within the TTL (that
    previous call then wrote or read). A call that does not read writes when the next call is within the
    TTL of it.
    """
    reads = np.zeros(t_us.size, dtype=bool)
    writes = np.zeros(t_us.size, dtype=bool)
    order = _ordered(group, t_us, mask)
    if order.size == 0:
        return reads, writes
    g, t = group[order], t_us[order]
    close = np.r_[False, (g[1:] == g[:-1]) & (t[1:] - t[:-1] <= ttl)]
    reads[order] = close
    writes[order] = ~close & np.r_[close[1:], False]
    return reads, writes


def _batch_discount(batch: Batch, provider: str) -> float:
    """The discount of ``provider``: its entry in ``provider_discounts`` (as written, else the first entry that
    names it, see :func:`provider_mask`), else ``discount``."""
    entries = batch.provider_discounts
    exact = {k.lower(): v for k, v in entries.items()}
    if provider.lower() in exact:
        return exact[provider.lower()]
    named = [v for k, v in entries.items() if provider and provider_matches(k, provider)]
    return named[0] if named else batch.discount


def price_in_batch(state: State, calls: pl.DataFrame, batch: Batch) -> None:
    """Scale the price of calls nobody waits for by the provider's batch discount."""
    mask = state.repriceable & ~state.free & scope_mask(calls, batch)
    if batch.non_interactive_tag is not None:
        mask &= tagged_false(calls, batch.non_interactive_tag).to_numpy()
    providers = state.provider.fill_null("")
    names = providers.unique().to_list()
    rates = [_batch_discount(batch, name) for name in names]
    rate = providers.replace_strict(names, rates, return_dtype=pl.Float64).to_numpy()
    state.factor = np.where(mask, 1.0 - rate, state.factor)
    state.mark("batch", mask & (rate > 0))
