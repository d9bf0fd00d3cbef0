"""From a request body to the one alert model: one reader per format, and the refusals."""

from __future__ import annotations

from schemas import Alert, CapValidationError, parse_cap_json, parse_cap_xml
from services.common.problems import ProblemError

XML_TYPES = ("application/cap+xml", "application/xml", "text/xml")
JSON_TYPES = ("application/json",)

# Refusals of the document itself (it is not a CAP document we may read) rather than of a field.
_UNREADABLE = {"doctype_forbidden", "xinclude_forbidden", "malformed_xml", "json_invalid"}


def read_alert(body: bytes, content_type: str) -> Alert:
    """The alert in `body`, read as JSON or CAP XML according to its Content-Type."""
    media_type = content_type.split(";")[0].strip().lower()
    try:
        if media_type in XML_TYPES:
            return parse_cap_xml(body)
        if media_type in JSON_TYPES:
            return parse_cap_json(body)
    except CapValidationError as error:
        if error.code == "too_large":
            raise ProblemError.from_cap(error, status=413) from None
        status = 400 if error.code in _UNREADABLE else 422
        raise ProblemError.from_cap(error, status=status) from None
    raise ProblemError(
        415,
        "unsupported_media_type",
        f"send the alert as application/json or application/cap+xml, not {media_type or 'no type'}"
        ".",
        field="Content-Type",
    )
