"""The problems every claims-api operation may answer, in its OpenAPI document: what the shared
guards answer in front of the routes (400, 413, 429: krafa_kit.http.document_guards), each with an
example so an ERP developer sees the shape without calling."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from krafa_kit.http import PROBLEM_BASE, PROBLEM_JSON, document_guards

# What the guards answer (krafa_kit.http.BodyGuard and RateLimit), as an example per status.
GUARD_EXAMPLES: dict[str, dict[str, object]] = {
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


def document_problems(app: FastAPI) -> None:
    """Declare the guards' answers on every operation (call after every router is included) and
    give each declared problem without an example one of its status."""
    document_guards(app)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for code, response in operation.get("responses", {}).items():
                    media = response.get("content", {}).get(PROBLEM_JSON)
                    if media is not None and "example" not in media and code in GUARD_EXAMPLES:
                        media["example"] = GUARD_EXAMPLES[code]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
