"""The weekly report in its four forms: Markdown, HTML (the email: inline CSS only), Slack blocks, JSON.

Also the value formatting and dashboard links that the report shares with alert messages
(:mod:`agentledger.alerts.message` imports them from here), so a dollar reads the same everywhere.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from html import escape
from typing import Any, Literal, get_args
from urllib.parse import urlencode

from agentledger.analytics._common import dollars
from agentledger.analytics.report import Row, SessionRow, WeeklyReport

ReportFormat = Literal["md", "html", "json"]
FORMATS: tuple[ReportFormat, ...] = get_args(ReportFormat)
NONE_KEY = "(none)"
SECTIONS = (("task_types", "Task types"), ("agents", "Agents"), ("users", "Users"))


# -- values and links (shared with alert messages) -------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    """``$0.62``, ``27.3%``, ``1,234``; ``n/a`` for an unknown value."""
    if value is None:
        return "n/a"
    if unit == "usd":
        # Cents where they say it all; below a dollar the digits that matter.
        return f"${value:,.2f}" if round(value, 2) == value else dollars(value)
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def slack_escape(text: str) -> str:
    """``text`` for a Slack ``mrkdwn`` field: ``&``, ``<`` and ``>`` as the entities Slack asks for, so a name
    such as ``<!channel>`` notifies nobody and a line starting with ``>`` is not turned into a quote."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (Slack rejects longer block texts)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dashboard_link(
    base: str | None, page: str, since: datetime, until: datetime, filters: dict[str, str]
) -> str | None:
    """``<dashboard>/<page>?from=..&to=..&agent=..`` (the dashboard's own URL parameters), or None."""
    if not base:
        return None
    last_day: date = (until - timedelta(microseconds=1)).date()
    query = {"from": since.date().isoformat(), "to": last_day.isoformat(), **filters}
    return f"{base.rstrip('/')}/{page}?{urlencode(query)}"


def money(value: float | None) -> str:
    """``$1,234.56`` (``n/a`` when unknown: unpriced)."""
    return format_value(value, "usd")


def at_least(value: float | None, unpriced_calls: int) -> str:
    """:func:`money` of a sum that leaves out ``unpriced_calls`` calls without a price: ``≥ $1.23`` then."""
    text = money(value)
    return f"≥ {text}" if unpriced_calls and value is not None else text


def calls_text(calls: int, unpriced_calls: int) -> str:
    """``12`` or ``12 (3 unpriced)``."""
    return f"{calls:,}" + (f" ({unpriced_calls:,} unpriced)" if unpriced_calls else "")


def change(value: float | None) -> str:
    """``+12%``, ``-5%``, or ``—`` when there is nothing to compare with."""
    return "—" if value is None else f"{value * 100:+.0f}%"


def _key(key: str | None) -> str:
    return NONE_KEY if key is None else key


def _causes(row: Row) -> str:
    return "; ".join(c.text for c in row.causes) or "—"


def title(report: WeeklyReport) -> str:
    """``agentledger weekly cost report 2026-W47 (default)``."""
    return f"agentledger weekly cost report {report.week} ({report.project_id})"


def period(report: WeeklyReport) -> str:
    """``2026-11-16 → 2026-11-22 (UTC)``: the first and last day covered."""
    last_day = report.until.date() - timedelta(days=1)
    return f"{report.since.date()} → {last_day} ({report.timezone})"


def headline(report: WeeklyReport) -> str:
    """One sentence with the week's cost and its change."""
    t = report.totals
    return (
        f"Spend {money(t['total_cost_usd'])} ({change(t['total_cost_usd_change'])} vs last week), "
        f"{t['calls']:,} calls, {t['completed_tasks']:,} completed tasks, "
        f"{money(t['cost_per_completed_task_usd'])} per completed task."
    )


TOTAL_ROWS = (
    ("Total cost", "total_cost_usd", "usd"),
    ("Calls", "calls", "count"),
    ("Unpriced calls", "unpriced_calls", "count"),
    ("Tasks", "tasks", "count"),
    ("Completed tasks", "completed_tasks", "count"),
    ("Cost per completed task", "cost_per_completed_task_usd", "usd"),
    ("Waste", "waste_usd", "usd"),
    ("Waste ratio", "waste_ratio", "ratio"),
    ("Cache hit rate", "cache_hit_rate", "ratio"),
    ("P95 session cost", "p95_session_cost_usd", "usd"),
)


