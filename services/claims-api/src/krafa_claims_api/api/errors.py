"""Errors of the database that are the client's fault: answered as 422 problems, not 500s."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from krafa_kit.http import PROBLEM_BASE, problem_response


def install(app: FastAPI) -> None:
    async def unstorable_text(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL text cannot hold NUL (U+0000); any field or parameter carrying one is invalid.
        return problem_response(
            request,
            422,
            "Validation failed",
            "a text value contains a character that cannot be stored (U+0000)",
            type_=PROBLEM_BASE + "validation",
            extra={"errors": [{"pointer": "", "field": "", "detail": "contains U+0000"}]},
        )

    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, unstorable_text)
    app.add_exception_handler(asyncpg.UntranslatableCharacterError, unstorable_text)
