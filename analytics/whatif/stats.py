"""Bootstrap confidence intervals for a replay's saving, resampling whole sessions.

Calls of one session are not independent (one long conversation carries its prefix, duplicates and
context growth through every step), so the unit resampled is the session, not the call.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

__all__ = ["bootstrap_total_ci", "savings_interval", "savings_intervals", "session_numbers"]

# Session draws made at once: about 16-32 MB of indices per chunk, whatever the history size.
_CHUNK_CELLS = 4_000_000


def bootstrap_total_ci(
    per_session: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the total of ``per_session`` under resampling sessions with replacement.

    Seeded, so the same history and policy always give the same interval. With no sessions the interval
    is (0, 0); with one it is that session's value twice.

    Sessions a policy does not touch add 0 to every resample, so only the draws that land on the k others
    matter: each resample draws how many of its n picks do (binomial, n and k/n), then that many of the k
    uniformly. That is the same distribution of totals as drawing all n picks, at k/n of the cost.
    """
    values = np.asarray(per_session, dtype=np.float64)
    n = values.size
    if n == 0:
        return (0.0, 0.0)
    if n == 1 or resamples <= 1:
        total = float(values.sum())
        return (total, total)
    rng = np.random.default_rng(seed)
    touched = values[values != 0.0]
    k = touched.size
    if k == 0:
        return (0.0, 0.0)
    picks_per = rng.binomial(n, k / n, size=resamples) if k < n else np.full(resamples, n, dtype=np.int64)
    index = np.int32 if k < 2**31 else np.int64
    totals = np.zeros(resamples, dtype=np.float64)
    ends = np.cumsum(picks_per)
    start = 0
    while start < resamples:
        before = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, before + _CHUNK_CELLS, side="right"))
        stop = min(resamples, max(stop, start + 1))
        counts = picks_per[start:stop]
        drawn = touched[rng.integers(0, k, size=int(ends[stop - 1]) - before, dtype=index)]
        some = counts > 0
        offsets = (np.cumsum(counts) - counts)[some]
        if offsets.size:
            totals[start:stop][some] = np.add.reduceat(drawn, offsets)
        start = stop
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(totals, [tail, 100.0 - tail])
    return (float(low), float(high))


def session_numbers(keys: pl.Series) -> np.ndarray:
    """1, 2, ... for the distinct ``keys`` in sorted (byte) order, 0 for a null key: the dense rank of the
    keys, looked up in their sorted distinct values (only those are sorted)."""
    keys = keys.cast(pl.String)
    distinct = keys.drop_nulls().unique().sort()
    numbers = pl.int_range(1, distinct.len() + 1, dtype=pl.Int64, eager=True)
    return keys.replace_strict(distinct, numbers, default=0, return_dtype=pl.Int64).to_numpy()


def savings_interval(
    calls: pl.DataFrame,
    saving: np.ndarray,
    *,
    reached: np.ndarray | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """The bootstrap interval :func:`replay` gives a saving of ``saving`` per call of ``calls`` (that may
    differ from 0 only at the calls ``reached``, when given)."""
    rows = None if reached is None else [reached]
    return savings_intervals(calls, [saving], reached=rows, resamples=resamples, seed=seed, level=level)[0]


def savings_intervals(
    calls: pl.DataFrame,
    savings: list[np.ndarray],
    *,
    reached: list[np.ndarray] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[tuple[float, float]]:
    """:func:`savings_interval` of each of ``savings``, on every core (each draw is seeded on its own, so the
    intervals do not depend on which thread draws them; numpy draws and sums without the GIL).

    ``reached`` names, for each saving, the calls where it may differ from 0 (all calls when omitted): only
    those are summed into their sessions, which gives the same sums (adding 0.0 changes no sum).
    """
    index = _session_index(calls)
    present = np.bincount(index, minlength=1) > 0
    rows = reached if reached is not None else [None] * len(savings)
    per_session = [
        _per_session(index, present, saving, where) for saving, where in zip(savings, rows, strict=True)
    ]

    def one(values: np.ndarray) -> tuple[float, float]:
        return bootstrap_total_ci(values, resamples=resamples, seed=seed, level=level)

    workers = min(len(per_session), os.cpu_count() or 1)
    if workers <= 1:
        return [one(values) for values in per_session]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, per_session))


def _session_index(calls: pl.DataFrame) -> np.ndarray:
    """The session number of each call (see :func:`session_numbers`), prepared or not."""
    if "session_index" in calls.columns:
        return calls["session_index"].to_numpy()
    return session_numbers(calls["session_key"])


def _per_session(
    index: np.ndarray, present: np.ndarray, saving: np.ndarray, rows: np.ndarray | None
) -> np.ndarray:
    """Σ saving per session (of the calls ``rows``, all for None), sessions in key order (the seeded
    resampling must not depend on how the frame was grouped or ordered)."""
    if rows is not None:
        index, saving = index[rows], saving[rows]
    sums = np.bincount(index, weights=saving, minlength=present.size)
    return sums[present]
