"""Domain refusals: what a use case raises when it cannot do what was asked.

They carry no HTTP: the HTTP edge maps each kind to an RFC 9457 problem document
(krafa_kit.http.install_problem_handlers), and the consumer path catches `Refusal` to record a
refusal without knowing status codes (docs/adr/0010-entry-points-own-the-transaction.md)."""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """A request the domain refuses. `kind` names the refusal for machines (the problem type's
    slug, e.g. "illegal-transition"); `title` and `detail` say it for people; `facts` are the
    values a caller needs to act on it (e.g. the allowed states, a JSON pointer per error)."""

    title: str = "Refused"

    def __init__(
        self,
        detail: str | None = None,
        *,
        kind: str | None = None,
        title: str | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title or self.title)
        self.detail = detail
        self.kind = kind
        if title is not None:
            self.title = title
        self.facts = facts or {}


class NotFound(Refusal):
    """The thing asked for does not exist for this caller (another tenant's answers the same)."""

    title = "Not Found"


class Forbidden(Refusal):
    """The caller may not do this (the wrong kind of key for it), whatever the values."""

    title = "Forbidden"


class Conflict(Refusal):
    """The request clashes with the current state (a duplicate, a transition the state forbids)."""

    title = "Conflict"


class Invalid(Refusal):
    """The request's values break a rule (with a pointer per error in `facts["errors"]`)."""

    title = "Validation failed"


class TooLarge(Refusal):
    """The input is larger than the limit."""

    title = "Content Too Large"


class Unavailable(Refusal):
    """Something the use case depends on cannot answer now; the same request may work later."""

    title = "Service Unavailable"


def invalid_field(pointer: str, detail: str) -> Invalid:
    """An Invalid naming one field by its JSON pointer, in the shape of request validation."""
    return Invalid(
        detail,
        kind="validation",
        facts={"errors": [{"pointer": pointer, "field": pointer.strip("/").replace("/", "."), "detail": detail}]},
    )
