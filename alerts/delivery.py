"""Delivering what was enqueued: retries with backoff, every attempt recorded, nothing dropped silently.

A delivery (one message to one channel, rendered when it was enqueued) is tried up to
``RetryPolicy.attempts`` times in a run, waiting ``backoff_seconds`` x 2^n between tries (or the server's
``Retry-After``). If every try fails transiently the delivery is marked ``failed`` with a
``next_attempt_at``; the next alert evaluation (or scheduler tick) tries it again, with the wait between
runs doubling up to ``max_retry_later``. A delivery still failing ``give_up_after`` its creation, or
refused terminally (a 4xx, a refused login), is ``abandoned``: recorded and logged as an error, never
retried. Each attempt is a row of ``alert_delivery_attempts``.

Exactly-once, as far as a remote side allows: a delivery's id is deterministic (event or report week +
channel), so it is enqueued once, and it is marked ``sent`` right after the send returns. A crash between
the two would send it again on restart (at least once); receivers can de-duplicate on the delivery id
(webhook header ``X-AgentLedger-Delivery``, email header of the same name).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from agentledger.alerts.channels.base import Channel
from agentledger.alerts.state import Clock, system_clock
from agentledger.alerts.store import AlertStore, Delivery
from agentledger.core.errors import TerminalError, TransientError

log = logging.getLogger(__name__)
_ERROR_LIMIT = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The defaults suit a scheduler evaluating every few minutes."""

    attempts: int = 3  # tries within one run
    backoff_seconds: float = 1.0  # before the second try of a run; doubled for each further try
    max_backoff_seconds: float = 30.0
    retry_later: timedelta = timedelta(minutes=1)  # wait before the next run retries; doubled per failed run
    max_retry_later: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(days=2)

    def pause(self, attempt_in_run: int, retry_after: float | None) -> float:
        """Seconds to wait after the ``attempt_in_run``-th failed try (1-based) of a run."""
        wait = min(self.backoff_seconds * 2 ** (attempt_in_run - 1), self.max_backoff_seconds)
        return max(wait, min(retry_after, self.max_backoff_seconds)) if retry_after else wait

    def next_run(self, failed_runs: int) -> timedelta:
        """The wait before the next run after ``failed_runs`` runs failed (1-based)."""
        return min(self.retry_later * 2 ** (failed_runs - 1), self.max_retry_later)


class Deliverer:
    """Sends due deliveries through their channels and records every attempt in the store."""

    def __init__(
        self,
        store: AlertStore,
        channels: Mapping[str, Channel],
        *,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock
        self.sleep = sleep
        self.policy = policy or RetryPolicy()

    def deliver_due(self, *, only: set[str] | None = None) -> list[Delivery]:
        """Try every delivery that is due now (or just those whose ids are in ``only``); returns their outcome."""
        due = self.store.due(self.clock())
        return [self.deliver(d) for d in due if only is None or d.delivery_id in only]

    def deliver(self, delivery: Delivery) -> Delivery:
        """Up to ``policy.attempts`` tries now; the stored outcome is returned."""
        channel = self.channels.get(delivery.channel)
        if channel is None:
            error = f"channel {delivery.channel!r} is not configured any more"
            delivery = self._attempt_failed(delivery, error, 0.0)
            return self._after_failures(delivery, terminal=False)
        for n in range(1, self.policy.attempts + 1):
            started = time.monotonic()
            try:
                channel.send(delivery.payload, delivery_id=delivery.delivery_id, now=self.clock())
            except TransientError as exc:
                delivery = self._attempt_failed(delivery, str(exc), _ms(started))
                if n < self.policy.attempts:
                    self.sleep(self.policy.pause(n, exc.retry_after))
                continue
            except TerminalError as exc:
                delivery = self._attempt_failed(delivery, str(exc), _ms(started))
                return self._after_failures(delivery, terminal=True)
            return self._sent(delivery, _ms(started))
        return self._after_failures(delivery, terminal=False)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _attempt_failed(self, delivery: Delivery, error: str, duration_ms: float) -> Delivery:
        now = self.clock()
        attempt = delivery.attempts + 1
        error = error[:_ERROR_LIMIT]
        self.store.add_attempt(delivery.delivery_id, attempt, now, False, error, duration_ms)
        log.warning(
            "delivery %s to %s: attempt %d failed: %s", delivery.delivery_id, delivery.channel, attempt, error
        )
        return replace(delivery, attempts=attempt, last_attempt_at=now, last_error=error)

    def _sent(self, delivery: Delivery, duration_ms: float) -> Delivery:
        now = self.clock()
        attempt = delivery.attempts + 1
        with self.store.wh.transaction():
            self.store.add_attempt(delivery.delivery_id, attempt, now, True, None, duration_ms)
            sent = replace(
                delivery,
                status="sent",
                attempts=attempt,
                last_attempt_at=now,
                sent_at=now,
                next_attempt_at=None,
            )
            self.store.save_delivery(sent)
        return sent

    def _after_failures(self, delivery: Delivery, *, terminal: bool) -> Delivery:
        now = self.clock()
        if terminal or now - delivery.created_at >= self.policy.give_up_after:
            why = "refused" if terminal else f"still failing after {self.policy.give_up_after}"
            log.error(
                "delivery %s to %s abandoned (%s): %s",
                delivery.delivery_id,
                delivery.channel,
                why,
                delivery.last_error,
            )
            done = replace(delivery, status="abandoned", next_attempt_at=None)
        else:
            failed_runs = max(1, -(-delivery.attempts // self.policy.attempts))
            done = replace(delivery, status="failed", next_attempt_at=now + self.policy.next_run(failed_runs))
        self.store.save_delivery(done)
        return done


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