def _target(rec: dict[str, Any]) -> str:
    target = rec.get("target") or {}
    return ", ".join(f"{k}={v}" for k, v in target.items() if v is not None)


def _recommendation_line(rec: dict[str, Any]) -> str:
    """``routing (task_type=triage): <action>; saves about $120.00 a month (high confidence)``."""
    what = str(rec.get("kind") or "recommendation")
    target = _target(rec)
    head = f"{what} ({target})" if target else what
    action = rec.get("action") or rec.get("title") or ""
    savings = rec.get("monthly_savings_usd")
    tail = f"; saves about {money(savings)} a month" if savings is not None else ""
    confidence = f" ({rec['confidence']} confidence)" if rec.get("confidence") else ""
    return f"{head}: {action}{tail}{confidence}" if action else f"{head}{tail}{confidence}"


# -- Markdown ---------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """``text`` for a Markdown table cell: a ``|`` or a line break in a name would split the row."""
    return " ".join(text.replace("|", "\\|").splitlines())


def _md_table(rows: list[Row], label: str) -> list[str]:
    lines = [
        f"| # | {label} | Cost | WoW | Calls | Cost / completed task | Likely cause |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.rank} | {_cell(_key(r.key))} | {at_least(r.cost_usd, r.unpriced_calls)} | {change(r.cost_change)} | "
            f"{calls_text(r.calls, r.unpriced_calls)} | {at_least(r.cost_per_completed_task_usd, r.unpriced_calls)} | "
            f"{_cell(_causes(r))} |"
        )
    return lines if rows else ["_No calls this week._"]


