"""From a request body to the one alert model: one reader per format, and the refusals."""

from __future__ import annotations

from schemas import CapValidationError
from schemas.cap_ingest import CapMode, IngestedAlert, read_cap
from services.common.problems import ProblemError

XML_TYPES = ("application/cap+xml", "application/xml", "text/xml")
JSON_TYPES = ("application/json",)

# Refusals of the document itself (it is not a CAP document we may read) rather than of a field.
_UNREADABLE = {"doctype_forbidden", "xinclude_forbidden", "malformed_xml", "json_invalid"}


def read_alert(
    body: bytes, content_type: str, mode: CapMode = CapMode.STRICT, max_bytes: int | None = None
) -> IngestedAlert:
    """The alert in `body`, read as JSON or CAP XML according to its Content-Type, strictly
    or (an external source's) in ingest mode."""
    media_type = content_type.split(";")[0].strip().lower()
    try:
        if media_type in XML_TYPES + JSON_TYPES:
            json_form = media_type in JSON_TYPES
            return read_cap(body, json_form=json_form, mode=mode, max_bytes=max_bytes)
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
