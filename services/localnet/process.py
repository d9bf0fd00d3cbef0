"""Detached local processes: start one in its own session, find it by pid, stop it gracefully."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# The shell starts the command in the background, prints its pid and exits at once, so the
# command is adopted by init: it outlives the caller and never lingers as the caller's zombie.
_SPAWN_DETACHED = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'


def spawn_detached(
    command: Sequence[str], *, log_file: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start `command` in a new session, output appended to `log_file`; return its pid."""
    launcher = subprocess.run(
        ["sh", "-c", _SPAWN_DETACHED, "sh", str(log_file), *command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    return int(launcher.stdout.strip())


def command_line(pid: int) -> list[str]:
    """The arguments of a live process, or [] if there is none (or only its zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_alive(pid: int, *, marker: str | None = None) -> bool:
    """Whether `pid` runs, and, given a marker, whether its command line contains it."""
    args = command_line(pid)
    if not args:
        return False
    return marker is None or any(marker in arg for arg in args)


def terminate(pid: int, *, timeout: float, marker: str | None = None) -> bool:
    """SIGTERM `pid`, wait up to `timeout` s, then SIGKILL; False if it was not running."""
    if not is_alive(pid, marker=marker):
        return False
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout=timeout):
        return True
    _signal(pid, signal.SIGKILL)
    _wait_gone(pid, timeout=10.0)
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_gone(pid: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    return not is_alive(pid)


def accepts_connections(host: str, port: int) -> bool:
    """Whether something listens on host:port (TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def read_text(path: Path) -> str:
    """A file's text, or "" when it cannot be read (a log not written yet)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def last_lines(text: str, count: int = 30) -> str:
    """The last `count` lines of `text`, for an error message."""
    return "\n".join(text.strip().splitlines()[-count:])
