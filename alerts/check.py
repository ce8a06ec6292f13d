"""One alert evaluation round, and the other ways something gets sent (channel tests, the weekly report).

``run_check``: measure every enabled rule (through ``analytics/``), evaluate (pure), plan the state
transitions (pure), then in one warehouse transaction store the states, the notified events and one
delivery per event and channel (the outbox); finally send every due delivery, including older ones that
failed. ``dry_run`` stops after planning and writes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from agentledger.alerts.channels import Channel, select
from agentledger.alerts.delivery import Deliverer, RetryPolicy
from agentledger.alerts.evaluate import Evaluation, evaluate
from agentledger.alerts.measure import measure, offenders
from agentledger.alerts.message import AlertMessage, build_message
from agentledger.alerts.rules import AlertsConfig, Rule
from agentledger.alerts.state import AlertState, Clock, Transition, plan, system_clock
from agentledger.alerts.store import AlertStore, Delivery
from agentledger.analytics.report import WeeklyReport
from agentledger.core.errors import ConfigError
from agentledger.core.settings import Settings
from agentledger.warehouse.base import Warehouse

log = logging.getLogger(__name__)


@dataclass
class CheckResult:
    """What one round found and did."""

    at: datetime
    evaluations: list[Evaluation]
    transitions: list[Transition]
    messages: list[AlertMessage]
    deliveries: list[Delivery] = field(default_factory=list)  # outcomes of the sends of this round
    dry_run: bool = False

    @property
    def firing(self) -> list[Evaluation]:
        """The instances breaching now."""
        return [e for e in self.evaluations if e.breaching]


def event_id(alert_key: str, event: str, at: datetime) -> str:
    """A stable id for one notified change (the same round twice gives the same id)."""
    digest = hashlib.sha256(f"{alert_key}\x1f{event}\x1f{at.isoformat()}".encode()).hexdigest()
    return f"evt_{digest[:24]}"


@dataclass
class AlertEngine:
    """Evaluates rules and delivers notifications for one project."""

    warehouse: Warehouse
    settings: Settings
    config: AlertsConfig
    channels: Mapping[str, Channel]
    clock: Clock = system_clock
    sleep: Callable[[float], None] = time.sleep
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    # The rules file that was looked for and not found (its rules are then none): a round refuses to run
    # while alerts are firing, which it would resolve silently, as when the rules were removed.
    missing_rules_file: Path | None = None

    def __post_init__(self) -> None:
        self.store = AlertStore(self.warehouse, self.settings.project_id)

    def deliverer(self) -> Deliverer:
        """A deliverer over this engine's store, channels, clock and retry policy."""
        return Deliverer(self.store, self.channels, clock=self.clock, sleep=self.sleep, policy=self.policy)

    def rules(self) -> dict[str, Rule]:
        """The enabled rules, checked to route only to configured channels."""
        rules = {r.name: r for r in self.config.rules if r.enabled}
        for rule in rules.values():
            select(self.channels, rule.channels, f"rule {rule.name!r}")
        return rules

    # -- the round ------------------------------------------------------------------------------

    def check(self, *, dry_run: bool = False) -> CheckResult:
        """Evaluate every enabled rule now, store and notify (see the module docstring)."""
        now = self.clock()
        rules = self.rules()
        if self.missing_rules_file is not None:
            firing = sorted(key for key, state in self.store.states().items() if state.firing)
            if firing:
                raise ConfigError(
                    f"no rules file at {self.missing_rules_file.resolve()}, while {len(firing)} alert(s) are "
                    f"firing ({', '.join(firing[:3])}{', ...' if len(firing) > 3 else ''}): run from the folder "
                    "of the rules file or set AGENTLEDGER_CONFIG_FILE (to drop every rule, keep the file with "
                    "no rules)"
                )
        evaluations = [
            ev
            for rule in rules.values()
            for ev in evaluate(rule, measure(self.warehouse, rule, now, self.settings))
        ]
        transitions = plan(self.store.states(), evaluations, rules, now)
        notified = [(t, self._message(t, rules.get(t.state.rule_name), now)) for t in transitions if t.notify]
        result = CheckResult(now, evaluations, transitions, [m for _, m in notified], dry_run=dry_run)
        if dry_run:
            return result
        with self.warehouse.transaction():
            for t in transitions:
                self.store.save_state(t.state)
            for t, message in notified:
                self._record(t.state, message, rules[t.state.rule_name], now)
        result.deliveries = self.deliverer().deliver_due()
        return result

    def _message(self, transition: Transition, rule: Rule | None, now: datetime) -> AlertMessage:
        assert rule is not None  # only transitions of evaluated rules notify
        ev = transition.evaluation
        found = []
        if ev is not None and transition.event != "resolved":
            found = offenders(
                self.warehouse, rule, ev.observation, self.settings.project_id, self.settings.dashboard_url
            )
        return build_message(
            transition,
            rule,
            now=now,
            project_id=self.settings.project_id,
            offenders=found,
            dashboard_url=self.settings.dashboard_url,
        )

    def _record(self, state: AlertState, message: AlertMessage, rule: Rule, now: datetime) -> None:
        eid = event_id(state.alert_key, message.event, now)
        self.store.add_event(eid, state, message)
        targets = select(self.channels, rule.channels, f"rule {rule.name!r}")
        if not targets:
            log.warning(
                "alert %s %s: no channel is configured; recorded in the history only",
                state.alert_key,
                message.event,
            )
        for channel in targets:
            self.store.enqueue(
                Delivery(
                    delivery_id=f"{eid}:{channel.name}",
                    kind="alert",
                    ref=eid,
                    channel=channel.name,
                    channel_type=channel.type,
                    payload=channel.render_alert(message),
                    created_at=now,
                    project_id=self.settings.project_id,
                )
            )

    # -- other sends ----------------------------------------------------------------------------

    def send_test(self, channel_name: str) -> Delivery:
        """Send a test notification through one channel now; the delivery (sent or not) is returned."""
        channel = select(self.channels, [channel_name], "the test")[0]
        now = self.clock()
        message = AlertMessage(
            event="test",
            rule="test",
            kind="test",
            severity="info",
            alert_key="test",
            metric="total_cost_usd",
            unit="usd",
            op=">",
            value=None,
            threshold=None,
            since=now,
            until=now,
            at=now,
            project_id=self.settings.project_id,
            dashboard_url=self.settings.dashboard_url,
            description="A test notification from agentledger: this channel works.",
        )
        delivery = Delivery(
            delivery_id=f"test:{now.isoformat()}:{channel.name}",
            kind="test",
            ref=f"test:{now.isoformat()}",
            channel=channel.name,
            channel_type=channel.type,
            payload=channel.render_alert(message),
            created_at=now,
            project_id=self.settings.project_id,
        )
        self.store.enqueue(delivery)
        return self.deliverer().deliver(delivery)

    def send_report(self, report: WeeklyReport, *, resend: bool = False) -> list[Delivery]:
        """Enqueue the report once per channel and week (``resend``: once more), then deliver what is due.

        Returns the report's deliveries as stored afterwards (already-sent ones included).
        """
        now = self.clock()
        targets = select(self.channels, self.config.report.channels, "the weekly report")
        suffix = f":resend:{now.isoformat()}" if resend else ""
        ids = set()
        for channel in targets:
            delivery_id = f"report:{report.project_id}:{report.week}:{channel.name}{suffix}"
            ids.add(delivery_id)
            self.store.enqueue(
                Delivery(
                    delivery_id=delivery_id,
                    kind="report",
                    ref=report.week,
                    channel=channel.name,
                    channel_type=channel.type,
                    payload=channel.render_report(report),
                    created_at=now,
                    project_id=self.settings.project_id,
                )
            )
        self.deliverer().deliver_due(only=ids)
        return [d for d in self.store.deliveries(ref=report.week, kind="report") if d.delivery_id in ids]
