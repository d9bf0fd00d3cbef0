"""Alerts composed by duty officers: previewed, approved by a second officer, published.

The whole network (real broker, registry, gateway, notifier, SMTP server on loopback) with the
officers of tests/registry/world.yaml: Liège's officer.liege and officer.liege.2 compose and
approve, officer.liege.3 only composes, trainee.liege composes exercises only, the national
crisis centre's officer.nccn composes for another organisation. Liège lets one officer alone
publish only Extreme alerts.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from notifier_support import (
    EMAILS,
    FLOOD_RECIPIENTS,
    Network,
    ids,
    login,
    meuse_alert,
    network_on,
    quiet,
)

from schemas.console import AlertState

LIEGE = "crisis@liege.example.org"


@pytest.fixture
async def network(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[Network]:
    async with network_on(tmp_path, kafka_bootstrap) as net:
        yield net


async def officer(net: Network, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await login(net.notifier.http, username)}"}


def bilingual_flood(**changes: Any) -> dict[str, Any]:
    """What the form builds: the Meuse flood for BE33 in French and German; sender, identifier
    and sent are the composer's to set."""
    alert = meuse_alert(**changes)
    german = copy.deepcopy(alert["info"][0]) | {
        "language": "de-BE",
        "event": "Maashochwasser",
        "headline": "Die Maas wird in Lüttich die Alarmstufe überschreiten",
    }
    alert["info"].append(german)
    return {k: v for k, v in alert.items() if k not in ("sender", "identifier", "sent")}


