"""Interpreter settings for the processes that ingest: the server, ``agentledger ingest``, the mapping workers."""

from __future__ import annotations

import atexit
import gc
import sys

_tuned = False


def tune_for_ingest() -> None:
    """Set the interpreter up for a process that decodes and maps many spans (once per process).

    Measured on the OTLP receiver (2 cores, 8 senders): the writer gives up the GIL during every DuckDB call
    and, at the default 5 ms switch interval, waited for it again behind the decoding threads for most of each
    batch; the cyclic GC scanned the startup heap (modules, price catalog) and the batches in flight at every
    collection. Together these more than halved the throughput. In a file import the collections alone cost
    a quarter of the mapping time. Spans, records and their dicts hold no reference cycles, so nothing waits
    longer to be freed: reference counting frees them.
    """
    global _tuned
    if _tuned:  # process-wide settings: once per process, however many apps or imports it runs
        return
    _tuned = True
    sys.setswitchinterval(0.0005)
    gc.collect()
    gc.freeze()  # what exists after start-up lives as long as the process: keep it out of collections
    atexit.register(gc.unfreeze)  # and collect it at exit, as extension modules expect (nanobind checks)
    gc.set_threshold(50_000, 20, 100)  # a batch in flight allocates ~10 tracked objects per span
