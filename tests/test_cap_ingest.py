"""Ingest mode over real-world CAP: what strict mode refuses, ingest mode repairs or leaves
out, and says so; it refuses only what is not CAP or cannot be routed.

The documents are real alerts of several issuers (tests/cap_corpus/real/SOURCES.md names each
source and licence). Defects the real documents do not happen to carry are made in a real
document here, one at a time, so that each class is checked against an issuer's alert.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree
from test_cap_properties import alerts

from schemas import (
    CAP_NAMESPACE,
    Alert,
    CapValidationError,
    parse_cap_json,
    parse_cap_xml,
    to_cap_json,
    to_cap_xml,
)
from schemas.cap_ingest import MAX_INGEST_BYTES, ingest_cap_json, ingest_cap_xml

REAL = Path(__file__).parent / "cap_corpus" / "real"
CAP = f"{{{CAP_NAMESPACE}}}"
# Environment and Climate Change Canada: two languages, three areas, polygons and geocodes.
THUNDER_BAY = REAL / "canada_eccc_special_weather_statement_thunder_bay.xml"

# file -> (strict's refusal field or None, ingest: None if refused, else its warnings)
Verdicts = dict[str, tuple[str | None, list[tuple[str, str, str]] | None]]
CAP11 = ("alert", "cap_1_1", "repaired")
CORPUS: Verdicts = {
    "australia_nsw_rfs_structure_fire.xml": (None, []),
    "canada_ec_storm_warning_update_cap11.xml": ("alert", [CAP11]),
    # Both signatures (Environment Canada's and the NAAD System's) are kept.
    "canada_eccc_naads_snowfall_warning_signed.xml": (None, []),
    "canada_eccc_special_weather_statement_thunder_bay.xml": (None, []),
    "us_epa_airnow_air_quality_alert_auburn.xml": (None, []),
    "us_ntwc_tsunami_cancellation_signature_elided.xml": (None, []),
    "us_ntwc_wcatwc_tsunami_warning_alaska.xml": (None, []),
    "us_nws_alaska_empty_alert_cap11.xml": ("alert", None),  # an <alert> with nothing in it
    "us_nws_blizzard_warning_minnesota_empty_polygon_cap11.xml": (
        "alert",
        [CAP11, ("info[0].area[0].polygon[0]", "empty_element", "dropped")],
    ),
    "us_nws_flash_flood_watch_montana_cap11.xml": ("alert", [CAP11]),
    # Its only info has an empty urgency, severity and certainty: nothing can be routed.
    "us_nws_flood_warning_nevada_cap11_errors_injected.xml": ("alert", None),
    "usgs_earthquake_el_salvador_signed_iso8859-1.xml": (None, []),
    "usgs_earthquake_tonga_cap11.xml": ("alert", [CAP11]),
}


def said(warnings: object) -> list[tuple[str, str, str]]:
    return [(w.field, w.code, w.action) for w in warnings]  # type: ignore[attr-defined]


def test_the_corpus_holds_every_real_document() -> None:
    assert sorted(p.name for p in REAL.glob("*.xml")) == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_strict_and_ingest_verdicts_on_real_documents(name: str) -> None:
    document = (REAL / name).read_bytes()
    strict_field, ingest_warnings = CORPUS[name]

    if strict_field is None:
        strict = parse_cap_xml(document)
    else:
        with pytest.raises(CapValidationError) as refused:
            parse_cap_xml(document)
        assert refused.value.field == strict_field

    if ingest_warnings is None:
        with pytest.raises(CapValidationError) as unusable:
            ingest_cap_xml(document)
        assert unusable.value.problems
        return
    ingested = ingest_cap_xml(document)
    assert said(ingested.warnings) == ingest_warnings
    if strict_field is None:
        assert ingested.alert == strict  # nothing to repair: the same alert


def real_root() -> etree._Element:
    return etree.fromstring(THUNDER_BAY.read_bytes())


def polygon(root: etree._Element, info: int, area: int) -> etree._Element:
    found = root.findall(f"{CAP}info")[info].findall(f"{CAP}area")[area].find(f"{CAP}polygon")
    assert found is not None
    return found


def pairs(element: etree._Element) -> list[str]:
    return (element.text or "").split()


def three_pairs(root: etree._Element) -> None:
    p = polygon(root, 0, 1)
    p.text = " ".join([*pairs(p)[:2], pairs(p)[0]])


def left_open(root: etree._Element) -> None:
    p = polygon(root, 0, 1)
    p.text = " ".join(pairs(p)[:-1])


def out_of_range(root: etree._Element) -> None:
    p = polygon(root, 0, 1)
    lon = pairs(p)[1].split(",")[1]
    p.text = " ".join([pairs(p)[0], f"95.0,{lon}", *pairs(p)[2:]])


def spaced(root: etree._Element) -> None:
    p = polygon(root, 0, 1)
    p.text = "\n\t" + "  ".join(pair.replace(",", ", ") for pair in pairs(p)) + "\n"


def emptied(root: etree._Element) -> None:
    polygon(root, 0, 1).text = ""


def second_instruction(root: etree._Element) -> None:
    info = root.find(f"{CAP}info")
    assert info is not None
    for text in ("Take cover.", "Stay away from windows."):
        element = etree.SubElement(info, f"{CAP}instruction")
        element.text = text
    # CAP's order: instruction before web, contact, parameter, resource, area.
    first = info.find(f"{CAP}web")
    for element in info.findall(f"{CAP}instruction"):
        assert first is not None
        first.addprevious(element)


AREA = "info[0].area[1].polygon[0]"
# defect -> (strict's refusal field, ingest's warnings)
DEFECTS: dict[str, tuple[Callable[[etree._Element], None], str, list[tuple[str, str, str]]]] = {
    "three_pairs": (three_pairs, AREA, [(AREA, "invalid_polygon", "dropped")]),
    "left_open": (left_open, AREA, [(AREA, "invalid_polygon", "repaired")]),
    "out_of_range": (out_of_range, AREA, [(AREA, "out_of_range", "dropped")]),
    "spaced": (spaced, AREA, [(AREA, "invalid_coordinate", "repaired")]),
    "emptied": (emptied, AREA, [(AREA, "empty_element", "dropped")]),
    "second_instruction": (
        second_instruction,
        "info[0].instruction",
        [("info[0].instruction", "repeated_element", "repaired")],
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_a_defect_in_a_real_alert_is_refused_strictly_and_repaired_or_left_out_on_ingest(
    defect: str,
) -> None:
    damage, field, warnings = DEFECTS[defect]
    root = real_root()
    damage(root)
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    with pytest.raises(CapValidationError) as refused:
        parse_cap_xml(document)
    ingested = ingest_cap_xml(document)

    assert refused.value.field == field
    assert said(ingested.warnings) == warnings
    original = parse_cap_xml(THUNDER_BAY.read_bytes())
    repaired = ingested.alert
    # Everything but the damaged part is the issuer's alert, unchanged.
    assert repaired.info[1] == original.info[1]
    assert repaired.info[0].area[0] == original.info[0].area[0]
    assert repaired.info[0].area[2] == original.info[0].area[2]
    assert repaired.info[0].area[1].geocode == original.info[0].area[1].geocode
    kept = repaired.info[0].area[1].polygon
    if warnings[0][2] == "dropped":
        assert kept == []
    elif defect != "second_instruction":
        assert kept == original.info[0].area[1].polygon
    else:
        assert repaired.info[0].instruction == "Take cover.\n\nStay away from windows."


def test_a_document_over_1_mib_is_refused_strictly_and_read_on_ingest_up_to_its_limit() -> None:
    root = real_root()
    area = root.findall(f"{CAP}info")[0].findall(f"{CAP}area")[0]
    ring = polygon(root, 0, 0)
    # A national service's warning of hundreds of polygons: copies of the issuer's own ring.
    for _ in range(1536 * 1024 // len(ring.text or "x")):
        copy = etree.Element(f"{CAP}polygon")
        copy.text = ring.text
        ring.addnext(copy)
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert 1024 * 1024 < len(document) < MAX_INGEST_BYTES

    with pytest.raises(CapValidationError) as refused:
        parse_cap_xml(document)
    ingested = ingest_cap_xml(document)
    with pytest.raises(CapValidationError) as over_limit:
        ingest_cap_xml(document, max_bytes=1024 * 1024)

    assert refused.value.code == "too_large"
    assert len(ingested.alert.info[0].area[0].polygon) == len(area.findall(f"{CAP}polygon"))
    assert ingested.warnings == ()
    assert over_limit.value.code == "too_large"


def test_what_is_not_cap_or_cannot_be_routed_is_refused_on_ingest() -> None:
    root = real_root()
    for info in root.findall(f"{CAP}info"):
        for area in info.findall(f"{CAP}area"):
            for element in area.findall(f"{CAP}geocode"):
                area.remove(element)
            polygon = area.find(f"{CAP}polygon")
            assert polygon is not None
            polygon.text = "91,0 92,1 93,0 91,0"  # every polygon out of range
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    with pytest.raises(CapValidationError) as unroutable:
        ingest_cap_xml(document)
    with pytest.raises(CapValidationError) as not_cap:
        ingest_cap_xml(b"<feed xmlns='http://www.w3.org/2005/Atom'/>")
    with pytest.raises(CapValidationError) as entity:
        ingest_cap_xml(b'<!DOCTYPE a [<!ENTITY x "y">]><alert/>')

    assert unroutable.value.code == "unroutable"
    # The refusal says what was left out on the way.
    assert {p.code for p in unroutable.value.problems[1:]} == {"out_of_range"}
    assert not_cap.value.code == "wrong_namespace"
    assert entity.value.code == "doctype_forbidden"


def test_the_json_form_is_read_in_ingest_mode_the_same_way() -> None:
    alert = json.loads(to_cap_json(parse_cap_xml(THUNDER_BAY.read_bytes())))
    info = alert["info"][0]
    pairs = info["area"][1]["polygon"][0].split()
    info["area"][1]["polygon"][0] = " ".join([*pairs[:2], pairs[0]])
    info["web"] = ""

    with pytest.raises(CapValidationError) as refused:
        parse_cap_json(json.dumps(alert))
    ingested = ingest_cap_json(json.dumps(alert))

    assert {p.field for p in refused.value.problems} == {AREA, "info[0].web"}
    assert said(ingested.warnings) == [
        ("info[0].web", "empty_element", "dropped"),
        (AREA, "invalid_polygon", "dropped"),
    ]


# --- the property: damage one polygon or one optional element of any valid alert ----------

OPTIONAL = ("headline", "description", "instruction", "web", "contact", "effective", "expires")


def parts_to_damage(root: etree._Element) -> list[tuple[str, int, int]]:
    """The parts one can damage: (element, info, area); area -1 for an info's element."""
    found: list[tuple[str, int, int]] = []
    for i, info in enumerate(root.findall(f"{CAP}info")):
        found += [(name, i, -1) for name in OPTIONAL if info.find(f"{CAP}{name}") is not None]
        areas = info.findall(f"{CAP}area")
        found += [
            ("polygon", i, a)
            for a, area in enumerate(areas)
            if area.find(f"{CAP}polygon") is not None
        ]
    return found


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(alert=alerts(), data=st.data())
def test_damaging_one_part_never_refuses_a_routable_alert_nor_changes_the_rest(
    alert: Alert, data: st.DataObject
) -> None:
    root = etree.fromstring(to_cap_xml(alert))
    parts = parts_to_damage(root)
    assume(parts)
    polygons = [part for part in parts if part[0] == "polygon"]
    # Polygons are rarer in the strategy's alerts than optional elements: half the draws.
    polygon_first: bool = data.draw(st.booleans())
    if polygons and polygon_first:
        parts = polygons
    name, i, a = data.draw(st.sampled_from(parts))
    how = data.draw(st.sampled_from(["", "<>not 1,2 valid", "1,1 2,2 1,1"]))
    info = root.findall(f"{CAP}info")[i]
    where = info.findall(f"{CAP}area")[a] if name == "polygon" else info
    target = where.find(f"{CAP}{name}")
    assert target is not None
    target.text = how
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    # What is left to route by: every geocode, circle and polygon but the damaged one.
    usable = [
        len(area.geocode) + len(area.circle) + len(area.polygon) - (k == i and j == a)
        for k, each in enumerate(alert.info)
        for j, area in enumerate(each.area)
    ]

    try:
        ingested = ingest_cap_xml(document)
    except CapValidationError as exc:
        assert not any(usable) and exc.code == "unroutable", exc
        return

    repaired = ingested.alert
    assert repaired.model_dump(exclude={"info"}) == alert.model_dump(exclude={"info"})
    for k, (before, after) in enumerate(zip(alert.info, repaired.info, strict=True)):
        if k != i:
            assert after == before
            continue
        if name == "polygon":
            assert after.model_dump(exclude={"area"}) == before.model_dump(exclude={"area"})
            for j, (area_before, area_after) in enumerate(
                zip(before.area, after.area, strict=True)
            ):
                if j == a:
                    assert area_after.polygon == area_before.polygon[1:]
                    assert area_after.geocode == area_before.geocode
                else:
                    assert area_after == area_before
        else:
            assert after.model_dump(exclude={name}) == before.model_dump(exclude={name})
