"""A test that hangs is reported while it hangs, and then ended, instead of using up CI's time.

Every test waits on real processes with deadlines of its own; a hang means a wait that has no
deadline or a task that ignored its cancellation. Past `REPORT_AFTER_SECONDS` this plugin
prints every thread's stack and every asyncio task's, straight to the terminal (the test's
captured output is only shown once it ends, which a hang never does). pytest-timeout
(`timeout` in pyproject.toml) then fails the test, and the suite goes on.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import sys
import threading
from collections.abc import AsyncIterator, Generator
from typing import TextIO

import pytest

from services.common.workers import awaiting

REPORT_AFTER_SECONDS = 240.0

_terminal: TextIO | None = None
_loop: asyncio.AbstractEventLoop | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Keep a handle on the real standard error before any test's output is captured."""
    global _terminal
    _terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _terminal
    if _terminal is not None:
        _terminal.close()
        _terminal = None


@pytest.fixture(scope="session", autouse=True)
async def _watched_loop() -> AsyncIterator[None]:
    """Note the session's event loop, whose tasks a report lists."""
    global _loop
    _loop = asyncio.get_running_loop()
    yield
    _loop = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    timer = threading.Timer(REPORT_AFTER_SECONDS, _report, args=(item.nodeid,))
    timer.daemon = True
    timer.start()
    try:
        return (yield)
    finally:
        timer.cancel()


def _report(nodeid: str) -> None:
    terminal = _terminal
    if terminal is None:
        return
    terminal.write(f"\n\n==== {nodeid} still running after {REPORT_AFTER_SECONDS:.0f} s ====\n")
    terminal.write("---- threads ----\n")
    terminal.flush()
    faulthandler.dump_traceback(file=terminal, all_threads=True)
    loop = _loop
    if loop is not None and not loop.is_closed():
        # Tasks are listed from inside the loop; a loop blocked in a call shows in the threads.
        loop.call_soon_threadsafe(_print_tasks, terminal)


def _print_tasks(terminal: TextIO) -> None:
    terminal.write("---- asyncio tasks ----\n")
    for task in asyncio.all_tasks():
        terminal.write(f"{task.get_name()}\n")
        for place in awaiting(task):
            terminal.write(f"    {place}\n")
    terminal.flush()
