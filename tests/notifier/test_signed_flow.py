"""A sender that signs its alerts has them verified, by the policy registered for it.

Liège's system signs its CAP XML with a key whose certificate the administrator registered
with its organisation. Under `require`, an unsigned or altered alert is refused with a clear
problem; under `verify-if-present`, an altered one is accepted and marked. The verdict reaches
the recipients' consoles with the alert, and the document travels byte for byte, both
signatures (originator's and distributor's) verifiable by anyone downstream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from notifier_support import FLOOD_RECIPIENTS, Network, ids, meuse_alert, network_on

from bench.signing import Signer, signer
from schemas import to_cap_xml, validate_alert
from schemas.signatures import SignaturePolicy
from services.alert_gateway.signatures import verify

XML = {"Content-Type": "application/cap+xml"}


async def register(net: Network, policy: SignaturePolicy, *signers: Signer) -> dict[str, str]:
    """Give Liège the policy and keys; the headers of a fresh token of its system (a token
    carries the policy)."""
    admin = await net.registry.auth("admin", "admin-secret-123")
    record = await net.registry.http.get("/v1/organisations/be-liege", headers=admin)
    body = {k: v for k, v in record.json().items() if k != "version"}
    keys = [s.registered().model_dump() for s in signers]
    changed = await net.registry.http.put(
        "/v1/organisations/be-liege",
        json={**body, "signature_policy": policy, "signing_keys": keys},
        headers={**admin, "If-Match": record.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    return await net.registry.auth("liege-system", "liege-secret-123")


def signed(by: Signer, alert: dict[str, Any]) -> bytes:
    return by.sign(to_cap_xml(validate_alert(alert)))


def altered(document: bytes) -> bytes:
    """The headline changed after signing."""
    assert b"<headline>" in document
    return document.replace(b"<headline>", b"<headline>Fausse alerte. ", 1)


async def test_signed_alerts_are_verified_by_the_senders_policy_and_the_verdict_travels(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    liege = signer("Province de Liège")
    euregio = signer("Euregio Maas-Rijn")
    async with network_on(tmp_path, kafka_bootstrap) as net:
        consoles = {cp: await net.console(cp) for cp in FLOOD_RECIPIENTS}
        system = await register(net, SignaturePolicy.REQUIRE, liege, euregio)

        unsigned = await net.gateway.http.post(
            "/v1/alerts", content=to_cap_xml(validate_alert(meuse_alert())),
            headers={**system, **XML},
        )  # fmt: skip
        as_json = await net.gateway.http.post("/v1/alerts", json=meuse_alert(), headers=system)
        tampered = await net.gateway.http.post(
            "/v1/alerts", content=altered(signed(liege, meuse_alert())), headers={**system, **XML}
        )
        stranger = signer("Not Liège")
        by_stranger = await net.gateway.http.post(
            "/v1/alerts", content=signed(stranger, meuse_alert()), headers={**system, **XML}
        )

        for answer, code in [
            (unsigned, "signature_required"),
            (as_json, "signature_required"),
            (tampered, "signature_not_verified"),
            (by_stranger, "signature_not_verified"),
        ]:
            assert answer.status_code == 422, answer.text
            assert (answer.json()["code"], answer.json()["field"]) == (code, "Signature")
        assert "altered after it was signed" in tampered.json()["detail"]

        alert = meuse_alert()
        document = euregio.sign(signed(liege, alert))  # the originator's, then a distributor's
        accepted = await net.gateway.http.post(
            "/v1/alerts", content=document, headers={**system, **XML}
        )
        assert accepted.status_code == 202, accepted.text
        verdict = accepted.json()["signature"]
        assert (verdict["status"], [c["outcome"] for c in verdict["signatures"]]) == (
            "verified",
            ["verified", "verified"],
        )
        for cp, console in consoles.items():
            await console.wait_for(lambda c: alert["identifier"] in ids(c), what=cp)
            item = console.items[-1]
            assert item.signature is not None and item.signature.status == "verified"
            assert [c.signer for c in item.signature.signatures] == [
                "Province de Liège",
                "Euregio Maas-Rijn",
            ]
        mails = await net.smtp.wait_for(len(FLOOD_RECIPIENTS), timeout=20)
        for mail in mails:
            body = mail.get_body(("plain",))
            assert body is not None
            assert (
                "Signature: signed by Province de Liège, verified; signed by Euregio Maas-Rijn, "
                "verified." in str(body.get_content())
            )
        # Byte for byte downstream, so that a recipient can verify both signatures itself.
        kept = await net.notifier.http.get(
            f"/v1/alerts/{alert['sender']}/{alert['identifier']}/cap", headers=system
        )
        assert kept.status_code == 200 and kept.content == document
        again = verify(
            kept.content,
            policy=SignaturePolicy.REQUIRE,
            keys=[liege.registered(), euregio.registered()],
            sent=validate_alert(alert).sent,
        )
        assert again.status == "verified"

        # verify-if-present: the altered alert is brought in, marked for what it is.
        system = await register(net, SignaturePolicy.VERIFY_IF_PRESENT, liege)
        suspect = meuse_alert()
        marked = await net.gateway.http.post(
            "/v1/alerts", content=altered(signed(liege, suspect)), headers={**system, **XML}
        )
        assert marked.status_code == 202, marked.text
        assert marked.json()["signature"]["status"] == "not_verified"
        for cp, console in consoles.items():
            await console.wait_for(lambda c: suspect["identifier"] in ids(c), what=cp)
            item = console.items[-1]
            assert item.signature is not None
            assert [c.outcome for c in item.signature.signatures] == ["invalid"]
