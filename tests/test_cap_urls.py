"""Links in an alert lead to web pages only: `web` and resource `uri` are http(s) URLs with a host.

CAP 1.2 (3.2.3) lets a resource `uri` be a relative reference naming the content carried in
`derefUri`; it is accepted in that case only.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from schemas import Alert, CapValidationError, parse_cap_json, parse_cap_xml, to_cap_xml
from schemas import validate_alert as validate

CAP_SCHEMA = json.loads(
    (Path(__file__).parent.parent / "schemas" / "jsonschema" / "cap-alert.schema.json").read_text()
)
CONTENT = base64.b64encode(b"station;substance;ppm\nSchengen;HCl;0.8\n").decode()

REFUSED = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "https://example.org/alert ",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "https://example.org/\u202egnp.exe",
    "https://example.org\\@attacker.example.net/",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "mailto:crise@example.org",
    "ftp://example.org/plan.pdf",
    "//attacker.example.net/alert",
    "https:attacker.example.net",
    "https://",
    "http:///path",
    "https://[::1",
    "",
]
ACCEPTED = [
    "https://example.org",
    "http://example.org/alert?lang=fr#map",
    "HTTPS://EXAMPLE.ORG/Alert",
    "https://[2001:db8::1]:8443/alert",
    "https://météo.example.org/alerte",
]


def alert(
    *, web: str | None = None, resources: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "category": ["Met"],
        "event": "Storm",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Likely",
        "resource": resources or [],
    }
    if web is not None:
        info["web"] = web
    return {
        "identifier": "URL-TEST-1",
        "sender": "lagezentrum@example.org",
        "sent": "2026-09-14T10:30:00+02:00",
        "status": "Test",
        "msgType": "Alert",
        "scope": "Public",
        "info": [info],
    }


def resource(uri: str, *, embedded: bool = False) -> dict[str, Any]:
    item = {"resourceDesc": "Air measurements", "mimeType": "text/csv", "uri": uri}
    return item | ({"derefUri": CONTENT} if embedded else {})


def refusal(data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(CapValidationError) as refused:
        validate(data)
    assert len(refused.value.problems) == 1
    return refused.value.field, refused.value.code


@pytest.mark.parametrize("link", REFUSED, ids=repr)
def test_web_refuses_anything_but_an_http_or_https_url_with_a_host(link: str) -> None:
    assert refusal(alert(web=link)) == ("info[0].web", "invalid_url")


@pytest.mark.parametrize("link", ACCEPTED)
def test_web_accepts_http_and_https_urls_kept_as_written(link: str) -> None:
    assert validate(alert(web=link)).info[0].web == link


@pytest.mark.parametrize("embedded", [False, True], ids=["alone", "beside derefUri"])
@pytest.mark.parametrize("link", REFUSED, ids=repr)
def test_resource_uri_refuses_what_web_refuses(link: str, embedded: bool) -> None:
    resources = [resource("https://example.org/map.png"), resource(link, embedded=embedded)]

    assert refusal(alert(resources=resources)) == ("info[0].resource[1].uri", "invalid_url")


@pytest.mark.parametrize("link", ACCEPTED)
def test_resource_uri_accepts_http_and_https_urls(link: str) -> None:
    assert validate(alert(resources=[resource(link)])).info[0].resource[0].uri == link


@pytest.mark.parametrize("reference", ["measurements.csv", "data/2130.csv", "/data/2130.csv?v=2"])
def test_relative_resource_uri_is_accepted_when_deref_uri_carries_the_content(
    reference: str,
) -> None:
    accepted = validate(alert(resources=[resource(reference, embedded=True)]))

    assert accepted.info[0].resource[0].uri == reference
    assert parse_cap_xml(to_cap_xml(accepted)) == accepted


def test_relative_resource_uri_without_deref_uri_is_refused_saying_why() -> None:
    with pytest.raises(CapValidationError) as refused:
        validate(alert(resources=[resource("measurements.csv")]))

    assert (refused.value.field, refused.value.code) == ("info[0].resource[0].uri", "invalid_url")
    assert "derefUri" in refused.value.message


def test_refusal_is_a_sentence_naming_the_field_and_what_a_link_must_be() -> None:
    with pytest.raises(CapValidationError) as refused:
        validate(alert(web="javascript:alert(1)"))

    assert refused.value.message == (
        "web must be a web address starting with http:// or https:// and naming a host, "
        "such as https://example.org/alert; got 'javascript:alert(1)'."
    )


def test_hidden_characters_are_shown_escaped_in_the_refusal() -> None:
    with pytest.raises(CapValidationError) as refused:
        validate(alert(web="java\tscript:alert(1)"))

    assert "'java\\tscript:alert(1)'" in refused.value.message


def test_json_twin_is_held_to_the_same_rule() -> None:
    with pytest.raises(CapValidationError) as refused:
        parse_cap_json(json.dumps(alert(web="data:text/html,<b>hi</b>")))

    assert refused.value.field == "info[0].web"


def test_layout_white_space_around_a_url_in_xml_is_not_part_of_it() -> None:
    written = to_cap_xml(
        validate(alert(web="https://example.org/a", resources=[resource("https://example.org/b")]))
    )
    indented = written.replace(b"<web>", b"<web>\n   ").replace(b"</uri>", b"\n  </uri>")

    read: Alert = parse_cap_xml(indented)

    assert read.info[0].web == "https://example.org/a"
    assert read.info[0].resource[0].uri == "https://example.org/b"


def test_published_json_schema_refuses_a_script_link_too() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(alert(web="javascript:alert(1)"), CAP_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(alert(resources=[resource("data:text/html,x")]), CAP_SCHEMA)
    jsonschema.validate(alert(resources=[resource("data/2130.csv", embedded=True)]), CAP_SCHEMA)
