"""CAP from outside the network, read tolerantly: strict for publishers, tolerant for ingest.

Centres publishing into the network are read strictly (`parse_cap_xml`): a refusal names the
field and the centre fixes its message. The public warnings of the authorities around the
network are read in `ingest` mode, because a refusal there loses a real warning that nobody
will fix for us. A defect is repaired when the repair is unambiguous (white space inside a
polygon, a ring left open, CAP 1.1), or the smallest part carrying it is left out (a polygon,
an empty element, a resource, at worst an info block). Each repair and each part left out is
an `IngestWarning` with the field, code and sentence a refusal would give. A document is
refused only when it is not CAP, or when nothing is left to route it by.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from lxml import etree
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.cap import (
    CAP_NAMESPACE,
    Alert,
    MsgType,
    Status,
    check_size,
    document_bytes,
    parse_cap_json,
)
from schemas.cap_xml import document_root, parse_cap_xml, read_fields, require_cap_root
from schemas.errors import (
    CapValidationError,
    IngestWarning,
    Problem,
    field_path,
    problem_from_error,
)

MAX_INGEST_BYTES = 5 * 1024 * 1024
"""The default limit of a document from outside (a national service's alert with hundreds of
polygons is over 1 MiB); a source may be given another."""

MAX_INGEST_LIMIT = 8 * 1024 * 1024
"""The largest limit a source may be given: its alert and the document as sent travel in one
Kafka record (schemas.topics.MAX_RECORD_BYTES)."""

CAP11_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.1"


class CapMode(StrEnum):
    """How a CAP document is read."""

    STRICT = "strict"
    """Refuse any defect, naming the field: for publishers and what the network emits."""
    INGEST = "ingest"
    """Repair or leave out what is defective, and say so: for documents from outside."""


class IngestedAlert(BaseModel):
    """An alert read in ingest mode, and what was repaired or left out to read it."""

    model_config = ConfigDict(frozen=True)

    alert: Alert
    warnings: tuple[IngestWarning, ...] = ()


def ingest_cap_xml(data: bytes | str, *, max_bytes: int = MAX_INGEST_BYTES) -> IngestedAlert:
    """Read a CAP 1.2 (or 1.1) XML document from outside the network, tolerantly."""
    raw = document_bytes(data)
    check_size(raw, max_bytes)
    root = document_root(raw)
    warnings: list[IngestWarning] = []
    if root.tag == f"{{{CAP11_NAMESPACE}}}alert":
        _upgrade_cap11(root)
        warnings.append(
            IngestWarning(
                field="alert",
                code="cap_1_1",
                message="the document is CAP 1.1; its elements were read as the CAP 1.2 "
                "elements of the same names.",
                action="repaired",
            )
        )
    require_cap_root(root)
    problems: list[Problem] = []
    fields = read_fields(root, problems, warnings)
    assert not problems  # a tolerant reading says everything as warnings
    return _tolerate(fields, warnings)


def ingest_cap_json(data: bytes | str, *, max_bytes: int = MAX_INGEST_BYTES) -> IngestedAlert:
    """Read the JSON twin of a CAP 1.2 alert from outside the network, tolerantly."""
    raw = document_bytes(data)
    check_size(raw, max_bytes)
    try:
        fields = json.loads(raw)
    except ValueError as exc:
        raise CapValidationError.single(
            "document", "json_invalid", f"the document is not JSON: {exc}."
        ) from None
    if not isinstance(fields, dict):
        raise CapValidationError.single(
            "document", "json_invalid", "the document must be a JSON object (one alert)."
        )
    return _tolerate(fields, [])


def is_json(document: bytes) -> bool:
    """Whether a CAP document is the JSON form (else XML), told by its first character."""
    return document.lstrip()[:1] in (b"{", b"[")


def media_type_of(document: bytes) -> str:
    """The Content-Type of a CAP document, by the rule `is_json` tells its form with."""
    return "application/json" if is_json(document) else "application/cap+xml"


def read_cap(
    data: bytes, *, json_form: bool, mode: CapMode, max_bytes: int | None = None
) -> IngestedAlert:
    """Read a CAP document in either form and either mode (strict: never a warning)."""
    if mode is CapMode.STRICT:
        alert = parse_cap_json(data) if json_form else parse_cap_xml(data)
        return IngestedAlert(alert=alert)
    limit = MAX_INGEST_BYTES if max_bytes is None else max_bytes
    read = ingest_cap_json if json_form else ingest_cap_xml
    return read(data, max_bytes=limit)


def _upgrade_cap11(root: etree._Element) -> None:
    # CAP 1.2 kept every CAP 1.1 element under the same name; 1.1's certainty "Very Likely"
    # (deprecated there) is repaired below with the other values.
    for element in root.iter(f"{{{CAP11_NAMESPACE}}}*"):
        element.tag = f"{{{CAP_NAMESPACE}}}{etree.QName(element).localname}"


# --- the contract's check, leaving out the smallest part that fails it --------------------

_DROPPED = object()
"""Stands in a list for an item left out, so that the others keep the issuer's numbering."""

