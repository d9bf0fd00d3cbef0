"""JSON Schema documents generated from the contract models, for non-Python clients.

The committed files under `schemas/jsonschema/` are these documents; a test fails when they
drift, and `crossalert export-schemas` rewrites them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.cap import Alert
from schemas.console import FeedItem, Hello, Renew
from schemas.deliveries import DeliveryReport
from schemas.envelopes import ENVELOPE_TYPES
from schemas.exercise import ExerciseReport, Scenario
from schemas.identity import TokenClaims
from schemas.registry import RoutingAnswer, RoutingRequest

SCHEMA_BASE_URI = "https://crossalert.example.org/schemas/"


def _document(model: type[BaseModel], file_name: str, title: str) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE_URI + file_name,
        **schema,
        "title": title,
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema: CAP alert, routing, token claims, console feed, delivery report,
    exercise scenario and report, every Kafka envelope."""
    documents = {
        "cap-alert.schema.json": _document(
            Alert, "cap-alert.schema.json", "OASIS CAP 1.2 alert (crossalert JSON form)"
        )
    }
    for name, model, title in (
        ("routing-request.schema.json", RoutingRequest, "crossalert registry routing request"),
        ("routing-answer.schema.json", RoutingAnswer, "crossalert registry routing answer"),
        ("token-claims.schema.json", TokenClaims, "crossalert access token claims"),
        ("console-hello.schema.json", Hello, "crossalert console feed: the console's hello"),
        ("console-renew.schema.json", Renew, "crossalert console feed: a renewed token"),
        ("console-feed-item.schema.json", FeedItem, "crossalert console feed: one item"),
        ("delivery-report.schema.json", DeliveryReport, "crossalert notifier delivery report"),
        ("exercise-scenario.schema.json", Scenario, "crossalert exercise scenario (YAML)"),
        ("exercise-report.schema.json", ExerciseReport, "crossalert exercise after-action report"),
    ):
        documents[name] = _document(model, name, title)
    for envelope in ENVELOPE_TYPES:
        message_type = envelope.model_fields["type"].default
        name = f"envelope.{message_type}.schema.json"
        documents[name] = _document(envelope, name, f"crossalert envelope {message_type}")
    return documents
