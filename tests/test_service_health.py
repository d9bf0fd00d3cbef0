"""Each service runs as its own process (`crossalert serve`) and reports its dependencies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from services.cli import SERVICE_SETTINGS

PREFIXES = {name: cls.model_config["env_prefix"] for name, cls in SERVICE_SETTINGS.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(service: str, kafka: str, state: Path) -> Iterator[str]:
    """Run `crossalert serve SERVICE` on a free port; yield its base URL."""
    port = free_port()
    prefix = PREFIXES[service]
    env = os.environ | {
        f"{prefix}HTTP_PORT": str(port),
        f"{prefix}KAFKA_BOOTSTRAP_SERVERS": kafka,
        f"{prefix}LOG_FORMAT": "json",
        f"{prefix}DATABASE_URL": f"sqlite+aiosqlite:///{state / 'service.sqlite3'}",
        f"{prefix}SIGNING_KEY_FILE": str(state / "signing-key.pem"),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from services.cli import main; main()", "serve", service],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode()) from None  # type: ignore[union-attr]
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_service_is_ready_when_kafka_answers(
    service: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    with running(service, kafka_bootstrap, tmp_path) as url:
        health = httpx.get(f"{url}/healthz")
        ready = httpx.get(f"{url}/readyz", timeout=10)
        openapi = httpx.get(f"{url}/openapi.json")

    assert health.status_code == 200
    checks = ready.json()["checks"]
    assert checks["kafka"] == "ok"
    if service in ("alert_gateway", "notifier"):
        # No registry runs in this test: the service knows no signing keys, so it is not ready.
        assert ready.status_code == 503
        assert checks["registry_keys"].startswith("unavailable")
    elif service == "evaluator":
        # No registry runs in this test: the evaluator has no rules to watch with, so not ready.
        assert ready.status_code == 503
        assert checks["registry_rules"].startswith("unavailable")
    elif service == "feed_ingest":
        # No registry runs in this test: the worker knows no feeds to poll, so not ready.
        assert ready.status_code == 503
        assert checks["registry_feeds"].startswith("unavailable")
    else:
        assert ready.status_code == 200, ready.text
        assert set(checks.values()) == {"ok"}
    assert openapi.json()["info"]["title"].startswith("crossalert")


@pytest.mark.parametrize("service", sorted(SERVICE_SETTINGS))
def test_service_says_promptly_when_kafka_is_down(service: str, tmp_path: Path) -> None:
    # Nothing listens on port 1: readiness must answer, not hang.
    with running(service, "127.0.0.1:1", tmp_path) as url:
        # The client's own bound turns a hang into a failure of this test.
        ready = httpx.get(f"{url}/readyz", timeout=30)

    assert ready.json()["checks"]["kafka"].startswith("unavailable")
    if service == "registry":
        # The registry keeps serving tokens and routing; its changes wait in the outbox.
        assert ready.status_code == 200
    else:
        assert ready.status_code == 503
        assert ready.headers["Retry-After"].isdigit()
