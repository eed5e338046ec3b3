"""Every service's OpenAPI document, built from its app as `create_app` makes it (connects to
nothing), and every example in a document paired with the schema it must satisfy."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr

SERVICES = {
    "claims-api": "krafa_claims_api",
    "scheduler": "krafa_scheduler",
    "notifier": "krafa_notifier",
    "bounce-handler": "krafa_bounce_handler",
    "payments-ingest": "krafa_payments_ingest",
    "web": "krafa_web",
}


def build_app(service: str) -> FastAPI:
    package = SERVICES[service]
    settings_class = importlib.import_module(package + ".settings").Settings
    secrets = {
        name: SecretStr("s" * 32)
        for name, field in settings_class.model_fields.items()
        if field.is_required() and name not in ("database_url", "kafka_bootstrap")
    }
    settings = settings_class(database_url="postgresql://unused/unused", kafka_bootstrap="127.0.0.1:9", **secrets)
    app: FastAPI = importlib.import_module(package + ".app").create_app(settings)
    return app


def operations(spec: dict[str, Any], section: str = "paths") -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in spec.get(section, {}).items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def examples(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example: on components and their properties, on
    parameters, on request bodies and on responses, in paths and webhooks."""
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        ref = {"$ref": f"#/components/schemas/{name}"}
        for i, example in enumerate(schema.get("examples") or []):
            yield f"components.schemas.{name}.examples[{i}]", ref, example
        for prop, prop_schema in (schema.get("properties") or {}).items():
            for i, example in enumerate(prop_schema.get("examples") or []):
                yield f"components.schemas.{name}.{prop}.examples[{i}]", prop_schema, example
    for section in ("paths", "webhooks"):
        for where, operation in operations(spec, section):
            for param in operation.get("parameters", []):
                schema = param.get("schema", {})
                if "example" in param:
                    yield f"{where} parameter {param['name']}", schema, param["example"]
                for key, example in (param.get("examples") or {}).items():
                    yield f"{where} parameter {param['name']} {key}", schema, example.get("value")
                for i, example in enumerate(schema.get("examples") or []):
                    yield f"{where} parameter {param['name']} [{i}]", schema, example
            contents = [("request", operation.get("requestBody", {}).get("content", {}))]
            contents += [(code, response.get("content", {})) for code, response in operation["responses"].items()]
            for label, content in contents:
                for media_type, media in content.items():
                    schema = media.get("schema", {})
                    if "example" in media:
                        yield f"{where} {label} {media_type}", schema, media["example"]
                    for key, example in (media.get("examples") or {}).items():
                        if "value" in example:
                            yield f"{where} {label} {media_type} {key}", schema, example["value"]
