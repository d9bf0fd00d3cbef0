"""An external source's document, read in ingest mode, flows with what was repaired in it.

The source is registered in the registry with cap_mode ingest: its defective document is
refused while the organisation is strict, and accepted once it is an external source; the
warnings reach the recipients' consoles and the delivery report, and the document as sent
travels on the log beside the repaired alert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway_support import envelopes_on
from lxml import etree
from notifier_support import (
    FLOOD_RECIPIENTS,
    POLYGONS,
    ids,
    many_polygons,
    meuse_alert,
    network_on,
)

from schemas import CAP_NAMESPACE, parse_cap_xml, to_cap_xml, validate_alert
from schemas.deliveries import DeliveryReport
from schemas.envelopes import AlertPublished

CAP = f"{{{CAP_NAMESPACE}}}"
XML = {"Content-Type": "application/cap+xml"}


def damaged_meuse_alert() -> tuple[dict[str, Any], bytes]:
    """A Meuse alert as XML with three defects an issuer's system lets through: a polygon of
    three pairs (first and last the same), a ring left open, and a second instruction."""
    alert = meuse_alert()
    alert["info"][0]["instruction"] = "Quittez les caves."
    root = etree.fromstring(to_cap_xml(validate_alert(alert)))
    area = root.find(f"{CAP}info/{CAP}area")
    instruction = root.find(f"{CAP}info/{CAP}instruction")
    assert area is not None and instruction is not None
    for position, text in enumerate(
        ["50.60,5.50 50.70,5.60 50.60,5.50", "50.60,5.50 50.70,5.60 50.65,5.70"], start=1
    ):
        polygon = etree.Element(f"{CAP}polygon")
        polygon.text = text
        area.insert(position, polygon)  # after areaDesc, in CAP's order
    second = etree.Element(f"{CAP}instruction")
    second.text = "Coupez le gaz."
    instruction.addnext(second)
    return alert, etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def said_of(warnings: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(w["field"], w["code"], w["action"]) for w in warnings]


async def test_an_external_sources_repaired_alert_reaches_consoles_and_report_with_warnings(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    async with network_on(tmp_path, kafka_bootstrap) as net:
        alert, document = damaged_meuse_alert()
        consoles = {cp: await net.console(cp) for cp in FLOOD_RECIPIENTS}

        strict = await net.gateway.http.post(
            "/v1/alerts", content=document, headers={**net.publisher, **XML}
        )
        assert strict.status_code == 422, strict.text
        assert strict.json()["field"] == "info[0].instruction"
        too_large = await net.gateway.http.post(
            "/v1/alerts", content=many_polygons()[1], headers={**net.publisher, **XML}
        )
        assert too_large.status_code == 413, too_large.text
        plain = meuse_alert()
        await net.post(plain)

        admin = await net.registry.auth("admin", "admin-secret-123")
        record = await net.registry.http.get("/v1/organisations/be-liege", headers=admin)
        body = {k: v for k, v in record.json().items() if k != "version"}
        changed = await net.registry.http.put(
            "/v1/organisations/be-liege",
            json={**body, "cap_mode": "ingest"},
            headers={**admin, "If-Match": record.headers["ETag"]},
        )
        assert changed.status_code == 200, changed.text
        source = await net.registry.auth("liege-system", "liege-secret-123")

        answer = await net.gateway.http.post(
            "/v1/alerts", content=document, headers={**source, **XML}
        )

        assert answer.status_code == 202, answer.text
        expected = [
            ("info[0].instruction", "repeated_element", "repaired"),
            ("info[0].area[0].polygon[1]", "invalid_polygon", "repaired"),
            ("info[0].area[0].polygon[0]", "invalid_polygon", "dropped"),
        ]
        assert said_of(answer.json()["warnings"]) == expected
        for cp, console in consoles.items():
            await console.wait_for(lambda c: alert["identifier"] in ids(c), what=cp)
            item = console.items[-1]
            assert [(w.field, w.code, w.action) for w in item.warnings] == expected
            assert item.alert.info[0].instruction == "Quittez les caves.\n\nCoupez le gaz."
            assert [len(p) for p in item.alert.info[0].area[0].polygon] == [4]
        # The mails say it too: the plain alert's three, then this one's three.
        mails = await net.smtp.wait_for(2 * len(FLOOD_RECIPIENTS), timeout=20)
        bodies = [
            str(part.get_content())
            for mail in mails
            if mail["X-CAP-Identifier"] == alert["identifier"]
            and (part := mail.get_body(("plain",))) is not None
        ]
        assert len(bodies) == len(FLOOD_RECIPIENTS)
        for text in bodies:
            assert "What the network repaired or left out of the issuer's document:" in text
            assert "- dropped: info[0].area[0].polygon[0]: " in text
        report = await net.report(alert, source)
        assert report.status_code == 200, report.text
        warnings = DeliveryReport.model_validate_json(report.content).warnings
        assert [(w.field, w.code, w.action) for w in warnings] == expected

        # A national service's alert of hundreds of polygons, over a publisher's 1 MiB: read
        # from an external source up to its limit (5 MiB), and carried on the log to consoles.
        large, large_document = many_polygons()
        assert 1024 * 1024 < len(large_document) < 5 * 1024 * 1024
        carried = await net.gateway.http.post(
            "/v1/alerts", content=large_document, headers={**source, **XML}
        )
        assert carried.status_code == 202, carried.text
        for cp, console in consoles.items():
            await console.wait_for(lambda c: large["identifier"] in ids(c), what=cp)
        shown = next(
            i for i in consoles["be-eupen-desk"].items if i.key.identifier == large["identifier"]
        )
        assert len(shown.alert.info[0].area[0].polygon) == POLYGONS

        # The source's update of a warning it published before it was connected: strictly an
        # unknown reference; from an external source, its own incident, with a note.
        earlier = f"{alert['sender']},BE-LG-before-connection,2026-07-14T18:00:00+02:00"
        update = meuse_alert(msgType="Update", references=[earlier])
        unlinked = await net.gateway.http.post("/v1/alerts", json=update, headers=source)
        assert unlinked.status_code == 202, unlinked.text
        assert unlinked.json()["chain"] == {
            "sender": update["sender"],
            "identifier": update["identifier"],
        }
        assert said_of(unlinked.json()["warnings"]) == [
            ("references[0]", "unknown_reference", "noted")
        ]
        await consoles["be-eupen-desk"].wait_for(lambda c: update["identifier"] in ids(c))

        # The document as the source sent it, for audit and re-export, and the network's own
        # alerts as the network holds them.
        kept = await net.notifier.http.get(
            f"/v1/alerts/{alert['sender']}/{alert['identifier']}/cap", headers=source
        )
        assert kept.status_code == 200, kept.text
        assert kept.headers["content-type"] == "application/cap+xml"
        assert kept.content == document
        as_json = await net.notifier.http.get(
            f"/v1/alerts/{update['sender']}/{update['identifier']}/cap", headers=source
        )
        assert as_json.headers["content-type"] == "application/json"
        assert as_json.json() == update
        own = await net.notifier.http.get(
            f"/v1/alerts/{plain['sender']}/{plain['identifier']}/cap", headers=source
        )
        assert own.status_code == 200, own.text
        assert parse_cap_xml(own.content) == validate_alert(plain)

        envelopes = await envelopes_on(kafka_bootstrap, answer.json()["topic"])
        published = [
            e
            for e in envelopes
            if isinstance(e, AlertPublished) and e.alert.identifier == alert["identifier"]
        ]
        assert [e.original for e in published] == [document]
