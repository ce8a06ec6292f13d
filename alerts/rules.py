"""Alert rules, channels and the weekly report's settings: the ``alerts:`` section of ``agentledger.yaml``.

```yaml
alerts:
  channels:                       # optional; "slack", "email" and "webhook" also exist implicitly when
    - type: email                 # their settings are given (AGENTLEDGER_SLACK_WEBHOOK_URL, ...)
      name: finops-mail
      to: [finops@example.com]
  rules:
    - name: support-p95
      kind: threshold
      metric: p95_session_cost_usd
      op: ">"
      value: 0.50                 # "$0.50" and "30%" are accepted too
      window: 24h
      scope: {agent: support-bot}
    - name: monthly-budget
      kind: budget
      period: month
      amount_usd: 5000
      group_by: agent             # one budget of amount_usd per agent; omit for the project
  report:
    channels: [finops-mail]
```

The same pydantic models validate ``PUT /api/alerts/rules``. Secrets never live in the file: a channel
names the environment variable that holds its secret, or uses the settings' one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from agentledger.analytics.anomalies import ANOMALY_METRICS
from agentledger.analytics.filters import GROUP_BY
from agentledger.analytics.metrics import METRIC_KEYS
from agentledger.core.errors import ConfigError
from agentledger.core.yamltext import load_yaml, yaml_error

# Every scalar metric of compute_metrics can be alerted on (the model mix is a table, not a number).
METRICS = tuple(k for k in METRIC_KEYS if k != "model_mix")
DIMENSIONS = tuple(d for d in GROUP_BY if d not in ("day", "week"))
BUDGET_DIMENSIONS = ("agent", "user", "feature", "model")
BUILTIN_CHANNELS = ("slack", "email", "webhook")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
# Windows reach back from now; ten years is more history than any ledger holds, and far from the dates
# Python cannot represent.
MAX_DURATION = timedelta(days=3660)


def parse_duration(value: Any) -> timedelta:
    """``"30m"``, ``"24h"``, ``"7d"``, ``"2w"``, ``"90s"`` (or a timedelta, or seconds as a number) -> timedelta.

    A duration is above zero and at most :data:`MAX_DURATION` (ten years)."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or not 0 < value <= MAX_DURATION.total_seconds():
            raise ValueError(f"{value!r} seconds is not a duration between 0 and {MAX_DURATION.days} days")
        duration = timedelta(seconds=value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration; write e.g. 30m, 24h, 7d or 2w")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        if not seconds <= MAX_DURATION.total_seconds():
            raise ValueError(f"{value!r} is longer than {MAX_DURATION.days} days")
        duration = timedelta(seconds=seconds)
    if duration <= timedelta(0) or duration > MAX_DURATION:
        raise ValueError(f"{value!r} is not a duration between 0 and {MAX_DURATION.days} days")
    return duration


def format_duration(value: timedelta) -> str:
    """The shortest exact ``Nw``/``Nd``/``Nh``/``Nm``/``Ns`` spelling of a duration (parses back to it)."""
    seconds = value.total_seconds()
    if seconds.is_integer():
        for unit in ("w", "d", "h", "m"):
            if seconds and seconds % _UNIT_SECONDS[unit] == 0:
                return f"{int(seconds) // _UNIT_SECONDS[unit]}{unit}"
        return f"{int(seconds)}s"
    return f"{seconds:.6f}".rstrip("0") + "s"


def parse_amount(value: Any) -> float:
    """A number, ``"$0.50"`` or ``"30%"`` (= 0.30) -> float."""
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if text.endswith("%"):
            return float(text[:-1]) / 100
        return float(text.removeprefix("$"))
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
Amount = Annotated[float, BeforeValidator(parse_amount)]


class Scope(BaseModel):
    """Equality filters on calls (the same ones as ``agentledger metrics``)."""

    model_config = ConfigDict(extra="forbid")

    agent: str | None = None
    task_type: str | None = None
    user: str | None = None
    feature: str | None = None
    model: str | None = None
    provider: str | None = None
    source: str | None = None
    environment: str | None = None

    def given(self) -> dict[str, str]:
        """The filters that are set."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class _Rule(BaseModel):
    # NaN and infinity are refused: a rule comparing with them would never fire.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=120, pattern=r"^[\w.\- ]+$", description="Unique rule name")
    description: str | None = Field(None, description="Shown in the notification")
    enabled: bool = True
    severity: Literal["info", "warning", "critical"] = "warning"
    scope: Scope = Field(default_factory=Scope, description="Filters the measured calls")
    channels: list[str] | None = Field(None, description="Channel names; default: every configured one")
    cooldown: Duration | None = Field(
        timedelta(hours=6), description="While firing, remind after this long; null: never remind"
    )
    notify_resolved: bool = Field(True, description="Send one notice when the alert clears")


class ThresholdRule(_Rule):
    """A metric of compute_metrics over a rolling window compared with a fixed value."""

    kind: Literal["threshold"] = "threshold"
    metric: Literal[METRICS]  # type: ignore[valid-type]
    op: Literal[">", ">=", "<", "<="] = ">"
    value: Amount
    window: Duration = timedelta(hours=24)
    group_by: Literal[DIMENSIONS] | None = None  # type: ignore[valid-type]
    min_calls: int = Field(1, ge=0, description="A window with fewer calls does not fire (no data)")


class BudgetRule(_Rule):
    """Spend in the current month or ISO week against an amount, alerting as each level is crossed."""

    kind: Literal["budget"] = "budget"
    period: Literal["month", "week"] = "month"
    amount_usd: Amount = Field(gt=0)
    levels: list[float] = Field(default_factory=lambda: [0.5, 0.8, 1.0])
    group_by: Literal[BUDGET_DIMENSIONS] | None = None  # type: ignore[valid-type]
    cooldown: Duration | None = None  # a level is announced once per period; a higher one at once
    notify_resolved: bool = False  # a new period simply starts over

    @field_validator("levels")
    @classmethod
    def _sorted_levels(cls, v: list[float]) -> list[float]:
        if not v or any(level <= 0 for level in v):
            raise ValueError("levels are fractions of the budget above 0, e.g. [0.5, 0.8, 1.0]")
        return sorted(set(v))


class SpikeRule(_Rule):
    """A day whose metric is an outlier against the previous days (median/MAD robust z-score), per agent."""

    kind: Literal["spike"] = "spike"
    metric: Literal[ANOMALY_METRICS] = "total_cost_usd"  # type: ignore[valid-type]
    z: float = Field(3.5, gt=0, description="Robust z-score above which a day is a spike")
    window_days: int = Field(14, ge=3, description="Days of history each day is compared with")
    lookback: Duration = Field(timedelta(days=1), description="Spikes of days this recent are alerted on")
    cooldown: Duration | None = None  # one spike day is one notification
    notify_resolved: bool = False


class RunawayRule(_Rule):
    """Tasks (traces) with too many LLM calls or too much cost: loops that did not stop."""

    kind: Literal["runaway"] = "runaway"
    window: Duration = timedelta(hours=24)
    max_calls: int | None = Field(
        None, ge=1, description="Default: the runaway_call_threshold setting (when max_cost_usd is unset)"
    )
    max_cost_usd: Amount | None = Field(None, gt=0)


class UnpricedModelRule(_Rule):
    """A model called in the window that has no price (its cost is unknown, not $0)."""

    kind: Literal["unpriced_model"] = "unpriced_model"
    window: Duration = timedelta(hours=24)


Rule = Annotated[
    ThresholdRule | BudgetRule | SpikeRule | RunawayRule | UnpricedModelRule, Field(discriminator="kind")
]
RULE_KINDS = ("threshold", "budget", "spike", "runaway", "unpriced_model")


class SlackChannel(BaseModel):
    """A Slack incoming webhook; its URL is a secret read from the environment."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["slack"] = "slack"
    name: str = "slack"
    webhook_url_env: str | None = Field(
        None, description="Variable holding the webhook URL; default AGENTLEDGER_SLACK_WEBHOOK_URL"
    )


class EmailChannel(BaseModel):
    """Email over the SMTP server of the settings (smtp_host, smtp_port, STARTTLS, login)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["email"] = "email"
    name: str = "email"
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[agentledger]"


class WebhookChannel(BaseModel):
    """JSON POSTed to a URL, signed with HMAC-SHA256 (X-AgentLedger-Signature)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["webhook"] = "webhook"
    name: str = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = Field(
        None, description="Variable holding the signing key; default AGENTLEDGER_WEBHOOK_SECRET"
    )


ChannelConfig = Annotated[SlackChannel | EmailChannel | WebhookChannel, Field(discriminator="type")]


class ReportConfig(BaseModel):
    """The weekly top-10 cost report."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    channels: list[str] | None = Field(None, description="Channel names; default: every configured one")
    top: int = Field(10, ge=1, le=50, description="Rows per ranking")


class AlertsConfig(BaseModel):
    """The whole ``alerts:`` section."""

    model_config = ConfigDict(extra="forbid")
    channels: list[ChannelConfig] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    report: ReportConfig = Field(default_factory=ReportConfig)

    @model_validator(mode="after")
    def _consistent(self) -> AlertsConfig:
        _unique([c.name for c in self.channels], "channel name")
        _unique([r.name for r in self.rules], "rule name")
        known = {c.name for c in self.channels} | set(BUILTIN_CHANNELS)
        for rule in self.rules:
            unknown = sorted(set(rule.channels or ()) - known)
            if unknown:
                raise ValueError(
                    f"rule {rule.name!r} names unknown channels {unknown}; known: {sorted(known)}"
                )
        unknown = sorted(set(self.report.channels or ()) - known)
        if unknown:
            raise ValueError(f"report names unknown channels {unknown}; known: {sorted(known)}")
        return self

    def rule(self, name: str) -> Rule | None:
        """The rule called ``name``, if any."""
        return next((r for r in self.rules if r.name == name), None)


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} is used twice")
        seen.add(name)


# -- loading and saving ---------------------------------------------------------------------------


def parse_alerts(data: Any, *, origin: str = "<alerts>") -> AlertsConfig:
    """Validate the ``alerts:`` section (a mapping, or None for "no alerts"); ConfigError names the field."""
    if data is None:
        return AlertsConfig()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: alerts: expected a mapping, got {type(data).__name__}")
    try:
        return AlertsConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(describe(exc, origin)) from None


def describe(exc: ValidationError, origin: str) -> str:
    """One line per problem, ``<file>: alerts.rules[2].metric: <what is wrong>`` (input values not echoed)."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        path = "alerts"
        for part in err["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif part in RULE_KINDS or part in BUILTIN_CHANNELS:
                continue  # the union tag pydantic adds; the index already says which entry
            else:
                path += f".{part}"
        lines.append(f"{path}: {err['msg']}")
    return f"{origin}: invalid alert configuration\n  " + "\n  ".join(lines)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_alerts(path: str | Path, *, missing_ok: bool = True) -> AlertsConfig:
    """The ``alerts:`` section of the YAML file at ``path`` (empty when the file is absent and ``missing_ok``)."""
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return AlertsConfig()
        raise ConfigError(f"{path}: no such config file (set AGENTLEDGER_CONFIG_FILE)")
    return parse_alerts(_read_yaml(path).get("alerts"), origin=str(path))


def dump_alerts(config: AlertsConfig) -> dict[str, Any]:
    """The section as plain data (durations as ``24h``), defaults left out so the file stays short."""
    data = config.model_dump(mode="json", exclude_defaults=True)
    # The discriminators must stay even when they equal their default.
    for dumped, rule in zip(data.get("rules", []), config.rules, strict=True):
        dumped["kind"] = rule.kind
    for dumped, channel in zip(data.get("channels", []), config.channels, strict=True):
        dumped["type"] = channel.type
    return data


def save_alerts(path: str | Path, config: AlertsConfig) -> None:
    """Replace the ``alerts:`` section of the YAML file (created when missing); other sections are kept.

    The file is rewritten from data: comments in it are not preserved.
    """
    path = Path(path)
    data = _read_yaml(path) if path.is_file() else {}
    data["alerts"] = dump_alerts(config)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a file
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write it: {exc}") from exc
