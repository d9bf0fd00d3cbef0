"""The AsyncAPI 3.0 document of the network's Kafka topics, generated from the contract.

What OpenAPI is for the routes, this is for the topics: every topic and its exercise twin,
its record key, the envelope it carries (its JSON Schema) and the services that write and
read it. It is generated from `schemas/topics.py` and the envelope models, committed as
`schemas/asyncapi.json` (a test fails when it drifts; `crossalert export-schemas` rewrites
it) and served by every service at `/asyncapi.json`.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from typing import Any

from pydantic.json_schema import models_json_schema

from schemas.envelopes import ENVELOPE_TYPES, Envelope
from schemas.topics import EXERCISE_PREFIX, TOPICS, TopicSpec

_SCHEMAS = "#/components/schemas/"
KAFKA_BINDING_VERSION = "0.5.0"


@cache
def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: channels, operations, messages and envelope schemas (built
    once; not to be changed by its callers)."""
    refs, definitions = models_json_schema(
        [(envelope, "validation") for envelope in ENVELOPE_TYPES],
        by_alias=True,
        ref_template=_SCHEMAS + "{model}",
    )
    keys = {spec.envelope: spec.key for spec in TOPICS}
    messages = {
        _message_id(envelope): {
            "name": _message_type(envelope),
            "title": envelope.__name__,
            "summary": (envelope.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": refs[(envelope, "validation")],
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": keys[envelope]},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        for envelope in ENVELOPE_TYPES
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in TOPICS:
        for exercise in (False, True) if spec.has_exercise_twin else (False,):
            channel_id = _channel_id(spec, exercise=exercise)
            channels[channel_id] = _channel(spec, exercise=exercise)
            message = {"$ref": f"#/channels/{channel_id}/messages/{_message_id(spec.envelope)}"}
            for action, services in (("send", spec.producers), ("receive", spec.consumers)):
                for service in services:
                    operations[f"{service}.{action}.{channel_id}"] = {
                        "action": action,
                        "channel": {"$ref": f"#/channels/{channel_id}"},
                        "messages": [message],
                    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "crossalert topics",
            "version": version("crossalert"),
            "description": "The Kafka topics of the crossalert alert network. Every record is "
            "a JSON envelope; its key keeps the messages of one incident (or place, or "
            "registry entity) in order on one partition. Exercise and test traffic travel on "
            f"the `{EXERCISE_PREFIX}`-prefixed twins only, never on real topics.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": definitions["$defs"]},
    }


def _channel(spec: TopicSpec, *, exercise: bool) -> dict[str, Any]:
    message_id = _message_id(spec.envelope)
    twin = " Exercise and test traffic only." if exercise else ""
    return {
        "address": spec.name_for(exercise=exercise),
        "description": spec.description + twin,
        "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
        "bindings": {
            "kafka": {
                "topic": spec.name_for(exercise=exercise),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _channel_id(spec: TopicSpec, *, exercise: bool) -> str:
    return spec.name_for(exercise=exercise).replace(".", "_")


def _message_type(envelope: type[Envelope]) -> str:
    return str(envelope.model_fields["type"].default)


def _message_id(envelope: type[Envelope]) -> str:
    return _message_type(envelope).replace(".", "_")
