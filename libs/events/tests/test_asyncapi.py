"""The AsyncAPI document: the committed file is what the generator writes, it validates against the
official AsyncAPI 3.0.0 JSON Schema (vendored in deploy/asyncapi, no network), every reference
resolves, and it describes exactly the registry: messages, headers, keys, payloads, operations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from jsonschema import Draft7Validator, Draft202012Validator  # type: ignore[import-untyped]
from krafa_events import REGISTRY, Event, Topic, dlq_topic, encode
from krafa_events.asyncapi import document, render
from krafa_events.registry import topics_consumed_by, types_consumed_by
from krafa_events.testing import a_claim_created, a_payment_received, a_reminder_due, a_reminder_sent

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "deploy" / "asyncapi" / "asyncapi.yaml"
ASYNCAPI_SCHEMA = ROOT / "deploy" / "asyncapi" / "asyncapi-3.0.0.schema.json"
SERVICES = ("claims-api", "scheduler", "notifier", "bounce-handler", "payments-ingest")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMMITTED.read_text())
    return loaded


def test_committed_document_is_generated() -> None:
    assert COMMITTED.read_text() == render(), "run `make asyncapi` and commit deploy/asyncapi/asyncapi.yaml"


def test_document_validates_against_the_asyncapi_3_schema(doc: dict[str, Any]) -> None:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    validator = Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert not errors, errors[:10]


def test_the_schema_check_catches_a_broken_document(doc: dict[str, Any]) -> None:
    # The validation above must be able to fail: an operation with a bad action is refused.
    broken = json.loads(json.dumps(doc))
    next(iter(broken["operations"].values()))["action"] = "publish"  # AsyncAPI 2 wording
    assert not Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text())).is_valid(broken)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references expected: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = set(_refs(doc))
    assert len(refs) > len(REGISTRY)
    for ref in refs:
        _resolve(doc, ref)


def test_every_topic_and_event_is_described(doc: dict[str, Any]) -> None:
    assert set(doc["channels"]) == {t.value for t in Topic} | {dlq_topic(t.value) for t in Topic}
    messages = doc["components"]["messages"]
    assert set(messages) == {spec.type for spec in REGISTRY}
    for spec in REGISTRY:
        message = messages[spec.type]
        assert message["name"] == spec.type
        assert message["description"] and message["description"].split()[0] == "Sent"
        assert spec.type in doc["channels"][spec.topic.value]["messages"]
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert message["headers"]["properties"]["ce_type"]["const"] == spec.type
        payload = _resolve(doc, message["payload"]["$ref"])
        assert set(payload["properties"]) == set(spec.model.model_fields), spec.type


def test_operations_follow_the_registry(doc: dict[str, Any]) -> None:
    operations = doc["operations"]
    for service in SERVICES:
        for topic in topics_consumed_by(service):
            operation = operations[f"{service}.receive.{topic}"]
            received = {_resolve(doc, ref["$ref"])["$ref"].rsplit("/", 1)[1] for ref in operation["messages"]}
            topic_types = {spec.type for spec in REGISTRY if spec.topic.value == topic}
            assert received == types_consumed_by(service) & topic_types, (service, topic)
    for spec in REGISTRY:
        operation = operations[f"{spec.producer}.send.{spec.topic.value}"]
        assert operation["action"] == "send"
        assert {"$ref": f"#/channels/{spec.topic.value}/messages/{spec.type}"} in operation["messages"]
    assert all(op["channel"]["$ref"] == "#/channels/" + name.split(".", 2)[2] for name, op in operations.items())


@pytest.mark.parametrize(
    "event", [a_claim_created(), a_reminder_due(), a_reminder_sent(), a_payment_received()], ids=lambda e: e.TYPE
)
def test_real_records_match_the_documented_headers_key_and_payload(doc: dict[str, Any], event: Event) -> None:
    encoded = encode(event, source="/krafa/test", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    message = doc["components"]["messages"][event.TYPE]
    headers = {name: value.decode() for name, value in encoded.headers}
    Draft202012Validator(message["headers"], format_checker=Draft202012Validator.FORMAT_CHECKER).validate(headers)
    Draft202012Validator(message["bindings"]["kafka"]["key"]).validate(encoded.key.decode())
    # The payload schema refers to shared value objects under #/components/schemas.
    payload_schema = {"$ref": message["payload"]["$ref"], "components": doc["components"]}
    Draft202012Validator(payload_schema).validate(json.loads(encoded.value))


def test_generation_is_deterministic() -> None:
    assert document() == document()
