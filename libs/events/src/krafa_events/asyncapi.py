"""The AsyncAPI 3.0 document for integrators, generated from the registry and the event models:
`python -m krafa_events.asyncapi deploy/asyncapi/asyncapi.yaml` (`make asyncapi`).

One channel per topic (and its dead-letter topic), one message per event type named after its
versioned TYPE, the CloudEvents binary-mode headers, the record key and the payload schema (the
same JSON Schema as libs/events/schemas, its `$defs` lifted into components/schemas), and a
send/receive operation per service and topic. A test compares the committed file with this output.
"""

from __future__ import annotations

import copy
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from krafa_events.base import Event
from krafa_events.envelope import CONTENT_TYPE, SCHEMA_BASE
from krafa_events.registry import REGISTRY, EventSpec
from krafa_events.schema_export import schema_for
from krafa_events.topics import PARTITIONS, Topic, dlq_topic

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
KEY_PATTERN = "^[0-9a-f-]{36}:[0-9a-f-]{36}$"

TOPIC_DESCRIPTIONS: dict[Topic, str] = {
    Topic.CLAIMS: "The claim lifecycle as claims-api records it: created, amended, paid, cancelled…",
    Topic.DUNNING: "What the scheduler decides on a claim's timeline: due dates passed, reminders due, fees.",
    Topic.NOTIFICATIONS: "What the notifier did with a reminder: sent, delivered, failed; call outcomes.",
    Topic.BOUNCES: "Reminder emails that could not be delivered, from DSNs and provider webhooks.",
    Topic.PAYMENTS: "Bank and card payments as payments-ingest matched them to claims, or could not.",
}

DESCRIPTION = """\
Every event Krafa publishes on Kafka. Events are CloudEvents 1.0 in Kafka **binary content mode**:
the CloudEvents attributes travel in `ce_*` record headers, the JSON payload is the record value and
`content-type` is `application/json`. A W3C `traceparent` header carries the trace.

Topics are per aggregate stream, not per event type: filter on the `ce_type` header and ignore
types you do not know. Every record about one debtor has the key `creditor_id:debtor_id`, so all
events about a debtor arrive in order on one partition. Delivery is at least once: deduplicate on
`ce_id`. A payload may gain optional fields without a new version (ignore unknown fields); any
breaking change is a new event type with a new version suffix (`.v2`).

Records a consumer cannot decode or handle go to `<topic>.dlq` with the original headers plus
`krafa_dlq_reason`, `krafa_dlq_service`, `krafa_dlq_consumer` and `krafa_dlq_source`
(topic/partition/offset). `krafa dlq replay` adds a marker record beside a dead letter it
republished, with the header `krafa_dlq_replay_of` (the dead letter's position).
"""


def _description(model: type[Event]) -> str:
    return inspect.cleandoc(model.__doc__ or "").replace("\n", " ")


def _summary(model: type[Event]) -> str:
    text = _description(model)
    return text.split(". ")[0].rstrip(".") + "."


