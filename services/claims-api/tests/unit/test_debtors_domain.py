"""Debtor rules without I/O: national ids per country, phone and email normalisation, the
contact-point upsert rules, the usable snapshot and the credit verdict."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from krafa_claims_api.debtors import domain
from krafa_claims_api.debtors.domain import ContactKind, ContactOffer, ContactOrigin, ContactState, CreditFigures

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# The creditor's contact consent: its terms allow sharing addresses.
TERMS = domain.Consent("terms of business", datetime(2026, 1, 1, tzinfo=UTC), "2026-01")


@pytest.mark.parametrize(
    ("country", "kind", "value", "expected"),
    [
        ("IS", "person", "120174-3399", "1201743399"),
        ("IS", "company", "450401-3150", "4504013150"),
        ("NO", "person", "151086 95088", "15108695088"),
        ("NO", "company", "988 077 917", "988077917"),
        ("EE", "person", "36805280109", "36805280109"),
        ("DE", "person", " 12/345 ", "12/345"),
    ],
)
def test_valid_national_ids_are_compacted(country: str, kind: str, value: str, expected: str) -> None:
    assert domain.normalize_national_id(country, kind, value) == expected


@pytest.mark.parametrize(
    ("country", "kind", "value"),
    [
        ("IS", "person", "120174-3398"),
        ("IS", "person", "450401-3150"),
        ("IS", "company", "120174-3399"),
        ("NO", "person", "15108695089"),
        ("NO", "company", "988077918"),
        ("EE", "person", "36805280108"),
        ("IS", "person", "   "),
    ],
)
def test_invalid_national_ids_are_refused(country: str, kind: str, value: str) -> None:
    with pytest.raises(domain.InvalidValue) as raised:
        domain.normalize_national_id(country, kind, value)
    assert raised.value.field == "national_id"


def test_phones_become_e164_in_the_debtors_country_and_emails_keep_their_local_part() -> None:
    assert domain.normalize_phone("555 1234", "IS") == "+3545551234"
    assert domain.normalize_phone("+47 412 34 567", None) == "+4741234567"
    for bad in ("12", "not a number", "+999 1"):
        with pytest.raises(domain.InvalidValue):
            domain.normalize_phone(bad, "IS")
    assert domain.normalize_email(" Jon.Jonsson@Example.IS ") == "Jon.Jonsson@example.is"
    with pytest.raises(domain.InvalidValue):
        domain.normalize_email("jon@localhost")
    with pytest.raises(domain.InvalidValue):
        domain.check_time_zone("Mars/Olympus")


def a_debtor() -> domain.Debtor:
    debtor = domain.new_debtor("C-1", {"name": "Jón", "country": "IS"}, NOW)
    debtor.new = False
    return debtor


def test_a_new_debtor_needs_name_and_country() -> None:
    with pytest.raises(domain.InvalidValue) as raised:
        domain.new_debtor("C-1", {"country": "IS"}, NOW)
    assert raised.value.field == "name"
    debtor = domain.new_debtor("C-1", {"name": "Jón", "country": "IS", "language": "is"}, NOW)
    assert debtor.master["customer_class"] == "regular" and debtor.master["language"] == "is"


def test_naming_an_address_again_changes_nothing_and_a_newer_one_wins() -> None:
    debtor = a_debtor()
    first = domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "a@example.is"), NOW, TERMS)
    assert first.new and domain.snapshot(debtor).email == "a@example.is"
    first.new = False
    again = domain.offer_contact(
        debtor, ContactOffer(ContactKind.EMAIL, "A@example.is"), NOW + timedelta(days=1), TERMS
    )
    assert again is first and not first.dirty
    domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "b@example.is"), NOW + timedelta(days=2), TERMS)
    assert domain.snapshot(debtor).email == "b@example.is"
    # The old address named again (a later list) becomes current again.
    domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "a@example.is"), NOW + timedelta(days=3), TERMS)
    assert domain.snapshot(debtor).email == "a@example.is" and first.dirty


def test_bounced_and_opted_out_addresses_stay_out_unless_the_debtor_opts_in() -> None:
    debtor = a_debtor()
    email = domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "a@example.is"), NOW, TERMS)
    phone = domain.offer_contact(debtor, ContactOffer(ContactKind.PHONE, "+3545551234"), NOW, TERMS)
    assert domain.set_state(email, ContactState.BOUNCED, "5.1.1", NOW)
    assert not domain.set_state(email, ContactState.BOUNCED, "5.1.1", NOW)
    domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "a@example.is", verified=True), NOW, TERMS)
    assert email.state == ContactState.BOUNCED
    snap = domain.snapshot(debtor)
    assert snap.email is None and snap.phone == "+3545551234"
    assert domain.legacy_email(debtor) == ("a@example.is", "bounced")
    domain.set_state(phone, ContactState.OPTED_OUT, "asked", NOW)
    assert domain.snapshot(debtor).phone is None
    domain.offer_contact(debtor, ContactOffer(ContactKind.PHONE, "+3545551234", verified=True), NOW, TERMS)
    assert phone.state == ContactState.OPTED_OUT and phone.unusable_reason.startswith("opted out")
    # The debtor undoes their opt-out; a bounced address needs their verification as well.
    domain.offer_contact(debtor, ContactOffer(ContactKind.PHONE, "+3545551234", ContactOrigin.DEBTOR_OPT_IN), NOW)
    assert phone.state == ContactState.ACTIVE and domain.snapshot(debtor).phone == "+3545551234"
    domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "a@example.is", ContactOrigin.DEBTOR_OPT_IN), NOW)
    assert email.state == ContactState.BOUNCED and email.unusable_reason.startswith("bounced")
    assert domain.snapshot(debtor).email_verified_at is None
    verified = ContactOffer(ContactKind.EMAIL, "a@example.is", ContactOrigin.DEBTOR_OPT_IN, verified=True)
    domain.offer_contact(debtor, verified, NOW)
    assert email.state == ContactState.ACTIVE and email.origin == ContactOrigin.DEBTOR_OPT_IN
    # The snapshot says when, so the notifier lifts its suppression of the address that bounced.
    assert email.verified_at == NOW and domain.snapshot(debtor).email_verified_at == NOW
    # The debtor's own choice is preferred over a newer creditor upload.
    domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "c@example.is"), NOW + timedelta(days=1), TERMS)
    assert domain.snapshot(debtor).email == "a@example.is"


def test_an_address_without_consent_evidence_is_kept_but_not_used() -> None:
    debtor = a_debtor()
    bare = domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "a@example.is"), NOW)
    partial = domain.Consent("terms", None, "v1")  # a version without its date is no evidence
    domain.offer_contact(debtor, ContactOffer(ContactKind.PHONE, "+3545551234", consent=partial), NOW)
    assert not bare.usable and bare.unusable_reason is not None and bare.unusable_reason.startswith("no consent")
    assert domain.snapshot(debtor).email is None and domain.snapshot(debtor).phone is None
    # Its own evidence, or the creditor's contact consent when the address is named again, makes it usable.
    own = domain.Consent("web form", datetime(2025, 6, 1, tzinfo=UTC), "v1")
    domain.offer_contact(debtor, ContactOffer(ContactKind.PHONE, "+3545551234", consent=own), NOW)
    assert domain.snapshot(debtor).phone == "+3545551234"
    domain.offer_contact(debtor, ContactOffer(ContactKind.EMAIL, "a@example.is"), NOW, TERMS)
    assert bare.usable and (bare.terms_version, bare.consent_at) == ("2026-01", TERMS.at) and bare.dirty
    # Evidence an address has is not replaced by the creditor's consent.
    domain.offer_contact(debtor, ContactOffer(ContactKind.PHONE, "+3545551234"), NOW, TERMS)
    phone = domain.primary(debtor, ContactKind.PHONE)
    assert phone is not None and (phone.consent_source, phone.terms_version) == ("web form", "v1")
    # The debtor's own opt-in needs no creditor evidence.
    netbank = domain.offer_contact(debtor, ContactOffer(ContactKind.NETBANK, "", ContactOrigin.DEBTOR_OPT_IN), NOW)
    assert netbank.usable and domain.snapshot(debtor).netbank_opt_in


def test_the_snapshot_carries_class_address_and_netbank_opt_in() -> None:
    debtor = domain.new_debtor(
        "C-1",
        {
            "name": "Jón",
            "country": "IS",
            "customer_class": "gold",
            "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        },
        NOW,
    )
    domain.offer_contact(debtor, ContactOffer(ContactKind.NETBANK, ""), NOW, TERMS)
    snap = domain.snapshot(debtor)
    assert snap.customer_class == "gold" and snap.netbank_opt_in is True
    assert snap.address is not None and snap.address.name == "Jón" and snap.address.lines == ("Laugavegur 1",)
    assert domain.pseudonym(debtor.id) == domain.pseudonym(debtor.id) != "Jón"


TODAY = date(2026, 3, 1)


def figures(overdue: dict[str, int], open_: dict[str, int], days: int | None) -> CreditFigures:
    return CreditFigures(overdue, open_, TODAY - timedelta(days=days) if days is not None else None)


@pytest.mark.parametrize(
    ("master", "figs", "verdict"),
    [
        ({"customer_class": "regular"}, figures({}, {}, None), "ok"),
        ({"customer_class": "regular"}, figures({"ISK": 100}, {"ISK": 100}, 6), "ok"),
        ({"customer_class": "regular"}, figures({"ISK": 100}, {"ISK": 100}, 7), "warn"),
        ({"customer_class": "regular"}, figures({"ISK": 100}, {"ISK": 100}, 30), "block"),
        ({"customer_class": "gold"}, figures({"ISK": 100}, {"ISK": 100}, 30), "warn"),
        ({"customer_class": "risky"}, figures({"ISK": 100}, {"ISK": 100}, 1), "warn"),
        ({"customer_class": "regular", "overdue_block_days": 5}, figures({"ISK": 1}, {"ISK": 1}, 5), "block"),
        ({"customer_class": "regular", "overdue_warn_minor": 50}, figures({"ISK": 60}, {"ISK": 60}, 1), "warn"),
        (
            {"customer_class": "regular", "credit_limit_minor": 100, "credit_limit_currency": "ISK"},
            figures({}, {"ISK": 95}, None),
            "warn",
        ),
        (
            {"customer_class": "regular", "credit_limit_minor": 100, "credit_limit_currency": "ISK"},
            figures({}, {"ISK": 101, "EUR": 1000}, None),
            "block",
        ),
        (
            {"customer_class": "regular", "credit_limit_minor": 0, "credit_limit_currency": "ISK"},
            figures({}, {"ISK": 1}, None),
            "block",
        ),
    ],
)
def test_credit_verdict(master: dict[str, object], figs: CreditFigures, verdict: str) -> None:
    assert domain.credit_status(master, figs, TODAY).verdict == verdict
