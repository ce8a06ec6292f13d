"""Reading a group of rows that share one timestamp, larger than a page, whole.

The pull APIs page by offset or page number over a sort by time, and their stores (ClickHouse for Helicone,
Postgres for LiteLLM) keep no order among rows of equal sort keys from one query to the next, nor do the APIs
offer a unique key to sort on: a row may move across a page boundary between two queries and be missed. So a
group that does not fit in one answer is read again under other sort orders until it holds as many rows as
the source counts for it. A source that gives no count: until a whole reading finds no new row (which cannot
prove that none was missed). A count that the readings never reach although every order was read again
without a new row is the count's error (a source counting rows its query does not return): the run goes on
with what was read, and says so in the log. A group still growing after ``MAX_GROUP_PASSES`` readings fails
the run before its cursor passes it (the next run reads it again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from agentledger.core.errors import TransientError

__all__ = ["MAX_GROUP_PASSES", "read_whole_group"]

MAX_GROUP_PASSES = 10
Order = TypeVar("Order")
Rows = dict[str, dict[str, Any]]

log = logging.getLogger(__name__)


def read_whole_group(
    read: Callable[[Order, Rows], bool],
    orders: Sequence[Order],
    count: Callable[[], int | None],
    *,
    what: str,
) -> list[dict[str, Any]]:
    """The rows of one group, by id. ``read(order, rows)`` reads the group once, sorted by ``order``, adding
    its rows to ``rows`` by id, and tells whether one answer held the whole group; ``count()``, asked after the
    first reading, gives how many rows the source counts in the group (None: it does not say). ``what`` names
    the group in messages (``requests created at <time>``)."""
    rows: Rows = {}
    expected: int | None = None
    idle = 0  # readings in a row that found no new row
    for attempt in range(MAX_GROUP_PASSES):
        before = len(rows)
        whole = read(orders[attempt % len(orders)], rows)
        if attempt == 0:
            if whole:  # no page boundary to fall through
                return list(rows.values())
            expected = count()
        idle = idle + 1 if attempt and len(rows) == before else 0
        if (len(rows) >= expected) if expected is not None else idle >= 1:
            return list(rows.values())
        if idle >= len(orders):
            log.warning(
                "the source counts %d %s but %d could be read under every sort order; going on with those",
                expected,
                what,
                len(rows),
            )
            return list(rows.values())
    known = f"{expected} " if expected is not None else ""
    raise TransientError(
        f"read {len(rows)} of the {known}{what} after {MAX_GROUP_PASSES} readings: rows that share that time "
        "come back in a different order on each page; run again"
    )
