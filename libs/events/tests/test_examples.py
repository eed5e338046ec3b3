"""An example payload per event (libs/events/examples/<type>.json), for integrators and for the
schemas: each example is valid against the published JSON schema (libs/events/schemas) and
decodes to its model through the same envelope the consumers use. A schema change that breaks an
example fails here before it reaches a topic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from krafa_events.envelope import decode, encode
from krafa_events.registry import REGISTRY, EventSpec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCHEMAS = ROOT / "schemas"


def test_every_event_has_one_example_and_no_example_is_stray() -> None:
    assert {p.name for p in EXAMPLES.glob("*.json")} == {f"{spec.type}.json" for spec in REGISTRY}


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda spec: spec.type)
def test_the_example_is_valid_against_the_published_schema(spec: EventSpec) -> None:
    example = json.loads((EXAMPLES / f"{spec.type}.json").read_text())
    schema = json.loads((SCHEMAS / f"{spec.type}.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(example)]
    assert not errors, errors


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda spec: spec.type)
def test_the_example_decodes_to_its_model_unchanged(spec: EventSpec) -> None:
    example = json.loads((EXAMPLES / f"{spec.type}.json").read_text())
    event = spec.model.model_validate(example)
    record = encode(event, source="example")
    decoded = decode(list(record.headers), record.value, record.key)
    assert type(decoded.event) is spec.model
    assert decoded.event.model_dump(mode="json") == example
