"""Communication checks end to end: one addressed exercise through the real gateway, registry
and notifier on the real broker, consoles open or not, a mail server refusing one mailbox,
officers acknowledging or staying silent; what the check records is what they did.

The Meuse agreement's parties are Liège's and Eupen's desks (BE33), Zuid-Limburg's control
room and the GGD (NL42): four contact points, whatever their competences
(tests/registry/world.yaml).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from exercise_support import mentions, on_real_topics, served_network
from notifier_support import Network, ids

from schemas.envelopes import Channel, DeliveryStatus
from schemas.exercise import CheckRecord
from services.exercise.check import check_message, problems, run_check
from services.exercise.runner import Client, Endpoints

PLANNER = Client("planner", "planner-secret-123")
MEUSE_PARTIES = ["be-eupen-desk", "be-liege-duty", "nl-ggd-health", "nl-limburg-duty"]


@pytest.fixture
async def served(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[tuple[Network, Endpoints]]:
    async with served_network(tmp_path, kafka_bootstrap) as found:
        yield found


async def test_a_check_finds_the_refusing_mail_server_and_the_silent_desk(
    served: tuple[Network, Endpoints], tmp_path: Path, kafka_bootstrap: str
) -> None:
    network, endpoints = served
    network.smtp.refused_recipients.add("krisenstab@eupen.example.org")
    # GGD has no console open; Zuid-Limburg's is open but nobody there acknowledges.
    consoles = {cp: await network.console(cp) for cp in MEUSE_PARTIES if cp != "nl-ggd-health"}
    check = asyncio.create_task(run_check(
        PLANNER, endpoints, ["agreement:meuse-flood"], timedelta(seconds=6),
        checks=tmp_path / "checks", check_id="c1", poll_seconds=0.2,
    ))  # fmt: skip
    acknowledged: dict[str, datetime] = {}
    for contact_point, delay in (("be-liege-duty", 0.5), ("be-eupen-desk", 1.5)):
        console = consoles[contact_point]
        await console.wait_for(lambda c: "exercise.c1.check" in ids(c), what="the check")
        await asyncio.sleep(delay)
        answer = await network.notifier.http.post(
            "/v1/alerts/cogic@metz.example.org/exercise.c1.check/acknowledgements",
            json={"note": "check received"},
            headers={"Authorization": f"Bearer {console.token}"},
        )
        assert answer.status_code == 201, answer.text
        acknowledged[contact_point] = datetime.now(UTC)

    record = await check

    assert record.status_code == 202, record.answer
    by_contact = {c.contact_point: c for c in record.contact_points}
    assert sorted(by_contact) == MEUSE_PARTIES
    channels = {
        (c.contact_point, ch.channel): ch for c in record.contact_points for ch in c.channels
    }
    # Eupen's mail server refused the mailbox; its console showed the check.
    eupen_mail = channels["be-eupen-desk", Channel.EMAIL]
    assert eupen_mail.status is DeliveryStatus.FAILED and eupen_mail.reached_at is None
    assert eupen_mail.detail is not None and eupen_mail.detail.startswith("550")
    for reached in ("be-eupen-desk", "be-liege-duty", "nl-limburg-duty"):
        assert channels[reached, Channel.CONSOLE].reached_at is not None
    assert channels["nl-ggd-health", Channel.CONSOLE].reached_at is None  # no console open
    for mailed in ("be-liege-duty", "nl-ggd-health", "nl-limburg-duty"):
        assert channels[mailed, Channel.EMAIL].status is DeliveryStatus.SENT
    # The acknowledgements are the officers', at the moments they made them.
    assert {c.contact_point for c in record.contact_points if c.acknowledged_at} == set(
        acknowledged
    )
    for contact_point, moment in acknowledged.items():
        ack_seconds = by_contact[contact_point].ack_seconds
        assert ack_seconds == pytest.approx((moment - record.sent_at).total_seconds(), abs=0.5)
    assert by_contact["be-liege-duty"].acknowledged_by == "officer.liege"
    found = problems(record)
    assert any(p.startswith("be-eupen-desk (be-eupen) did not receive it by email (failed: 550")
               for p in found)  # fmt: skip
    assert "nl-limburg-duty (nl-limburg) did not acknowledge within 6 s" in found
    assert "nl-ggd-health (nl-ggd) did not acknowledge within 6 s" in found
    assert not any(p.startswith(("be-liege-duty", "be-eupen-desk (be-eupen) did not ack"))
                   for p in found)  # fmt: skip
    stored = CheckRecord.model_validate_json((tmp_path / "checks" / "c1.json").read_bytes())
    assert stored == record
    # Mail went to the three mailboxes that take it, and nowhere else.
    mails = await network.smtp.wait_for(3, timeout=10)
    assert sorted(str(m["To"]) for m in mails) == [
        "izb@ggdzl.example.org", "meldkamer@vrzl.example.org", "permanence@liege.example.org",
    ]  # fmt: skip
    assert not [e for e in await on_real_topics(kafka_bootstrap) if mentions(e, "exercise.c1.")]
    for console in consoles.values():
        await console.disconnect()


async def test_only_a_planner_addresses_an_exercise_and_a_planner_sends_nothing_else(
    served: tuple[Network, Endpoints],
) -> None:
    network, _ = served
    addressed = check_message(
        "c2", ["network:all"], sender="crisis@liege.example.org", category="Geo",
        sent=datetime.now(UTC),
    )  # fmt: skip
    refused = await network.gateway.http.post(
        "/v1/alerts", json=addressed, headers=network.publisher
    )
    assert refused.status_code == 403, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("not_a_planner", "scope")

    planner = await network.registry.auth("planner", "planner-secret-123")
    real = addressed | {"sender": "cogic@metz.example.org", "status": "Actual", "scope": "Public"}
    real.pop("addresses")
    refused = await network.gateway.http.post("/v1/alerts", json=real, headers=planner)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "insufficient_scope"


async def test_checks_on_a_schedule_leave_a_trend_per_organisation_and_channel(
    served: tuple[Network, Endpoints], tmp_path: Path
) -> None:
    network, endpoints = served
    credentials = tmp_path / "clients.yaml"
    credentials.write_text(yaml.safe_dump({"api_clients": [
        {"organisation": "fr-metz", "client_id": "planner", "secret": "planner-secret-123"},
    ]}), encoding="utf-8")  # fmt: skip
    checks = tmp_path / "checks"
    nccn = await network.console("be-nccn-duty")  # Limburg's console stays closed

    async def crossalert(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "exercise", *args, "--checks", str(checks),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        return process.returncode or 0, out.decode(), err.decode()

    code, out, err = await crossalert(
        "check", "--contact", "be-nccn-duty", "--organisation", "nl-limburg", "--deadline", "2s",
        "--every", "3s", "--times", "2", "--client", "planner", "--credentials", str(credentials),
        "--registry", endpoints.registry_url, "--gateway", endpoints.gateway_url,
        "--notifier", endpoints.notifier_url,
    )  # fmt: skip

    assert code == 0, err
    assert out.count("nl-limburg-duty (nl-limburg) did not acknowledge within 2 s") == 2
    assert len(list(checks.glob("*.json"))) == 2
    code, out, err = await crossalert("trend", "--json")
    assert code == 0, err
    rows = {(r["organisation"], r["channel"]): r["cells"] for r in json.loads(out)}
    assert list(rows) == [  # by organisation; console, e-mail, then acknowledgements
        ("be-nccn", "console"), ("be-nccn", "email"), ("be-nccn", "acknowledged"),
        ("nl-limburg", "console"), ("nl-limburg", "email"), ("nl-limburg", "acknowledged"),
    ]  # fmt: skip
    reached = {key: [(c["reached"], c["total"]) for c in cells] for key, cells in rows.items()}
    assert reached["be-nccn", "console"] == [(1, 1), (1, 1)]
    assert reached["nl-limburg", "console"] == [(0, 1), (0, 1)]
    assert reached["nl-limburg", "email"] == [(1, 1), (1, 1)]
    assert reached["nl-limburg", "acknowledged"] == [(0, 1), (0, 1)]
    cells = rows["be-nccn", "console"]
    gap = datetime.fromisoformat(cells[1]["sent_at"]) - datetime.fromisoformat(cells[0]["sent_at"])
    assert timedelta(seconds=2.5) < gap < timedelta(seconds=10)
    code, out, _ = await crossalert("trend")
    assert code == 0 and "nl-limburg" in out and "0/1" in out
    await nccn.disconnect()


def test_a_check_that_reached_nobody_says_so() -> None:
    sent = datetime.now(UTC)
    base = {"check_id": "c3", "addresses": ["contact:nobody"], "sent_at": sent,
            "deadline_seconds": 5, "cap_sender": "ncc@be.example.org",
            "identifier": "exercise.c3.check"}  # fmt: skip

    unreached = CheckRecord(**base, status_code=202)
    refused = CheckRecord(**base, status_code=403, answer={"code": "not_a_planner"})

    assert problems(unreached) == [
        "nobody was reached: the addresses name no contact point, or the notifier had not "
        "taken the check in by the deadline"
    ]
    assert problems(refused) == ["the gateway refused the check (403): {'code': 'not_a_planner'}"]
