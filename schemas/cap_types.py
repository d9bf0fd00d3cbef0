"""CAP 1.2 value types with their rules: date-times, identifiers, polygons, circles, references.

Each type validates the text form the standard defines and serialises back to it, so a value
read from CAP XML and one read from the JSON twin are the same Python value.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlsplit

from lxml import etree
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.errors import shown

# Characters XML 1.0 cannot carry; a model holding one could never be written as CAP XML.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    if _NOT_XML.search(value):
        raise PydanticCustomError("invalid_character", "contains a character XML cannot carry.")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("missing", "must not be empty.")
    return value


Text = Annotated[str, AfterValidator(_xml_text)]
"""Free text; kept exactly as given."""

RequiredText = Annotated[str, AfterValidator(_xml_text), AfterValidator(_non_blank)]
"""Free text that a CAP element requires to be present and not blank."""


_RESTRICTED = re.compile(r"[\s,<&]")


def _cap_token(value: str) -> str:
    if not value:
        raise PydanticCustomError("missing", "must not be empty.")
    if found := _RESTRICTED.search(value):
        raise PydanticCustomError(
            "restricted_character",
            "must not contain spaces, commas, '<' or '&'; '{value}' contains '{char}'.",
            {"value": value, "char": found.group()},
        )
    return _xml_text(value)


CapToken = Annotated[
    str,
    AfterValidator(_cap_token),
    WithJsonSchema({"type": "string", "pattern": r"^[^\s,<&]+$"}),
]
"""An identifier or sender: no spaces, commas or the restricted characters < and &."""


_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$"


def parse_cap_datetime(value: Any) -> datetime:
    """Read a CAP date-time: `YYYY-MM-DDThh:mm:ss` with an explicit `+hh:mm`/`-hh:mm` offset."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _DATETIME.fullmatch(value.strip()):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise PydanticCustomError(
                "invalid_datetime", "is not a real date and time: '{value}'.", {"value": value}
            ) from None
    else:
        raise PydanticCustomError(
            "invalid_datetime",
            "must be a date-time with an explicit offset, like 2026-11-28T14:05:00+01:00; "
            "got '{value}'.",
            {"value": value},
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError(
            "invalid_datetime", "must carry an explicit offset from UTC, like +01:00."
        )
    if parsed.microsecond:
        raise PydanticCustomError(
            "invalid_datetime", "must be given to the whole second (CAP has no fractions)."
        )
    return parsed


def format_cap_datetime(value: datetime) -> str:
    """Write a date-time the way CAP 1.2 requires (never `Z`)."""
    return value.isoformat(timespec="seconds")


CapDateTime = Annotated[
    datetime,
    BeforeValidator(parse_cap_datetime),
    PlainSerializer(format_cap_datetime, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DATETIME_PATTERN}),
]


def _coordinate(lat_lon: str) -> tuple[float, float]:
    lat_text, sep, lon_text = lat_lon.partition(",")
    try:
        if not sep:
            raise ValueError
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise PydanticCustomError(
            "invalid_coordinate",
            "must be made of 'latitude,longitude' pairs; '{pair}' is not one.",
            {"pair": lat_lon},
        ) from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise PydanticCustomError(
            "out_of_range",
            "has a point outside WGS84 ranges (latitude -90..90, longitude -180..180): '{pair}'.",
            {"pair": lat_lon},
        )
    return lat, lon


def decimal_text(value: float) -> str:
    """Write a number in plain decimal notation (never 1e-05) that reads back to the same float."""
    return format(Decimal(repr(float(value))), "f")


Point = tuple[float, float]


def _pair_text(pair: Any) -> str:
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return f"{pair[0]},{pair[1]}"
    raise PydanticCustomError(
        "invalid_coordinate",
        "must be made of [latitude, longitude] pairs; {pair} is not one.",
        {"pair": shown(pair)},
    )


def parse_polygon(value: Any) -> tuple[Point, ...]:
    """Read a CAP polygon: space-separated `lat,lon` pairs, closed, at least four pairs."""
    if isinstance(value, str):
        points = tuple(_coordinate(pair) for pair in value.split())
    elif isinstance(value, list | tuple):
        points = tuple(_coordinate(_pair_text(pair)) for pair in value)
    else:
        raise PydanticCustomError("invalid_polygon", "must be a list of 'lat,lon' pairs.")
    if len(points) < 4:
        raise PydanticCustomError(
            "invalid_polygon",
            "needs at least four coordinate pairs (first and last the same); got {count}.",
            {"count": len(points)},
        )
    if points[0] != points[-1]:
        raise PydanticCustomError(
            "invalid_polygon", "must be closed: its first and last coordinate pairs differ."
        )
    return points