def _md_sessions(rows: list[SessionRow]) -> list[str]:
    lines = [
        "| # | Session | Agent | User | Cost | Calls | Tasks (completed) |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for s in rows:
        lines.append(
            f"| {s.rank} | {_cell(s.session)} | {_cell(_key(s.agent))} | {_cell(_key(s.user))} | "
            f"{at_least(s.cost_usd, s.unpriced_calls)} | {calls_text(s.calls, s.unpriced_calls)} | "
            f"{s.tasks} ({s.completed_tasks}) |"
        )
    return lines if rows else ["_No sessions this week._"]


def to_markdown(report: WeeklyReport) -> str:
    """The report as GitHub-flavoured Markdown (also the plain-text part of the email)."""
    t = report.totals
    lines = [f"# {title(report)}", "", period(report), "", headline(report), "", "## Totals", ""]
    lines += ["| Metric | This week | Last week | Change |", "|---|---:|---:|---:|"]
    for label, key, unit in TOTAL_ROWS:
        lines.append(
            f"| {label} | {format_value(t[key], unit)} | {format_value(t[key + '_prev'], unit)} | {change(t[key + '_change'])} |"
        )
    for attr, label in SECTIONS:
        rows = getattr(report, attr)
        lines += ["", f"## Top {len(rows)} {label.lower()} by cost", ""] + _md_table(rows, label[:-1])
    lines += ["", f"## Top {len(report.sessions)} sessions by cost", ""] + _md_sessions(report.sessions)
    lines += ["", "## Open recommendations", ""]
    if report.recommendations is None:
        lines.append("_Recommendations are not available in this build._")
    else:
        lines += [f"- {_recommendation_line(r)}" for r in report.recommendations] or ["_None open._"]
    link = dashboard_link(report.dashboard_url, "overview", report.since, report.until, {})
    if link:
        lines += ["", f"[Open the dashboard]({link})"]
    return "\n".join(lines) + "\n"


# -- HTML (email) -----------------------------------------------------------------------------------

_TABLE = "border-collapse:collapse;width:100%;margin:8px 0 20px 0;font-size:13px;"
_TH = "text-align:left;padding:6px 8px;border-bottom:2px solid #d0d7de;background:#f6f8fa;color:#24292f;"
_TD = "padding:6px 8px;border-bottom:1px solid #eaeef2;color:#24292f;vertical-align:top;"
_NUM = "text-align:right;white-space:nowrap;"
_H2 = "font-size:17px;margin:24px 0 4px 0;color:#24292f;"


_BETTER = {"lower": 1, "higher": -1}
# Which way is good news for each total (cost and waste: lower; cache hits and completed tasks: higher).
TOTAL_BETTER = {
    "total_cost_usd": "lower",
    "unpriced_calls": "lower",
    "failed_tasks": "lower",
    "cost_per_completed_task_usd": "lower",
    "waste_usd": "lower",
    "waste_ratio": "lower",
    "p95_session_cost_usd": "lower",
    "cache_hit_rate": "higher",
    "completed_tasks": "higher",
}


def _change_html(value: float | None, better: str | None = "lower") -> str:
    """The change, red when it is bad news, green when good, grey when neutral or nil."""
    if value is None or better is None or round(value * 100) == 0:
        color = "#57606a"
    else:
        color = "#cf222e" if value * _BETTER[better] > 0 else "#1a7f37"
    return f'<span style="color:{color};font-weight:600;">{escape(change(value))}</span>'


def _nowrap(text: str) -> str:
    return f'<span style="white-space:nowrap;">{escape(text)}</span>'


def _cells(values: list[tuple[str, bool]]) -> str:
    return "".join(f'<td style="{_TD}{_NUM if num else ""}">{v}</td>' for v, num in values)


def _head(labels: list[tuple[str, bool]]) -> str:
    return (
        "<tr>"
        + "".join(f'<th style="{_TH}{_NUM if num else ""}">{escape(v)}</th>' for v, num in labels)
        + "</tr>"
    )


def _html_rows(rows: list[Row], label: str) -> str:
    if not rows:
        return '<p style="color:#57606a;">No calls this week.</p>'
    head = _head(
        [
            ("#", True),
            (label, False),
            ("Cost", True),
            ("WoW", True),
            ("Calls", True),
            ("Cost / completed task", True),
            ("Likely cause", False),
        ]
    )
    body = "".join(
        "<tr>"
        + _cells(
            [
                (str(r.rank), True),
                (_nowrap(_key(r.key)), False),
                (at_least(r.cost_usd, r.unpriced_calls), True),
                (_change_html(r.cost_change), True),
                (calls_text(r.calls, r.unpriced_calls), True),
                (at_least(r.cost_per_completed_task_usd, r.unpriced_calls), True),
                (escape(_causes(r)), False),
            ]
        )
        + "</tr>"
        for r in rows
    )
    return f'<table style="{_TABLE}">{head}{body}</table>'


def _html_sessions(rows: list[SessionRow]) -> str:
    if not rows:
        return '<p style="color:#57606a;">No sessions this week.</p>'
    head = _head(
        [
            ("#", True),
            ("Session", False),
            ("Agent", False),
            ("User", False),
            ("Cost", True),
            ("Calls", True),
            ("Tasks (completed)", True),
        ]
    )
    body = "".join(
        "<tr>"
        + _cells(
            [
                (str(s.rank), True),
                (escape(s.session), False),
                (_nowrap(_key(s.agent)), False),
                (escape(_key(s.user)), False),
                (at_least(s.cost_usd, s.unpriced_calls), True),
                (calls_text(s.calls, s.unpriced_calls), True),
                (f"{s.tasks} ({s.completed_tasks})", True),
            ]
        )
        + "</tr>"
        for s in rows
    )
    return f'<table style="{_TABLE}">{head}{body}</table>'


def _html_totals(report: WeeklyReport) -> str:
    t = report.totals
    head = _head([("Metric", False), ("This week", True), ("Last week", True), ("Change", True)])
    body = "".join(
        "<tr>"
        + _cells(
            [
                (escape(label), False),
                (format_value(t[key], unit), True),
                (format_value(t[key + "_prev"], unit), True),
                (_change_html(t[key + "_change"], TOTAL_BETTER.get(key)), True),
            ]
        )
        + "</tr>"
        for label, key, unit in TOTAL_ROWS
    )
    return f'<table style="{_TABLE}">{head}{body}</table>'


def _html_recommendations(report: WeeklyReport) -> str:
    if report.recommendations is None:
        return '<p style="color:#57606a;">Recommendations are not available in this build.</p>'
    if not report.recommendations:
        return '<p style="color:#57606a;">None open.</p>'
    items = "".join(
        f'<li style="margin:4px 0;">{escape(_recommendation_line(r))}</li>' for r in report.recommendations
    )
    return f'<ul style="padding-left:20px;font-size:13px;">{items}</ul>'


def to_html(report: WeeklyReport) -> str:
    """A self-contained HTML page with inline CSS only (what email clients render)."""
    sections = "".join(
        f'<h2 style="{_H2}">Top {len(getattr(report, attr))} {label.lower()} by cost</h2>'
        + _html_rows(getattr(report, attr), label[:-1])
        for attr, label in SECTIONS
    )
    link = dashboard_link(report.dashboard_url, "overview", report.since, report.until, {})
    button = (
        f'<p><a href="{escape(link)}" style="display:inline-block;background:#0969da;color:#ffffff;'
        f'padding:8px 14px;border-radius:6px;text-decoration:none;font-weight:600;">Open the dashboard</a></p>'
        if link
        else ""
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{escape(title(report))}</title></head>"
        '<body style="margin:0;padding:0;background:#ffffff;">'
        '<div style="max-width:880px;margin:0 auto;padding:24px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;">'
        f'<h1 style="font-size:22px;margin:0 0 4px 0;color:#24292f;">{escape(title(report))}</h1>'
        f'<p style="margin:0 0 12px 0;color:#57606a;font-size:13px;">{escape(period(report))}</p>'
        f'<p style="font-size:15px;color:#24292f;">{escape(headline(report))}</p>'
        f'<h2 style="{_H2}">Totals</h2>{_html_totals(report)}{sections}'
        f'<h2 style="{_H2}">Top {len(report.sessions)} sessions by cost</h2>{_html_sessions(report.sessions)}'
        f'<h2 style="{_H2}">Open recommendations</h2>{_html_recommendations(report)}{button}'
        "</div></body></html>"
    )


# -- Slack and JSON ---------------------------------------------------------------------------------


def _slack_rows(rows: list[Row], limit: int = 10) -> str:
    lines = [
        f"{r.rank}. *{slack_escape(_key(r.key))}* {at_least(r.cost_usd, r.unpriced_calls)} ({change(r.cost_change)}), "
        f"{calls_text(r.calls, r.unpriced_calls)} calls, "
        f"{at_least(r.cost_per_completed_task_usd, r.unpriced_calls)}/completed task"
        + (f" — _{slack_escape(_causes(r))}_" if r.causes else "")
        for r in rows[:limit]
    ]
    return "\n".join(lines) or "_No calls this week._"


def _slack_sessions(rows: list[SessionRow], limit: int = 10) -> str:
    lines = [
        f"{s.rank}. `{slack_escape(s.session)}` {at_least(s.cost_usd, s.unpriced_calls)}, "
        f"{calls_text(s.calls, s.unpriced_calls)} calls"
        + (f" · {slack_escape(s.agent)}" if s.agent else "")
        + (f" · user {slack_escape(s.user)}" if s.user else "")
        for s in rows[:limit]
    ]
    return "\n".join(lines) or "_No sessions this week._"


def to_slack_blocks(report: WeeklyReport) -> list[dict[str, Any]]:
    """Block Kit blocks: header, headline, one section per ranking and for the sessions, recommendations,
    dashboard button (every text escaped for mrkdwn and within Slack's limits)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(title(report), 150)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(period(report))}]},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(slack_escape(headline(report)), 3000)},
        },
    ]
    for attr, label in SECTIONS:
        text = f"*Top {label.lower()} by cost*\n" + _slack_rows(getattr(report, attr))
        blocks += [
            {"type": "divider"},
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}},
        ]
    text = "*Top sessions by cost*\n" + _slack_sessions(report.sessions)
    blocks += [
        {"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}},
    ]
    if report.recommendations:
        recs = "\n".join(f"• {slack_escape(_recommendation_line(r))}" for r in report.recommendations[:10])
        text = truncate("*Open recommendations*\n" + recs, 3000)
        blocks += [{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    link = dashboard_link(report.dashboard_url, "overview", report.since, report.until, {})
    if link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open the dashboard"}, "url": link}
        blocks.append({"type": "actions", "elements": [button]})
    return blocks


def to_json(report: WeeklyReport) -> str:
    """The report as indented JSON."""
    return json.dumps(report.to_dict(), indent=2, default=str)


def render(report: WeeklyReport, fmt: str) -> str:
    """The report in ``fmt``: ``md``, ``html`` or ``json``."""
    if fmt == "md":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    if fmt == "json":
        return to_json(report)
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