async def compose(net: Network, who: dict[str, str], document: dict[str, Any]) -> dict[str, Any]:
    created = await net.gateway.http.post(
        "/v1/compositions", json={"document": document}, headers=who
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def step(
    net: Network, who: dict[str, str], composition: dict[str, Any], action: str
) -> httpx.Response:
    return await net.gateway.http.post(
        f"/v1/compositions/{composition['id']}/{action}",
        json={"version": composition["version"]},
        headers=who,
    )


async def test_a_composed_alert_is_previewed_approved_by_a_second_officer_and_delivered(
    network: Network,
) -> None:
    net = network
    consoles = {cp: await net.console(cp) for cp in FLOOD_RECIPIENTS}
    julie, thomas = await officer(net, "officer.liege"), await officer(net, "officer.liege.2")
    document = bilingual_flood()

    preview = await net.gateway.http.post("/v1/compositions/check", json=document, headers=julie)
    draft = await compose(net, julie, document)
    submitted = await step(net, julie, draft, "submit")
    alone = await step(net, julie, submitted.json(), "approve")
    approved = await step(net, thomas, submitted.json(), "approve")

    assert preview.status_code == 200, preview.text
    check = preview.json()
    assert check["valid"] is True and check["problems"] == [], check
    recipients = {r["contact_point"]: r for r in check["recipients"]}
    assert set(recipients) >= FLOOD_RECIPIENTS
    assert all(r["reasons"] for r in recipients.values())
    assert "email" not in str(check["recipients"])  # a preview names desks, not addresses
    # Zuid-Limburg reads Dutch, which the alert does not carry yet.
    assert recipients["nl-limburg-duty"]["language_available"] is False, recipients
    assert "nl" in check["missing_languages"]
    assert check["cap_xml"].startswith("<?xml") and "Maashochwasser" in check["cap_xml"]
    assert draft["state"] == "draft" and draft["document"]["sender"] == LIEGE
    assert submitted.json()["state"] == "submitted"
    # The composer's own approval does not count for a Severe alert: four eyes.
    assert alone.status_code == 403 and alone.json()["code"] == "four_eyes"
    assert approved.status_code == 200, approved.text
    composition = approved.json()
    assert composition["state"] == "published"
    published = composition["published"]
    assert published["published"] is True and published["sender"] == LIEGE
    assert [e["action"] for e in composition["history"]] == [
        "saved", "submitted", "approved", "published",
    ]  # fmt: skip
    assert [e["by"] for e in composition["history"]][-1] == "officer.liege.2"
    identifier = published["identifier"]
    for cp, console in consoles.items():
        await console.wait_for(lambda c: identifier in ids(c), what=cp)
    mails = await net.smtp.wait_for(len(FLOOD_RECIPIENTS), timeout=20)
    assert {str(m["To"]) for m in mails} >= {EMAILS[cp] for cp in FLOOD_RECIPIENTS}
    report = await net.report({"sender": LIEGE, "identifier": identifier}, julie)
    assert report.status_code == 200, report.text
    reached = {d["contact_point"] for d in report.json()["deliveries"]}
    assert reached >= FLOOD_RECIPIENTS


async def test_who_may_approve_and_see_a_draft(network: Network) -> None:
    net = network
    julie, marc = await officer(net, "officer.liege"), await officer(net, "officer.liege.3")
    els, metz = await officer(net, "officer.nccn"), await officer(net, "officer.metz")
    draft = await compose(net, julie, bilingual_flood())
    submitted = (await step(net, julie, draft, "submit")).json()

    without_approve = await step(net, marc, submitted, "approve")
    other_org = await net.gateway.http.get(f"/v1/compositions/{draft['id']}", headers=els)
    other_list = await net.gateway.http.get("/v1/compositions", headers=els)
    path = f"/v1/compositions/{draft['id']}"
    version = {"version": submitted["version"]}
    other_writes = [
        await net.gateway.http.put(
            path, json={"document": bilingual_flood()} | version, headers=els
        ),
        *[
            await net.gateway.http.post(f"{path}/{action}", json=version, headers=els)
            for action in ("submit", "approve", "withdraw")
        ],
    ]
    no_composer = await net.gateway.http.get("/v1/compositions", headers=metz)
    as_own = await net.gateway.http.get("/v1/compositions", headers=marc)

    assert without_approve.status_code == 403
    assert without_approve.json()["code"] == "insufficient_scope"
    assert other_org.status_code == 404
    assert other_list.status_code == 200 and other_list.json() == []
    # Another organisation's officer, who composes and approves for its own, changes nothing.
    assert [answer.status_code for answer in other_writes] == [404, 404, 404, 404]
    unchanged = (await net.gateway.http.get(path, headers=julie)).json()
    assert (unchanged["state"], unchanged["version"]) == ("submitted", submitted["version"])
    # An officer who neither composes nor approves holds no token for the gateway at all.
    assert no_composer.status_code == 401
    assert [c["id"] for c in as_own.json()] == [draft["id"]]


async def test_an_alert_outside_the_organisations_regions_is_refused_before_anything_is_sent(
    network: Network, kafka_bootstrap: str
) -> None:
    net = network
    julie, thomas = await officer(net, "officer.liege"), await officer(net, "officer.liege.2")
    document = bilingual_flood()
    document["info"][1]["area"][0]["geocode"] = [{"valueName": "NUTS2", "value": "NL42"}]
    broken = bilingual_flood()
    broken["info"][0]["urgency"] = "Soonish"

    outside = await net.gateway.http.post("/v1/compositions/check", json=document, headers=julie)
    invalid = await net.gateway.http.post("/v1/compositions/check", json=broken, headers=julie)
    draft = await compose(net, julie, document)
    submitted = await step(net, julie, draft, "submit")
    after = await net.gateway.http.get(f"/v1/compositions/{draft['id']}", headers=thomas)

    assert outside.json()["valid"] is False
    assert [(p["code"], p["field"]) for p in outside.json()["problems"]] == [
        ("outside_regions", "info[1].area[0].geocode[0]")
    ]
    assert outside.json()["recipients"] == [] and outside.json()["cap_xml"] is None
    assert invalid.json()["valid"] is False
    assert invalid.json()["problems"][0]["field"] == "info[0].urgency"
    assert (
        submitted.status_code == 403 and submitted.json()["field"] == "info[1].area[0].geocode[0]"
    )
    assert after.json()["state"] == "draft"


async def test_one_officer_alone_publishes_what_the_organisation_allows_at_night(
    network: Network,
) -> None:
    net = network
    julie, marc = await officer(net, "officer.liege"), await officer(net, "officer.liege.3")
    extreme = bilingual_flood()
    for info in extreme["info"]:
        info["severity"] = "Extreme"

    async def alone(who: dict[str, str], document: dict[str, Any]) -> bool:
        check = await net.gateway.http.post("/v1/compositions/check", json=document, headers=who)
        assert check.json()["valid"] is True, check.text
        return bool(check.json()["publishes_alone"])

    # The form tells the officer beforehand whether their submission publishes at once.
    assert await alone(julie, extreme) is True
    assert await alone(julie, bilingual_flood()) is False  # Severe: a colleague approves
    assert await alone(marc, extreme) is False  # composes only: never alone
    draft = await compose(net, julie, extreme)
    published = await step(net, julie, draft, "submit")

    assert published.status_code == 200, published.text
    assert published.json()["state"] == "published"
    assert {e["by"] for e in published.json()["history"]} == {"officer.liege"}


async def test_an_exercise_only_officer_composes_exercises_that_a_colleague_approves(
    network: Network,
) -> None:
    net = network
    hugo, sophie = await officer(net, "trainee.liege"), await officer(net, "officer.liege.2")
    real, exercise = bilingual_flood(), bilingual_flood(status="Exercise")

    real_check = await net.gateway.http.post("/v1/compositions/check", json=real, headers=hugo)
    exercise_check = await net.gateway.http.post(
        "/v1/compositions/check", json=exercise, headers=hugo
    )
    real_draft = await compose(net, hugo, real)  # a draft may be anything until submitted
    real_submitted = await step(net, hugo, real_draft, "submit")
    drill = (await step(net, hugo, await compose(net, hugo, exercise), "submit")).json()
    approved = await step(net, sophie, drill, "approve")

    problems = real_check.json()["problems"]
    assert [(p["field"], p["code"]) for p in problems] == [("status", "exercise_only")]
    assert exercise_check.json()["valid"] is True
    assert real_submitted.status_code == 403 and real_submitted.json()["field"] == "status"
    still = await net.gateway.http.get(f"/v1/compositions/{real_draft['id']}", headers=hugo)
    assert still.json()["state"] == "draft"
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "published"
    assert approved.json()["document"]["status"] == "Exercise"


async def test_an_approver_sees_what_changed_and_approves_only_what_they_read(
    network: Network,
) -> None:
    net = network
    julie, thomas = await officer(net, "officer.liege"), await officer(net, "officer.liege.2")
    draft = await compose(net, julie, bilingual_flood())
    submitted = (await step(net, julie, draft, "submit")).json()
    changed = bilingual_flood()
    changed["info"][0]["headline"] = "La Meuse dépassera le seuil d'alerte à Liège cette nuit"

    saved = await net.gateway.http.put(
        f"/v1/compositions/{draft['id']}",
        json={"document": changed, "version": submitted["version"]},
        headers=julie,
    )
    stale = await step(net, thomas, submitted, "approve")
    looked = await net.gateway.http.get(
        f"/v1/compositions/{draft['id']}", params={"since": 1}, headers=thomas
    )
    lost_update = await net.gateway.http.put(
        f"/v1/compositions/{draft['id']}",
        json={"document": changed, "version": 1},
        headers=thomas,
    )

    assert saved.status_code == 200 and saved.json()["version"] == 2
    assert saved.json()["state"] == "submitted"
    assert stale.status_code == 409 and stale.json()["code"] == "changed"
    assert looked.json()["changed_since"] == ["info[0].headline"]
    assert lost_update.status_code == 409
    assert (await step(net, thomas, looked.json(), "approve")).status_code == 200


async def test_update_and_cancel_of_a_composed_alert_replace_and_close_it_on_consoles(
    network: Network,
) -> None:
    net = network
    console = await net.console("nl-limburg-duty")
    julie, thomas = await officer(net, "officer.liege"), await officer(net, "officer.liege.2")

    async def publish(document: dict[str, Any]) -> dict[str, Any]:
        submitted = (await step(net, julie, await compose(net, julie, document), "submit")).json()
        approved = await step(net, thomas, submitted, "approve")
        assert approved.status_code == 200, approved.text
        return dict(approved.json()["document"])

    original = await publish(bilingual_flood())
    update = await publish(bilingual_flood(msgType="Update", references=[reference_to(original)]))
    cancel = await publish(
        bilingual_flood(msgType="Cancel", references=[reference_to(update)], note="Fausse alerte")
    )

    await console.wait_for(lambda c: len(ids(c)) == 3, what="the incident")
    assert ids(console) == [original["identifier"], update["identifier"], cancel["identifier"]]
    items = console.items
    assert items[1].replaces[0].identifier == original["identifier"]
    assert items[2].closes[0].identifier == update["identifier"]
    assert items[2].state is AlertState.CANCELLED
    late = await net.console("nl-limburg-duty")
    await quiet(0.5)
    assert late.items == []  # a console opened now is shown nothing of the closed incident


def reference_to(published: dict[str, Any]) -> str:
    """The CAP reference (sender,identifier,sent) of a published composition's alert."""
    return f"{published['sender']},{published['identifier']},{published['sent']}"


async def test_compositions_are_refused_to_tokens_without_a_composer_scope(
    network: Network,
) -> None:
    system = network.publisher  # Liège's system: alerts:publish, not a duty officer
    answer = await network.gateway.http.post(
        "/v1/compositions", json={"document": bilingual_flood()}, headers=system
    )
    assert answer.status_code == 403


async def test_the_console_reaches_the_composer_through_its_own_origin(network: Network) -> None:
    net = network
    julie = await officer(net, "officer.liege")
    notifier = net.notifier.http

    created = await notifier.post(
        "/v1/compositions", json={"document": bilingual_flood()}, headers=julie
    )
    read = await notifier.get(f"/v1/compositions/{created.json()['id']}", headers=julie)
    anonymous = await notifier.get("/v1/compositions")
    elsewhere = [
        await notifier.get(path, headers=julie)
        for path in ("/v1/compositions/a/b/c", "/v1/compositions/..%2F..%2Falerts")
    ]

    assert created.status_code == 201, created.text
    assert read.status_code == 200 and read.json()["created_by"] == "officer.liege"
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert [answer.status_code for answer in elsewhere] == [404, 404]


async def test_an_officer_composes_from_the_organisations_hazard_templates(
    network: Network,
) -> None:
    net = network
    marc = await officer(net, "officer.liege.3")  # composes, does not approve

    templates = await net.gateway.http.get("/v1/compositions/templates", headers=marc)
    system = await net.gateway.http.get("/v1/compositions/templates", headers=net.publisher)

    assert templates.status_code == 200, templates.text
    flood = {t["id"]: t for t in templates.json()}["river-flood"]
    assert (flood["category"], flood["severity"]) == ("Geo", "Severe")
    assert set(flood["texts"]) == {"fr", "de"}
    assert "{river}" in flood["texts"]["de"]["event"]
    assert system.status_code == 403
