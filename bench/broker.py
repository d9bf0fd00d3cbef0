"""The broker a benchmark measures on: $CROSSALERT_BENCH_KAFKA=host:port, else a local one."""

from __future__ import annotations

import os
from contextlib import ExitStack

from services.localnet import kafka


def bench_broker(stack: ExitStack, name: str, ports: tuple[int, int]) -> str:
    """The bootstrap address; a local broker (state in .state/`name`) stops with `stack`."""
    bootstrap = os.environ.get("CROSSALERT_BENCH_KAFKA")
    if bootstrap:
        return bootstrap
    root = kafka.repo_root()
    broker = kafka.LocalBroker(root, root / ".state" / name, *ports)
    bootstrap = kafka.start(broker).bootstrap
    stack.callback(kafka.stop, broker)
    return bootstrap
