"""Every benchmark, one after the other, then docs/performance.md from their results.

    .venv/bin/python -m bench.run_all [--quick] [--only gateway_publish,notifier_latency]
                                      [--render-only]

Each benchmark runs as its own process with its own broker and services (never two at once:
they would measure each other) and writes bench/results/<name>.json; the page lists every
result found there, each figure beside its baseline from the same run, with the settings, the
time it was measured and the machine. --quick runs fewer rounds and smaller sizes: quicker and
noisier figures (the page gives each one's settings); --render-only writes the page from the
results already there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench.report import RESULTS_DIR

PAGE = Path(__file__).parent.parent / "docs" / "performance.md"

# name -> (arguments for figures to quote, arguments for --quick)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "cap_codec": ([], ["--rounds", "3", "--passes", "5"]),
    "kafka_publish": ([], ["--rounds", "3", "--messages", "300"]),
    "registry_routing": ([], ["--rounds", "3", "--resolutions", "100"]),
    "gateway_publish": (["--rounds", "3"], ["--rounds", "1", "--alerts", "200"]),
    "notifier_latency": ([], ["--rounds", "1", "--rates", "1,20,50", "--alerts", "60"]),
    "notifier_processes": ([], ["--rounds", "2", "--alerts", "60"]),
    "notifier_fanout": ([], ["--rounds", "1", "--sizes", "1000"]),
    "abuse": ([], ["--rounds", "1"]),
    "evaluator_flow": ([], ["--rounds", "2"]),
}


def run(names: list[str], *, quick: bool) -> list[str]:
    """Run the benchmarks named; the names of those that failed."""
    failed = []
    for name in names:
        arguments = BENCHMARKS[name][1 if quick else 0]
        print(f"\n=== {name} {' '.join(arguments)}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", f"bench.{name}", *arguments], check=False)
        print(f"=== {name}: exit {done.returncode} after {time.monotonic() - started:.0f} s")
        if done.returncode != 0:
            failed.append(name)
    return failed


def render(previous: str = "") -> str:
    """The page: every result in bench/results, in the order of BENCHMARKS.

    Results are not committed, so a benchmark with none here keeps its section of the
    `previous` page (a fresh checkout measuring one benchmark must not drop the others')."""
    kept = _sections(previous)
    lines = [
        "# Performance",
        "",
        "Written by `.venv/bin/python -m bench.run_all` from `bench/results/*.json`; run it to",
        "measure again (each benchmark alone: `.venv/bin/python -m bench.NAME --help`). Every",
        "figure stands beside its baseline measured in the same run on the same machine, with",
        "their ratio (value / baseline). The machines are shared and noisy: compare ratios, and",
        "runs made the same hour, rather than absolute figures across days.",
        "",
        f"Rendered on: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}.",
    ]
    for name in BENCHMARKS:
        path = RESULTS_DIR / f"{name}.json"
        if not path.exists():
            lines += ["", *kept.get(name, [f"## {name}", "", "Not measured yet."])]
            continue
        result = json.loads(path.read_text(encoding="utf-8"))
        settings = ", ".join(f"{key}={value}" for key, value in result["settings"].items())
        machine = ", ".join(f"{key} {value}" for key, value in result["machine"].items())
        lines += [
            "",
            f"## {name}",
            "",
            f"Measured {result['measured_at']} ({machine}); {settings}.",
            "",
            "| figure | value | baseline | ratio |",
            "| --- | --- | --- | --- |",
        ]
        for figure in result["figures"]:
            lines.append(
                f"| {figure['name']} | {figure['value']:,.2f} {figure['unit']} "
                f"| {figure['baseline_name']}: {figure['baseline']:,.2f} "
                f"| {figure['ratio']:.3g} |"
            )
    return "\n".join(lines) + "\n"


def _sections(page: str) -> dict[str, list[str]]:
    """The lines of each `## name` section of a rendered page, by name."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in page.splitlines():
        if line.startswith("## "):
            current = sections[line[3:].strip()] = [line]
        elif current is not None:
            current.append(line)
    return {name: lines[:-1] if lines[-1] == "" else lines for name, lines in sections.items()}


def main() -> None:
    """Run the benchmarks asked for, then write the page."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller sizes")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--render-only", action="store_true", help="write the page, run nothing")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = sorted(set(names) - BENCHMARKS.keys())
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    failed = [] if args.render_only else run(names, quick=args.quick)
    previous = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    PAGE.write_text(render(previous), encoding="utf-8")
    print(f"\nwritten to {PAGE}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
