"""CAP 1.2 XML: a hardened, namespace-aware reader and a writer for the Alert model.

The reader refuses DOCTYPEs (and so entities and external DTDs), never touches the network,
never expands XInclude, and bounds the input size. Enveloped ds:Signatures are kept as text.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Any

from lxml import etree

from schemas.cap import CAP_NAMESPACE, Alert, check_size, document_bytes, validate_alert
from schemas.cap_types import (
    XMLDSIG_NAMESPACE,
    decimal_text,
    join_cap_list,
    normalise_signature,
    safe_xml_parser,
    split_cap_list,
)
from schemas.errors import DOCUMENT, Action, CapValidationError, IngestWarning, Problem

XINCLUDE_NAMESPACE = "http://www.w3.org/2001/XInclude"
# Looked for before parsing too (the input is bounded, so a byte search is cheap), so that an
# entity bomb is named for what it is; XML spells the keyword in capitals only.
_DOCTYPE_MARKERS = tuple(
    "<!DOCTYPE".encode(encoding)
    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
_DOCTYPE_REFUSAL = (
    "DOCTYPE declarations are not accepted (no DTDs, no entities, no external files)."
)
_SIGNATURE_TAG = f"{{{XMLDSIG_NAMESPACE}}}Signature"


class _Kind(Enum):
    TEXT = auto()  # one element, kept as written
    TOKEN = auto()  # one element, surrounding white space is layout (enums, dates, numbers)
    TOKENS = auto()  # repeated element of tokens
    TEXTS = auto()  # repeated element of free text
    SPACED = auto()  # one element holding a CAP space-delimited list
    NESTED = auto()  # repeated element with children


# Each level of the CAP 1.2 schema, in the standard's element order: name -> (kind, children).
_Spec = dict[str, tuple[_Kind, "_Spec | None"]]

_NAMED_VALUE: _Spec = {"valueName": (_Kind.TEXT, None), "value": (_Kind.TEXT, None)}
_RESOURCE: _Spec = {
    "resourceDesc": (_Kind.TEXT, None),
    "mimeType": (_Kind.TEXT, None),
    "size": (_Kind.TOKEN, None),
    "uri": (_Kind.TOKEN, None),
    "derefUri": (_Kind.TEXT, None),
    "digest": (_Kind.TOKEN, None),
}
_AREA: _Spec = {
    "areaDesc": (_Kind.TEXT, None),
    "polygon": (_Kind.TOKENS, None),
    "circle": (_Kind.TOKENS, None),
    "geocode": (_Kind.NESTED, _NAMED_VALUE),
    "altitude": (_Kind.TOKEN, None),
    "ceiling": (_Kind.TOKEN, None),
}
_INFO: _Spec = {
    "language": (_Kind.TOKEN, None),
    "category": (_Kind.TOKENS, None),
    "event": (_Kind.TEXT, None),
    "responseType": (_Kind.TOKENS, None),
    "urgency": (_Kind.TOKEN, None),
    "severity": (_Kind.TOKEN, None),
    "certainty": (_Kind.TOKEN, None),
    "audience": (_Kind.TEXT, None),
    "eventCode": (_Kind.NESTED, _NAMED_VALUE),
    "effective": (_Kind.TOKEN, None),
    "onset": (_Kind.TOKEN, None),
    "expires": (_Kind.TOKEN, None),
    "senderName": (_Kind.TEXT, None),
    "headline": (_Kind.TEXT, None),
    "description": (_Kind.TEXT, None),
    "instruction": (_Kind.TEXT, None),
    "web": (_Kind.TOKEN, None),
    "contact": (_Kind.TEXT, None),
    "parameter": (_Kind.NESTED, _NAMED_VALUE),
    "resource": (_Kind.NESTED, _RESOURCE),
    "area": (_Kind.NESTED, _AREA),
}
_ALERT: _Spec = {
    "identifier": (_Kind.TOKEN, None),
    "sender": (_Kind.TOKEN, None),
    "sent": (_Kind.TOKEN, None),
    "status": (_Kind.TOKEN, None),
    "msgType": (_Kind.TOKEN, None),
    "source": (_Kind.TEXT, None),
    "scope": (_Kind.TOKEN, None),
    "restriction": (_Kind.TEXT, None),
    "addresses": (_Kind.SPACED, None),
    "code": (_Kind.TEXTS, None),
    "note": (_Kind.TEXT, None),
    "references": (_Kind.SPACED, None),
    "incidents": (_Kind.SPACED, None),
    "info": (_Kind.NESTED, _INFO),
}

_REPEATED = (_Kind.TOKENS, _Kind.TEXTS, _Kind.NESTED)


def _refuse(code: str, message: str, field: str = DOCUMENT) -> CapValidationError:
    return CapValidationError.single(field, code, message)


def parse_cap_xml(data: bytes | str) -> Alert:
    """Read a CAP 1.2 XML document into an Alert; raise CapValidationError naming the field."""
    raw = document_bytes(data)
    check_size(raw)
    root = document_root(raw)
    require_cap_root(root)
    problems: list[Problem] = []
    fields = read_fields(root, problems)
    if problems:
        raise CapValidationError(problems)
    return validate_alert(fields)


def document_root(raw: bytes) -> etree._Element:
    """The root element of an XML document read without DTDs, entities, XInclude or network;
    refuse (field `document`) what is not well-formed or tries any of them."""
    if any(marker in raw for marker in _DOCTYPE_MARKERS):
        raise _refuse("doctype_forbidden", _DOCTYPE_REFUSAL)
    try:
        root = etree.fromstring(raw, safe_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise _refuse("malformed_xml", f"the document is not well-formed XML: {exc}.") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _refuse("doctype_forbidden", _DOCTYPE_REFUSAL)
    if next(root.iter(f"{{{XINCLUDE_NAMESPACE}}}*"), None) is not None:
        raise _refuse("xinclude_forbidden", "XInclude is not accepted in CAP documents.")
    return root


def require_cap_root(root: etree._Element) -> None:
    """Refuse a document whose root is not CAP 1.2's <alert>."""
    if root.tag != f"{{{CAP_NAMESPACE}}}alert":
        raise _refuse(
            "wrong_namespace",
            f"the root element must be <alert> in the CAP 1.2 namespace {CAP_NAMESPACE}; "
            f"got {root.tag}.",
            field="alert",
        )


