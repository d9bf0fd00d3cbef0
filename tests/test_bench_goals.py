"""The performance page's goals table reads each goal from its benchmark's figure."""

from __future__ import annotations

from typing import Any

from bench.run_all import GOALS, goals_table


def figure(name: str, value: float, baseline: float) -> dict[str, Any]:
    return {"name": name, "unit": "KiB", "value": value, "baseline": baseline,
            "ratio": value / baseline}  # fmt: skip


def row_of(lines: list[str], text: str) -> str:
    return next(line for line in lines if line.startswith(f"| {text} |"))


def test_each_goal_is_judged_by_its_own_test_on_the_last_figure_of_its_name() -> None:
    fanout = {"figures": [
        figure("to the last of 1000 consoles", 100, 80),  # 1.25x: would hold
        figure("to the last of 3000 consoles", 300, 200),  # 1.5x: the largest size counts
        figure("memory per connection idle, 3000", 75, 56),  # 19 KiB above
        figure("consoles reconnected with resume_after per s, 3000", 400, 1000),  # 0.4x
    ]}  # fmt: skip
    lines = goals_table({"notifier_fanout": fanout}, previous=[])

    assert row_of(lines, "fan-out, last console <= 1.3x a bare broadcast").endswith(
        "| 1.5x (to the last of 3000 consoles) | no |"
    )
    assert row_of(lines, "memory per connection <= 20 KiB above the bare server's").endswith(
        "| +19.0 KiB (memory per connection idle, 3000) | yes |"
    )
    assert row_of(lines, "reconnect storm live again within 2x the bare server's time").endswith(
        "| no |"
    )
    # Nothing measured and nothing kept: said so, not judged.
    assert row_of(lines, GOALS[0].text).endswith("| not measured | |")


def test_a_goal_without_a_result_keeps_its_row_of_the_previous_page() -> None:
    previous = [f"| {GOALS[0].text} | 0.4x (accepted/s, 8 clients, 1 process) | no |"]

    assert row_of(goals_table({}, previous), GOALS[0].text) == previous[0]