def _ref(*path: str) -> dict[str, str]:
    # JSON pointer escaping (RFC 6901): "~" then "/".
    return {"$ref": "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)}


def _rewrite_refs(node: Any) -> Any:
    """Point pydantic's local `#/$defs/X` references at `#/components/schemas/X`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = "#/components/schemas/" + value.removeprefix("#/$defs/")
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def _payload_schemas() -> dict[str, dict[str, Any]]:
    """components/schemas: each event's payload under its TYPE, shared value objects under their
    model name. Two events defining the same helper differently would be a generator bug."""
    schemas: dict[str, dict[str, Any]] = {}
    shared: dict[str, dict[str, Any]] = {}
    for spec in REGISTRY:
        schema = copy.deepcopy(schema_for(spec.type))
        for name, definition in schema.pop("$defs", {}).items():
            definition = _rewrite_refs(definition)
            if name in shared and shared[name] != definition:
                raise ValueError(f"{spec.type}: $defs/{name} differs from another event's {name}")
            shared[name] = definition
        schema.pop("$id", None)  # an $id would rebase the #/components refs inside it
        schema["description"] = _description(spec.model)
        schemas[spec.type] = _rewrite_refs(schema)
    clash = set(schemas) & set(shared)
    if clash:
        raise ValueError(f"schema names used twice: {sorted(clash)}")
    return {**schemas, **dict(sorted(shared.items()))}


def _headers(spec: EventSpec) -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "required": ["ce_id", "ce_source", "ce_type", "ce_specversion", "content-type"],
        "properties": {
            "ce_id": {**text, "description": "Event id (a UUID); deduplicate on it."},
            "ce_source": {**text, "description": "The producing service, e.g. `/krafa/claims-api`."},
            "ce_type": {**text, "const": spec.type, "description": "The versioned event type."},
            "ce_specversion": {**text, "const": "1.0"},
            "ce_time": {**text, "format": "date-time", "description": "When the event happened (RFC 3339)."},
            "ce_subject": {**text, "description": "The id of the thing the event is about, usually the claim."},
            "ce_dataschema": {**text, "const": f"{SCHEMA_BASE}{spec.type}.json"},
            "content-type": {**text, "const": CONTENT_TYPE},
            "traceparent": {**text, "description": "W3C trace context of the request that caused the event."},
        },
    }


def _message(spec: EventSpec) -> dict[str, Any]:
    return {
        "name": spec.type,
        "title": spec.model.__name__,
        "summary": _summary(spec.model),
        "description": _description(spec.model),
        "contentType": CONTENT_TYPE,
        "headers": _headers(spec),
        "payload": _ref("components", "schemas", spec.type),
        "correlationId": {"description": "The CloudEvents id", "location": "$message.header#/ce_id"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "pattern": KEY_PATTERN,
                    "description": "creditor_id:debtor_id: every event about a debtor on one partition",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "x-producer": spec.producer,
        "x-consumers": list(spec.consumers),
    }


def _topic_binding(topic: str) -> dict[str, Any]:
    partitions = PARTITIONS.get(Topic(topic.removesuffix(".dlq")), 6)
    return {"kafka": {"topic": topic, "partitions": partitions, "bindingVersion": KAFKA_BINDING_VERSION}}


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for topic in Topic:
        specs = [spec for spec in REGISTRY if spec.topic is topic]
        messages = {spec.type: _ref("components", "messages", spec.type) for spec in specs}
        channels[topic.value] = {
            "address": topic.value,
            "title": topic.value,
            "description": TOPIC_DESCRIPTIONS[topic],
            "messages": messages,
            "bindings": _topic_binding(topic.value),
        }
        dlq = dlq_topic(topic.value)
        channels[dlq] = {
            "address": dlq,
            "title": dlq,
            "description": f"Records from {topic.value} that a consumer could not decode or handle, unchanged, "
            "with the headers krafa_dlq_reason, krafa_dlq_service, krafa_dlq_consumer and krafa_dlq_source added. "
            "A record here may also be undecodable garbage, or a replay marker (header krafa_dlq_replay_of) that "
            "`krafa dlq replay` wrote.",
            "messages": dict(messages),
            "bindings": _topic_binding(dlq),
        }
    return channels


def _operations() -> dict[str, Any]:
    """A send operation per producer and topic, a receive operation per consumer and topic, each
    listing exactly the event types that service sends or handles."""
    pairs: dict[tuple[str, str, str], list[str]] = {}
    for spec in REGISTRY:
        pairs.setdefault((spec.producer, "send", spec.topic.value), []).append(spec.type)
        for consumer in spec.consumers:
            pairs.setdefault((consumer, "receive", spec.topic.value), []).append(spec.type)
    operations: dict[str, Any] = {}
    for (service, action, topic), types in sorted(pairs.items()):
        verb = "publishes" if action == "send" else "consumes"
        operations[f"{service}.{action}.{topic}"] = {
            "action": action,
            "channel": _ref("channels", topic),
            "title": f"{service} {verb} {topic}",
            "summary": f"{service} {verb} {', '.join(types)} on {topic}.",
            "messages": [_ref("channels", topic, "messages", t) for t in types],
            **(
                {"bindings": {"kafka": {"groupId": {"type": "string", "const": f"krafa.{service}"}}}}
                if action == "receive"
                else {}
            ),
        }
    return operations


def document() -> dict[str, Any]:
    messages = {spec.type: _message(spec) for spec in REGISTRY}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:krafa:events",
        "info": {
            "title": "Krafa events",
            "version": "1.0.0",
            "description": DESCRIPTION,
            "license": {"name": "Proprietary"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "embedded": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "The embedded broker of `make run` (Tansu, Kafka protocol).",
            },
            "production": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "protocolVersion": "3.7",
                "description": "Apache Kafka in docker-compose; set your own bootstrap servers.",
            },
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": {"messages": messages, "schemas": _payload_schemas()},
    }


def render() -> str:
    # Build-time only (integrators read the file; no service imports this module).
    import yaml  # type: ignore[import-untyped]

    class Dumper(yaml.SafeDumper):  # type: ignore[misc]
        pass

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None  # multi-line descriptions as readable blocks
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    header = "# Generated by `make asyncapi` (python -m krafa_events.asyncapi) from libs/events. Do not edit.\n"
    # The round trip through JSON turns tuples into lists so the YAML has no Python tags.
    body: str = yaml.dump(
        json.loads(json.dumps(document())), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=110
    )
    return header + body


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "deploy/asyncapi/asyncapi.yaml")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())
    print(f"wrote {len(REGISTRY)} messages on {len(Topic)} topics to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
