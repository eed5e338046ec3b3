"""What an owner's answer means for the creditor who asked through claims-api (docs/adr/0013):
only a 404 or a 422 is the creditor's to see; everything else is claims-api's 503 without the
owner's words."""

from __future__ import annotations

from typing import Any

import pytest
from krafa_claims_api.gateway import domain
from krafa_claims_api.gateway.domain import Answer
from krafa_kit.errors import Invalid, NotFound, Unavailable


def test_a_json_object_passes_on() -> None:
    body = {"channel": "sms", "text": "Halló", "segments": 1}
    assert domain.accepted("notifier", Answer(200, body)) == body


def test_a_404_stays_a_404_with_the_owners_detail() -> None:
    with pytest.raises(NotFound) as caught:
        domain.accepted("scheduler", Answer(404, {"status": 404, "detail": "no timeline for this claim"}))
    assert caught.value.detail == "no timeline for this claim" and caught.value.kind == "not-found"


def test_a_422_keeps_its_code_title_and_field_errors() -> None:
    errors = [{"pointer": "/body", "detail": "unexpected '}'"}]
    body = {"type": "x", "code": "invalid-template", "title": "Invalid template", "detail": "line 1", "errors": errors}
    refusal = domain.refusal("notifier", Answer(422, body))
    assert isinstance(refusal, Invalid)
    assert (refusal.kind, refusal.title, refusal.detail) == ("invalid-template", "Invalid template", "line 1")
    assert refusal.facts == {"errors": errors}


@pytest.mark.parametrize("code", ["../../evil", "Invalid Template", "", 7, None, "a" * 70])
def test_a_422_code_that_is_not_a_slug_becomes_validation(code: Any) -> None:
    refusal = domain.refusal("notifier", Answer(422, {"code": code, "detail": "bad"}))
    assert isinstance(refusal, Invalid) and refusal.kind == "validation" and refusal.facts == {}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # claims-api's operator token refused: the operators' to fix; a creditor sees no more.
        (401, {"title": "Unauthorized", "detail": "a valid operator token is required"}),
        (403, {"detail": "forbidden"}),
        (409, {"detail": "conflict"}),
        (429, {"detail": "slow down"}),
        (500, {"detail": "Traceback (most recent call last): secret internals"}),
        (502, None),
        (503, {"detail": "database away"}),
        (200, None),  # a success that is not JSON
        (200, ["not", "an", "object"]),
    ],
)
def test_anything_else_is_unavailable_without_the_owners_words(status: int, body: Any) -> None:
    with pytest.raises(Unavailable) as caught:
        domain.accepted("notifier", Answer(status, body))
    assert caught.value.kind == domain.UPSTREAM_UNAVAILABLE
    detail = caught.value.detail or ""
    assert detail.startswith("the notifier cannot answer now") and "try again" in detail
    for word in ("token", "Traceback", "database", "slow down", "conflict", "forbidden"):
        assert word not in detail
