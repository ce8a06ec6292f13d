"""Every benchmark, one after the other (never two at once: they would measure each other), at the sizes the
README reports. Results go to bench/results/.

    python bench/run_all.py [--quick]

``--quick`` runs the smallest size of each, to check the scripts work (a few minutes); without it the full set
takes about two and a half hours on a 2-core machine (Phoenix's share is most of it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def plan(quick: bool) -> list[list[str]]:
    """The scripts and their arguments, in order."""
    if quick:
        return [
            ["pricing.py"],
            ["stages.py", "--spans", "10000", "--out", "/tmp/agentledger_bench_stages_quick.json"],
            ["ingest.py", "--spans", "10000", "--out", "/tmp/agentledger_bench_ingest_quick.json"],
            ["load.py", "--duration", "10", "--out", "/tmp/agentledger_bench_load_quick.json"],
            ["warehouse.py", "--calls", "100000", "--out", "/tmp/agentledger_bench_warehouse_quick.json"],
        ]
    return [
        ["pricing.py"],
        ["stages.py"],
        [
            "ingest.py",
            "--spans",
            "10000",
            "100000",
            "1000000",
            "--out",
            str(BENCH / "results" / "ingest.json"),
        ],
        # the side-by-side run with Arize Phoenix (installed once into its own virtual environment)
        [
            "ingest.py",
            "--spans",
            "10000",
            "100000",
            "--phoenix",
            "--phoenix-timeout",
            "600",
            "--out",
            str(BENCH / "results" / "ingest_phoenix.json"),
        ],
        [
            "ingest.py",
            "--spans",
            "1000000",
            "--phoenix",
            "--phoenix-timeout",
            "600",
            "--out",
            str(BENCH / "results" / "ingest_phoenix_1e6.json"),
        ],
        ["load.py"],
        # a longer soak with the receiver's worker processes
        [
            "load.py",
            "--duration",
            "180",
            "--senders",
            "10",
            "--spans-per-request",
            "512",
            "--ingest-workers",
            "2",
            "--out",
            str(BENCH / "results" / "load_workers.json"),
        ],
        ["warehouse.py", "--calls", "1000000", "10000000"],
        ["ui_pages.py", "--calls", "1000000", "--json", str(BENCH / "results" / "ui_pages.json")],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smallest sizes only, to check the scripts")
    args = parser.parse_args()
    failed = []
    for command in plan(args.quick):
        print(f"== {' '.join(command)}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(BENCH / command[0]), *command[1:]])
        print(f"== {command[0]}: exit {code} after {time.perf_counter() - t0:.0f} s", flush=True)
        if code:
            failed.append(command[0])
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
