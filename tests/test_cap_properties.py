"""Property: any valid alert survives model -> XML -> model and model -> JSON -> model."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import (
    Alert,
    Category,
    Certainty,
    MsgType,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
    parse_cap_json,
    parse_cap_xml,
    to_cap_json,
    to_cap_xml,
    validate_alert,
)

# Any character XML 1.0 can carry, including the awkward ones (CR, tabs, astral planes).
xml_char = st.characters(
    blacklist_categories=["Cs"],
    blacklist_characters="".join(chr(c) for c in range(32) if c not in (9, 10, 13))
    + "\ufffe\uffff",
)
# Markup and white space drawn often: they are where XML round trips lose things.
text = st.text(st.one_of(st.sampled_from(" \t\n\r<>&\"']]>"), xml_char), max_size=40)
required_text = text.filter(str.strip)
token = st.from_regex(r"[A-Za-z0-9@._:/-]{1,24}", fullmatch=True)
list_item = st.text(xml_char.filter(lambda c: c != '"'), min_size=1, max_size=20)
language = st.from_regex(r"[a-z]{2}(-[A-Z]{2})?", fullmatch=True)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
cap_datetime = st.builds(
    lambda moment, tz: moment.replace(microsecond=0, tzinfo=tz),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    offsets,
)
latitude = st.floats(-90, 90, allow_nan=False)
longitude = st.floats(-180, 180, allow_nan=False)
point = st.tuples(latitude, longitude)
polygon = st.lists(point, min_size=3, max_size=8).map(lambda pts: [*pts, pts[0]])
circle = st.builds(
    lambda c, r: f"{c[0]!r},{c[1]!r} {r!r}", point, st.floats(0, 500, allow_nan=False)
)
named_value = st.fixed_dictionaries({"valueName": required_text, "value": text})
web_url = st.from_regex(r"https?://[a-z]{1,10}\.example\.org/[a-z0-9/]{0,10}", fullmatch=True)
relative_uri = st.from_regex(r"[a-z0-9]{1,10}(/[a-z0-9]{1,10})?\.(png|csv|pdf)", fullmatch=True)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    content = draw(st.binary(max_size=64))
    resource: dict[str, Any] = {
        "resourceDesc": draw(required_text),
        "mimeType": draw(required_text),
    }
    if draw(st.booleans()):
        resource |= {
            "derefUri": base64.b64encode(content).decode(),
            "digest": hashlib.sha1(content).hexdigest(),
            "size": len(content),
        }
        # A relative uri names the content carried in derefUri (CAP 1.2, 3.2.3).
        resource |= draw(optional(uri=web_url | relative_uri))
    else:
        resource |= draw(optional(uri=web_url))
    return resource


@st.composite
def areas(draw: st.DrawFn) -> dict[str, Any]:
    area: dict[str, Any] = {"areaDesc": draw(required_text)}
    area |= draw(
        optional(
            polygon=st.lists(polygon, max_size=2),
            circle=st.lists(circle, max_size=2),
            geocode=st.lists(named_value, max_size=2),
        )
    )
    if draw(st.booleans()):
        area["altitude"] = draw(st.floats(-1000, 30000, allow_nan=False))
        area |= draw(optional(ceiling=st.floats(-1000, 60000, allow_nan=False)))
    return area


infos = st.builds(
    lambda required, extra: required | extra,
    st.fixed_dictionaries(
        {
            "category": st.lists(st.sampled_from(Category), min_size=1, max_size=3),
            "event": required_text,
            "urgency": st.sampled_from(Urgency),
            "severity": st.sampled_from(Severity),
            "certainty": st.sampled_from(Certainty),
        }
    ),
    optional(
        language=language,
        responseType=st.lists(st.sampled_from(ResponseType), max_size=3),
        audience=text,
        eventCode=st.lists(named_value, max_size=2),
        effective=cap_datetime,
        onset=cap_datetime,
        expires=cap_datetime,
        senderName=text,
        headline=text,
        description=text,
        instruction=text,
        web=web_url,
        contact=text,
        parameter=st.lists(named_value, max_size=2),
        resource=st.lists(resources(), max_size=2),
        area=st.lists(areas(), max_size=2),
    ),
)
reference = st.builds(lambda s, i, t: f"{s},{i},{t.isoformat()}", token, token, cap_datetime)
SIGNATURE = (
    '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>'
    '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    "</SignedInfo><SignatureValue>c2lnbmVk</SignatureValue></Signature>"
)


@st.composite
def alerts(draw: st.DrawFn) -> Alert:
    msg_type = draw(st.sampled_from(MsgType))
    scope = draw(st.sampled_from(Scope))
    alert: dict[str, Any] = {
        "identifier": draw(token),
        "sender": draw(token),
        "sent": draw(cap_datetime),
        "status": draw(st.sampled_from(Status)),
        "msgType": msg_type,
        "scope": scope,
    }
    needs_references = msg_type is not MsgType.ALERT
    alert |= draw(
        optional(
            source=text,
            code=st.lists(text, max_size=3),
            note=text,
            incidents=st.lists(list_item, max_size=3),
            info=st.lists(infos, max_size=3),
            signature=st.just(SIGNATURE),
        )
    )
    if scope is Scope.RESTRICTED or draw(st.booleans()):
        alert["restriction"] = draw(required_text)
    if scope is Scope.PRIVATE or draw(st.booleans()):
        alert["addresses"] = draw(st.lists(list_item, min_size=1, max_size=3))
    if needs_references or draw(st.booleans()):
        alert["references"] = draw(st.lists(reference, min_size=1, max_size=3))
    return validate_alert(alert)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alerts())
def test_any_valid_alert_survives_xml(alert: Alert) -> None:
    assert parse_cap_xml(to_cap_xml(alert)) == alert


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alerts())
def test_any_valid_alert_survives_json(alert: Alert) -> None:
    assert parse_cap_json(to_cap_json(alert)) == alert
    assert parse_cap_json(to_cap_json(alert, indent=None)) == alert


CAP_SCHEMA = json.loads(
    (Path(__file__).parent.parent / "schemas" / "jsonschema" / "cap-alert.schema.json").read_text()
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alerts())
def test_any_valid_alert_satisfies_the_published_json_schema(alert: Alert) -> None:
    jsonschema.validate(json.loads(to_cap_json(alert)), CAP_SCHEMA)
