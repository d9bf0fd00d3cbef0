"""Running one crossalert service of the local network as a detached process."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.localnet import process
from services.localnet.errors import LocalNetworkError

START_TIMEOUT_S = 60.0


class LocalServiceError(LocalNetworkError):
    """A service of the local network did not start."""


@dataclass(frozen=True)
class LocalService:
    """One service (`crossalert serve NAME`) with its environment, port and log."""

    name: str
    port: int
    env: dict[str, str]
    state_dir: Path

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        """The service's own log."""
        return self.state_dir / f"{self.name}.log"


def start_service(service: LocalService, *, timeout: float = START_TIMEOUT_S) -> int:
    """Start the service detached and wait until `/healthz` answers; return its pid."""
    service.state_dir.mkdir(parents=True, exist_ok=True)
    pid = process.spawn_detached(
        [sys.executable, "-m", "services.cli", "serve", service.name],
        log_file=service.log_file,
        cwd=service.state_dir.parent,
        env=service.env,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.is_alive(pid):
            raise LocalServiceError(
                f"the {service.name} stopped during start-up",
                detail=process.last_lines(process.read_text(service.log_file)),
            )
        try:
            if httpx.get(f"{service.url}/healthz", timeout=1).status_code == 200:
                return pid
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.terminate(pid, timeout=10)
    raise LocalServiceError(
        f"the {service.name} did not answer on {service.url} within {timeout:g} s",
        detail=process.last_lines(process.read_text(service.log_file)),
    )
