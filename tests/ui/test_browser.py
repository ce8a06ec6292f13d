"""End to end: `agentledger up --no-demo` on a demo ledger, driven in a real headless Chromium.

The Overview tiles show the metrics of the ledger, a sidebar filter changes them, a session row opens the
trace drill-down, every page renders, and the browser console stays free of errors. Screenshots of each page
go to artifacts/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from ui_helpers import REPO, Ledger, make_demo_ledger, write_alert_rounds

from agentledger.analytics.metrics import Filters, compute_metrics
from agentledger.analytics.report_render import dashboard_link
from agentledger.analytics.whatif import parse_policy, run_whatif
from agentledger.core.pricing import Pricer
from agentledger.core.settings import Settings
from agentledger.ui import format as fmt
from agentledger.warehouse import connect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
PAGES = {
    "Overview": "overview",
    "Breakdown": "breakdown",
    "Sessions and traces": "sessions",
    "Waste": "waste",
    "Recommendations": "recommendations",
    "Alerts and reports": "alerts",
    "Sources and prices": "sources",
}
TILES = ("Spend", "Cost/completed task", "Waste ratio", "Cache hit rate", "P95 session cost")
WHATIF_POLICY = {"substitutions": [{"task_type": "generate", "model": "gpt-4o-mini", "provider": "openai"}]}

pytestmark = [pytest.mark.browser, pytest.mark.slow]
if not CHROMIUM.is_file():  # the only reason to skip: no browser on this machine (CI installs it)
    pytestmark.append(pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)"))


# -- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _expected_tiles(ledger: Ledger, **filters: str) -> dict[str, str]:
    """The tile values of the default view (the 30 days up to the last call) computed by the analytics."""
    wh = connect(ledger.url)
    try:
        last = wh.sql("SELECT max(started_at) AS t FROM calls")["t"][0].astimezone(UTC).date()
        since = datetime.combine(last - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
        m = compute_metrics(wh, Filters(since=since, until=since + timedelta(days=30), **filters))
    finally:
        wh.close()
    return dict(
        zip(
            TILES,
            (
                fmt.usd(m["total_cost_usd"]),
                fmt.usd(m["cost_per_completed_task_usd"]),
                fmt.pct(m["waste_ratio"]),
                fmt.pct(m["cache_hit_rate"]),
                fmt.usd(m["p95_session_cost_usd"]),
            ),
            strict=True,
        )
    )


def _default_window(ledger: Ledger) -> dict[str, str]:
    """The dashboard's default window (the 30 days up to the last call) as ISO since/until."""
    wh = connect(ledger.url)
    try:
        last = wh.sql("SELECT max(started_at) AS t FROM calls")["t"][0].astimezone(UTC).date()
    finally:
        wh.close()
    since = datetime.combine(last - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
    return {"since": since.isoformat(), "until": (since + timedelta(days=30)).isoformat()}


def _expected_whatif(ledger: Ledger) -> dict[str, str]:
    """The what-if tiles of :data:`WHATIF_POLICY` over the default view, replayed directly."""
    wh = connect(ledger.url)
    try:
        last = wh.sql("SELECT max(started_at) AS t FROM calls")["t"][0].astimezone(UTC).date()
        since = datetime.combine(last - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
        filters = Filters(since=since, until=since + timedelta(days=30))
        result = run_whatif(wh, filters, parse_policy(WHATIF_POLICY), Pricer.from_settings(Settings()))
    finally:
        wh.close()
    return {
        "Recorded cost": fmt.usd(result["recorded_cost_usd"]),
        "Cost under the policy": fmt.usd(result["replayed_cost_usd"]),
        "Saving over the window": fmt.usd(result["savings_usd"]),
        "Saving a month": fmt.usd(result["monthly_savings_usd"]),
    }


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    ledger = make_demo_ledger(tmp_path_factory.mktemp("e2e") / "ledger.duckdb")
    write_alert_rounds(ledger.url)  # so the Alerts page has states and a history to show
    return ledger


@pytest.fixture(scope="module")
def expected(ledger: Ledger) -> dict[str, dict[str, str]]:
    # Computed before the server starts: the server process then holds the DuckDB file.
    return {
        "all": _expected_tiles(ledger),
        "support-bot": _expected_tiles(ledger, agent="support-bot"),
        "whatif": _expected_whatif(ledger),
        "window": _default_window(ledger),
    }


_UP: dict[str, subprocess.Popen] = {}  # the `up` process of the module, for the last test to stop


@pytest.fixture(scope="module")
def dashboard(ledger: Ledger, expected: dict[str, dict[str, str]]) -> Iterator[str]:
    """`agentledger up --no-demo` (API and dashboard in one process) on free ports; yields the dashboard URL."""
    api_port, ui_port = free_port(), free_port()
    env = dict(
        os.environ,
        AGENTLEDGER_WAREHOUSE=ledger.url,
        AGENTLEDGER_HOST="127.0.0.1",
        AGENTLEDGER_PORT=str(api_port),
        AGENTLEDGER_UI_HOST="127.0.0.1",
        AGENTLEDGER_UI_PORT=str(ui_port),
    )
    log = (ledger.path.parent / "up.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentledger.app.cli", "up", "--no-demo"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{ui_port}"
    _UP["proc"] = proc
    try:
        _wait_healthy(proc, f"{url}/_stcore/health", ledger.path.parent / "up.log")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_healthy(proc: subprocess.Popen, health: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"agentledger up exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the dashboard did not answer {health} in {timeout} s:\n{log.read_text()}")


# -- the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(dashboard: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1440, "height": 2200})
        tab.console_errors = []  # type: ignore[attr-defined]
        tab.on("console", lambda m: m.type == "error" and tab.console_errors.append(m.text))
        tab.on("pageerror", lambda e: tab.console_errors.append(f"page error: {e}"))
        tab.goto(dashboard)
        yield tab
        browser.close()


def settle(tab) -> None:  # noqa: ANN001
    """Wait until the script run is over and no element is still a loading skeleton."""
    tab.wait_for_timeout(600)
    tab.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=60_000,
    )
    tab.wait_for_timeout(400)


def read_tiles(tab) -> dict[str, str]:  # noqa: ANN001
    tiles = tab.locator('[data-testid="stMetric"]')
    labels = tiles.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    values = tiles.locator('[data-testid="stMetricValue"]').all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values, strict=True)}


