"""The OpenAPI document every service publishes, finished the same way so a generator turns it into
a clean SDK: operationIds from the route functions' names (`createClaim`), one shared `Problem`
schema for every RFC 9457 answer (with a stable `code` beside its `type`), what the guards in front
of every route may answer (400, 413, 429), the `Request-Id` and `RateLimit-*` headers on every
answer, and `servers`. The interactive docs (Swagger UI, ReDoc) are served from the assets of the
fastapi-offline package, so they work without a CDN."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi._compat import get_flat_models_from_fields
from fastapi.openapi.utils import get_fields_from_routes
from fastapi.routing import APIRoute
from pydantic import BaseModel

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://docs.krafa.dev/problems/"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# The problem every status means when a route names no type of its own: `type` is
# PROBLEM_BASE + code, so a client switches on `code` and never on a title.
STATUS_CODES: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    410: "gone",
    412: "precondition-failed",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "validation",
    428: "precondition-required",
    429: "rate-limited",
    500: "internal-error",
    502: "bad-gateway",
    503: "unavailable",
    504: "gateway-timeout",
}


def problem_type(status: int) -> str:
    return PROBLEM_BASE + STATUS_CODES.get(status, f"http-{status}")


def problem_code(type_: str, status: int) -> str:
    """The stable machine-readable code of a problem type: the last segment of its URI."""
    if type_ in ("", "about:blank"):
        return STATUS_CODES.get(status, f"http-{status}")
    return re.split(r"[/:#]", type_.rstrip("/"))[-1]


def problem_fields(body: dict[str, Any]) -> dict[str, Any]:
    """A problem document with its `type` (never about:blank) and `code` filled in, as every
    service answers it and as every example in the documents shows it."""
    status = int(body.get("status", 500))
    type_ = str(body.get("type") or "about:blank")
    if type_ == "about:blank":
        type_ = problem_type(status)
    out = {"type": type_, "code": problem_code(type_, status)}
    out.update({k: v for k, v in body.items() if k not in ("type", "code")})
    out.setdefault("code", problem_code(type_, status))
    return out


PROBLEM_COMPONENTS: dict[str, Any] = {
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": "RFC 9457 problem details (`application/problem+json`), the body of every error. "
        "`type` names the problem; `code` is its last segment, stable, for a client to switch on. "
        "The codes every service may answer: "
        + ", ".join(f"`{code}` ({status})" for status, code in sorted(STATUS_CODES.items()))
        + "; an operation documents the finer codes of its own.",
        "required": ["type", "code", "title", "status"],
        "properties": {
            "type": {"type": "string", "format": "uri", "description": "a URI naming the problem"},
            "code": {
                "type": "string",
                "pattern": "^[a-z0-9][a-z0-9-]*$",
                "description": "the problem's stable code: the last segment of `type`",
            },
            "title": {"type": "string", "description": "a short summary of the problem type"},
            "status": {"type": "integer", "minimum": 100, "maximum": 599, "description": "the HTTP status"},
            "detail": {"type": "string", "description": "what went wrong with this request"},
            "instance": {"type": "string", "description": "the request path"},
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ProblemError"},
                "description": "the invalid fields, each with a JSON pointer into the request",
            },
        },
        "additionalProperties": True,
    },
    "ProblemError": {
        "title": "ProblemError",
        "type": "object",
        "description": "One invalid field of a request.",
        "required": ["detail"],
        "properties": {
            "pointer": {"type": "string", "description": "RFC 6901 pointer into the body (`/claims/3/amount_minor`)"},
            "field": {"type": "string", "description": "the field's location, dotted (`body.claims.3.amount_minor`)"},
            "detail": {"type": "string", "description": "what is wrong with it"},
        },
        "additionalProperties": True,
    },
}

# Headers on every answer (krafa_kit.http.RequestContext and RateLimit set them).
HEADER_COMPONENTS: dict[str, Any] = {
    "Request-Id": {
        "description": "this request's id: the caller's own `Request-Id` if it sent a valid one, else a new one; "
        "it is in every log line the request causes",
        "schema": {"type": "string"},
    },
    "RateLimit-Limit": {
        "description": "on a request with an API key: the requests the key may make in a burst "
        "(IETF draft-ietf-httpapi-ratelimit-headers)",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Remaining": {
        "description": "requests the API key has left before it is limited",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Reset": {
        "description": "seconds until the API key's allowance is whole again",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Retry-After": {
        "description": "seconds until the key has a request to spend again (RFC 9110)",
        "schema": {"type": "integer", "minimum": 1},
    },
}
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")

# What the guards answer in front of every route (krafa_kit.http.BodyGuard and RateLimit).
GUARD_EXAMPLES: dict[str, dict[str, Any]] = {
    "400": {
        "type": PROBLEM_BASE + "invalid-utf8",
        "title": "Invalid UTF-8",
        "status": 400,
        "detail": "the JSON body is not valid UTF-8 (byte 0)",
    },
    "413": {
        "type": PROBLEM_BASE + "body-too-large",
        "title": "Content Too Large",
        "status": 413,
        "detail": "the request body may have at most 1048576 bytes",
    },
    "429": {
        "type": PROBLEM_BASE + "rate-limited",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "more than 50 requests a second (burst 100) with this API key; retry after 1 s",
    },
}
GUARD_DESCRIPTIONS = {
    "400": "the body is not valid UTF-8 JSON, or nests too deeply",
    "413": "the body is larger than the limit",
    "429": "too many requests with this key: retry after Retry-After seconds",
}
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def operation_id(route: APIRoute) -> str:
    """`create_claim` → `createClaim`: the name an SDK method gets, stable across refactors of paths."""
    head, *rest = route.name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _problem_response(description: str, status: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF), "example": GUARD_EXAMPLES[status]}},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _normalise_media(media: dict[str, Any], status: str) -> None:
    media["schema"] = dict(PROBLEM_REF)
    default_status = int(status) if status.isdigit() else 500
    if isinstance(media.get("example"), dict):
        media["example"] = problem_fields({"status": default_status, **media["example"]})
    for example in (media.get("examples") or {}).values():
        if isinstance(example, dict) and isinstance(example.get("value"), dict):
            example["value"] = problem_fields({"status": default_status, **example["value"]})


VALIDATION_422 = "#/components/schemas/HTTPValidationError"


def _validation_as_problem(responses: dict[str, Any]) -> None:
    """FastAPI documents its own 422 shape; every service answers a Problem with `errors`."""
    response = responses.get("422")
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    if response is not None and schema.get("$ref") == VALIDATION_422:
        responses["422"] = {
            "description": "validation failed: `errors` has a JSON pointer per invalid field",
            "content": {
                PROBLEM_JSON: {
                    "schema": dict(PROBLEM_REF),
                    "example": {
                        "type": PROBLEM_BASE + "validation",
                        "title": "Validation failed",
                        "status": 422,
                        "detail": "1 invalid field(s)",
                        "errors": [{"pointer": "/query/limit", "field": "query.limit", "detail": "must be >= 1"}],
                    },
                }
            },
        }


def _finish_webhooks(schema: dict[str, Any]) -> None:
    """A webhook is Krafa's call to the creditor: what the receiver answers is not Krafa's problem.
    It carries no credential of a scheme the receiver issued (it is signed instead, as its
    description says), so its security requirement is the empty one."""
    for item in schema.get("webhooks", {}).values():
        for operation in item.values():
            operation.setdefault("security", [])
            operation["responses"] = {
                code: {"description": response.get("description", "")}
                for code, response in operation.get("responses", {}).items()
                if code != "422"
            }


def finish(schema: dict[str, Any], *, rate_limited: bool, servers: list[dict[str, str]]) -> dict[str, Any]:
    """Finish a FastAPI-built document in place (see the module's docstring)."""
    _finish_webhooks(schema)
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(copy.deepcopy(PROBLEM_COMPONENTS))
    components.setdefault("headers", {}).update(copy.deepcopy(HEADER_COMPONENTS))
    schema["servers"] = servers
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            _validation_as_problem(responses)
            if "requestBody" in operation:
                responses.setdefault("400", _problem_response(GUARD_DESCRIPTIONS["400"], "400"))
                responses.setdefault("413", _problem_response(GUARD_DESCRIPTIONS["413"], "413"))
            limited = rate_limited and path not in PROBES
            if limited:
                responses.setdefault("429", _problem_response(GUARD_DESCRIPTIONS["429"], "429"))
                responses["429"].setdefault("headers", {})["Retry-After"] = _ref("Retry-After")
            for status, response in responses.items():
                headers = response.setdefault("headers", {})
                headers["Request-Id"] = _ref("Request-Id")
                if limited:
                    for name in RATE_HEADERS:
                        headers[name] = _ref(name)
                media = response.get("content", {}).get(PROBLEM_JSON)
                if media is not None:
                    _normalise_media(media, status)
    text = json.dumps(schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in text.replace(f'"{unused}": {{', ""):
            components["schemas"].pop(unused, None)
    return schema


def model_examples(app: FastAPI) -> dict[str, list[Any]]:
    """The `examples` of every model a route takes or answers, by schema name, as pydantic writes
    them. FastAPI drops every null from the document it builds, examples included, so an example
    of a model with a required nullable field would otherwise fail its own schema."""
    found: dict[str, list[Any]] = {}
    fields = get_fields_from_routes([*app.routes, *app.webhooks.routes])
    for model in get_flat_models_from_fields(fields, known_models=set()):
        if isinstance(model, type) and issubclass(model, BaseModel):
            examples = model.model_json_schema().get("examples")
            if examples:
                found[model.__name__] = examples
    return found


def install(app: FastAPI, *, rate_limited: bool, servers: list[dict[str, str]]) -> None:
    """Publish the finished document: app.openapi() (and /openapi.json) returns it, built once."""
    build: Callable[[], dict[str, Any]] = app.openapi
    finished: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not finished:
            schema = build()
            schemas = schema.get("components", {}).get("schemas", {})
            for name, examples in model_examples(app).items():
                if name in schemas:
                    schemas[name]["examples"] = examples
            finished.append(finish(schema, rate_limited=rate_limited, servers=servers))
        return finished[0]

    app.openapi = openapi  # type: ignore[method-assign]
