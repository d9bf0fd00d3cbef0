"""Sharing one local server between processes: a file lock, and leases held while in use."""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from services.localnet import process

T = TypeVar("T")


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (created if needed) through the block."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextmanager
def leased(leases: Path, start: Callable[[], T], stop: Callable[[], object]) -> Iterator[T]:
    """Run `start` and yield its result; of concurrent holders of `leases`, the last runs `stop`."""
    # Several test sessions (people sharing a checkout) may use one server at once: each holds
    # a lease named after its process, so that one session ending does not stop another's server.
    lease = leases / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with exclusive(leases / ".lock"):
        started = start()
        lease.touch()
    try:
        yield started
    finally:
        with exclusive(leases / ".lock"):
            lease.unlink(missing_ok=True)
            if not _live_leases(leases):
                stop()


def _live_leases(leases: Path) -> list[Path]:
    live = []
    for lease in leases.glob("[0-9]*-*"):
        if process.is_alive(int(lease.name.split("-")[0])):
            live.append(lease)
        else:
            lease.unlink(missing_ok=True)
    return live
