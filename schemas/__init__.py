"""The one contract of crossalert: the CAP 1.2 alert, the Kafka envelopes and the topics.

Pure data: models, enumerations, topic declarations and examples. No I/O lives here.
"""

from schemas.cap import (
    CAP_NAMESPACE,
    MAX_CAP_BYTES,
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    NamedValue,
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
    parse_cap_json,
    to_cap_json,
    validate_alert,
)
from schemas.cap_types import Circle, Reference
from schemas.cap_xml import parse_cap_xml, to_cap_xml
from schemas.errors import CapValidationError, Problem

__all__ = [
    "CAP_NAMESPACE",
    "MAX_CAP_BYTES",
    "Alert",
    "Area",
    "CapValidationError",
    "Category",
    "Certainty",
    "Circle",
    "Info",
    "MsgType",
    "NamedValue",
    "Problem",
    "Reference",
    "Resource",
    "ResponseType",
    "Scope",
    "Severity",
    "Status",
    "Urgency",
    "parse_cap_json",
    "parse_cap_xml",
    "to_cap_json",
    "to_cap_xml",
    "validate_alert",
]
