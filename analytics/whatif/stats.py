"""Bootstrap confidence intervals for a replay's saving, resampling whole sessions.

Calls of one session are not independent (one long conversation carries its prefix, duplicates and
context growth through every step), so the unit resampled is the session, not the call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_total_ci"]

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