# Lists whose items may be left out one by one, and elements that may be left out whole.
_LISTS = frozenset(
    {
        "info",
        "area",
        "polygon",
        "circle",
        "geocode",
        "resource",
        "parameter",
        "eventCode",
        "category",
        "responseType",
        "code",
        "incidents",
        "references",
    }
)
_OPTIONAL = frozenset(
    {
        "source",
        "note",
        "audience",
        "effective",
        "onset",
        "expires",
        "senderName",
        "headline",
        "description",
        "instruction",
        "web",
        "contact",
        "altitude",
        "ceiling",
    }
)
# An alert or update of real or exercise traffic reaches people by its area; a cancel follows
# its incident, a System message and a Draft reach nobody.
_ROUTED_TYPES = (MsgType.ALERT, MsgType.UPDATE)
_UNROUTED_STATUSES = (Status.SYSTEM, Status.DRAFT)


def _tolerate(fields: dict[str, Any], warnings: list[IngestWarning]) -> IngestedAlert:
    _repair(fields, warnings)
    had_info = bool(fields.get("info"))
    while True:  # every round leaves out at least one part, so it ends
        try:
            alert = Alert.model_validate(_without_dropped(fields))
        except ValidationError as exc:
            _leave_out(fields, exc, warnings)
            continue
        break
    left_out = [w for w in warnings if w.action == "dropped"]
    if had_info and not alert.info:
        raise _unusable("info", "no info block is left that can be read", left_out)
    routed = alert.msg_type in _ROUTED_TYPES and alert.status not in _UNROUTED_STATUSES
    if routed and not any(
        area.polygon or area.circle or area.geocode for info in alert.info for area in info.area
    ):
        raise _unusable(
            "info", "no area is left with a polygon, circle or geocode to route it by", left_out
        )
    return IngestedAlert(alert=alert, warnings=tuple(warnings))


def _unusable(field: str, reason: str, left_out: Sequence[Problem]) -> CapValidationError:
    first = Problem(field=field, code="unroutable", message=f"{reason}.")
    return CapValidationError([first, *left_out])


def _leave_out(fields: dict[str, Any], exc: ValidationError, warnings: list[IngestWarning]) -> None:
    """Leave out the smallest part carrying each error; refuse when one cannot be left out."""
    targets: dict[tuple[int | str, ...], Problem] = {}
    refusals: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = _original_loc(fields, error["loc"])
        problem = problem_from_error({**error, "loc": loc})
        target = _smallest_part(loc)
        if target is None or not _holds(fields, target):
            # Not a part one may leave out (or, in JSON written with other keys than CAP's
            # element names, not one found where the contract names it).
            refusals.append(problem)
        else:
            targets.setdefault(target, problem)
    if refusals:
        raise CapValidationError(refusals)
    for target in sorted(targets, key=len):
        if any(target[:n] in targets for n in range(1, len(target))):
            continue  # inside a part left out whole
        problem = targets[target]
        value = _remove(fields, target)
        empty = value in ("", {}, [])
        warnings.append(
            IngestWarning(
                field=field_path(target),
                code="empty_element" if empty else problem.code,
                message=_left_out(target, problem, empty),
                action="dropped",
            )
        )


def _left_out(target: tuple[int | str, ...], problem: Problem, empty: bool) -> str:
    if empty:
        return f"{_name(target)} is empty. It was left out."
    if field_path(target) == problem.field:
        return f"{problem.message} It was left out."
    return f"{problem.field}: {problem.message} So {field_path(target)} was left out."


def _smallest_part(loc: tuple[int | str, ...]) -> tuple[int | str, ...] | None:
    for end in range(len(loc), 0, -1):
        last = loc[end - 1]
        if isinstance(last, int) and end >= 2 and loc[end - 2] in _LISTS:
            return loc[:end]
        if isinstance(last, str) and last in _OPTIONAL:
            return loc[:end]
    return None


def _name(loc: tuple[int | str, ...]) -> str:
    return next(str(part) for part in reversed(loc) if isinstance(part, str))


