"""Bootstrap confidence intervals for a replay's saving, resampling whole sessions.

Calls of one session are not independent (one long conversation carries its prefix, duplicates and
context growth through every step), so the unit resampled is the session, not the call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_total_ci"]

# Index cells drawn at once (resamples x sessions): about 32 MB of int64 per chunk, whatever the history size.
_CHUNK_CELLS = 4_000_000


def bootstrap_total_ci(
    per_session: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the total of ``per_session`` under resampling sessions with replacement.

    Seeded, so the same history and policy always give the same interval. With no sessions the interval
    is (0, 0); with one it is that session's value twice.
    """
    values = np.asarray(per_session, dtype=np.float64)
    n = values.size
    if n == 0:
        return (0.0, 0.0)
    if n == 1 or resamples <= 1:
        total = float(values.sum())
        return (total, total)
    rng = np.random.default_rng(seed)
    totals = np.empty(resamples, dtype=np.float64)
    chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        picks = rng.integers(0, n, size=(stop - start, n))
        totals[start:stop] = values[picks].sum(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(totals, [tail, 100.0 - tail])
    return (float(low), float(high))
