"""Running one crossalert service of the local network as a detached process."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.localnet import process
from services.localnet.errors import LocalNetworkError

START_TIMEOUT_S = 60.0
CODE_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this code was loaded from: the services it starts run the same code (a
benchmark run from another worktree measures that worktree, not the installed one)."""


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
        env={"PYTHONPATH": _python_path(), **service.env},
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


def _python_path() -> str:
    return os.pathsep.join(filter(None, [str(CODE_ROOT), os.environ.get("PYTHONPATH")]))


# The builders below configure each service as `crossalert up` and the benchmarks run it: its
# SQLite database and its log in `state_dir`, JSON logs, Kafka at `bootstrap`. `settings` are
# further settings of the service by name (`token_ttl_seconds="3600"`).


def registry_service(state_dir: Path, bootstrap: str, port: int, **settings: str) -> LocalService:
    """The registry, its signing key in `state_dir`."""
    return _service(
        "registry",
        "REGISTRY",
        state_dir,
        bootstrap,
        port,
        signing_key_file=str(state_dir / "registry-signing-key.pem"),
        **settings,
    )


def gateway_service(
    state_dir: Path, bootstrap: str, port: int, registry_url: str, **settings: str
) -> LocalService:
    """The alert gateway, trusting the registry at `registry_url` and asking it whom an alert
    reached as the seed's demo client `svc-alert-gateway`."""
    return _service(
        "alert_gateway", "GATEWAY", state_dir, bootstrap, port, registry_url=registry_url,
        registry_client_id=GATEWAY_CLIENT[0], registry_client_secret=GATEWAY_CLIENT[1],
        **settings,
    )  # fmt: skip


def notifier_service(
    state_dir: Path, bootstrap: str, port: int, registry_url: str, smtp_port: int, **settings: str
) -> LocalService:
    """The notifier, routing as the seed's demo client `svc-notifier`, mailing `smtp_port`
    (and passing the console's composer calls to the gateway: `gateway_url` in `settings`)."""
    return _service(
        "notifier", "NOTIFIER", state_dir, bootstrap, port, registry_url=registry_url,
        registry_client_id=NOTIFIER_CLIENT[0], registry_client_secret=NOTIFIER_CLIENT[1],
        smtp_port=str(smtp_port), **settings,
    )  # fmt: skip


def evaluator_service(
    state_dir: Path,
    bootstrap: str,
    port: int,
    registry_url: str,
    gateway_url: str,
    **settings: str,
) -> LocalService:
    """The evaluator, reading the rules and publishing for the agencies as the seed's demo
    client `svc-evaluator`, through the gateway at `gateway_url`."""
    return _service(
        "evaluator", "EVALUATOR", state_dir, bootstrap, port, registry_url=registry_url,
        registry_client_id=EVALUATOR_CLIENT[0], registry_client_secret=EVALUATOR_CLIENT[1],
        gateway_url=gateway_url, **settings,
    )  # fmt: skip


def feed_ingest_service(
    state_dir: Path,
    bootstrap: str,
    port: int,
    registry_url: str,
    gateway_url: str,
    **settings: str,
) -> LocalService:
    """The feed ingest worker, reading the registered CAP feeds and publishing what they bring
    as each feed's organisation (the seed's demo client `svc-feed-ingest`), through the gateway
    at `gateway_url`."""
    return _service(
        "feed_ingest", "FEEDS", state_dir, bootstrap, port, registry_url=registry_url,
        registry_client_id=FEED_INGEST_CLIENT[0], registry_client_secret=FEED_INGEST_CLIENT[1],
        gateway_url=gateway_url, **settings,
    )  # fmt: skip


EVALUATOR_CLIENT = ("svc-evaluator", "demo-secret-svc-evaluator")
"""The seed's API client the evaluator reads rules and publishes for agencies as."""
FEED_INGEST_CLIENT = ("svc-feed-ingest", "demo-secret-svc-feed-ingest")
"""The seed's API client the feed ingest worker reads feeds and publishes for sources as."""
NOTIFIER_CLIENT = ("svc-notifier", "demo-secret-svc-notifier")
"""The seed's API client the notifier routes as (scope routing:resolve)."""
GATEWAY_CLIENT = ("svc-alert-gateway", "demo-secret-svc-alert-gateway")
"""The seed's API client the gateway asks routing as (scope routing:resolve)."""


def _service(
    name: str, prefix: str, state_dir: Path, bootstrap: str, port: int, **settings: str
) -> LocalService:
    base = {
        "database_url": f"sqlite+aiosqlite:///{state_dir / f'{name}.sqlite3'}",
        "kafka_bootstrap_servers": bootstrap,
        "http_port": str(port),
        "log_format": "json",
    }
    env = {
        f"CROSSALERT_{prefix}_{key.upper()}": value for key, value in {**base, **settings}.items()
    }
    return LocalService(name=name, port=port, env=env, state_dir=state_dir)
