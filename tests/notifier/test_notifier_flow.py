"""Alerts posted to the gateway reach exactly their recipients' consoles and mailboxes.

Real broker, registry, gateway and notifier (served over real HTTP and WebSocket), a real SMTP
server on loopback, and consoles that are WebSocket clients.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from gateway_support import LIEGE, running_gateway
from notifier_support import (
    EMAILS,
    FLOOD_RECIPIENTS,
    OFFICERS,
    Console,
    Network,
    follow_up,
    free_port,
    ids,
    login,
    meuse_alert,
    network_on,
    quiet,
    running_notifier,
)
from registry_support import running_registry
from smtp_support import SmtpServer, running_smtp
from sqlalchemy import select

from schemas.console import AlertState, ItemKind, Welcome
from schemas.deliveries import DeliveryReport
from schemas.envelopes import AlertAcknowledged, decode_envelope
from schemas.registry import RoutingAnswer
from schemas.topics import ACKS
from services.notifier.models import OutboxEvent


@pytest.fixture
async def network(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[Network]:
    async with network_on(tmp_path, kafka_bootstrap) as net:
        yield net


async def test_an_alert_reaches_exactly_its_recipients_consoles_and_mailboxes(
    tmp_path: Path, kafka_bootstrap: str, database_url: str
) -> None:
    # The notifier's records on SQLite, then on PostgreSQL.
    async with network_on(tmp_path, kafka_bootstrap, database_url=database_url) as net:
        consoles = {cp: await net.console(cp) for cp in OFFICERS}
        alert = meuse_alert()

        await net.post(alert)

        reader = await net.registry.auth("notifier", "notifier-secret-123")
        routed = await net.registry.http.post("/v1/routing", json={"alert": alert}, headers=reader)
        answer = RoutingAnswer.model_validate_json(routed.content)
        named = {r.contact_point for r in answer.recipients if not r.escalation_only}
        assert named == FLOOD_RECIPIENTS
        for cp in FLOOD_RECIPIENTS:
            await consoles[cp].wait_for(lambda c: alert["identifier"] in ids(c), what=cp)
        mails = await net.smtp.wait_for(len(FLOOD_RECIPIENTS), timeout=20)
        await quiet()
        for cp, console in consoles.items():
            expected = [alert["identifier"]] if cp in FLOOD_RECIPIENTS else []
            assert ids(console) == expected, cp
        assert sorted(str(m["To"]) for m in net.smtp.messages) == sorted(
            EMAILS[cp] for cp in FLOOD_RECIPIENTS
        )
        assert len(mails) == len(FLOOD_RECIPIENTS)
        item = consoles["be-eupen-desk"].items[0]
        assert item.state is AlertState.ACTIVE
        assert item.alert.identifier == alert["identifier"]
        assert {(r.kind, r.agreement) for r in item.reasons} == {
            ("area", None), ("agreement", "meuse-flood"),
        }  # fmt: skip
        # The item pushed live, built by the intake, is the one the database gives a console
        # opened afterwards.
        fresh = await net.console("be-eupen-desk")
        assert fresh.items == [item]
        assert fresh.items[0].model_dump_json() == item.model_dump_json()
        # Delivered to a console counts as delivered; the report says so for the sender.
        report = await net.report(alert, net.publisher)
        assert report.status_code == 200, report.text
        views = DeliveryReport.model_validate_json(report.content).deliveries
        assert {(v.contact_point, v.channel) for v in views} == {
            (cp, channel) for cp in FLOOD_RECIPIENTS for channel in ("console", "email")
        }
        for view in views:
            await asyncio.sleep(0)
            assert view.sent_at is not None, view
            if view.channel == "console":
                assert view.status in ("delivered", "sent")
            else:
                assert view.status == "sent" and view.detail and view.detail.startswith("250")


async def test_each_recipient_gets_its_language_or_a_note_that_it_is_missing(
    network: Network,
) -> None:
    consoles = {cp: await network.console(cp) for cp in ("be-eupen-desk", "nl-limburg-duty")}
    french = meuse_alert()
    base = french["info"][0]
    german = {**base, "language": "de-DE", "headline": "Hochwasser der Maas bei Lüttich"}
    trilingual = meuse_alert(info=[base, german])

    await network.post(french)
    await network.post(trilingual)

    for console in consoles.values():
        await console.wait_for(lambda c: len(ids(c)) == 2)
    eupen = {i.key.identifier: i for i in consoles["be-eupen-desk"].items}
    # Eupen prefers German, then French.
    assert (
        eupen[trilingual["identifier"]].language,
        eupen[trilingual["identifier"]].language_available,
    ) == ("de-DE", True)
    assert (
        eupen[french["identifier"]].language,
        eupen[french["identifier"]].language_available,
    ) == ("fr-BE", True)
    # Zuid-Limburg reads Dutch or English: neither is there, so it is told.
    limburg = {i.key.identifier: i for i in consoles["nl-limburg-duty"].items}
    assert limburg[french["identifier"]].language_available is False
    mails = await network.smtp.wait_for(2 * len(FLOOD_RECIPIENTS), timeout=20)
    by = {(str(m["To"]), str(m["X-CAP-Identifier"])): m for m in mails}
    german_mail = by[(EMAILS["be-eupen-desk"], trilingual["identifier"])]
    assert "Hochwasser der Maas" in german_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    dutch_mail = by[(EMAILS["nl-limburg-duty"], french["identifier"])]
    text = dutch_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "not available in your language" in text
    assert "La Meuse dépassera" in text


async def test_update_and_cancel_reach_the_same_recipients_and_replace_then_close(
    network: Network,
) -> None:
    consoles = {cp: await network.console(cp) for cp in FLOOD_RECIPIENTS}
    alert = meuse_alert()
    await network.post(alert)
    # The update lowers the severity below the Meuse agreement's minimum, which brought
    # Zuid-Limburg in: it must still see the incident replaced, and then closed.
    update = follow_up(alert, "Update")
    update["info"][0]["severity"] = "Minor"
    update["info"][0]["headline"] = "La Meuse se stabilise"
    await network.post(update)
    cancel = follow_up(update, "Cancel")
    await network.post(cancel)

    for cp, console in consoles.items():
        await console.wait_for(lambda c: len(ids(c)) == 3, what=cp)
        assert ids(console) == [alert["identifier"], update["identifier"], cancel["identifier"]]
        items = console.items
        assert items[1].replaces[0].identifier == alert["identifier"]
        assert items[2].closes[0].identifier == update["identifier"]
        assert items[2].state is AlertState.CANCELLED
    # A console opened now is shown nothing of the cancelled incident.
    late = await network.console("be-eupen-desk")
    await quiet(0.5)
    assert late.items == []
    mails = await network.smtp.wait_for(3 * len(FLOOD_RECIPIENTS), timeout=30)
    subjects = [str(m["Subject"]) for m in mails if m["To"] == EMAILS["nl-limburg-duty"]]
    assert len(subjects) == 3
    assert any(s.startswith("UPDATE") for s in subjects)
    assert any(s.startswith("CANCEL") for s in subjects)
    report = await network.report(cancel, network.publisher)
    history = DeliveryReport.model_validate_json(report.content).history
    assert [(h.msg_type, h.state) for h in history] == [
        ("Alert", "cancelled"), ("Update", "cancelled"), ("Cancel", "cancelled"),
    ]  # fmt: skip


async def test_an_acknowledgement_is_in_the_report_and_on_kafka_as_a_cap_ack(
    network: Network, kafka_bootstrap: str
) -> None:
    eupen = await network.console("be-eupen-desk")
    alert = meuse_alert()
    await network.post(alert)
    await eupen.wait_for(lambda c: alert["identifier"] in ids(c))
    officer = {"Authorization": f"Bearer {eupen.token}"}
    path = f"/v1/alerts/{alert['sender']}/{alert['identifier']}/acknowledgements"

    answer = await network.notifier.http.post(
        path, json={"note": "Pompiers prévenus"}, headers=officer
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["by"] == "officer.eupen"
    again = await network.notifier.http.post(path, json={}, headers=officer)
    assert again.status_code == 200 and again.json()["at"] == answer.json()["at"]
    await eupen.wait_for(lambda c: alert["identifier"] in ids(c, ItemKind.ACKNOWLEDGEMENT))
    shown = eupen.shown()[(alert["sender"], alert["identifier"])]
    assert [(a.by, a.note) for a in shown.acknowledgements] == [
        ("officer.eupen", "Pompiers prévenus")
    ]
    report = DeliveryReport.model_validate_json(
        (await network.report(alert, network.publisher)).content
    )
    acked = {(v.contact_point, str(v.channel)): v for v in report.deliveries}
    assert acked[("be-eupen-desk", "console")].status == "acknowledged"
    assert acked[("be-eupen-desk", "console")].acknowledged_by == "officer.eupen"
    assert acked[("nl-limburg-duty", "console")].acknowledged_at is None
    envelope = await _first_ack(kafka_bootstrap, alert["identifier"])
    assert envelope.ack.msg_type == "Ack"
    assert envelope.ack.sender == "krisen@eupen.example.org"
    assert [(r.sender, r.identifier) for r in envelope.ack.references] == [
        (LIEGE, alert["identifier"])
    ]
    assert envelope.note == "Pompiers prévenus"


async def test_only_the_sender_and_the_recipients_read_the_deliveries(network: Network) -> None:
    alert = meuse_alert()
    await network.post(alert)
    limburg = await network.console("nl-limburg-duty")
    await limburg.wait_for(lambda c: alert["identifier"] in ids(c))
    metz = await login(network.notifier.http, "officer.metz")

    as_recipient = await network.report(alert, {"Authorization": f"Bearer {limburg.token}"})
    as_stranger = await network.report(alert, {"Authorization": f"Bearer {metz}"})
    no_token = await network.report(alert, {})

    assert as_recipient.status_code == 200
    assert as_stranger.status_code == 403
    assert as_stranger.json()["code"] == "not_sender_or_recipient"
    assert no_token.status_code == 401


async def test_a_missed_deadline_chases_the_escalation_contact(network: Network) -> None:
    admin = await network.registry.auth("admin", "admin-secret-123")
    created = await network.registry.http.post(
        "/v1/agreements",
        headers=admin,
        json={
            "id": "fire-drill-deadline", "name": "Fire watch with a one-minute answer",
            "parties": {"regions": ["BE33", "NL42"]}, "categories": ["Fire"],
            "min_severity": "Minor", "ack_deadline_minutes": 1,
            "escalation_contacts": ["fr-metz-cogic"], "valid_from": "2020-01-01",
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    consoles = {
        cp: await network.console(cp)
        for cp in ("be-eupen-desk", "nl-limburg-duty", "fr-metz-cogic")
    }
    # Sent 48 s ago: the deadline passes in 12 s, ample time for Zuid-Limburg to answer.
    fire = meuse_alert(
        sent=(datetime.now(UTC) - timedelta(seconds=48)).replace(microsecond=0).isoformat()
    )
    fire["info"][0].update(category=["Fire"], event="Incendie industriel", severity="Moderate")
    await network.post(fire)
    for cp in ("be-eupen-desk", "nl-limburg-duty"):
        await consoles[cp].wait_for(lambda c: fire["identifier"] in ids(c), what=cp)
    # Zuid-Limburg acknowledges in time; Eupen does not.
    limburg = {"Authorization": f"Bearer {consoles['nl-limburg-duty'].token}"}
    path = f"/v1/alerts/{fire['sender']}/{fire['identifier']}/acknowledgements"
    assert (await network.notifier.http.post(path, json={}, headers=limburg)).status_code == 201

    await consoles["fr-metz-cogic"].wait_for(
        lambda c: fire["identifier"] in ids(c, ItemKind.ESCALATION), timeout=30
    )

    metz = EMAILS["fr-metz-cogic"]
    async with asyncio.timeout(20):
        while not _mails_to(network.smtp, metz):
            await asyncio.sleep(0.1)
    await quiet(1)  # a second escalation mail would have come by now
    assert [str(m["Subject"])[:12] for m in _mails_to(network.smtp, metz)] == ["[ESCALATION]"]
    report = DeliveryReport.model_validate_json(
        (await network.report(fire, network.publisher)).content
    )
    assert [(e.missed_by, e.notified) for e in report.escalations] == [
        ("be-eupen-desk", ["fr-metz-cogic"])
    ]
    states = {(v.contact_point, str(v.channel)): v for v in report.deliveries}
    assert states[("be-eupen-desk", "console")].status == "escalated"
    assert states[("nl-limburg-duty", "console")].status == "acknowledged"
    assert states[("fr-metz-cogic", "console")].escalation is True


def _mails_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [m for m in smtp.messages if m["To"] == address]


async def test_reconnect_and_resume_shows_nothing_twice_and_misses_nothing(
    network: Network,
) -> None:
    console = await network.console("be-eupen-desk")
    first = [meuse_alert() for _ in range(3)]
    for alert in first:
        await network.post(alert)
    await console.wait_for(lambda c: len(ids(c)) == 3)
    await console.disconnect()
    later = [meuse_alert() for _ in range(3)]
    for alert in later:
        await network.post(alert)
    await quiet(0.5)

    await console.connect(resume=True)

    expected = [a["identifier"] for a in first + later]
    await console.wait_for(lambda c: len(ids(c)) == 6)
    await quiet(0.5)
    # Alerts of different incidents travel on different partitions: no order among them.
    shown = ids(console)
    assert sorted(shown[:3]) == sorted(a["identifier"] for a in first)
    assert sorted(shown) == sorted(expected)
    seqs = [item.seq for item in console.items]
    assert seqs == sorted(set(seqs))
    # A console opened afresh is shown the six active alerts once each.
    fresh = await network.console("be-eupen-desk")
    assert sorted(ids(fresh)) == sorted(expected)


async def test_the_feed_refuses_no_token_a_bad_token_a_client_token_and_a_foreign_origin(
    network: Network,
) -> None:
    url = network.notifier.ws_url
    anonymous = Console(url, "not-a-token")
    await anonymous.connect()
    await anonymous.wait_for(lambda c: c.closed is not None)
    assert anonymous.closed is not None and anonymous.closed[0] == 4401
    machine = Console(url, await network.registry.token("liege-system", "liege-secret-123"))
    await machine.connect()
    await machine.wait_for(lambda c: c.closed is not None)
    assert machine.closed is not None and machine.closed[0] == 4403
    officer = await login(network.notifier.http, "officer.eupen")
    with pytest.raises(Exception, match="403"):
        await Console(url, officer).connect(origin="https://evil.example.com")
    same_site = Console(url, officer)
    await same_site.connect(origin=network.notifier.url)
    await same_site.wait_for(lambda c: any(m.type == "synced" for m in c.messages))


async def test_an_open_feed_takes_only_the_same_officers_renewed_token(network: Network) -> None:
    url, http = network.notifier.ws_url, network.notifier.http

    async def live(username: str) -> Console:
        console = Console(url, await login(http, username))
        await console.connect()
        await console.wait_for(lambda c: any(m.type == "synced" for m in c.messages))
        return console

    renewed = await live("officer.eupen")
    await renewed.send({"type": "renew", "token": await login(http, "officer.eupen")})
    forged = await live("officer.eupen")
    await forged.send({"type": "renew", "token": "not-a-token"})
    borrowed = await live("officer.eupen")
    await borrowed.send({"type": "renew", "token": await login(http, "officer.liege")})
    chatty = await live("officer.eupen")
    await chatty.send({"type": "hello", "token": chatty.token})

    for console, code in ((forged, 4401), (borrowed, 4403), (chatty, 4400)):
        await console.wait_for(lambda c: c.closed is not None)
        assert console.closed is not None and console.closed[0] == code, console.closed
    assert renewed.closed is None
    alert = meuse_alert()
    await network.post(alert)
    await renewed.wait_for(lambda c: alert["identifier"] in ids(c))


async def test_the_smtp_server_refusing_with_451_then_accepting_delivers_once(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
        running_smtp(free_port(), refuse_first=2 * len(FLOOD_RECIPIENTS)) as smtp,
        running_notifier(
            tmp_path, kafka_bootstrap, registry, free_port(), smtp_port=smtp.port
        ) as notifier,
    ):
        net = Network(
            registry,
            gateway,
            notifier,
            smtp,
            await registry.auth("liege-system", "liege-secret-123"),
        )
        alert = meuse_alert()
        await net.post(alert)

        mails = await smtp.wait_for(len(FLOOD_RECIPIENTS), timeout=30)
        await quiet()

        assert smtp.refused == 2 * len(FLOOD_RECIPIENTS)
        assert sorted(str(m["To"]) for m in smtp.messages) == sorted(
            EMAILS[cp] for cp in FLOOD_RECIPIENTS
        )
        assert len(mails) == len(FLOOD_RECIPIENTS)
        report = DeliveryReport.model_validate_json(
            (await net.report(alert, net.publisher)).content
        )
        for view in report.deliveries:
            if view.channel == "email":
                assert (view.status, view.attempts) == ("sent", 3), view
                assert view.detail and view.detail.startswith("250")


async def _first_ack(
    bootstrap: str, identifier: str, *, topic: str = ACKS.name
) -> AlertAcknowledged:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"probe-{uuid.uuid4()}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        async with asyncio.timeout(20):
            async for record in consumer:
                envelope = decode_envelope(record.value)
                if (
                    isinstance(envelope, AlertAcknowledged)
                    and envelope.alert.identifier == identifier
                ):
                    return envelope
    finally:
        await consumer.stop()
    raise AssertionError("no acknowledgement on the log")


async def test_an_exercise_reaches_only_exercise_recipients_marked_and_its_ack_stays_exercise(
    network: Network, kafka_bootstrap: str
) -> None:
    consoles = {cp: await network.console(cp) for cp in FLOOD_RECIPIENTS}
    drill = meuse_alert(status="Exercise")

    await network.post(drill)

    # The area rule never routes an exercise: only the Meuse agreement (exercises too) does.
    drilled = {"be-eupen-desk", "nl-limburg-duty"}
    for cp in drilled:
        await consoles[cp].wait_for(lambda c: drill["identifier"] in ids(c), what=cp)
    mails = await network.smtp.wait_for(len(drilled), timeout=20)
    await quiet()
    assert ids(consoles["be-nccn-duty"]) == []
    assert all(consoles[cp].items[0].exercise for cp in drilled)
    assert sorted(str(m["To"]) for m in network.smtp.messages) == sorted(
        EMAILS[cp] for cp in drilled
    )
    assert all(str(m["Subject"]).startswith("[EXERCISE]") for m in mails)
    officer = {"Authorization": f"Bearer {consoles['be-eupen-desk'].token}"}
    path = f"/v1/alerts/{drill['sender']}/{drill['identifier']}/acknowledgements"
    assert (await network.notifier.http.post(path, json={}, headers=officer)).status_code == 201
    ack = await _first_ack(kafka_bootstrap, drill["identifier"], topic="exercise." + ACKS.name)
    assert ack.ack.status == "Exercise"


async def test_two_notifier_processes_split_the_work_and_each_pushes_to_its_own_consoles(
    tmp_path: Path, kafka_bootstrap: str, database_url: str
) -> None:
    shared: dict[str, Any] = {
        "database_url": database_url,
        "consumer_group": f"notifier-{uuid.uuid4().hex[:8]}",
    }
    if database_url.startswith("postgresql"):
        # Half the alerts are recorded by the other process: with the poll this far apart,
        # only PostgreSQL's notifications can bring them to each console within the wait.
        shared["feed_poll_seconds"] = 300
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
        running_smtp(free_port()) as smtp,
        running_notifier(
            tmp_path, kafka_bootstrap, registry, free_port(), smtp_port=smtp.port, **shared
        ) as one,
        running_notifier(
            tmp_path, kafka_bootstrap, registry, free_port(), smtp_port=smtp.port, **shared
        ) as two,
    ):
        publisher = await registry.auth("liege-system", "liege-secret-123")
        consoles = []
        for notifier in (one, two):
            console = Console(notifier.ws_url, await login(notifier.http, "officer.eupen"))
            await console.connect()
            consoles.append(console)
        alerts = [meuse_alert() for _ in range(12)]

        for alert in alerts:
            answer = await gateway.http.post("/v1/alerts", json=alert, headers=publisher)
            assert answer.status_code == 202, answer.text

        expected = sorted(a["identifier"] for a in alerts)
        for console in consoles:
            await console.wait_for(lambda c: sorted(ids(c)) == expected, timeout=30)
        await smtp.wait_for(len(alerts) * len(FLOOD_RECIPIENTS), timeout=30)
        await quiet()
        assert sorted((str(m["To"]), str(m["X-CAP-Identifier"])) for m in smtp.messages) == sorted(
            (EMAILS[cp], a["identifier"]) for cp in FLOOD_RECIPIENTS for a in alerts
        )
        # Both processes recorded alerts: the group split the partitions between them.
        welcome = [m for c in consoles for m in c.messages if isinstance(m, Welcome)]
        assert len({m.instance for m in welcome}) == 2
        assert one.app is not None  # in-process
        async with one.app.state.notifier.sessions() as session:
            recorders = set(await session.scalars(select(OutboxEvent.envelope_json)))
        producers = {decode_envelope(raw).producer for raw in recorders}
        assert len(producers) == 2, producers


async def test_a_console_session_logs_in_renews_and_logs_out_through_the_notifier(
    network: Network,
) -> None:
    http = network.notifier.http
    login = await http.post(
        "/v1/login", json={"username": "officer.eupen", "password": "eupen-password-1"}
    )
    assert login.status_code == 200, login.text
    wrong = await http.post("/v1/login", json={"username": "officer.eupen", "password": "no"})
    assert wrong.status_code == 401

    renewed = await http.post("/v1/refresh", json={"refresh_token": login.json()["refresh_token"]})

    assert renewed.status_code == 200, renewed.text
    console = Console(network.notifier.ws_url, renewed.json()["access_token"])
    await console.connect()
    await console.wait_for(lambda c: any(m.type == "synced" for m in c.messages))
    session = {"refresh_token": renewed.json()["refresh_token"]}
    assert (await http.post("/v1/logout", json=session)).status_code == 204
    assert (await http.post("/v1/refresh", json=session)).status_code == 401
