"""Benchmark: how long each dashboard page waits on the warehouse, on a ledger of 10^6 calls.

The ledger (``ledger_data.py``: calls with response ids and a span row each, root spans with every kind of
outcome signal, 2 % of the calls logged a second time by LiteLLM) is generated in bulk as Arrow tables and
written through the warehouse's own ``write_calls``/``write_spans``, far faster than the demo's OTLP path. Each page is
then run through Streamlit's AppTest with every cache cleared first (cold: what a new filter costs), and once
more with the caches warm (what a page switch costs). The time of every analytics call the page makes is
recorded too. Target: under one second of analytics per page.

Recommendations are measured twice: as a visit finds them after ingest (``recommendations``: the stored
report of the default view was refreshed first, as the scheduler and ``agentledger up`` do when data
arrives) and computed on demand (``recommendations-on-demand``: every snapshot deleted before each cold
run, as for a filtered view or a ledger changed since the last refresh), and as a visit finds them while calls
keep arriving (``recommendations-after-a-write``: one stored call written again before each cold run, so the
ledger has changed since the refresh; the dashboard accepts the refreshed report for two refresh intervals). The Alerts page's weekly report
holds the week's recommendations: ``alerts`` finds them stored (the first cold run computes and stores them),
``alerts-on-demand`` computes them in every run.

    python bench/ui_pages.py [--calls 1000000] [--warehouse duckdb:///tmp/bench_ui.duckdb] [--repeat 3]
        [--pages overview waste] [--json bench/results/ui_pages.json] [--label current]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ledger_data import chunks  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "ui" / "app.py"
PAGES = (
    "overview",
    "breakdown",
    "sessions",
    "waste",
    "recommendations",
    "recommendations-on-demand",
    "recommendations-after-a-write",
    "alerts",
    "alerts-on-demand",
    "sources",
)
ON_DEMAND = "-on-demand"
AFTER_A_WRITE = "-after-a-write"


def fill(url: str, calls: int) -> None:
    """Create the benchmark ledger at ``url`` (unless it already holds it): ``calls`` calls, see ledger_data."""
    from agentledger.warehouse import connect

    wh = connect(url)
    try:
        have = int(wh.sql("SELECT count(*) AS n FROM calls WHERE source = 'otlp'")["n"][0])
        if have == calls:
            print(f"reusing {url} ({have:,} calls)", file=sys.stderr)
            return
        if have:
            raise SystemExit(f"{url} already holds {have:,} calls; give another --warehouse")
        began = time.perf_counter()
        rows = 0
        for chunk in chunks(calls):
            wh.write_calls(chunk.calls)
            wh.write_spans(chunk.spans)
            rows += chunk.calls.num_rows
        print(
            f"generated and wrote {rows:,} call rows in {time.perf_counter() - began:.1f} s", file=sys.stderr
        )
    finally:
        wh.close()


def _timed(records: dict[str, list[float]]) -> Callable[..., Any]:
    """A replacement of ``ui.state.lookup`` whose functions record their run time under module.name."""
    from agentledger.ui import state

    original = state.lookup

    def lookup(module: str, name: str) -> Callable[..., Any] | None:
        fn = original(module, name)
        if fn is None:
            return None

        def run(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                records[f"{module}.{name}"].append(time.perf_counter() - began)

        return run

    return lookup


def measure(
    url: str, top_trace: str, repeat: int = 1, pages: tuple[str, ...] = PAGES
) -> list[dict[str, Any]]:
    """Per page: cold and warm page time and the analytics time behind it.

    With ``repeat`` > 1 each page runs cold that many times (caches cleared each time) and the run with the
    least analytics time is kept, with the median beside it: on a shared machine the other loads only ever add.
    """
    from streamlit.testing.v1 import AppTest

    from agentledger.analytics.recommend import refresh_stored
    from agentledger.core.settings import Settings
    from agentledger.warehouse import connect

    os.environ["AGENTLEDGER_WAREHOUSE"] = url
    results = []
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["trace"] = top_trace  # so the Sessions page opens a drill-down too
    at.run()  # imports and the warehouse connection, outside the measurements
    wh = connect(url)  # the same database instance as the pages' (DuckDB shares it within a process)
    for page in pages:
        on_demand = page.endswith(ON_DEMAND)
        at.switch_page(f"views/{page.removesuffix(ON_DEMAND).removesuffix(AFTER_A_WRITE)}.py")
        if page.startswith("recommendations") and not on_demand:
            refresh_stored(wh, Settings())  # what the scheduler does once data arrived
        forget = _before_each_run(wh, page)
        runs = [_cold_and_warm(at, page, forget) for _ in range(repeat)]
        best = min(runs, key=lambda r: r["analytics_s"])
        best["analytics_median_s"] = round(statistics.median(r["analytics_s"] for r in runs), 3)
        best["cold_page_median_s"] = round(statistics.median(r["cold_page_s"] for r in runs), 3)
        results.append(best)
    return results


def _before_each_run(wh: Any, page: str) -> Callable[[], object]:
    """What happens before each cold run of ``page``: nothing, every snapshot deleted (on demand), or one
    stored call written again (after a write: the ledger's version changes, its data does not)."""
    if page.endswith(ON_DEMAND):
        return lambda: wh.sql("DELETE FROM snapshots")
    if page.endswith(AFTER_A_WRITE):
        one_call = wh.sql("SELECT * FROM calls LIMIT 1").to_arrow()
        return lambda: wh.write_calls(one_call)
    return lambda: None


def _cold_and_warm(at: Any, page: str, forget: Callable[[], object]) -> dict[str, Any]:
    """One cold run of the current page (every cache cleared, ``forget`` run first) and one warm run
    right after it."""
    import streamlit as st

    from agentledger.ui import state

    records: dict[str, list[float]] = defaultdict(list)
    state.lookup = _timed(records)  # type: ignore[assignment]
    forget()
    st.cache_data.clear()
    began = time.perf_counter()
    at.run()
    cold = time.perf_counter() - began
    began = time.perf_counter()
    at.run()
    warm = time.perf_counter() - began
    if at.exception:
        raise SystemExit(f"page {page} failed: {at.exception[0].value}")
    calls = {name: round(sum(times), 3) for name, times in sorted(records.items())}
    return {
        "page": page,
        "analytics_s": round(sum(calls.values()), 3),
        "cold_page_s": round(cold, 3),
        "warm_page_s": round(warm, 3),
        "calls": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--warehouse", default="duckdb:////tmp/agentledger_bench_ui.duckdb")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--repeat", type=int, default=3, help="cold runs per page (the best is kept)")
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=list(PAGES))
    parser.add_argument("--label", default="current", help="name of this run in the --json file")
    args = parser.parse_args()
    load_before = os.getloadavg()
    fill(args.warehouse, args.calls)
    from agentledger.analytics.breakdowns import top_traces
    from agentledger.analytics.filters import Filters
    from agentledger.warehouse import connect

    wh = connect(args.warehouse)
    try:
        top = top_traces(wh, Filters(), limit=1)["trace_id"][0]
    finally:
        wh.close()
    results = measure(args.warehouse, top, args.repeat, tuple(args.pages))
    print(f"{'page':<26}{'analytics':>11}{'cold page':>11}{'warm page':>11}")
    for r in results:
        print(
            f"{r['page']:<26}{r['analytics_s']:>10.3f}s{r['cold_page_s']:>10.3f}s{r['warm_page_s']:>10.3f}s"
        )
        for name, seconds in r["calls"].items():
            print(f"    {name:<40}{seconds:>8.3f}s")
    if args.json:
        payload = {
            "calls": args.calls,
            "warehouse": args.warehouse,
            "machine": os.uname().machine,
            "cpus": os.cpu_count(),
            "cold_runs_per_page": args.repeat,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "pages": results,
        }
        # Several labelled runs share the file (e.g. the code before and after a change, on the same ledger).
        saved = json.loads(args.json.read_text()) if args.json.is_file() else {}
        runs = saved.get("runs", {}) if isinstance(saved.get("runs"), dict) else {}
        runs[args.label] = payload
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
