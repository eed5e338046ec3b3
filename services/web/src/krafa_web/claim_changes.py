"""A creditor user's change to a claim — an amendment, or the correction of a dispute upheld in
part — read from the form the claim page shows prefilled with the claim's own values. Pure: only
what the user changed is sent, so claims-api (which owns the amend rules) judges just that; its
refusals come back to the field they are about.

The page's fields: `amount` (the principal, typed in the creditor's locale), `due_date` and
`final_due_date` (ISO dates from the date inputs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from babel import Locale
from babel.numbers import format_decimal, get_currency_precision

from krafa_web import domain
from krafa_web.i18n import N_, Msg

FIELDS = ("amount", "due_date", "final_due_date")
LABELS = {"amount": N_("Amount"), "due_date": N_("Due date"), "final_due_date": N_("Final due date")}
# claims-api's JSON pointers on the amend body (and a resolve's correction), by the page's field.
POINTERS = {
    "/amount_minor": "amount",
    "/due_date": "due_date",
    "/final_due_date": "final_due_date",
    "/correction/amount_minor": "amount",
    "/correction/due_date": "due_date",
    "/correction/final_due_date": "final_due_date",
}
NOTHING_CHANGED = N_("Change the amount or a date: the form still shows the claim as it is.")


@dataclass(frozen=True, slots=True)
class ClaimChange:
    """What to send (claims-api's field names, only those changed) or what to say by each field
    (`""` for the form as a whole)."""

    body: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str | Msg] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.body)


def _typed(claim: Mapping[str, Any], locale: Locale) -> str:
    """The claim's amount as a person of that locale types it (12000 in Iceland, 1250,50 in Norway)."""
    value = Decimal(claim["amount_minor"]).scaleb(-int(get_currency_precision(claim["currency"])))
    return str(format_decimal(value, locale=locale, group_separator=False))


def _date(text: str) -> date | None:
    return date.fromisoformat(text.strip()) if text.strip() else None


def read_change(form: Mapping[str, str], claim: Mapping[str, Any], locale: Locale) -> ClaimChange:
    """The changed fields of the form against the claim; a field left as it was is not sent."""
    body: dict[str, Any] = {}
    errors: dict[str, str | Msg] = {}
    typed = form.get("amount", "").strip()
    if typed:
        try:
            amount = domain.parse_amount(typed, claim["currency"], locale)
        except domain.BadAmount:
            errors["amount"] = N_(
                "Write the amount as a number, for example %(example)s.", example=_typed(claim, locale)
            )
        else:
            if amount != claim["amount_minor"]:
                body["amount_minor"] = amount
    for name in ("due_date", "final_due_date"):
        try:
            given = _date(form.get(name, ""))
        except ValueError:
            errors[name] = N_("Give the date as day, month and year.")
            continue
        if given is not None and given.isoformat() != str(claim[name])[:10]:
            body[name] = given.isoformat()
    if not errors and not body:
        errors[""] = NOTHING_CHANGED
    return ClaimChange(body, errors)


def refusal_errors(problem: Mapping[str, Any]) -> dict[str, str | Msg]:
    """claims-api's 422 problem as errors by the page's field: each named field's detail under
    its label ("Final due date: before the due date"), anything else for the form as a whole."""
    errors: dict[str, str | Msg] = {}
    for item in problem.get("errors") or []:
        name = POINTERS.get(str(item.get("pointer", "")))
        detail = str(item.get("detail") or "not accepted")
        if name is None:
            errors[""] = detail[:1].upper() + detail[1:]
        else:
            errors.setdefault(name, N_("%(field)s: %(detail)s.", field=LABELS[name], detail=detail))
    if not errors:
        errors[""] = str(problem.get("detail")) if problem.get("detail") else N_("The change was not accepted.")
    return errors
