"""Property: any mutation of a valid CAP document ends in an Alert or in CapValidationError.

Never in another exception, and within a bound on time and memory. The mutations start from
the real documents of tests/cap_corpus/valid and their JSON twins: elements dropped,
duplicated, moved, reordered, renamed or garbled; huge values and deep nesting; odd encodings,
byte order marks and invalid bytes; bidirectional overrides, control characters and lone
surrogates; numbers, nulls and objects where text belongs, and the reverse.
"""

from __future__ import annotations

import copy
import json
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from schemas import (
    CAP_NAMESPACE,
    MAX_CAP_BYTES,
    Alert,
    CapValidationError,
    parse_cap_json,
    parse_cap_xml,
    to_cap_json,
)

VALID = sorted((Path(__file__).parent / "cap_corpus" / "valid").glob("*.xml"))
XML_SOURCES = {path.name: path.read_bytes() for path in VALID}
JSON_SOURCES = {name: to_cap_json(parse_cap_xml(xml)) for name, xml in XML_SOURCES.items()}

HANG_SECONDS = 10.0  # bounds a hang, not an assertion on speed: a parse takes milliseconds
PEAK_MEMORY = 64 * 1024 * 1024  # bytes traced by tracemalloc while one document is parsed
# Huge values stay within a quarter of the bound, so that no re-encoding (UTF-32 at most
# quadruples an ASCII text) takes a document over it; the edge itself is tested on its own.
HUGE_BUDGET = MAX_CAP_BYTES // 4 - 16 * 1024

# Bounded and reproducible: the same examples on every run, no example database, no deadline.
MUTATIONS = settings(
    max_examples=500,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow],
)

CAP = f"{{{CAP_NAMESPACE}}}"
TAGS = [
    *(CAP + name for name in ("alert", "info", "area", "resource", "geocode", "parameter")),
    *(CAP + name for name in ("identifier", "sent", "status", "event", "urgency", "web")),
    *(CAP + name for name in ("uri", "derefUri", "polygon", "circle", "value", "size")),
    "{urn:oasis:names:tc:emergency:cap:1.1}alert",
    "{http://www.w3.org/2000/09/xmldsig#}Signature",
    "{http://www.w3.org/2001/XInclude}include",
    "alert",
    "colour",
]
# Marks that reorder text (right-to-left marks, embeddings, overrides, isolates) or hide it.
BIDI_MARKS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
INVISIBLE = "\u200b\u200d\u2060\ufeff\u00ad"
# Any character XML 1.0 can carry; control characters go in at the byte level instead.
xml_char = st.characters(
    blacklist_categories=["Cs"],
    blacklist_characters="".join(chr(c) for c in range(32) if c not in (9, 10, 13))
    + "\ufffe\uffff",
)
ODD_VALUES = [
    "",
    " ",
    "0",
    "-1",
    "1e999",
    "NaN",
    "12 KB",
    "9" * 400,
    "true",
    "null",
    "Actual ",
    "actual",
    "javascript:alert(1)",
    "2026-02-30T25:61:00+01:00",
    "50,5 51,5 51,6 50,5",
    "a,b,c,d",
]
odd_xml_text = st.one_of(
    st.text(
        st.one_of(st.sampled_from(BIDI_MARKS + INVISIBLE + " \t\n\r<>&\"',;:/#"), xml_char),
        max_size=30,
    ),
    st.sampled_from(ODD_VALUES),
)
# JSON text may also hold what XML cannot: NUL and other controls, lone surrogates.
odd_json_text = st.one_of(
    odd_xml_text,
    st.text(st.sampled_from(["\x00", "\x01", "\x1b", "\x7f", "\x85", "\ud800", "\udfff", "a"])),
)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.floats(),
        odd_json_text,
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_json_text, inner, max_size=3),
    max_leaves=6,
)
NASTY_BYTES = [
    b"\x00",
    b"\x01",
    b"\x1b",
    b"\x7f",
    b"\xff",
    b"\xc3(",  # a truncated two-byte sequence
    b"\xed\xa0\x80",  # a UTF-8-encoded surrogate
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    "\u202e".encode(),
    b"&#0;",
    b"&#xD800;",
    b"&#x202E;",
    b"]]>",
    b"<![CDATA[x]]>",
    b"<!--",
    b"<?pi x?>",
    b"<!DOCTYPE alert>",
    b"&amp",
]
BOMS = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"]
ODD_JSON_FORMS = ["utf-8-sig", "utf-16", "utf-32"]  # JSON (RFC 8259) is UTF-8 without a BOM
DECLARED = ["UTF-16", "UTF-16BE", "UTF-32", "ISO-8859-1", "windows-1252", "EBCDIC-US", "x-none"]


