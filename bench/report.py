"""Statistics and reporting shared by the benchmarks: percentiles, ratios, a results file."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.common.stats import percentile

__all__ = ["Figure", "median", "percentile", "report"]

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Figure:
    """One measured quantity next to its baseline from the same run."""

    name: str
    unit: str
    value: float
    baseline_name: str
    baseline: float

    @property
    def ratio(self) -> float:
        """value / baseline: how many times the baseline's cost (or rate) this is."""
        return self.value / self.baseline if self.baseline else float("nan")


def median(samples: list[float]) -> float:
    """The median of the samples."""
    return statistics.median(samples)


def report(benchmark: str, figures: list[Figure], *, settings: dict[str, object]) -> Path:
    """Print the figures as a table and write them to bench/results/<benchmark>.json."""
    width = max(len(f.name) for f in figures)
    print(f"\n{benchmark}  ({', '.join(f'{k}={v}' for k, v in settings.items())})")
    for f in figures:
        print(
            f"  {f.name:<{width}}  {f.value:12.3f} {f.unit:<8}"
            f"  baseline {f.baseline_name}: {f.baseline:12.3f}  ratio {f.ratio:6.2f}"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{benchmark}.json"
    document = {
        "benchmark": benchmark,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "settings": settings,
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"  written to {path}")
    return path
