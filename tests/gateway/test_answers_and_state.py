"""Who may answer an alert (Ack, Error), continue its incident (Update, Cancel) and read its state.

Liège's flood alert for its province reaches the Belgian crisis centre, Eupen and, through the
Meuse agreement, Zuid-Limburg; it never reaches Metz (tests/registry/world.yaml).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import Gateway, identifiers_on, running_gateway
from notifier_support import meuse_alert
from registry_support import Registry, running_registry

LIMBURG = "meldkamer@vrzl.example.org"
METZ = "cogic@metz.example.org"


@dataclass
class World:
    registry: Registry
    gateway: Gateway
    auth: dict[str, dict[str, str]]

    async def post(self, client: str, message: dict[str, Any]) -> httpx.Response:
        return await self.gateway.http.post("/v1/alerts", json=message, headers=self.auth[client])

    async def state(self, client: str, sender: str, identifier: str) -> httpx.Response:
        return await self.gateway.http.get(
            f"/v1/alerts/{sender}/{identifier}", headers=self.auth[client]
        )


@pytest.fixture
async def world(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[World]:
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
    ):
        clients = {"liege": "liege-secret-123", "limburg": "limburg-secret-123",
                   "metz": "metz-secret-123"}  # fmt: skip
        auth = {
            name: await registry.auth(f"{name}-system", secret) for name, secret in clients.items()
        }
        yield World(registry, gateway, auth)


def answer(original: dict[str, Any], sender: str, msg_type: str, **changes: Any) -> dict[str, Any]:
    """A message of `sender` referring to `original` (an Ack or Error carries no info)."""
    return {
        "identifier": f"{msg_type.upper()}-{uuid.uuid4().hex[:10]}",
        "sender": sender,
        "sent": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "status": "Actual",
        "msgType": msg_type,
        "scope": "Public",
        "references": [f"{original['sender']},{original['identifier']},{original['sent']}"],
        **changes,
    }


async def test_only_an_organisation_the_alert_reached_may_acknowledge_it(
    world: World, kafka_bootstrap: str
) -> None:
    alert = meuse_alert()
    assert (await world.post("liege", alert)).status_code == 202
    intruding_ack = answer(alert, METZ, "Ack")
    intruding_error = answer(alert, METZ, "Error", note="not ours")
    recipient_ack = answer(alert, LIMBURG, "Ack")

    refused = [await world.post("metz", m) for m in (intruding_ack, intruding_error)]
    accepted = await world.post("limburg", recipient_ack)

    for refusal in refused:
        assert refusal.status_code == 403, refusal.text
        assert refusal.json()["code"] == "not_a_recipient"
        assert refusal.json()["field"] == "references[0]"
    assert accepted.status_code == 202, accepted.text
    state = (await world.state("liege", alert["sender"], alert["identifier"])).json()
    assert [ref["identifier"] for ref in state["referenced_by"]] == [recipient_ack["identifier"]]
    on_the_log = await identifiers_on(kafka_bootstrap, "alerts.geo")
    assert recipient_ack["identifier"] in on_the_log
    assert not {intruding_ack["identifier"], intruding_error["identifier"]} & on_the_log


async def test_a_recipient_cannot_continue_the_incident_through_its_own_answer(
    world: World,
) -> None:
    alert = meuse_alert()
    assert (await world.post("liege", alert)).status_code == 202
    ack = answer(alert, LIMBURG, "Ack")
    assert (await world.post("limburg", ack)).status_code == 202
    update = meuse_alert(sender=LIMBURG, msgType="Update",
                         references=[f"{LIMBURG},{ack['identifier']},{ack['sent']}"])  # fmt: skip
    update["info"][0]["area"][0]["geocode"] = [{"valueName": "NUTS2", "value": "NL42"}]
    cancel = answer(ack, LIMBURG, "Cancel")

    refused = [await world.post("limburg", m) for m in (update, cancel)]

    for refusal in refused:
        assert refusal.status_code == 422, refusal.text
        assert refusal.json()["code"] == "foreign_reference"
    state = (await world.state("liege", alert["sender"], alert["identifier"])).json()
    assert state["state"] == "active"


async def test_an_alerts_state_is_for_its_sender_and_the_organisations_it_reached(
    world: World,
) -> None:
    alert = meuse_alert()
    assert (await world.post("liege", alert)).status_code == 202
    key = (alert["sender"], alert["identifier"])

    sender = await world.state("liege", *key)
    recipient = await world.state("limburg", *key)
    stranger = await world.state("metz", *key)

    assert sender.status_code == 200
    assert sender.json()["client_id"] == "liege-system"
    assert sender.json()["topic"] == "alerts.geo"
    assert recipient.status_code == 200, recipient.text
    assert recipient.json()["state"] == "active"
    assert recipient.json()["client_id"] is None
    assert (recipient.json()["topic"], recipient.json()["offset"]) == (None, None)
    assert stranger.status_code == 403
    assert stranger.json()["code"] == "not_sender_or_recipient"
    assert "liege-system" not in stranger.text
