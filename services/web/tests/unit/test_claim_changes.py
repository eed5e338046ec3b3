"""Reading a creditor user's amendment from the claim page's prefilled form: only what changed is
sent, amounts are read in the creditor's locale, and claims-api's refusals land by their field."""

from __future__ import annotations

from typing import Any

from babel import Locale
from krafa_web.claim_changes import NOTHING_CHANGED, read_change, refusal_errors

IS = Locale.parse("is_IS")
CLAIM: dict[str, Any] = {
    "amount_minor": 12_000,
    "currency": "ISK",
    "due_date": "2026-03-02",
    "final_due_date": "2026-03-12",
}
AS_SHOWN = {"amount": "12000", "due_date": "2026-03-02", "final_due_date": "2026-03-12"}


def test_only_the_changed_fields_are_sent() -> None:
    change = read_change({**AS_SHOWN, "amount": "10.000"}, CLAIM, IS)
    assert change.ok and change.body == {"amount_minor": 10_000}
    moved = read_change({**AS_SHOWN, "due_date": "2026-04-01"}, CLAIM, IS)
    assert moved.body == {"due_date": "2026-04-01"}


def test_the_form_as_shown_is_not_a_change() -> None:
    change = read_change(AS_SHOWN, CLAIM, IS)
    assert not change.ok and change.errors == {"": NOTHING_CHANGED}


def test_an_unreadable_amount_is_refused_by_its_field_with_an_example_in_the_creditors_locale() -> None:
    change = read_change({**AS_SHOWN, "amount": "tólf þúsund"}, CLAIM, IS)
    assert not change.ok and "12000" in str(change.errors["amount"])
    assert "amount_minor" not in change.body


def test_a_blank_field_keeps_the_claims_value() -> None:
    change = read_change({"amount": "", "due_date": "2026-05-01", "final_due_date": ""}, CLAIM, IS)
    assert change.body == {"due_date": "2026-05-01"}


def test_claims_api_refusals_land_by_their_field_or_on_the_form() -> None:
    problem = {
        "detail": "before the due date",
        "errors": [
            {"pointer": "/correction/final_due_date", "detail": "before the due date"},
            {"pointer": "/correction", "detail": "give amount_minor, due_date or final_due_date"},
        ],
    }
    errors = refusal_errors(problem)
    assert str(errors["final_due_date"]) == "Final due date: before the due date."
    assert str(errors[""]).startswith("Give amount_minor")
    assert refusal_errors({"detail": "no"}) == {"": "no"}
