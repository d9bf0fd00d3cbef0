"""`.state/network.json`: what `crossalert up` started, so that `crossalert down` can stop it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class RunningService:
    """One process of the local network and where to reach it."""

    name: str
    address: str
    pid: int


def network_file(root: Path) -> Path:
    """Where the description of the running local network is kept."""
    return root / ".state" / "network.json"


def write_network(
    root: Path, services: list[RunningService], *, demo: dict[str, Any] | None = None
) -> Path:
    """Record the running services (and the demo credentials), replacing any earlier record."""
    path = network_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "services": [asdict(service) for service in services],
        "demo_credentials": demo or {},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def read_network(root: Path) -> list[RunningService]:
    """The services recorded by the last `up`, or [] when nothing is recorded."""
    path = network_file(root)
    if not path.is_file():
        return []
    document = json.loads(path.read_text())
    return [RunningService(**service) for service in document["services"]]


def forget_network(root: Path) -> None:
    """Remove the record of the running local network."""
    network_file(root).unlink(missing_ok=True)
