"""The alerts section of agentledger.yaml: parsing, errors that name the file and field, saving."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from agentledger.alerts.rules import (
    BudgetRule,
    ThresholdRule,
    format_duration,
    load_alerts,
    parse_alerts,
    parse_duration,
    save_alerts,
)
from agentledger.core.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agentledger.yaml"


def test_the_example_file_parses_with_every_rule_kind() -> None:
    config = load_alerts(EXAMPLE, missing_ok=False)
    kinds = {r.kind for r in config.rules}
    assert kinds == {"threshold", "budget", "spike", "runaway", "unpriced_model"}
    p95 = config.rule("support-bot-p95-session-cost")
    assert isinstance(p95, ThresholdRule)
    assert (p95.metric, p95.op, p95.value, p95.window) == (
        "p95_session_cost_usd",
        ">",
        0.5,
        timedelta(hours=24),
    )
    assert p95.scope.given() == {"agent": "support-bot"}


def test_amounts_and_durations_read_like_people_write_them() -> None:
    config = parse_alerts(
        {
            "rules": [
                {
                    "name": "cache",
                    "kind": "threshold",
                    "metric": "cache_hit_rate",
                    "op": "<",
                    "value": "30%",
                    "window": "7d",
                },
                {
                    "name": "money",
                    "kind": "threshold",
                    "metric": "total_cost_usd",
                    "value": "$1,250.50",
                    "window": "90m",
                },
            ]
        }
    )
    cache, money = config.rules
    assert (cache.value, cache.window) == (pytest.approx(0.30), timedelta(days=7))
    assert (money.value, money.window) == (1250.5, timedelta(minutes=90))
    assert [format_duration(parse_duration(t)) for t in ("24h", "7d", "2w", "90m")] == [
        "1d",
        "1w",
        "2w",
        "90m",
    ]


def test_budget_defaults_announce_each_level_once_per_period() -> None:
    rule = parse_alerts(
        {"rules": [{"name": "b", "kind": "budget", "amount_usd": 100, "levels": [1.0, 0.5]}]}
    ).rules[0]
    assert isinstance(rule, BudgetRule)
    assert rule.levels == [0.5, 1.0] and rule.period == "month"
    assert rule.cooldown is None and rule.notify_resolved is False


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"rules": [{"name": "x", "kind": "threshold", "metric": "cost", "value": 1}]},
            "alerts.rules[0].metric",
        ),
        (
            {"rules": [{"name": "x", "kind": "threshold", "metric": "calls", "value": 1, "window": "soon"}]},
            "alerts.rules[0].window",
        ),
        ({"rules": [{"name": "x", "kind": "budget"}]}, "alerts.rules[0].amount_usd"),
        ({"rules": [{"name": "x", "kind": "bogus"}]}, "alerts.rules[0]"),
        (
            {"rules": [{"name": "x", "kind": "budget", "amount_usd": 5, "colour": "red"}]},
            "alerts.rules[0].colour",
        ),
        ({"channels": [{"type": "email"}]}, "alerts.channels[0].to"),
        ({"channels": [{"type": "webhook", "url": "ftp://x"}]}, "alerts.channels[0].url"),
    ],
)
def test_errors_name_the_file_and_the_field(section: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_alerts(section, origin="agentledger.yaml")
    assert str(err.value).startswith("agentledger.yaml: invalid alert configuration")
    assert f"\n  {expected}" in str(err.value)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"kind": "threshold", "metric": "calls", "value": 1, "window": "0m"}, "window"),
        ({"kind": "threshold", "metric": "calls", "value": 1, "window": -5}, "window"),
        ({"kind": "threshold", "metric": "calls", "value": 1, "window": "99999999w"}, "window"),
        ({"kind": "runaway", "window": 1e300}, "window"),
        ({"kind": "spike", "lookback": "0h"}, "lookback"),
        ({"kind": "threshold", "metric": "calls", "value": float("nan")}, "value"),
        ({"kind": "threshold", "metric": "waste_ratio", "value": "inf"}, "value"),
        ({"kind": "budget", "amount_usd": float("inf")}, "amount_usd"),
        ({"kind": "budget", "amount_usd": 5, "levels": [float("nan")]}, "levels[0]"),
        ({"kind": "spike", "z": float("inf")}, "z"),
    ],
)
def test_windows_above_zero_and_finite_thresholds_only(rule: dict, field: str) -> None:
    # A window of zero or less, or one reaching before year 1, cannot be measured (and a negative one was
    # saved as "-1m", which the file then refused); a NaN or infinite threshold never fires.
    with pytest.raises(ConfigError) as err:
        parse_alerts({"rules": [{"name": "x", **rule}]}, origin="agentledger.yaml")
    assert f"\n  alerts.rules[0].{field}: " in str(err.value)


def test_durations_are_saved_exactly_as_they_parse(tmp_path: Path) -> None:
    path = tmp_path / "agentledger.yaml"
    rules = [
        {"name": "a", "kind": "threshold", "metric": "calls", "value": 1, "window": 90, "cooldown": "45s"},
        {"name": "b", "kind": "runaway", "window": "1.5m"},
    ]
    config = parse_alerts({"rules": rules})
    save_alerts(path, config)
    again = load_alerts(path, missing_ok=False)
    assert [(r.window, r.cooldown) for r in again.rules] == [
        (timedelta(seconds=90), timedelta(seconds=45)),
        (timedelta(seconds=90), timedelta(hours=6)),
    ]
    assert (
        format_duration(timedelta(seconds=90)) == "90s" and format_duration(timedelta(seconds=1.5)) == "1.5s"
    )


def test_a_rule_routed_to_an_unknown_channel_is_refused() -> None:
    rules = [{"name": "x", "kind": "budget", "amount_usd": 5, "channels": ["pager"]}]
    with pytest.raises(ConfigError, match=r"unknown channels \['pager'\]"):
        parse_alerts({"rules": rules})


def test_duplicate_rule_names_are_refused() -> None:
    rules = [{"name": "x", "kind": "budget", "amount_usd": 5}, {"name": "x", "kind": "unpriced_model"}]
    with pytest.raises(ConfigError, match="rule name 'x' is used twice"):
        parse_alerts({"rules": rules})


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "agentledger.yaml"
    path.write_text("alerts: [unclosed\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_alerts(path)
    assert load_alerts(tmp_path / "absent.yaml").rules == []
    with pytest.raises(ConfigError, match="no such config file"):
        load_alerts(tmp_path / "absent.yaml", missing_ok=False)


def test_saving_replaces_only_the_alerts_section(tmp_path: Path) -> None:
    path = tmp_path / "agentledger.yaml"
    path.write_text(yaml.safe_dump({"sources": [{"type": "helicone"}], "alerts": {"rules": []}}))
    config = parse_alerts({"rules": [{"name": "loops", "kind": "runaway", "max_calls": 40, "window": "6h"}]})
    save_alerts(path, config)
    data = yaml.safe_load(path.read_text())
    assert data["sources"] == [{"type": "helicone"}]
    assert data["alerts"]["rules"] == [{"name": "loops", "max_calls": 40, "window": "6h", "kind": "runaway"}]
    assert load_alerts(path) == config


def test_a_rules_file_giving_a_key_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("alerts:\n  rules: []\n  rules: []\n")
    with pytest.raises(ConfigError, match=r"(?s)alerts.yaml:\d+: not valid YAML: .*'rules' is given twice"):
        load_alerts(path)
