"""RFC 9457 problem details as the OpenAPI document declares them: `problems(...)` for the routes'
`responses=`, and `document_guards(app)` for what the kit's guards (krafa_kit.http: body size,
UTF-8 and depth of JSON, rate limit per key) answer in front of every route."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from krafa_kit.http import PROBLEM_BASE, problem_response
from pydantic import BaseModel, Field


class ProblemOut(BaseModel):
    """RFC 9457 problem details (`application/problem+json`)."""

    type: str = Field(description="a URI naming the problem, or about:blank")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="the request path")
    errors: list[dict[str, Any]] | None = Field(default=None, description="validation errors, with JSON pointers")


PROBLEM_SCHEMA = ProblemOut.model_json_schema()
DESCRIPTIONS = {
    400: "the body cannot be read",
    401: "no or a wrong operator token",
    403: "the signature does not match",
    404: "not found",
    409: "the state does not allow it",
    413: "the body is larger than the limit",
    415: "a media type this operation does not take",
    422: "validation failed",
    429: "too many requests with this key: retry after Retry-After seconds",
}
_GUARDED_BODY = (400, "the body is not valid UTF-8 JSON, or nests too deeply")
_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}


def problems(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses` for problems of the given statuses; `_404="..."` says more than the default."""
    texts = {**DESCRIPTIONS, **{int(code.lstrip("_")): text for code, text in described.items()}}
    return {code: _problem(texts[code]) for code in sorted({*codes, *(int(c.lstrip("_")) for c in described)})}


def document_guards(app: FastAPI) -> None:
    """Declare on every operation what the guards may answer before the route runs: 413 and 400
    where there is a body, 429 where a key is limited. Call after every router is included."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation:
                    responses.setdefault("400", _problem(_GUARDED_BODY[1]))
                    responses.setdefault("413", _problem(DESCRIPTIONS[413]))
                if path not in _PROBES:
                    responses.setdefault("429", _problem(DESCRIPTIONS[429]))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL text cannot hold NUL (U+0000): a value carrying one is invalid, not a 500.
    return problem_response(
        request,
        422,
        "Validation failed",
        "a text value contains a character that cannot be stored (U+0000)",
        type_=PROBLEM_BASE + "validation",
        extra={"errors": [{"pointer": "", "field": "", "detail": "contains U+0000"}]},
    )


def install_text_errors(app: FastAPI) -> None:
    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, unstorable_text)
    app.add_exception_handler(asyncpg.UntranslatableCharacterError, unstorable_text)
