"""Domain refusals become RFC 9457 problem documents at the HTTP edge, and nowhere else."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from krafa_kit import errors
from krafa_kit.http import PROBLEM_BASE, install_problem_handlers
from krafa_kit.openapi import problem_type
from krafa_kit.testing import serving


@pytest.mark.parametrize(
    ("refusal", "status", "title"),
    [
        (errors.NotFound("no such claim"), 404, "Not Found"),
        (errors.Conflict("a paid claim cannot be held", kind="illegal-transition"), 409, "Conflict"),
        (errors.invalid_field("/due_date", "before the issue date"), 422, "Validation failed"),
        (errors.TooLarge("at most 10 bytes", kind="upload-too-large"), 413, "Content Too Large"),
        (errors.Unavailable("the provider does not answer", kind="psp-unavailable"), 503, "Service Unavailable"),
        (
            errors.Invalid("beyond the terms", kind="beyond-terms", title="Beyond the creditor's terms"),
            422,
            "Beyond the creditor's terms",
        ),
    ],
)
async def test_each_refusal_answers_its_problem(refusal: errors.Refusal, status: int, title: str) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/refuse")
    def refuse() -> None:
        raise refusal

    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        answer = await client.get("/refuse")
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["title"] == title and body["status"] == status and body["detail"] == refusal.detail
    assert body["type"] == (PROBLEM_BASE + refusal.kind if refusal.kind else problem_type(status))
    for name, value in refusal.facts.items():
        assert body[name] == value


def test_an_invalid_field_names_it_by_pointer() -> None:
    refusal = errors.invalid_field("/instalments/0/amount_minor", "must be positive")
    assert refusal.facts == {
        "errors": [
            {
                "pointer": "/instalments/0/amount_minor",
                "field": "instalments.0.amount_minor",
                "detail": "must be positive",
            }
        ]
    }