def wait_tiles(tab, wanted: dict[str, str], timeout: float = 60) -> dict[str, str]:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    while time.monotonic() < deadline:
        shown = read_tiles(tab)
        if shown == wanted:
            return shown
        tab.wait_for_timeout(300)
    return shown


def go(tab, title: str) -> None:  # noqa: ANN001
    tab.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    tab.get_by_role(
        "heading", name=title if title != "Recommendations" else "Recommendations and what-if"
    ).first.wait_for()
    settle(tab)


def shot(tab, name: str) -> None:  # noqa: ANN001
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


# -- the tests (in order: they share one browser tab) ----------------------------------------------


def test_overview_tiles_show_the_metrics(page, expected: dict[str, dict[str, str]]) -> None:  # noqa: ANN001
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    settle(page)
    assert wait_tiles(page, expected["all"]) == expected["all"]
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 2
    shot(page, "overview")


def test_a_filter_changes_the_tiles_and_the_url(page, expected: dict[str, dict[str, str]]) -> None:  # noqa: ANN001
    agent = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Agent")
    agent.click()
    page.get_by_role("option", name="support-bot", exact=True).click()
    assert wait_tiles(page, expected["support-bot"]) == expected["support-bot"]
    assert expected["support-bot"]["Spend"] != expected["all"]["Spend"]
    assert "agent=support-bot" in page.url
    shot(page, "overview_support_bot")
    # back to all agents for the pages below
    agent.click()
    page.get_by_role("option", name="(all)", exact=True).click()
    assert wait_tiles(page, expected["all"]) == expected["all"]
    assert "agent=" not in page.url


