"""The weekly top-10 report on a fixture fortnight whose every figure is worked out by hand below.

Twelve task types ``tt01``..``tt12``. In week 2026-W47 each has two traces of two calls costing
``0.25 x k`` each, so type ``k`` costs ``k`` dollars over 4 calls. For even ``k`` both traces succeed; for
odd ``k`` the second trace's last call errors, so it fails. Cost per completed task: ``k / 2`` (even),
``k`` (odd). Agents: ``agent-a`` runs the odd types, ``agent-b`` the even ones; ``alice`` the types
1-6, ``bob`` 7-12. Week 2026-W46 (the week before) differs per type to produce each likely cause:

| type | last week                                            | cost change | likely cause      |
|------|------------------------------------------------------|-------------|-------------------|
| tt12 | $12, 4 calls                                         | 0 %         | —                 |
| tt11 | $5.50, 2 calls                                       | +100 %      | volume growth     |
| tt10 | no calls                                             | new         | new this week     |
| tt09 | $6, 4 calls with 60 % of input read from cache       | +50 %       | cache hit drop    |
| tt08 | $4, 4 calls on gpt-4o-mini (now gpt-4o)              | +100 %      | model mix shift   |
| tt07 | $3.50, 1,000 input tokens per call (now 2,000)       | +100 %      | context growth    |
| tt06 | $3, no errors (now each trace retries a failed call) | +100 %      | retry spike       |
| tt05 | $10                                                  | -50 %       | — (a fall)        |
| tt04 | $3.80                                                | +5.3 %      | — (under 10 %)    |
| tt03 | $3                                                   | 0 %         | —                 |
| tt02 | $2                                                   | (not top 10)|                   |
| tt01 | $1                                                   | (not top 10)|                   |
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_fixtures import call, write

from agentledger.analytics.report import build_weekly_report, parse_week, previous_week, week_bounds
from agentledger.analytics.report_render import format_value, render, to_slack_blocks
from agentledger.core.errors import InputError
from agentledger.core.records import Call
from agentledger.core.settings import Settings
from agentledger.warehouse import connect

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
THIS_WEEK = datetime(2026, 11, 17, 10, tzinfo=UTC)  # Tuesday of 2026-W47
LAST_WEEK = THIS_WEEK - timedelta(days=7)
LAST_WEEK_COST = {12: 12.0, 11: 5.5, 9: 6.0, 8: 4.0, 7: 3.5, 6: 3.0, 5: 10.0, 4: 3.8, 3: 3.0, 2: 2.0, 1: 1.0}
EXPECTED = [  # (type, cost, cost per completed task, change, causes)
    ("tt12", 12.0, 6.0, 0.0, []),
    ("tt11", 11.0, 11.0, 1.0, ["volume_growth"]),
    ("tt10", 10.0, 5.0, None, ["new"]),
    ("tt09", 9.0, 9.0, 0.5, ["cache_hit_drop"]),
    ("tt08", 8.0, 4.0, 1.0, ["model_mix_shift"]),
    ("tt07", 7.0, 7.0, 1.0, ["context_growth"]),
    ("tt06", 6.0, 3.0, 1.0, ["retry_spike"]),
    ("tt05", 5.0, 5.0, -0.5, []),
    ("tt04", 4.0, 2.0, 0.2 / 3.8, []),
    ("tt03", 3.0, 3.0, 0.0, []),
]


def this_week_calls(k: int) -> list[Call]:
    ctx = {
        "task_type": f"tt{k:02d}",
        "agent_name": "agent-a" if k % 2 else "agent-b",
        "user_id": "alice" if k <= 6 else "bob",
    }
    calls = []
    for j in range(2):
        at = THIS_WEEK + timedelta(hours=k, minutes=10 * j)
        statuses = ["ok", "ok"]
        if k == 6:
            statuses = ["error", "ok"]  # a retried call: the task still completes
        elif k % 2 and j == 1:
            statuses = ["ok", "error"]  # the task fails
        for n, status in enumerate(statuses):
            calls.append(
                call(
                    f"w47-{k}-{j}",
                    f"c{n}",
                    0.25 * k,
                    at + timedelta(minutes=n),
                    status=status,
                    session_id=f"s{k:02d}{j}",
                    input_tokens=2000 if k == 7 else 1000,
                    **ctx,
                )
            )
    return calls


def last_week_calls(k: int) -> list[Call]:
    if k not in LAST_WEEK_COST:
        return []
    n_calls = 2 if k == 11 else 4
    model = ("gpt-4o-mini", "openai") if k == 8 else ("gpt-4o", "openai")
    return [
        call(
            f"w46-{k}-{n}",
            "c",
            LAST_WEEK_COST[k] / n_calls,
            LAST_WEEK + timedelta(hours=k, minutes=n),
            model=model[0],
            provider=model[1],
            task_type=f"tt{k:02d}",
            agent_name="agent-a" if k % 2 else "agent-b",
            user_id="alice" if k <= 6 else "bob",
            session_id=f"old{k}",
            cache_read_tokens=600 if k == 9 else 0,
        )
        for n in range(n_calls)
    ]


@pytest.fixture(scope="module")
def report():
    wh = connect("duckdb:///:memory:")
    try:
        write(wh, [c for k in range(1, 13) for c in this_week_calls(k) + last_week_calls(k)])
        settings = Settings(dashboard_url="http://ledger.example:8501")
        return build_weekly_report(wh, settings, "2026-W47", now=datetime(2026, 11, 23, 9, tzinfo=UTC))
    finally:
        wh.close()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1234.567, "$1,234.57"),
        (0.5, "$0.50"),
        (0.0248, "$0.0248"),
        (0.000049, "$0.000049"),  # a known cost of a fraction of a cent is not $0.0000
        (-0.0031, "-$0.0031"),
        (0.0, "$0.00"),
        (None, "n/a"),
    ],
)
def test_dollar_amounts_keep_the_digits_that_matter(value: float | None, shown: str) -> None:
    assert format_value(value, "usd") == shown


def test_weeks_are_iso_weeks_in_the_report_time_zone() -> None:
    assert parse_week("2026-w47") == (2026, 47)
    assert week_bounds("2026-W47") == (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    start, _ = week_bounds("2026-W01", "Europe/Berlin")
    assert start.isoformat() == "2025-12-29T00:00:00+01:00"
    assert previous_week(datetime(2026, 11, 23, 9, tzinfo=UTC)) == "2026-W47"
    with pytest.raises(InputError, match="ISO week"):
        parse_week("2026-47")
    # the report reads the week and the one before: both must be dates Python can hold (not a crash)
    for week in ("0001-W01", "9999-W52"):
        with pytest.raises(InputError, match="out of range"):
            week_bounds(week)
    assert parse_week("0001-W02") == (1, 2)


def test_the_ten_task_types_in_order_with_their_figures_and_causes(report) -> None:
    rows = report.task_types
    assert [r.key for r in rows] == [e[0] for e in EXPECTED]
    for row, (key, cost, per_task, change, causes) in zip(rows, EXPECTED, strict=True):
        assert row.cost_usd == pytest.approx(cost), key
        assert row.calls == 4, key
        assert row.cost_per_completed_task_usd == pytest.approx(per_task), key
        assert row.cost_change == (None if change is None else pytest.approx(change)), key
        assert [c.code for c in row.causes] == causes, key
    assert rows[3].causes[0].text == "cache hit drop: 60% → 0% of input tokens"
    assert rows[4].causes[0].text == "model mix shift: gpt-4o 0% → 100% of calls"
    assert rows[5].causes[0].text == "context growth: 1,000 → 2,000 input tokens per call (+100%)"
    assert rows[6].causes[0].text == "retry spike: 0% → 50% of calls failed and were retried"
    assert rows[1].causes[0].text == "volume growth: 2 → 4 calls (+100%)"


def test_totals_agents_users_and_sessions(report) -> None:
    t = report.totals
    assert t["total_cost_usd"] == pytest.approx(78.0) and t["total_cost_usd_prev"] == pytest.approx(53.8)
    assert t["total_cost_usd_change"] == pytest.approx((78.0 - 53.8) / 53.8)
    assert (t["calls"], t["tasks"], t["completed_tasks"], t["failed_tasks"]) == (48, 24, 18, 6)
    assert t["cost_per_completed_task_usd"] == pytest.approx(78.0 / 18)
    assert [(r.key, r.cost_usd) for r in report.agents] == [
        ("agent-b", pytest.approx(42.0)),
        ("agent-a", pytest.approx(36.0)),
    ]
    assert [(r.key, r.cost_usd) for r in report.users] == [
        ("bob", pytest.approx(57.0)),
        ("alice", pytest.approx(21.0)),
    ]
    assert [(s.session, s.cost_usd) for s in report.sessions[:3]] == [
        ("s120", 6.0),
        ("s121", 6.0),
        ("s110", 5.5),
    ]
    assert len(report.sessions) == 10
    assert isinstance(report.recommendations, list)  # analytics.recommend is in this build


def test_open_recommendations_are_listed_in_every_format(report) -> None:
    rec = {
        "kind": "routing",
        "target": {"task_type": "tt12", "model": "gpt-4o"},
        "monthly_savings_usd": 120.0,
        "confidence": "high",
        "action": "route tt12 to gpt-4o-mini",
    }
    line = "routing (task_type=tt12, model=gpt-4o): route tt12 to gpt-4o-mini; saves about $120.00 a month (high confidence)"
    with_recs = replace(report, recommendations=[rec])
    assert f"- {line}" in render(with_recs, "md")
    assert line in render(with_recs, "html")
    assert any(line in b.get("text", {}).get("text", "") for b in to_slack_blocks(with_recs))
    assert "not available in this build" in render(replace(report, recommendations=None), "md")


def test_every_format_carries_the_same_ranking(report) -> None:
    markdown = render(report, "md")
    lines = [line for line in markdown.splitlines() if line.startswith("| ") and "| tt" in line]
    assert [line.split(" | ")[1] for line in lines] == [e[0] for e in EXPECTED]
    assert "| 2 | tt11 | $11.00 | +100% | 4 | $11.00 | volume growth: 2 → 4 calls (+100%) |" in markdown
    assert "| 3 | tt10 | $10.00 | — | 4 | $5.00 | new this week |" in markdown

    data = json.loads(render(report, "json"))
    assert [r["key"] for r in data["task_types"]] == [e[0] for e in EXPECTED]
    assert data["week"] == "2026-W47" and data["since"] == "2026-11-16T00:00:00+00:00"
    assert data["task_types"][0]["cost_usd"] == pytest.approx(12.0)

    html = render(report, "html")
    positions = [html.index(f">{e[0]}<") for e in EXPECTED]
    assert positions == sorted(positions)
    assert "<style" not in html and 'style="' in html  # inline CSS only, for email clients

    blocks = to_slack_blocks(report)
    assert blocks[0]["type"] == "header" and "2026-W47" in blocks[0]["text"]["text"]
    task_section = next(
        b["text"]["text"] for b in blocks if b.get("text", {}).get("text", "").startswith("*Top task types")
    )
    assert [line.split("*")[1] for line in task_section.splitlines()[1:]] == [e[0] for e in EXPECTED]
    assert blocks[-1]["type"] == "actions" and blocks[-1]["elements"][0]["url"].startswith(
        "http://ledger.example:8501/overview?"
    )
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)


def test_names_with_markup_stay_in_their_cells_and_slack_gets_the_sessions_too(report) -> None:
    hostile = "<!channel> R&D | ops\nteam"
    rows = [replace(r, key=hostile) for r in report.task_types]
    sessions = [replace(s, session=f"{hostile}-{s.rank}", user=hostile) for s in report.sessions]
    odd = replace(report, task_types=rows, sessions=sessions)

    markdown = render(odd, "md")
    table = [line for line in markdown.splitlines() if line.startswith("| 1 | <!channel>")]
    assert len(table) == 2  # one task-type row and one session row, each on one line
    assert all(line.count(" | ") == 6 and "R&D \\| ops team" in line for line in table)

    blocks = to_slack_blocks(odd)
    texts = [b["text"]["text"] for b in blocks if b.get("text", {}).get("type") == "mrkdwn"]
    assert not any("<!channel>" in t for t in texts) and any("&lt;!channel&gt; R&amp;D" in t for t in texts)
    session_section = next(t for t in texts if t.startswith("*Top sessions by cost*"))
    assert session_section.count(" calls") == len(report.sessions) and "$" in session_section
    assert len(blocks) <= 50 and all(len(t) <= 3000 for t in texts)


@pytest.mark.browser
def test_the_html_report_renders_in_headless_chromium(report) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "weekly_report.html").write_text(render(report, "html"), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto((ARTIFACTS / "weekly_report.html").as_uri())
            assert page.inner_text("h1") == "agentledger weekly cost report 2026-W47 (default)"
            tables = page.locator("table")
            assert tables.count() == 5  # totals, task types, agents, users, sessions
            first_column = tables.nth(1).locator("tr td:nth-child(2)").all_inner_texts()
            assert first_column == [e[0] for e in EXPECTED]
            box = tables.nth(1).bounding_box()
            assert box is not None and box["width"] > 600  # laid out as a readable table, not collapsed
            page.screenshot(path=str(ARTIFACTS / "weekly_report.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "weekly_report.png").stat().st_size > 10_000


def test_rows_with_unpriced_calls_show_their_costs_as_lower_bounds() -> None:
    """A row whose calls are partly unpriced knows only part of its cost: ``≥ $…`` and how many calls lack a
    price, in every format; a row whose calls are all priced reads as before."""
    wh = connect("duckdb:///:memory:")
    try:
        at = THIS_WEEK + timedelta(hours=1)
        research = [
            call("r1", "c0", 0.0275, at, task_type="research", agent_name="research", session_id="S12"),
            *[
                call(
                    "r1",
                    f"c{n}",
                    None,
                    at + timedelta(minutes=n),
                    task_type="research",
                    agent_name="research",
                    session_id="S12",
                    model="acme-private-7",
                    provider="acme",
                )
                for n in (1, 2, 3)
            ],
        ]
        chat = [call("c1", "c0", 0.01, at, task_type="chat", agent_name="support", session_id="S13")]
        write(wh, research + chat)
        report = build_weekly_report(wh, Settings(), "2026-W47", now=datetime(2026, 11, 23, 9, tzinfo=UTC))
    finally:
        wh.close()
    by_type = {r.key: r for r in report.task_types}
    assert (by_type["research"].unpriced_calls, by_type["chat"].unpriced_calls) == (3, 0)
    (s12,) = [s for s in report.sessions if s.session == "S12"]
    assert (s12.calls, s12.unpriced_calls) == (4, 3)
    markdown = render(report, "md")
    assert "| research | ≥ $0.0275 | — | 4 (3 unpriced) | ≥ $0.0275 |" in markdown
    assert "| chat | $0.01 | — | 1 | $0.01 |" in markdown
    assert "≥ $0.0275 | 4 (3 unpriced) | 1 (1) |" in markdown  # the session
    html = render(report, "html")
    assert "≥ $0.0275" in html and "4 (3 unpriced)" in html
    slack = json.dumps(to_slack_blocks(report), ensure_ascii=False)
    assert "≥ $0.0275 (—), 4 (3 unpriced) calls" in slack
