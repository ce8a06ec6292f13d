"""Which trace ids have spans in a DuckDB ledger: lets the ingest path skip look-ups that cannot find anything.

Every write of a batch asks the ledger for the stored spans of the batch's traces (a parent may arrive after its
children, a trace may be split across requests). Most traces of a batch are new, and each id costs an index probe
(~30 us at 10^6 spans, plus ~1 ms per statement). :class:`StoredTraces` answers "certainly nothing stored" for
them from memory: 64-bit fingerprints (the low half of the id's MD5, DuckDB's ``md5_number_lower``) of every
trace id with a stored span, 8 bytes per trace. A fingerprint match only means "look it up": a collision costs a
look-up, never a wrong answer, and so does a fingerprint left behind by a rolled-back write or a deleted trace.

The fingerprints are right only if every span written to the file while they are in use is added, so they are
shared by all the connections of this process to one file (:func:`shared`, keyed by the file the path names when
the connection opens) and dropped when the last closes or is collected unclosed: no other process can write the
file meanwhile (DuckDB takes a lock on it), and the next opener reads them afresh.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

__all__ = ["LOAD_SQL", "StoredTraces", "fingerprint", "key_of", "release", "shared"]

# The fingerprints of the stored trace ids, computed by DuckDB (the same function as fingerprint()).
LOAD_SQL = "SELECT DISTINCT md5_number_lower(trace_id) AS fingerprint FROM spans"
_MERGE_AT = 1 << 16  # recent fingerprints kept in a set until merged into the sorted array


def fingerprint(trace_id: str) -> int:
    """The low 64 bits of the MD5 of the id's UTF-8 bytes, little-endian: DuckDB's ``md5_number_lower``."""
    return int.from_bytes(hashlib.md5(trace_id.encode("utf-8")).digest()[8:], "little")


class StoredTraces:
    """Fingerprints of the trace ids with stored spans: those read from the file on first use, and those added
    since (in a sorted array, the newest in a set until there are enough to merge)."""

    def __init__(self) -> None:
        self._loaded: np.ndarray | None = None
        self._added = np.empty(0, dtype=np.uint64)
        self._recent: set[int] = set()
        self._lock = threading.Lock()

    def may_have_spans(self, trace_ids: Iterable[str], load: Callable[[], np.ndarray]) -> list[str]:
        """The ids among ``trace_ids`` that may have stored spans (all that do, and rarely one that does not).

        ``load`` gives the fingerprints of the stored trace ids (:data:`LOAD_SQL`); it is called once, on the
        first look-up: a process that never looks up never reads them.
        """
        ids = list(trace_ids)
        if not ids:
            return []
        prints = [fingerprint(t) for t in ids]
        with self._lock:
            if self._loaded is None:
                self._loaded = np.unique(np.asarray(load(), dtype=np.uint64))
            wanted = np.array(prints, dtype=np.uint64)
            found = _members(self._loaded, wanted) | _members(self._added, wanted)
            recent = self._recent
            return [t for t, p, hit in zip(ids, prints, found.tolist(), strict=True) if hit or p in recent]

    def add(self, trace_ids: Iterable[str]) -> None:
        """Record that these trace ids have stored spans (call it for every span written)."""
        prints = [fingerprint(t) for t in trace_ids]
        with self._lock:
            self._recent.update(prints)
            if len(self._recent) >= _MERGE_AT:
                merged = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
                self._added = np.union1d(self._added, merged)
                self._recent = set()


def _members(sorted_prints: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    if not len(sorted_prints):
        return np.zeros(len(wanted), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_prints, wanted), len(sorted_prints) - 1)
    return sorted_prints[at] == wanted


_registry: dict[str, tuple[StoredTraces, int]] = {}
_registry_lock = threading.Lock()


def key_of(path: str) -> str | None:
    """The registry key of a database path: the file it names (``~`` expanded, as DuckDB does, links
    resolved), taken once when a connection opens; None for an in-memory database, which is never shared."""
    if path == ":memory:":
        return None
    return str(Path(path).expanduser().resolve())


def shared(key: str | None) -> StoredTraces:
    """The fingerprints of the file ``key`` (:func:`key_of`) for one more connection of this process.

    Every connection releases them once (:func:`release`), when it closes or is collected unclosed.
    """
    if key is None:
        return StoredTraces()
    with _registry_lock:
        traces, users = _registry.get(key, (None, 0))
        if traces is None:
            traces = StoredTraces()
        _registry[key] = (traces, users + 1)
        return traces


def release(key: str | None) -> None:
    """One connection of this process to the file ``key`` is gone; the last one drops the fingerprints."""
    if key is None:
        return
    with _registry_lock:
        traces, users = _registry.get(key, (None, 0))
        if traces is None:
            return
        if users <= 1:
            del _registry[key]
        else:
            _registry[key] = (traces, users - 1)
