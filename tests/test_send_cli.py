"""`crossalert send` and `crossalert observations send`: a subprocess submits through a real
registry and gateway over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from gateway_support import envelopes_on, flood_alert, running_gateway
from registry_support import running_registry

from schemas import parse_cap_json, to_cap_xml
from schemas.envelopes import ObservationsReported

ROOT = Path(__file__).resolve().parent.parent
CLIENT = {
    "CROSSALERT_SEND_CLIENT_ID": "liege-system",
    "CROSSALERT_SEND_CLIENT_SECRET": "liege-secret-123",
}


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the test process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs over real HTTP on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                assert not task.done(), "the server stopped while starting"
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Sent:
    """What the `send` subprocess did."""

    code: int | None
    out: str
    err: str


async def run_send(
    file: Path, env: dict[str, str], *command: str, client: dict[str, str] = CLIENT
) -> Sent:
    """Run `crossalert send FILE` (or another command) with these CROSSALERT_SEND_* variables."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from services.cli import main; main()",
        *(command or ("send",)),
        str(file),
        cwd=ROOT,
        env=os.environ | client | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return Sent(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def network(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[dict[str, str]]:
    """A registry and a gateway served over HTTP: the variables that point `send` at them."""
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
        served(registry.app) as registry_url,
        served(gateway.app) as gateway_url,
    ):
        yield {
            "CROSSALERT_SEND_REGISTRY_URL": registry_url,
            "CROSSALERT_SEND_GATEWAY_URL": gateway_url,
        }


async def test_a_json_alert_is_published(network: dict[str, str], tmp_path: Path) -> None:
    alert = flood_alert()
    file = tmp_path / "alert.json"
    file.write_text(json.dumps(alert), encoding="utf-8")

    sent = await run_send(file, network)

    assert sent.code == 0, sent.err
    answer = json.loads(sent.out)
    assert answer["published"] is True
    assert answer["topic"] == "alerts.geo"
    assert answer["identifier"] == alert["identifier"]


async def test_a_cap_xml_alert_is_published(network: dict[str, str], tmp_path: Path) -> None:
    alert = flood_alert()
    file = tmp_path / "alert.xml"
    file.write_bytes(to_cap_xml(parse_cap_json(json.dumps(alert))))

    sent = await run_send(file, network)

    assert sent.code == 0, sent.err
    answer = json.loads(sent.out)
    assert answer["published"] is True
    assert answer["topic"] == "alerts.geo"
    assert answer["identifier"] == alert["identifier"]


async def test_an_alert_of_another_sender_is_refused_naming_the_field(
    network: dict[str, str], tmp_path: Path
) -> None:
    file = tmp_path / "alert.json"
    file.write_text(json.dumps(flood_alert(sender="meldkamer@vrzl.example.org")), encoding="utf-8")

    sent = await run_send(file, network)

    assert sent.code == 1
    assert sent.out == ""
    assert sent.err.startswith("403 wrong_sender sender: "), sent.err


async def test_an_invalid_cap_file_is_refused_before_contacting_anyone(tmp_path: Path) -> None:
    document = to_cap_xml(parse_cap_json(json.dumps(flood_alert())))
    file = tmp_path / "alert.xml"
    file.write_bytes(document.replace(b"<urgency>Expected</urgency>", b"<urgency>Soon</urgency>"))
    with socket.socket() as nobody:  # a bound port that accepts no connection
        nobody.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{nobody.getsockname()[1]}"

        sent = await run_send(
            file, {"CROSSALERT_SEND_REGISTRY_URL": url, "CROSSALERT_SEND_GATEWAY_URL": url}
        )

    assert sent.code == 1, sent.err  # 2 had anyone been contacted: nothing listens there
    assert "info[0].urgency" in sent.err
    assert sent.out == ""


AVIQ_CLIENT = {
    "CROSSALERT_SEND_CLIENT_ID": "aviq-system",
    "CROSSALERT_SEND_CLIENT_SECRET": "aviq-secret-123",
}


async def test_an_agency_csv_is_submitted_to_the_exercise_twin(
    network: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    lab = f"lab-{uuid.uuid4().hex[:8]}"
    file = tmp_path / "week.csv"
    file.write_text(
        "indicator;region;station;period;value\n"
        f"rate-14d;BE332;{lab};2026-W11;72,25\n"
        f"rate-14d;BE332;{lab};2026-W12;-\n",
        encoding="utf-8",
    )

    sent = await run_send(
        file, network, "observations", "send", "--status", "exercise", client=AVIQ_CLIENT
    )

    assert sent.code == 0, sent.err
    answer = json.loads(sent.out)
    assert answer == {
        "rows": 2,
        "not_reported": 1,
        "places": [f"BE332/{lab}"],
        "topic": "exercise.observations",
    }
    stored = [
        observation
        for envelope in await envelopes_on(kafka_bootstrap, "exercise.observations")
        if isinstance(envelope, ObservationsReported)
        for observation in envelope.observations
        if observation.station == lab
    ]
    assert sorted((o.period, o.value) for o in stored) == [("2026-W11", 72.25), ("2026-W12", None)]


async def test_wrong_rows_are_refused_naming_the_line_and_field(
    network: dict[str, str], tmp_path: Path
) -> None:
    file = tmp_path / "week.csv"
    file.write_text(
        "indicator,region,period,value\nrate-14d,BE332,2026-W11,forty\n", encoding="utf-8"
    )

    sent = await run_send(file, network, "observations", "send", client=AVIQ_CLIENT)

    assert sent.code == 1
    assert sent.out == ""
    assert sent.err.startswith("422 not_a_number rows[0].value: "), sent.err
    assert "line 2:" in sent.err


async def test_rows_beyond_the_senders_competences_are_refused(
    network: dict[str, str], tmp_path: Path
) -> None:
    file = tmp_path / "week.json"
    file.write_text(
        json.dumps([{"indicator": "rate-14d", "region": "BE332", "period": "2026-W11",
                     "value": 3}]),
        encoding="utf-8",
    )  # fmt: skip

    sent = await run_send(file, network, "observations", "send")  # Liège's crisis centre

    assert sent.code == 1
    assert sent.err.startswith("403 not_competent rows[0].indicator: "), sent.err


async def test_an_unreadable_file_is_refused_before_contacting_anyone(tmp_path: Path) -> None:
    file = tmp_path / "week.json"
    file.write_text("{not json", encoding="utf-8")
    with socket.socket() as nobody:
        nobody.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{nobody.getsockname()[1]}"

        sent = await run_send(
            file,
            {"CROSSALERT_SEND_REGISTRY_URL": url, "CROSSALERT_SEND_GATEWAY_URL": url},
            "observations",
            "send",
            client=AVIQ_CLIENT,
        )

    assert sent.code == 1, sent.err
    assert "json_invalid" in sent.err
