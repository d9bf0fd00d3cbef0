"""The CAP 1.2 corpus: every valid document parses, round-trips and validates; every invalid
one is refused with the one error type, naming the offending field."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import pytest
from pydantic import BaseModel

from schemas import (
    MAX_CAP_BYTES,
    CapValidationError,
    parse_cap_json,
    parse_cap_xml,
    to_cap_json,
    to_cap_xml,
)

CORPUS = Path(__file__).parent / "cap_corpus"
VALID = sorted((CORPUS / "valid").glob("*.xml"))
INVALID = sorted((CORPUS / "invalid").glob("*.xml"))
EXPECTED = json.loads((CORPUS / "invalid" / "EXPECTED.json").read_text(encoding="utf-8"))


def by_name(paths: list[Path]) -> dict[str, Path]:
    return {path.name: path for path in paths}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_document_round_trips_through_xml_and_json(path: Path) -> None:
    alert = parse_cap_xml(path.read_bytes())

    assert parse_cap_xml(to_cap_xml(alert)) == alert
    assert parse_cap_json(to_cap_json(alert)) == alert
    assert parse_cap_xml(to_cap_xml(parse_cap_json(to_cap_json(alert)))) == alert


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_document_is_refused_naming_the_field(path: Path) -> None:
    expected = EXPECTED[path.name]

    with pytest.raises(CapValidationError) as refused:
        parse_cap_xml(path.read_bytes())

    assert expected["field"] in [problem.field for problem in refused.value.problems]
    assert all(problem.message.endswith(".") for problem in refused.value.problems)


def test_every_invalid_document_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(path.name for path in INVALID)


def test_corpus_covers_every_cap_enumeration() -> None:
    from schemas import Category, Certainty, MsgType, ResponseType, Scope, Severity, Status, Urgency

    alerts = [parse_cap_xml(path.read_bytes()) for path in VALID]
    infos = [info for alert in alerts for info in alert.info]
    seen: dict[type[StrEnum], set[StrEnum]] = {
        Status: {a.status for a in alerts},
        MsgType: {a.msg_type for a in alerts},
        Scope: {a.scope for a in alerts},
        Category: {c for i in infos for c in i.category},
        ResponseType: {r for i in infos for r in i.response_type},
        Urgency: {i.urgency for i in infos},
        Severity: {i.severity for i in infos},
        Certainty: {i.certainty for i in infos},
    }
    for enum, values in seen.items():
        expected: set[StrEnum] = set(enum)
        assert values == expected, f"{enum.__name__} missing {expected - values}"


def test_corpus_uses_every_optional_element() -> None:
    alerts = [parse_cap_xml(path.read_bytes()) for path in VALID]

    def used(model: BaseModel, seen: set[str], prefix: str) -> None:
        for name, value in vars(model).items():
            if value in (None, [], ()):
                continue
            seen.add(prefix + name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, BaseModel):
                    used(item, seen, f"{prefix}{name}.")

    seen: set[str] = set()
    for alert in alerts:
        used(alert, seen, "")
    wanted = {
        "source", "restriction", "addresses", "code", "note", "references", "incidents",
        "signature", "info.audience", "info.event_code", "info.effective", "info.onset",
        "info.expires", "info.sender_name", "info.headline", "info.description",
        "info.instruction", "info.web", "info.contact", "info.parameter", "info.response_type",
        "info.resource.size", "info.resource.uri", "info.resource.deref_uri",
        "info.resource.digest", "info.area.polygon", "info.area.circle", "info.area.geocode",
        "info.area.altitude", "info.area.ceiling",
    }  # fmt: skip
    assert wanted <= seen, f"never used: {sorted(wanted - seen)}"


def test_several_languages_in_one_alert() -> None:
    alert = parse_cap_xml(by_name(VALID)["meuse_flood_multilingual.xml"].read_bytes())

    languages = [info.language for info in alert.info]
    assert len(languages) >= 4
    assert {lang.split("-")[0] for lang in languages} >= {"nl", "fr", "de", "en"}


def test_signature_is_preserved_byte_for_byte_in_the_output() -> None:
    signed = [p for p in VALID if b"xmldsig#" in p.read_bytes()]
    assert signed, "the corpus needs a signed document"
    for path in signed:
        alert = parse_cap_xml(path.read_bytes())
        assert alert.signature
        assert all("SignatureValue" in signature for signature in alert.signature)
        assert all(signature.encode() in to_cap_xml(alert) for signature in alert.signature)


def test_prefixed_namespace_reads_like_the_default_one() -> None:
    prefixed = [p for p in VALID if b"<cap:alert" in p.read_bytes()]
    assert prefixed, "the corpus needs a document with a namespace prefix"
    alert = parse_cap_xml(prefixed[0].read_bytes())
    assert b"<alert xmlns=" in to_cap_xml(alert)


def test_oversized_input_is_refused_before_parsing() -> None:
    document = by_name(VALID)["meuse_flood_multilingual.xml"].read_bytes()
    padding = b"<!--" + b"x" * MAX_CAP_BYTES + b"-->"

    with pytest.raises(CapValidationError) as refused:
        parse_cap_xml(document.replace(b"<alert", padding + b"<alert", 1))

    assert refused.value.field == "document"
    assert refused.value.code == "too_large"


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda d: d.pop("sent"), "sent"),
        (lambda d: d.update(status="Real"), "status"),
        (lambda d: d["info"][1].update(urgency="Soon"), "info[1].urgency"),
        (
            lambda d: d["info"][0]["area"][0].update(polygon=["50,5 51,5 51,6 50,5.5"]),
            "info[0].area[0].polygon[0]",
        ),
        (lambda d: d.update(msgType="Update"), "references"),
        (lambda d: d.update(references=["a,b"]), "references[0]"),
        (lambda d: d.update(unknown=1), "unknown"),
    ],
)  # fmt: skip
def test_invalid_json_is_refused_naming_the_field(mutation: object, field: str) -> None:
    data = json.loads(
        to_cap_json(parse_cap_xml(by_name(VALID)["meuse_flood_multilingual.xml"].read_bytes()))
    )
    mutation(data)  # type: ignore[operator]

    with pytest.raises(CapValidationError) as refused:
        parse_cap_json(json.dumps(data))

    assert field in [problem.field for problem in refused.value.problems]


def test_json_that_is_not_json_is_refused_as_a_document_error() -> None:
    with pytest.raises(CapValidationError) as refused:
        parse_cap_json(b'{"identifier": ')
    assert refused.value.field == "document"


@pytest.mark.parametrize(
    "name",
    [
        "doctype_internal_entity.xml",
        "xxe_external_entity.xml",
        "billion_laughs.xml",
        "external_dtd.xml",
    ],
)
def test_doctype_is_refused_with_its_reason(name: str) -> None:
    with pytest.raises(CapValidationError) as refused:
        parse_cap_xml(by_name(INVALID)[name].read_bytes())

    assert refused.value.code == "doctype_forbidden"
    assert "DOCTYPE" in refused.value.message


def test_doctype_in_utf16_is_refused_too() -> None:
    document = by_name(INVALID)["xxe_external_entity.xml"].read_text(encoding="utf-8")
    utf16 = document.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")

    with pytest.raises(CapValidationError) as refused:
        parse_cap_xml(utf16)

    assert refused.value.code == "doctype_forbidden"


def test_oversized_json_is_refused_before_parsing() -> None:
    huge = '{"identifier": "' + "x" * MAX_CAP_BYTES + '"}'

    with pytest.raises(CapValidationError) as refused:
        parse_cap_json(huge)

    assert (refused.value.field, refused.value.code) == ("document", "too_large")


def test_text_between_elements_is_refused_not_dropped() -> None:
    document = by_name(VALID)["meuse_flood_cancel.xml"].read_bytes()

    with pytest.raises(CapValidationError) as refused:
        parse_cap_xml(document.replace(b"<status>", b"stray words<status>", 1))

    assert (refused.value.field, refused.value.code) == ("alert", "unexpected_text")
