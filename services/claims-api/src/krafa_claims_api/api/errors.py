"""The problems claims-api's operations answer, in its OpenAPI document: `problems(...)` gives an
operation's responses, each with a description and an example, so an ERP developer sees the shape
without calling. Domain refusals become these documents in krafa_kit.http.install_problem_handlers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from krafa_kit import http
from krafa_kit.http import PROBLEM_BASE

from krafa_claims_api import pagination

# What claims-api's routes answer, as a description and an example per status.
PROBLEM_EXAMPLES: dict[int, tuple[str, dict[str, object]]] = {
    401: ("no or invalid API key", {"type": "about:blank", "title": "Unauthorized", "status": 401}),
    403: (
        "the API key lacks the scope",
        {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "the API key lacks the scope"},
    ),
    404: (
        "no such claim for this creditor (another creditor's claim answers the same)",
        {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no such claim"},
    ),
    409: (
        "conflict: a duplicate invoice number or reference, a claim that cannot change state, or a request "
        "with the same Idempotency-Key still in progress",
        {
            "type": PROBLEM_BASE + "idempotency-key-in-progress",
            "title": "Conflict",
            "status": 409,
            "detail": "a request with this Idempotency-Key is still being processed; retry later",
        },
    ),
    422: (
        "validation failed, or an Idempotency-Key reused with a different request",
        {
            "type": PROBLEM_BASE + "validation",
            "title": "Validation failed",
            "status": 422,
            "detail": "1 invalid field(s)",
            "errors": [{"pointer": "/amount_minor", "field": "body.amount_minor", "detail": "must be > 0"}],
        },
    ),
}


def problems(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for RFC 9457 problems of the given statuses, each with claims-api's
    description and example; `_404="..."` says more than the default for one operation (and then
    the status has no example: the default's would not match it)."""
    texts = {f"_{code}": PROBLEM_EXAMPLES[code][0] for code in codes if code in PROBLEM_EXAMPLES}
    examples = {code: example for code, (_, example) in PROBLEM_EXAMPLES.items() if f"_{code}" not in described}
    return http.problems(*codes, examples=examples, **{**texts, **described})


def webhook_endpoint_disabled(
    detail: str = "the endpoint is disabled: register the new URL, then sync with `updated_since`",
) -> http.Problem:
    """409 for an action on a disabled webhook endpoint (recover, resend): one problem type."""
    return http.Problem(409, "Conflict", detail, type_=PROBLEM_BASE + "webhook-endpoint-disabled")


def cursor_position(cursor: str | None) -> tuple[datetime, UUID] | None:
    """Where a listing's `cursor` query parameter says to go on from; 422 for a cursor that is not
    one of ours."""
    if cursor is None:
        return None
    try:
        return pagination.decode_cursor(cursor)
    except pagination.InvalidCursor as exc:
        raise http.Problem(422, "Invalid cursor", str(exc), type_=PROBLEM_BASE + "invalid-cursor") from exc