class Mutant:
    """A mutated document and the steps that made it; a failing example shows both."""

    def __init__(self, source: str, steps: Sequence[str], document: bytes | str) -> None:
        self.source = source
        self.steps = tuple(steps)
        self.document = document

    def __repr__(self) -> str:
        # Not the whole document: it may be hundreds of kilobytes long.
        return (
            f"Mutant({self.source!r}, steps={self.steps!r}, {len(self.document)} long, "
            f"starting {self.document[:300]!r})"
        )


Parse = Callable[[bytes | str], Alert]


def bounded_outcome(parse: Parse, mutant: Mutant) -> Alert | CapValidationError:
    """What `parse` makes of the mutant: an Alert, or a CapValidationError naming each problem.

    Any other exception, a hang or a runaway allocation fails the test, showing the mutant.
    """
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcome: Alert | CapValidationError = parse(mutant.document)
    except CapValidationError as refused:
        outcome = refused
    except Exception as exc:
        raise AssertionError(
            f"{parse.__name__} raised {type(exc).__name__}: {exc}\n{mutant!r}"
        ) from exc
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < HANG_SECONDS, f"{parse.__name__} hung for {elapsed:.1f} s\n{mutant!r}"
    assert peak < PEAK_MEMORY, f"{parse.__name__} traced {peak} bytes\n{mutant!r}"
    if isinstance(outcome, CapValidationError):
        assert outcome.problems
        for problem in outcome.problems:
            assert problem.field and problem.code and problem.message, (
                f"incomplete {problem!r}\n{mutant!r}"
            )
    else:
        assert isinstance(outcome, Alert)
    return outcome


# Mutations of XML elements, made with lxml on the parsed tree of a valid document.

ElementMutation = Callable[[st.DrawFn, etree._Element, etree._Element], str]


def elements_of(root: etree._Element) -> list[etree._Element]:
    return [element for element in root.iter() if isinstance(element.tag, str)]


