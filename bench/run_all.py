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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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


@dataclass(frozen=True)
class Goal:
    """A goal the hot path is held to, read from one figure of one benchmark's results.

    `test` says what must hold: the figure's ratio to its baseline at most / at least `limit`,
    the figure at most `limit` above its baseline (in its unit), or the figure itself at most
    `limit`. `figure` is the start of the figure's name; of several, the last (the largest
    size measured) counts.
    """

    text: str
    benchmark: str
    figure: str
    test: Literal["ratio <=", "ratio >=", "above baseline <=", "value <="]
    limit: float

    def measured(self, figures: list[dict[str, Any]]) -> tuple[str, bool] | None:
        """What was measured, and whether the goal holds; None if nothing was."""
        found = [f for f in figures if f["name"].startswith(self.figure)]
        if not found:
            return None
        figure = found[-1]
        value, ratio, unit = figure["value"], figure["ratio"], figure["unit"]
        if self.test == "above baseline <=":
            above = value - figure["baseline"]
            shown, holds = f"{above:+,.1f} {unit}", above <= self.limit
        elif self.test == "value <=":
            shown, holds = f"{value:,.1f} {unit}", value <= self.limit
        else:
            shown = f"{ratio:.3g}x"
            holds = ratio <= self.limit if self.test == "ratio <=" else ratio >= self.limit
        return f"{shown} ({figure['name']})", holds


GOALS = [
    Goal("gateway accepted/s, 8 clients >= 0.5x raw send_and_wait", "gateway_publish",
         "accepted/s, 8 clients, 1 process", "ratio >=", 0.5),
    Goal("gateway accepted/s, 64 clients >= 0.5x raw", "gateway_publish",
         "accepted/s, 64 clients, 1 process", "ratio >=", 0.5),
    Goal("gateway p99 accept latency, 8 clients <= 3x raw", "gateway_publish",
         "p99 accept latency, 8 clients, 1 process", "ratio <=", 3),
    Goal("gateway p99 accept latency, 64 clients <= 3x raw", "gateway_publish",
         "p99 accept latency, 64 clients, 1 process", "ratio <=", 3),
    Goal("202 -> console p99 at 1 alert/s <= 3x raw produce -> consume", "notifier_latency",
         "p99 202->console, 1 alert/s", "ratio <=", 3),
    Goal("202 -> console p99 at 50 alerts/s <= 3x raw", "notifier_latency",
         "p99 202->console, 50 alert/s", "ratio <=", 3),
    Goal("one notifier keeps up with 50 alerts/s (consoles)", "notifier_latency",
         "throughput to consoles, 50 alert/s", "ratio >=", 0.95),
    Goal("fan-out, last console <= 1.3x a bare broadcast", "notifier_fanout",
         "to the last of", "ratio <=", 1.3),
    Goal("memory per connection <= 20 KiB above the bare server's", "notifier_fanout",
         "memory per connection idle", "above baseline <=", 20),
    Goal("reconnect storm live again within 2x the bare server's time", "notifier_fanout",
         "consoles reconnected with resume_after", "ratio >=", 0.5),
    Goal("two processes on PostgreSQL: the other's item p99 <= 50 ms", "notifier_processes",
         "p99 recorded->console, recorded by the other process", "value <=", 50),
]  # fmt: skip


def goals_table(results: dict[str, dict[str, Any]], previous: list[str]) -> list[str]:
    """The goals, each with what its benchmark measured last and whether it holds; a goal
    whose benchmark has no result here keeps its row of the `previous` table."""
    kept = {row.split(" | ")[0].removeprefix("| "): row for row in previous}
    lines = [
        "## Goals",
        "",
        "The hot path's goals, each read from the figure named in its benchmark's section below "
        "(sizes and rates as measured there).",
        "",
        "| goal | measured | holds |",
        "| --- | --- | --- |",
    ]
    for goal in GOALS:
        result = results.get(goal.benchmark)
        measured = goal.measured(result["figures"]) if result else None
        if measured is None:
            lines.append(kept.get(goal.text, f"| {goal.text} | not measured | |"))
        else:
            lines.append(f"| {goal.text} | {measured[0]} | {'yes' if measured[1] else 'no'} |")
    return lines


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
    results = {
        name: json.loads(path.read_text(encoding="utf-8"))
        for name in BENCHMARKS
        if (path := RESULTS_DIR / f"{name}.json").exists()
    }
    lines += ["", *goals_table(results, kept.get("Goals", []))]
    for name in BENCHMARKS:
        if name not in results:
            lines += ["", *kept.get(name, [f"## {name}", "", "Not measured yet."])]
            continue
        result = results[name]
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