def format_polygon(points: tuple[Point, ...]) -> str:
    """Write a polygon as CAP's space-separated `lat,lon` pairs."""
    return " ".join(f"{decimal_text(lat)},{decimal_text(lon)}" for lat, lon in points)


_PAIR = r"-?\d+(\.\d+)?,-?\d+(\.\d+)?"
Polygon = Annotated[
    tuple[Point, ...],
    BeforeValidator(parse_polygon),
    PlainSerializer(format_polygon, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^\s*{_PAIR}(\s+{_PAIR}){{3,}}\s*$",
            "description": "Closed polygon: at least four space-separated WGS84 'lat,lon' "
            "pairs, the first equal to the last.",
        }
    ),
]


class Circle(NamedTuple):
    """A CAP circle: a WGS84 centre and a radius in kilometres."""

    lat: float
    lon: float
    radius_km: float


def parse_circle(value: Any) -> Circle:
    """Read a CAP circle: `lat,lon radius` with the radius in kilometres."""
    if isinstance(value, Circle):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_circle", "must be written 'lat,lon radius'.")
    parts = value.split()
    if len(parts) != 2:
        raise PydanticCustomError(
            "invalid_circle",
            "must be written 'lat,lon radius' (radius in km); got '{value}'.",
            {"value": value},
        )
    lat, lon = _coordinate(parts[0])
    try:
        radius = float(parts[1])
    except ValueError:
        raise PydanticCustomError(
            "invalid_circle", "radius must be a number of kilometres; got '{r}'.", {"r": parts[1]}
        ) from None
    if not math.isfinite(radius) or radius < 0:
        raise PydanticCustomError("invalid_circle", "radius must not be negative.")
    return Circle(lat, lon, radius)


def format_circle(circle: Circle) -> str:
    """Write a circle as CAP's `lat,lon radius`."""
    return f"{decimal_text(circle.lat)},{decimal_text(circle.lon)} {decimal_text(circle.radius_km)}"


CircleArea = Annotated[
    Circle,
    BeforeValidator(parse_circle),
    PlainSerializer(format_circle, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^\s*{_PAIR}\s+\d+(\.\d+)?\s*$",
            "description": "Circle: a WGS84 'lat,lon' centre, a space, the radius in km.",
        }
    ),
]


class Reference(BaseModel):
    """One earlier message a CAP message refers to: `sender,identifier,sent`."""

    model_config = ConfigDict(frozen=True)

    sender: CapToken
    identifier: CapToken
    sent: CapDateTime

    @model_validator(mode="before")
    @classmethod
    def _from_triple(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = value.split(",")
        if len(parts) != 3 or _RESTRICTED.search(parts[0] + parts[1]) or not all(parts):
            raise PydanticCustomError(
                "invalid_reference",
                "must be a 'sender,identifier,sent' triple; got '{value}'.",
                {"value": value},
            )
        try:
            sent = parse_cap_datetime(parts[2])
        except PydanticCustomError:
            # The triple is one token in CAP, so the whole entry is named, not its third part.
            raise PydanticCustomError(
                "invalid_reference",
                "must end with the sent time of the referenced message, with its offset "
                "(e.g. 2026-11-28T14:05:00+01:00); got '{value}'.",
                {"value": value},
            ) from None
        return {"sender": parts[0], "identifier": parts[1], "sent": sent}

    @model_serializer
    def _to_triple(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{format_cap_datetime(self.sent)}"


ReferenceTriple = Annotated[
    Reference,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^[^\s,<&]+,[^\s,<&]+,{DATETIME_PATTERN[1:-1]}$",
            "description": "An earlier message: 'sender,identifier,sent'.",
        }
    ),
]


def _word(value: str) -> str:
    if not value or '"' in value:
        raise PydanticCustomError(
            "invalid_list_item", "entries must be non-empty and contain no double quote."
        )
    return _xml_text(value)


ListItem = Annotated[str, AfterValidator(_word)]
"""An entry of a CAP space-delimited list (addresses, incidents); may contain spaces."""


_LIST_ITEM = re.compile(r'"([^"]*)"|(\S+)')


def split_cap_list(text: str) -> list[str]:
    """Split a CAP space-delimited list where multi-word entries are in double quotes."""
    return [m[1] if m[1] is not None else m[2] for m in _LIST_ITEM.finditer(text)]


def join_cap_list(items: list[str]) -> str:
    """Join entries into a CAP space-delimited list, quoting those with white space."""
    return " ".join(f'"{item}"' if re.search(r"\s", item) else item for item in items)


_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")


def _language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise PydanticCustomError(
            "invalid_language",
            "must be an RFC 3066 language tag such as nl-BE, fr, de-DE; got '{value}'.",
            {"value": value},
        )
    return value


Language = Annotated[
    str,
    AfterValidator(_language),
    WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$"}),
]


def _base64(value: str) -> str:
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("invalid_base64", "must be base64-encoded data.") from None
    return value