def local(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def pick_element(draw: st.DrawFn, root: etree._Element) -> etree._Element:
    """An element, its name drawn first so that rare elements are as likely as common ones."""
    elements = elements_of(root)
    name = draw(st.sampled_from(sorted({local(element) for element in elements})))
    return draw(st.sampled_from([element for element in elements if local(element) == name]))


def xml_room(root: etree._Element) -> int:
    return max(0, HUGE_BUDGET - len(etree.tostring(root)))


def drop(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    parent = target.getparent()
    if parent is None:
        return "kept the root"
    parent.remove(target)
    return f"dropped {local(target)}"


def duplicate(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    if target.getparent() is None:
        return "kept the root"
    wanted = draw(st.sampled_from([1, 2, 10, 100, 1000]))
    copies = min(wanted, xml_room(root) // len(etree.tostring(target)))
    for _ in range(copies):
        target.addnext(copy.deepcopy(target))
    return f"repeated {local(target)} {copies} more times"


def reorder(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    target[:] = draw(st.permutations(list(target)))
    return f"reordered the children of {local(target)}"


def move(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    places = [e for e in elements_of(root) if target is not e and target not in e.iterancestors()]
    if target.getparent() is None or not places:
        return "kept the root"
    place = draw(st.sampled_from(places))
    place.insert(draw(st.integers(0, len(place))), target)
    return f"moved {local(target)} into {local(place)}"


def rename(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    old = local(target)
    target.tag = draw(st.sampled_from(TAGS))
    return f"renamed {old} to {target.tag}"


def add_attribute(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    name = draw(st.sampled_from(["lang", "{http://www.w3.org/XML/1998/namespace}lang", "{u:x}id"]))
    target.set(name, draw(odd_xml_text))
    return f"gave {local(target)} the attribute {name}"


def garble_text(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    old = target.text or ""
    start = draw(st.integers(0, len(old)))
    end = draw(st.integers(start, len(old)))
    target.text = old[:start] + draw(odd_xml_text) + old[end:]
    return f"garbled the text of {local(target)}: {target.text!r}"


def stray_text(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    target.tail = draw(odd_xml_text)
    return f"put text after {local(target)}: {target.tail!r}"


def huge_text(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    unit = draw(st.sampled_from(["x", "Hochwasser an der Maas ", "50.1,5.2 ", "\u202e", "€"]))
    wanted = draw(st.sampled_from([1_000, 100_000, 10_000_000]))
    count = min(wanted, xml_room(root) // len(unit.encode("ascii", "xmlcharrefreplace")))
    target.text = (target.text or "") + unit * count
    return f"appended {count} times {unit!r} to {local(target)}"


def nest_deeply(draw: st.DrawFn, root: etree._Element, target: etree._Element) -> str:
    depth = draw(st.sampled_from([1, 2, 50, 250, 300]))
    inner = target
    for _ in range(depth):
        inner = etree.SubElement(inner, target.tag)
    return f"nested {depth} {local(target)} elements in {local(target)}"


ELEMENT_MUTATIONS: list[ElementMutation] = [
    drop,
    duplicate,
    reorder,
    move,
    rename,
    add_attribute,
    garble_text,
    stray_text,
    huge_text,
    nest_deeply,
]


@st.composite
def element_mutants(draw: st.DrawFn) -> Mutant:
    """A valid CAP XML document after one to three element mutations, maybe a byte edit."""
    source = draw(st.sampled_from(sorted(XML_SOURCES)))
    root = etree.fromstring(XML_SOURCES[source])
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(ELEMENT_MUTATIONS))
        steps.append(mutation(draw, root, pick_element(draw, root)))
    encoding = draw(st.sampled_from(["UTF-8", "UTF-16", "ISO-8859-1", "US-ASCII"]))
    written = etree.tostring(root, xml_declaration=True, encoding=encoding)
    document, edits = mutate_bytes(draw, written, draw(st.integers(0, 1)), BYTE_EDITS)
    assert len(document) <= MAX_CAP_BYTES
    return Mutant(source, (*steps, f"written in {encoding}", *edits), document)


# Mutations of bytes: invalid sequences, encodings the declaration belies, byte order marks.

ByteMutation = Callable[[st.DrawFn, bytes], tuple[bytes, str]]


def insert_bytes(draw: st.DrawFn, document: bytes) -> tuple[bytes, str]:
    at = draw(st.integers(0, len(document)))
    chunk = draw(st.one_of(st.sampled_from(NASTY_BYTES), st.binary(min_size=1, max_size=8)))
    return document[:at] + chunk + document[at:], f"inserted {chunk!r} at {at}"


def delete_bytes(draw: st.DrawFn, document: bytes) -> tuple[bytes, str]:
    at = draw(st.integers(0, len(document)))
    count = draw(st.integers(1, 16))
    return document[:at] + document[at + count :], f"deleted {count} bytes at {at}"


def truncate(draw: st.DrawFn, document: bytes) -> tuple[bytes, str]:
    at = draw(st.integers(0, len(document)))
    return document[:at], f"cut after {at} bytes"


def declare_other_encoding(draw: st.DrawFn, document: bytes) -> tuple[bytes, str]:
    declared = draw(st.sampled_from(DECLARED))
    named = f'encoding="{declared}"'.encode()
    if b'encoding="UTF-8"' in document:
        document = document.replace(b'encoding="UTF-8"', named, 1)
    else:
        document = b'<?xml version="1.0" ' + named + b"?>" + document
    return document, f"declared {declared}"


def encode_otherwise(draw: st.DrawFn, document: bytes) -> tuple[bytes, str]:
    encoding = draw(st.sampled_from(["utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252"]))
    text = document.decode("utf-8", "replace")
    return text.encode(encoding, "xmlcharrefreplace"), f"re-encoded in {encoding}"


def prefix_bom(draw: st.DrawFn, document: bytes) -> tuple[bytes, str]:
    bom = draw(st.sampled_from(BOMS))
    return bom + document, f"prefixed the byte order mark {bom!r}"


BYTE_EDITS: list[ByteMutation] = [insert_bytes, delete_bytes, truncate, prefix_bom]
"""Edits that add at most a few bytes, whatever the size of the document."""
BYTE_MUTATIONS = [*BYTE_EDITS, declare_other_encoding, encode_otherwise]


def mutate_bytes(
    draw: st.DrawFn, document: bytes, steps: int, mutations: list[ByteMutation]
) -> tuple[bytes, list[str]]:
    done = []
    for _ in range(steps):
        document, step = draw(st.sampled_from(mutations))(draw, document)
        done.append(step)
    return document, done


@st.composite
def byte_mutants(draw: st.DrawFn) -> Mutant:
    """A valid CAP XML document with one to three byte-level mutations."""
    source = draw(st.sampled_from(sorted(XML_SOURCES)))
    steps = draw(st.integers(1, 3))
    document, done = mutate_bytes(draw, XML_SOURCES[source], steps, BYTE_MUTATIONS)
    return Mutant(source, tuple(done), document)


# Mutations of the values of a JSON twin.

Key = str | int
JsonMutation = Callable[[st.DrawFn, Any, Key, int], str]
"""Changes `parent[key]` in place, adding at most the given room in bytes; says what it did."""


def json_places(value: Any, place: tuple[Key, ...] = ()) -> list[tuple[Key, ...]]:
    """Every place in a JSON value, as the keys and indexes that lead to it."""
    places = [place]
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            places += json_places(item, (*place, key))
    return places


def field_name(place: tuple[Key, ...]) -> str:
    """The CAP name of a place: `polygon` for the list, `polygon[]` for one of its items."""
    names = [key for key in place if isinstance(key, str)]
    name = names[-1] if names else "document"
    return name if isinstance(place[-1], str) else f"{name}[]"


def pick_place(draw: st.DrawFn, box: list[Any]) -> tuple[Key, ...]:
    """A place in the document, its field name drawn first so that rare fields get their turn."""
    places = json_places(box)[1:]
    name = draw(st.sampled_from(sorted({field_name(place) for place in places})))
    return draw(st.sampled_from([place for place in places if field_name(place) == name]))


def delete_json(draw: st.DrawFn, parent: Any, key: Key, room: int) -> str:
    del parent[key]
    return f"deleted {key!r}"


def replace_json(draw: st.DrawFn, parent: Any, key: Key, room: int) -> str:
    parent[key] = draw(json_values)
    return f"replaced {key!r} with {parent[key]!r:.80}"


def retype_json(draw: st.DrawFn, parent: Any, key: Key, room: int) -> str:
    value = parent[key]
    others: list[Any]
    if isinstance(value, str):
        others = [len(value), -1.5, 10**30, True, None, {}, [value], [[value]], [[1, 2]], [None]]
    elif isinstance(value, int | float):
        others = [str(value), f"{value} KB", None, [value], {"value": value}]
    else:
        others = [json.dumps(value)[:80], 0, None, [], [value], {"value": value}]
    parent[key] = draw(st.sampled_from(others))
    return f"retyped {key!r} to {parent[key]!r:.80}"


def repeat_json(draw: st.DrawFn, parent: Any, key: Key, room: int) -> str:
    if not isinstance(parent, list) or not isinstance(key, int):
        return f"kept {key!r}"
    wanted = draw(st.sampled_from([1, 2, 10, 100, 1000]))
    copies = min(wanted, room // (len(json.dumps(parent[key])) + 2))  # with its ", "
    parent[key + 1 : key + 1] = [copy.deepcopy(parent[key]) for _ in range(copies)]
    return f"repeated item {key} {copies} more times"


def reorder_json(draw: st.DrawFn, parent: Any, key: Key, room: int) -> str:
    value = parent[key]
    if isinstance(value, list):
        parent[key] = draw(st.permutations(value))
    elif isinstance(value, dict):
        parent[key] = dict(draw(st.permutations(list(value.items()))))
    return f"reordered {key!r}"


def huge_json(draw: st.DrawFn, parent: Any, key: Key, room: int) -> str:
    value = parent[key]
    wanted = draw(st.sampled_from([1_000, 100_000, 10_000_000]))
    if isinstance(value, list) and value:
        parent[key] = value * min(wanted, room // len(json.dumps(value)))
    else:
        unit = draw(st.sampled_from(["x", "Hochwasser an der Maas ", "\u202e"]))
        filler = unit * min(wanted, room // len(json.dumps(unit)))
        parent[key] = value + filler if isinstance(value, str) else filler
    return f"made {key!r} {len(json.dumps(parent[key]))} characters long"


def nest_json(draw: st.DrawFn, parent: Any, key: Key, room: int) -> str:
    depth = draw(st.sampled_from([1, 2, 50, 100, 600]))
    as_list = draw(st.booleans())
    value = parent[key]
    for _ in range(depth):
        value = [value] if as_list else {"value": value}
    parent[key] = value
    return f"nested {key!r} {depth} {'lists' if as_list else 'objects'} deep"


def add_key(draw: st.DrawFn, parent: Any, key: Key, room: int) -> str:
    target = parent[key]
    if not isinstance(target, dict):
        return f"kept {key!r}"
    name = draw(st.one_of(st.sampled_from(["colour", "Identifier", "msg_type", ""]), odd_json_text))
    target[name] = draw(json_values)
    return f"added the key {name!r} to {key!r}"


JSON_MUTATIONS: list[JsonMutation] = [
    delete_json,
    replace_json,
    retype_json,
    repeat_json,
    reorder_json,
    huge_json,
    nest_json,
    add_key,
]


@st.composite
def json_mutants(
    draw: st.DrawFn, mutations: list[JsonMutation] = JSON_MUTATIONS, most: int = 3
) -> Mutant:
    """A valid CAP JSON twin with one to `most` mutations, as text or encoded bytes."""
    source = draw(st.sampled_from(sorted(JSON_SOURCES)))
    box = [json.loads(JSON_SOURCES[source])]  # so that the document itself has a parent
    steps = []
    for _ in range(draw(st.integers(1, most))):
        if not box:
            break
        *route, key = place = pick_place(draw, box)
        parent: Any = box
        for step in route:
            parent = parent[step]
        room = max(0, HUGE_BUDGET - len(json.dumps(box)))
        done = draw(st.sampled_from(mutations))(draw, parent, key, room)
        steps.append(f"{field_name(place)}: {done}")
    text = json.dumps(box[0] if box else None, ensure_ascii=draw(st.booleans()))
    # Mostly as a client sends it, so that the value mutations are what the reader sees.
    form = draw(st.one_of(st.just("text"), st.just("utf-8"), st.sampled_from(ODD_JSON_FORMS)))
    if form == "text":
        return Mutant(source, (*steps, "given as text"), text)
    # surrogatepass: a lone surrogate in the text becomes bytes no UTF-8 decoder accepts.
    encoded = text.encode(form, "surrogatepass")
    document, edits = mutate_bytes(draw, encoded, draw(st.integers(0, 1)), BYTE_EDITS)
    assert len(document) <= MAX_CAP_BYTES
    return Mutant(source, (*steps, f"encoded in {form}", *edits), document)


# Mutants that once ended in another exception than CapValidationError, kept as examples.
FLOOD = "meuse_flood_multilingual.xml"
SIGNATURE_WITH_ENTITY = (
    "<!DOCTYPE Signature [<!ENTITY e 'x'>]>"
    "<Signature xmlns='http://www.w3.org/2000/09/xmldsig#'>&e;</Signature>"
)
POLYGON_OF_NO_PAIRS = Mutant(
    FLOOD,
    ("polygon[]: inserted [null, [1]]",),
    JSON_SOURCES[FLOOD].replace('"polygon": [', '"polygon": [[null, [1]], ', 1),
)
SIGNATURE_WITH_A_DOCTYPE = Mutant(
    FLOOD,
    (f"signature: added {SIGNATURE_WITH_ENTITY!r}",),
    JSON_SOURCES[FLOOD][:-1] + f', "signature": {json.dumps(SIGNATURE_WITH_ENTITY)}}}',
)
JSON_TEXT_WITH_A_LONE_SURROGATE = Mutant(
    FLOOD,
    ('msgType: replaced with "\\ud800"', "given as text"),
    JSON_SOURCES[FLOOD].replace('"Alert"', '"\ud800"', 1),
)
XML_TEXT_WITH_A_LONE_SURROGATE = Mutant(
    FLOOD,
    ("msgType: replaced with \\ud800", "given as text"),
    XML_SOURCES[FLOOD].decode().replace(">Alert<", ">\ud800<", 1),
)


@MUTATIONS
@given(element_mutants())
def test_xml_with_mutated_elements_is_an_alert_or_refused(mutant: Mutant) -> None:
    bounded_outcome(parse_cap_xml, mutant)


@MUTATIONS
@given(byte_mutants())
@example(XML_TEXT_WITH_A_LONE_SURROGATE)
def test_xml_with_mutated_bytes_is_an_alert_or_refused(mutant: Mutant) -> None:
    bounded_outcome(parse_cap_xml, mutant)


@MUTATIONS
@given(json_mutants())
@example(JSON_TEXT_WITH_A_LONE_SURROGATE)
@example(SIGNATURE_WITH_A_DOCTYPE)
def test_mutated_json_is_an_alert_or_refused(mutant: Mutant) -> None:
    bounded_outcome(parse_cap_json, mutant)


@MUTATIONS
@given(json_mutants([replace_json, retype_json], most=1))
@example(POLYGON_OF_NO_PAIRS)
def test_json_with_a_value_of_another_type_is_an_alert_or_refused(mutant: Mutant) -> None:
    bounded_outcome(parse_cap_json, mutant)


def padded(document: str, opening: str, size: int) -> Mutant:
    """The document with filler after the first `opening`, `size` bytes long in UTF-8."""
    at = document.index(opening) + len(opening)
    filler = "x" * (size - len(document.encode()))
    return Mutant(FLOOD, (f"padded to {size} bytes",), document[:at] + filler + document[at:])


@pytest.mark.parametrize(
    ("parse", "document", "opening"),
    [
        (parse_cap_xml, XML_SOURCES[FLOOD].decode(), "<description>"),
        (parse_cap_json, JSON_SOURCES[FLOOD], '"description": "'),
    ],
    ids=["xml", "json"],
)
def test_a_document_at_the_size_bound_is_read_and_one_byte_more_is_refused(
    parse: Parse, document: str, opening: str
) -> None:
    at_bound = bounded_outcome(parse, padded(document, opening, MAX_CAP_BYTES))
    over_bound = bounded_outcome(parse, padded(document, opening, MAX_CAP_BYTES + 1))

    assert isinstance(at_bound, Alert)
    assert isinstance(over_bound, CapValidationError)
    assert (over_bound.field, over_bound.code) == ("document", "too_large")
