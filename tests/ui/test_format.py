"""Numbers for people: the formatters of ui/format.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentledger.ui import format as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1234.5678, "$1,234.57"),
        (1.0, "$1.00"),
        (0.0, "$0.00"),
        (0.0663, "$0.0663"),
        (0.0042, "$0.0042"),
        (0.000042, "$0.000042"),
        (0.00123, "$0.0012"),
        (-3.8, "-$3.80"),
        (None, "—"),
    ],
)
def test_usd(value: float | None, text: str) -> None:
    assert fmt.usd(value) == text


def test_usd_delta_is_signed_and_unknown_is_none() -> None:
    assert fmt.usd_delta(1.66) == "+$1.66"
    assert fmt.usd_delta(-3.8) == "-$3.80"
    assert fmt.usd_delta(None) is None


@pytest.mark.parametrize(
    ("value", "text"), [(0.123, "12.3 %"), (0.0, "0.0 %"), (1.0, "100.0 %"), (None, "—")]
)
def test_pct(value: float | None, text: str) -> None:
    assert fmt.pct(value) == text


def test_change_and_its_text() -> None:
    assert fmt.change(125.0, 100.0) == pytest.approx(0.25)
    assert fmt.change(1.0, 0.0) is None  # growth from nothing has no percentage
    assert fmt.change(None, 1.0) is None
    assert fmt.pct_change(0.25) == "+25.0 %"
    assert fmt.pct_change(-0.5) == "-50.0 %"
    assert fmt.pct_change(None) == "new"
    assert fmt.pct_points_delta(0.012) == "+1.2 pp"


@pytest.mark.parametrize(
    ("value", "text"),
    [(950, "950"), (12_345, "12.3 k"), (1_234_567, "1.2 M"), (3_400_000_000, "3.4 B"), (None, "—")],
)
def test_tokens(value: int | None, text: str) -> None:
    assert fmt.tokens(value) == text


def test_count_duration_when_label() -> None:
    assert fmt.count(12345) == "12,345"
    assert fmt.duration_ms(850) == "850 ms"
    assert fmt.duration_ms(2400) == "2.4 s"
    assert fmt.duration_ms(186_000) == "3.1 min"
    assert fmt.when(datetime(2026, 11, 23, 14, 5, 59, tzinfo=UTC)) == "2026-11-23 14:05 UTC"
    assert fmt.when(None) == "never"
    assert fmt.label(None) == "unknown"
    assert fmt.label("") == "unknown"
    assert fmt.label("gpt-4o") == "gpt-4o"


def test_plural() -> None:
    assert fmt.plural(1, "trace") == "1 trace"
    assert fmt.plural(0, "trace") == "0 traces"
    assert fmt.plural(1200, "call") == "1,200 calls"
