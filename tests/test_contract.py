"""The contract as non-Python clients see it: committed JSON Schemas, examples, topics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel

from schemas import Status, parse_cap_json, parse_cap_xml
from schemas.cap import Category
from schemas.console import CloseCode
from schemas.envelopes import ENVELOPE_TYPES, AlertPublished, decode_envelope
from schemas.errors import CapValidationError
from schemas.jsonschema import json_schemas
from schemas.topics import ALERT_TOPICS, EXERCISE_PREFIX, TOPICS, all_topic_names, route
from services.cli import SCHEMA_DIR, render_schema

EXAMPLES = Path(__file__).parent.parent / "schemas" / "examples"
ENVELOPE_EXAMPLES = sorted(EXAMPLES.glob("envelope.*.json"))


def committed_schema(name: str) -> dict[str, object]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_committed_json_schemas_match_the_models() -> None:
    generated = json_schemas()

    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(generated)
    for name, schema in generated.items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == render_schema(schema), (
            f"{name} drifted from the models: run `crossalert export-schemas`"
        )


def test_every_envelope_type_has_an_example() -> None:
    example_types = {json.loads(p.read_text())["type"] for p in ENVELOPE_EXAMPLES}
    assert example_types == {t.model_fields["type"].default for t in ENVELOPE_TYPES}


@pytest.mark.parametrize("path", ENVELOPE_EXAMPLES, ids=lambda p: p.name)
def test_envelope_example_is_valid_for_model_and_json_schema(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))

    envelope = decode_envelope(path.read_bytes())
    schema = committed_schema(f"envelope.{document['type']}.schema.json")
    jsonschema.validate(document, schema)
    assert path.name == f"envelope.{type(envelope).model_fields['type'].default}.json"


def test_alert_example_xml_and_json_are_twins_and_match_the_schema() -> None:
    from_xml = parse_cap_xml((EXAMPLES / "alert.meuse-flood-warning.xml").read_bytes())
    json_text = (EXAMPLES / "alert.meuse-flood-warning.json").read_text(encoding="utf-8")

    assert parse_cap_json(json_text) == from_xml
    jsonschema.validate(json.loads(json_text), committed_schema("cap-alert.schema.json"))


def test_json_schema_refuses_what_the_model_refuses() -> None:
    document = json.loads((EXAMPLES / "alert.meuse-flood-warning.json").read_text())
    document["info"][0]["area"][0]["polygon"] = ["50,5 51,5"]
    document["sent"] = "2026-11-28T14:05:00Z"

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, committed_schema("cap-alert.schema.json"))
    with pytest.raises(CapValidationError):
        parse_cap_json(json.dumps(document))


def test_real_and_exercise_traffic_never_share_a_topic() -> None:
    names = all_topic_names()
    real = {n for n in names if not n.startswith(EXERCISE_PREFIX)}
    exercise = {n for n in names if n.startswith(EXERCISE_PREFIX)}

    assert len(names) == len(set(names))
    assert real.isdisjoint(exercise)
    assert {spec.name for spec in TOPICS} == real


@pytest.mark.parametrize("status", list(Status))
def test_an_alert_is_routed_by_its_status(status: Status) -> None:
    example = decode_envelope((EXAMPLES / "envelope.alert.published.json").read_bytes())
    assert isinstance(example, AlertPublished)
    envelope = example.model_copy(
        update={"alert": example.alert.model_copy(update={"status": status})}
    )

    if status is Status.DRAFT:
        with pytest.raises(ValueError, match="Draft"):
            route(envelope)
        return
    topic, key = route(envelope)
    exercise = status in (Status.EXERCISE, Status.TEST)
    assert topic.startswith(EXERCISE_PREFIX) == exercise
    assert topic.removeprefix(EXERCISE_PREFIX) == ALERT_TOPICS[Category.GEO].name
    assert key == b"meldkamer@vrln.example.org,NL-VRLN-20261128-0007"


def test_undecodable_envelope_names_the_field() -> None:
    document = json.loads((EXAMPLES / "envelope.registry.change.json").read_text())
    document["operation"] = "renamed"

    with pytest.raises(CapValidationError) as refused:
        decode_envelope(json.dumps(document))

    assert refused.value.field == "operation"


def test_registry_examples_in_the_openapi_page_are_valid_records() -> None:
    import schemas.registry as registry

    documented: list[type[BaseModel]] = [
        registry.RegionIn,
        registry.OrganisationIn,
        registry.ContactPointIn,
        registry.AgreementIn,
        registry.ApiClientIn,
        registry.ConsoleUserIn,
        registry.RoutingRequest,
    ]
    for model in documented:
        extra = model.model_config.get("json_schema_extra")
        assert isinstance(extra, dict), model.__name__
        examples = extra["examples"]
        assert isinstance(examples, list) and examples, model.__name__
        for example in examples:
            model.model_validate(example)


def test_the_consoles_close_codes_are_the_notifiers() -> None:
    script = (Path(__file__).parents[1] / "services/notifier/console_static/js/feed.js").read_text()
    block = re.search(r"export const CLOSE = Object\.freeze\(\{(.*?)\}\);", script, re.DOTALL)
    assert block is not None
    in_javascript = {name: int(code) for name, code in re.findall(r"(\w+): (\d+)", block[1])}

    assert in_javascript == {code.name: code.value for code in CloseCode}