def test_a_session_row_opens_the_trace_drill_down(page) -> None:  # noqa: ANN001
    go(page, "Sessions and traces")
    sessions = page.locator('[data-testid="stDataFrame"]').first
    sessions.wait_for()
    box = sessions.bounding_box()
    assert box is not None
    # The grid is a canvas: click the selection box of the first data row (header and rows are 35 px high).
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    page.get_by_text("Traces of session").wait_for(timeout=60_000)
    page.get_by_role("heading", name="Trace").last.wait_for(timeout=60_000)
    settle(page)
    assert "trace=" in page.url
    charts = page.locator('[data-testid="stPlotlyChart"]')
    assert charts.count() == 2  # the waterfall and the context growth
    labels = read_tiles(page)
    assert set(labels) >= {"Cost", "Calls", "Input tokens", "Output tokens", "Duration"}
    assert labels["Cost"].startswith("$")
    shot(page, "sessions")


@pytest.mark.parametrize("title", [t for t in PAGES if t not in ("Overview", "Sessions and traces")])
def test_every_page_renders(page, title: str) -> None:  # noqa: ANN001
    go(page, title)
    assert page.locator('[data-testid="stException"]').count() == 0
    shot(page, PAGES[title])


def test_the_whatif_form_replays_a_substitution(page, expected: dict[str, dict[str, str]]) -> None:  # noqa: ANN001
    go(page, "Recommendations")
    page.get_by_role("combobox", name="Model for generate").click()
    page.get_by_role("option", name="gpt-4o-mini", exact=True).click()
    page.get_by_role("button", name="Replay the window").click()
    page.get_by_text("Cost under the policy").wait_for(timeout=60_000)
    settle(page)
    shown = {k: v for k, v in read_tiles(page).items() if k in expected["whatif"]}
    assert shown == expected["whatif"]
    assert (
        page.locator('[data-testid="stPlotlyChart"]').count() == 2
    )  # the savings and the replay by task type
    page.locator('[data-testid="stPlotlyChart"]').last.scroll_into_view_if_needed()
    settle(page)
    shot(page, "recommendations_whatif")


def test_the_alerts_page_shows_states_history_and_the_report(page) -> None:  # noqa: ANN001
    go(page, "Alerts and reports")
    assert read_tiles(page)["Firing now"] == "2"
    assert page.locator('[data-testid="stDataFrame"]').count() == 2  # state and history
    page.get_by_text("agentledger weekly cost report").first.wait_for()
    assert page.get_by_role("button", name="Markdown").count() == 1
    shot(page, "alerts")


def test_no_console_errors(page) -> None:  # noqa: ANN001
    go(page, "Overview")
    assert page.console_errors == []


def test_the_overview_link_of_alerts_and_reports_opens_the_overview(
    page,  # noqa: ANN001
    dashboard: str,
    expected: dict[str, dict[str, str]],
) -> None:
    """Alert notifications and the weekly report link to ``<dashboard>/overview?from=..&to=..&agent=..``: that
    opens the Overview with the link's window and filters, not Streamlit's "page not found"."""
    window = expected["window"]
    link = dashboard_link(
        dashboard,
        "overview",
        datetime.fromisoformat(window["since"]),
        datetime.fromisoformat(window["until"]),
        {"agent": "support-bot"},
    )
    assert link is not None and "/overview?" in link
    context = page.context.browser.new_context(viewport={"width": 1280, "height": 1200})
    tab = context.new_page()  # a fresh session, as from a chat message or an e-mail
    try:
        tab.goto(link)
        tab.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
        settle(tab)
        assert wait_tiles(tab, expected["support-bot"]) == expected["support-bot"]
        assert tab.get_by_text("Page not found").count() == 0
        assert "agent=support-bot" in tab.url
        assert tab.get_by_role("heading", name="Overview").count() == 1
    finally:
        context.close()


def test_ctrl_c_stops_up_and_releases_the_ledger(page, ledger: Ledger) -> None:  # noqa: ANN001
    """Last in the module: it stops the module's `agentledger up`, after every page was opened."""
    proc = _UP["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    output = (ledger.path.parent / "up.log").read_text()
    assert "Stopping..." in output
    # Nothing left for the interpreter's shutdown to report: connections and frames were released first.
    assert "leaked" not in output, output[-2000:]
    # The DuckDB file is free for another process to write.
    wh = connect(ledger.url)
    wh.close()