Base64Text = Annotated[str, AfterValidator(_base64)]


_SHA1 = re.compile(r"[0-9a-fA-F]{40}")


def _sha1(value: str) -> str:
    if not _SHA1.fullmatch(value):
        raise PydanticCustomError(
            "invalid_digest", "must be a SHA-1 hash written as 40 hexadecimal digits."
        )
    return value


Sha1Hex = Annotated[
    str, AfterValidator(_sha1), WithJsonSchema({"type": "string", "pattern": "^[0-9a-fA-F]{40}$"})
]

# Browsers drop or reinterpret these inside a URL ("java\tscript:" is "javascript:", a
# backslash is a slash), and invisible ones disguise what a reader sees, so none is accepted.
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")
_WEB_URL_RULE = (
    "must be a web address starting with http:// or https:// and naming a host, "
    "such as https://example.org/alert"
)


def _invalid_url(rule: str, value: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_url", rule + "; got {value}.", {"value": shown(value)})


def _check_url_characters(value: str) -> None:
    if any(c == "\\" or unicodedata.category(c) in _HIDDEN_CATEGORIES for c in value):
        raise _invalid_url(
            "must not contain white space, control or invisible formatting characters "
            "or backslashes",
            value,
        )


def _web_url(value: str) -> str:
    _check_url_characters(value)
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise _invalid_url(_WEB_URL_RULE, value) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid_url(_WEB_URL_RULE, value)
    return value


def is_relative_reference(value: str) -> bool:
    """True for a URI reference with neither a scheme nor a host of its own, like `plume.png`."""
    before_path = re.split("[/?#]", value, maxsplit=1)[0]
    return bool(value) and ":" not in before_path and not value.startswith("//")


def _resource_uri(value: str) -> str:
    if not is_relative_reference(value):
        return _web_url(value)
    _check_url_characters(value)
    return value


def relative_uri_without_content(value: str) -> PydanticCustomError:
    """The refusal of a relative resource `uri` when no `derefUri` carries the content."""
    return _invalid_url(
        "may be a relative reference only when derefUri carries the resource itself; "
        "otherwise it " + _WEB_URL_RULE,
        value,
    )


_URL_CHAR = r"[^\s\\\x00-\x1f\x7f-\x9f]"
_HOST_CHAR = r"[^\s\\\x00-\x1f\x7f-\x9f/?#]"
_WEB_URL_PATTERN = rf"[Hh][Tt][Tt][Pp][Ss]?://{_HOST_CHAR}+([/?#]{_URL_CHAR}*)?"
_RELATIVE_PATTERN = rf"(?!//)(?![^/?#]*:){_URL_CHAR}+"

WebUrl = Annotated[
    str,
    AfterValidator(_web_url),
    AfterValidator(_xml_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^{_WEB_URL_PATTERN}$",
            "description": "An absolute http:// or https:// URL naming a host.",
        }
    ),
]
"""A link a person may follow: an absolute http or https URL with a host, nothing else."""

ResourceUri = Annotated[
    str,
    AfterValidator(_resource_uri),
    AfterValidator(_xml_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^({_WEB_URL_PATTERN}|{_RELATIVE_PATTERN})$",
            "description": "An absolute http:// or https:// URL naming a host; or, only when "
            "derefUri carries the resource, a relative reference naming it.",
        }
    ),
]
"""A resource's address: an http(s) URL, or a relative reference when derefUri is present."""


XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"


def safe_xml_parser() -> etree.XMLParser:
    """An lxml parser that resolves no entities, loads no DTD and never uses the network."""
    # Built per call: lxml parsers are not safe to share between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def normalise_signature(value: str | etree._Element) -> str:
    """Check that `value` is one ds:Signature element and return it in a stable text form."""
    try:
        element = (
            etree.fromstring(value.encode(), safe_xml_parser()) if isinstance(value, str) else value
        )
    except etree.XMLSyntaxError:
        raise PydanticCustomError(
            "invalid_signature", "must be a well-formed ds:Signature XML element."
        ) from None
    docinfo = element.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise PydanticCustomError(
            "invalid_signature", "must not carry a DOCTYPE (no DTDs, no entities)."
        )
    if element.tag != f"{{{XMLDSIG_NAMESPACE}}}Signature":
        raise PydanticCustomError(
            "invalid_signature", "must be a Signature element in the XML-DSig namespace."
        )
    # Re-parsed on its own so that only the namespaces the signature uses are declared.
    copy = etree.fromstring(etree.tostring(element), safe_xml_parser())
    etree.cleanup_namespaces(copy)
    return str(etree.tostring(copy, encoding="unicode"))


XmlSignature = Annotated[str, AfterValidator(normalise_signature)]
"""An enveloped XML signature (ds:Signature), kept as received; not verified."""