def _original_loc(fields: Any, loc: Sequence[int | str]) -> tuple[int | str, ...]:
    """A location in the checked copy (items left out removed) as one in the issuer's data."""
    node = fields
    original: list[int | str] = []
    for part in loc:
        if isinstance(part, int) and isinstance(node, list):
            kept = [i for i, item in enumerate(node) if item is not _DROPPED]
            index = kept[part]
            original.append(index)
            node = node[index]
        else:
            original.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(original)


def _holds(fields: dict[str, Any], loc: tuple[int | str, ...]) -> bool:
    node: Any = fields
    for part in loc:
        if not isinstance(node, dict | list):
            return False
        try:  # a wrong key type is a TypeError, as a missing one is a Key- or IndexError
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return False
    return node is not _DROPPED


def _remove(fields: dict[str, Any], loc: tuple[int | str, ...]) -> Any:
    node: Any = fields
    for part in loc[:-1]:
        node = node[part]
    last = loc[-1]
    if isinstance(last, int):
        value, node[last] = node[last], _DROPPED
        return value
    return node.pop(last)


def _without_dropped(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_dropped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_dropped(item) for item in value if item is not _DROPPED]
    return value


# --- repairs that cannot be wrong -------------------------------------------------------

_AROUND_COMMA = re.compile(r"\s*,\s*")


def _repair(fields: dict[str, Any], warnings: list[IngestWarning]) -> None:
    _repair_utc(fields, "sent", "sent", warnings)
    references = _list(fields, "references")
    for r, reference in enumerate(references):
        head, comma, sent = str(reference).rpartition(",")
        if comma and _ZULU.fullmatch(sent):
            references[r] = f"{head},{sent[:-1]}+00:00"
            warnings.append(_utc_repaired(f"references[{r}]"))
    for i, info in enumerate(_list(fields, "info")):
        if not isinstance(info, dict):
            continue
        for name in ("effective", "onset", "expires"):
            _repair_utc(info, name, f"info[{i}].{name}", warnings)
        if info.get("certainty") == "Very Likely":
            info["certainty"] = "Likely"
            warnings.append(
                IngestWarning(
                    field=f"info[{i}].certainty",
                    code="invalid_enum",
                    message="certainty 'Very Likely' is CAP 1.1's word for Likely; it was "
                    "read as Likely.",
                    action="repaired",
                )
            )
        for j, area in enumerate(_list(info, "area")):
            polygons = _list(area, "polygon")
            for k, polygon in enumerate(polygons):
                if isinstance(polygon, str):
                    field = f"info[{i}].area[{j}].polygon[{k}]"
                    polygons[k] = _repaired_polygon(polygon, field, warnings)


def _list(node: Any, name: str) -> list[Any]:
    """The list under `name`, or an empty one when the data has none (the check says why)."""
    value = node.get(name) if isinstance(node, dict) else None
    return value if isinstance(value, list) else []


_ZULU = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _repair_utc(
    fields: dict[str, Any], name: str, field: str, warnings: list[IngestWarning]
) -> None:
    # CAP 1.2 writes UTC as +00:00 and forbids "Z"; the time meant is the same.
    value = fields.get(name)
    if isinstance(value, str) and _ZULU.fullmatch(value.strip()):
        fields[name] = value.strip()[:-1] + "+00:00"
        warnings.append(_utc_repaired(field))


def _utc_repaired(field: str) -> IngestWarning:
    return IngestWarning(
        field=field,
        code="invalid_datetime",
        message="the time was written with 'Z' for UTC, which CAP 1.2 writes +00:00; it was "
        "read as +00:00.",
        action="repaired",
    )


def _repaired_polygon(text: str, field: str, warnings: list[IngestWarning]) -> str:
    pairs = _AROUND_COMMA.sub(",", text.strip()).split()
    if pairs != text.split():
        warnings.append(
            IngestWarning(
                field=field,
                code="invalid_coordinate",
                message="white space around the comma of a 'lat,lon' pair was removed.",
                action="repaired",
            )
        )
    points = [_point(pair) for pair in pairs]
    if len(set(points)) >= 3 and None not in points and points[0] != points[-1]:
        pairs.append(pairs[0])
        warnings.append(
            IngestWarning(
                field=field,
                code="invalid_polygon",
                message="the polygon was not closed; its first pair was repeated at its end.",
                action="repaired",
            )
        )
    return " ".join(pairs)


def _point(pair: str) -> tuple[float, float] | None:
    lat, _, lon = pair.partition(",")
    try:
        return float(lat), float(lon)
    except ValueError:
        return None
