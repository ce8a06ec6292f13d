"""Bootstrap confidence intervals for a replay's saving, resampling whole sessions.

Calls of one session are not independent (one long conversation carries its prefix, duplicates and
context growth through every step), so the unit resampled is the session, not the call.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

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
    keys, from their dictionary (only the distinct keys are sorted)."""
    encoded = pc.dictionary_encode(keys.cast(pl.String).to_arrow())
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    rank = np.zeros(len(encoded.dictionary) + 1, dtype=np.int64)
    rank[pc.sort_indices(encoded.dictionary).to_numpy()] = np.arange(1, len(encoded.dictionary) + 1)
    indices = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy()
    return rank[indices]


def savings_interval(
    calls: pl.DataFrame, saving: np.ndarray, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """The bootstrap interval :func:`replay` gives a saving of ``saving`` per call of ``calls``."""
    return bootstrap_total_ci(_per_session(calls, saving), resamples=resamples, seed=seed, level=level)


def savings_intervals(
    calls: pl.DataFrame,
    savings: list[np.ndarray],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[tuple[float, float]]:
    """:func:`savings_interval` of each of ``savings``, on every core (each draw is seeded on its own, so the
    intervals do not depend on which thread draws them; numpy draws and sums without the GIL)."""
    per_session = [_per_session(calls, saving) for saving in savings]

    def one(values: np.ndarray) -> tuple[float, float]:
        return bootstrap_total_ci(values, resamples=resamples, seed=seed, level=level)

    workers = min(len(per_session), os.cpu_count() or 1)
    if workers <= 1:
        return [one(values) for values in per_session]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, per_session))


def _per_session(calls: pl.DataFrame, saving: np.ndarray) -> np.ndarray:
    """Σ saving per session, sessions in key order (the seeded resampling must not depend on how the frame
    was grouped or ordered)."""
    if "session_index" in calls.columns:
        index = calls["session_index"].to_numpy()
    else:
        index = session_numbers(calls["session_key"])
    sums = np.bincount(index, weights=saving, minlength=1)
    present = np.bincount(index, minlength=1) > 0
    return sums[present]
