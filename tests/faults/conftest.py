"""The network a fault drill runs: each drill module gives the Kafka it drills on
(`drill_bootstrap`) and how many consoles each desk opens (`consoles_per_desk`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from notifier_support import Network, network_on


@pytest.fixture
async def network(
    tmp_path: Path, drill_bootstrap: str, consoles_per_desk: int
) -> AsyncIterator[Network]:
    # Each desk's consoles are one officer's: the notifier lets them open that many.
    async with network_on(
        tmp_path, drill_bootstrap, console_connections_per_officer=consoles_per_desk
    ) as net:
        yield net