def read_fields(
    root: etree._Element, problems: list[Problem], warnings: list[IngestWarning] | None = None
) -> dict[str, Any]:
    """The fields of a CAP <alert> element, by CAP element name, for `validate_alert`.

    What CAP's schema does not allow at its place (an attribute, stray text, an unknown or a
    repeated element) is a problem; with `warnings` (reading a document from outside) it is
    left out instead and said there, except that a repeated free-text element (two
    `instruction`s) is joined to the first.
    """
    return _read(root, _ALERT, "", _Complaints(problems, warnings), signature_allowed=True)


class _Complaints:
    """Where `_read` says what it left out: refusals in strict mode, warnings when tolerant."""

    def __init__(self, problems: list[Problem], warnings: list[IngestWarning] | None) -> None:
        self.problems = problems
        self.warnings = warnings

    @property
    def tolerant(self) -> bool:
        return self.warnings is not None

    def add(self, field: str, code: str, message: str, action: Action = "dropped") -> None:
        if self.warnings is None:
            self.problems.append(Problem(field=field, code=code, message=message))
        else:
            if action == "dropped":
                message += " It was left out."
            self.warnings.append(
                IngestWarning(field=field, code=code, message=message, action=action)
            )


def _read(
    element: etree._Element,
    spec: _Spec,
    path: str,
    complaints: _Complaints,
    *,
    signature_allowed: bool = False,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for attribute in element.attrib:
        complaints.add(
            _join(path, etree.QName(attribute).localname),
            "unknown_attribute",
            f"CAP elements carry no attributes; {attribute} is not accepted.",
        )
    stray = [element.text, *(child.tail for child in element)]
    if any(text and text.strip() for text in stray):
        complaints.add(
            path or "alert",
            "unexpected_text",
            f"{path or 'alert'} holds elements only; text between them is not accepted.",
        )
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions are removed by the parser
        qname = etree.QName(child)
        name = qname.localname
        if signature_allowed and child.tag == _SIGNATURE_TAG:
            fields.setdefault("signature", []).append(normalise_signature(child))
            continue
        if qname.namespace != CAP_NAMESPACE or name not in spec:
            if qname.namespace != CAP_NAMESPACE and qname.namespace is not None:
                message = f"{name} from namespace {qname.namespace} is not allowed here."
            else:
                message = f"{name} is not a CAP 1.2 element at this place."
            complaints.add(_join(path, name), "unknown_element", message)
            continue
        kind, child_spec = spec[name]
        index = counts.get(name, 0)
        counts[name] = index + 1
        child_path = _join(path, f"{name}[{index}]" if kind in _REPEATED else name)
        repeated = name in fields if complaints.tolerant else bool(index)
        if repeated and kind not in _REPEATED:
            if complaints.tolerant and kind is _Kind.TEXT and not len(child):
                fields[name] = f"{fields[name]}\n\n{child.text or ''}"
                complaints.add(
                    _join(path, name),
                    "repeated_element",
                    f"{name} may appear only once; the text of the next one was added to the "
                    "first's.",
                    "repaired",
                )
                continue
            complaints.add(_join(path, name), "repeated_element", f"{name} may appear only once.")
            continue
        if child_spec is not None:
            value: Any = _read(child, child_spec, child_path, complaints)
        else:
            if len(child):
                complaints.add(
                    child_path,
                    "unexpected_children",
                    f"{name} must contain text only, not other elements.",
                )
                continue
            text = child.text or ""
            value = text if kind in (_Kind.TEXT, _Kind.TEXTS) else text.strip()
            if kind is _Kind.SPACED:
                value = split_cap_list(text)
        if kind in _REPEATED:
            fields.setdefault(name, []).append(value)
        else:
            fields[name] = value
    return fields


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def to_cap_xml(alert: Alert) -> bytes:
    """Write an Alert as a CAP 1.2 XML document (UTF-8, default CAP namespace)."""
    data = alert.model_dump(mode="json", exclude_none=True)
    root = etree.Element(f"{{{CAP_NAMESPACE}}}alert", nsmap={None: CAP_NAMESPACE})
    _write(root, data, _ALERT)
    document = bytes(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
    if not alert.signature:
        return document
    # Spliced in as received: re-indenting a signature would change what was signed.
    closing = b"</alert>\n"
    assert document.endswith(closing)
    signatures = b"".join(b"  " + signature.encode() + b"\n" for signature in alert.signature)
    return document[: -len(closing)] + signatures + closing


def _write(parent: etree._Element, data: dict[str, Any], spec: _Spec) -> None:
    for name, (kind, child_spec) in spec.items():
        if name not in data:
            continue
        value = data[name]
        if kind is _Kind.SPACED:
            if value:
                _text_child(parent, name, join_cap_list(value))
        elif kind is _Kind.NESTED:
            assert child_spec is not None
            for item in value:
                child = etree.SubElement(parent, f"{{{CAP_NAMESPACE}}}{name}")
                _write(child, item, child_spec)
        elif kind in _REPEATED:
            for item in value:
                _text_child(parent, name, item)
        else:
            _text_child(parent, name, value)


def _text_child(parent: etree._Element, name: str, value: Any) -> None:
    child = etree.SubElement(parent, f"{{{CAP_NAMESPACE}}}{name}")
    # xs:decimal (altitude, ceiling) has no exponent notation.
    child.text = decimal_text(value) if isinstance(value, float) else str(value)
