"""What an answer of the notifier or the scheduler means for the creditor who asked through
claims-api: a success passes on, a 404 or a 422 is the creditor's to see, anything else (the
service down, overloaded, or refusing claims-api's credential) is claims-api's 503."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from krafa_kit.errors import Invalid, NotFound, Refusal, Unavailable

UPSTREAM_UNAVAILABLE = "upstream-unavailable"
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}$")
# The statuses whose problem document is about what the creditor asked (a claim unknown to the
# owner, a template that does not render); every other failure is ours to fix, not theirs.
CREDITORS_PROBLEMS = frozenset({404, 422})


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the owning service: its status and its decoded JSON body (None if none)."""

    status: int
    body: Any


def unavailable(service: str, why: str) -> Unavailable:
    return Unavailable(f"the {service} cannot answer now ({why}); try again shortly", kind=UPSTREAM_UNAVAILABLE)


def accepted(service: str, answer: Answer) -> dict[str, Any]:
    """The body of a successful answer, or the refusal the creditor gets instead."""
    if answer.status < 400 and isinstance(answer.body, dict):
        return answer.body
    raise refusal(service, answer)


def refusal(service: str, answer: Answer) -> Refusal:
    """The creditor's problem for a failed answer. A 404 stays a 404 (the owner does not know the
    claim, or it is another creditor's); a 422 keeps its code, detail and per-field errors; the rest
    is 503 `upstream-unavailable` without the owner's words (a 401 there means claims-api's
    operator token is wrong — the operators' to fix, and nothing to show a creditor)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    detail = body.get("detail") if isinstance(body.get("detail"), str) else None
    if answer.status == 404:
        return NotFound(detail or "not found", kind="not-found")
    if answer.status == 422:
        code = body.get("code")
        title = body.get("title")
        errors = body.get("errors")
        return Invalid(
            detail or "the request was refused",
            kind=code if isinstance(code, str) and _CODE.match(code) else "validation",
            title=title if isinstance(title, str) and title else None,
            facts={"errors": errors} if isinstance(errors, list) else None,
        )
    if answer.status < 400:
        return unavailable(service, "an answer that is not a JSON object")
    return unavailable(service, f"HTTP {answer.status}")
