"""Every legal notice kind of every jurisdiction pack, in every language we write, says what its
kind requires (krafa_law's list of elements, agreed with the pack), names itself by its legal name,
states the ledger's balance line by line, the interest rate and the payment details a local payer
expects; SMS in GSM-7 where the language allows, always within two segments."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from krafa_law import packs
from krafa_notifier import balance, content
from krafa_notifier.content import LOCALES, TEMPLATE_DIR, ReminderRenderer
from krafa_notifier.domain import reminder_content
from krafa_notifier.sms import count_segments

LANGUAGES = tuple(LOCALES)
WRITTEN = {"email", "letter", "netbank"}
# A national notice keeps its legal name in every language (alone or in brackets).
LEGAL_NAMES = {
    "innheimtuvidvorun": ("innheimtuviðvörun",),
    "milliinnheimtubref": ("milliinnheimtubréf",),
    "lokavidvorun": ("lokaviðvörun",),
    "inkassovarsel": ("inkassovarsel",),
    "betalingsoppfordring": ("betalingsoppfordring",),
    "inkassohoiatus": ("inkassohoiatus", "hoiatus enne inkassot"),
}
# Per jurisdiction: currency, payment identity, the creditor's registry id and its address.
SETUP: dict[str, dict[str, Any]] = {
    "IS": {
        "currency": "ISK",
        "payment": {"kind": "bank_claim", "reference": "0133-66-123456", "claimant_id": "4501012340",
                    "claim_bank": "0133", "claim_number": "123456"},
        "registration_no": "450101-2340",
        "payment_text": "0133-66-123456",
    },
    "NO": {
        "currency": "NOK",
        "payment": {"kind": "kid", "reference": "1234567897", "account": "86011117947"},
        "registration_no": "923609016",
        "payment_text": "1234567897",
    },
    "EE": {
        "currency": "EUR",
        "payment": {"kind": "reference_number", "reference": "121312952", "account": "EE382200221020145685"},
        "registration_no": "10137319",
        "payment_text": "EE38 2200 2210 2014 5685",
    },
    "EU": {
        "currency": "EUR",
        "payment": {"kind": "rf", "reference": "RF18539007547034", "account": "DE89370400440532013000"},
        "registration_no": "HRB 12345",
        "payment_text": "RF18539007547034",
    },
}  # fmt: skip
FEE_ID, INTEREST_ID = uuid.uuid4(), uuid.uuid4()


def _line(kind: str, at: str, **values: Any) -> dict[str, Any]:
    base = {"kind": kind, "principal_minor": 0, "fees_minor": 0, "interest_minor": 0, "overpaid_minor": 0}
    return {**base, "occurred_at": f"{at}T10:00:00+00:00", **values}


def claim_row(currency: str, payment: dict[str, Any]) -> dict[str, Any]:
    """A claim as the notifier holds it, with a ledger as claims-api announces it: principal and
    slip fee, a fee and late interest booked by a step, a part payment allocated costs-first."""
    lines = [
        _line("charge", "2026-02-10", fee_kind="slip_fee", principal_minor=100_000, fees_minor=3_900,
              amount_minor=103_900),
        _line("interest", "2026-03-23", fee_kind="late_interest", charge_id=str(INTEREST_ID), step=3,
              interest_minor=2_780, amount_minor=2_780, rate_pct="15.5", interest_from="2026-03-13",
              interest_to="2026-03-23"),
        _line("fee", "2026-03-23", fee_kind="collection_fee", charge_id=str(FEE_ID), step=3, fees_minor=9_500,
              amount_minor=9_500),
        _line("payment", "2026-03-25", principal_minor=-30_000, fees_minor=-13_400, interest_minor=-2_780,
              amount_minor=46_180, value_date="2026-03-24"),
    ]  # fmt: skip
    return {
        "claim_id": uuid.uuid4(),
        "invoice_no": "INV-2026-0042",
        "description": "Season fee 2026",
        "due_date": date(2026, 3, 2),
        "amount_minor": 100_000,
        "fees_minor": 3_900,
        "currency": currency,
        "reference": payment["reference"],
        "payment": payment,
        "ledger": {"balance_minor": 70_000, "lines": lines},
        "booked_fee_ids": [FEE_ID, INTEREST_ID],
    }


def notice_content(jurisdiction: str, kind: str, language: str, step: int = 3) -> content.ReminderContent:
    setup = SETUP[jurisdiction]
    creditor = {
        "name": "Fram Sports Club",
        "contact_phone": "+354 555 1234",
        "payment_account": setup["payment"].get("account", ""),
        "registration_no": setup["registration_no"],
        "address": {"name": "Fram", "lines": ["Safamyri 26"], "postcode": "108", "city": "Reykjavik", "country": "IS"},
        "payment_link_template": "https://pay.krafa.localhost/{reference}",
        "agency": {
            "name": "Collecta Agency",
            "org_id": "590269-7199",
            "address": {"name": "Collecta", "lines": ["Borgartun 1"], "postcode": "105", "city": "Reykjavik",
                        "country": "IS"},
            "phone": "+354 440 7000",
        },
    }  # fmt: skip
    debtor = {
        "name": "Jon Jonsson",
        "language": language,
        "address": {"name": "Jon Jonsson", "lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavik",
                    "country": "IS"},
    }  # fmt: skip
    notice = {"notice_kind": kind, "jurisdiction": jurisdiction, "interest_rate_pct": "15.50"}
    return reminder_content(
        [claim_row(setup["currency"], setup["payment"])],
        creditor,
        debtor,
        step=step,
        tone="firm",
        fee_minor=0,
        interest_minor=0,
        pay_by=date(2026, 4, 6),
        sent_on=date(2026, 3, 23),
        notice=notice,
    )


CASES = [
    (code, kind)
    for code, pack in sorted(packs.jurisdictions().items())
    for kind, notice in pack.notice_kinds.items()
    if WRITTEN & {str(c) for c in notice.channels}
]


@pytest.fixture(scope="module")
def renderer() -> ReminderRenderer:
    return ReminderRenderer()


def test_every_language_has_a_template_and_a_title_for_every_notice_kind(renderer: ReminderRenderer) -> None:
    files = {p.stem for p in (TEMPLATE_DIR / "lang").glob("*.j2")}
    assert files == set(LANGUAGES) >= {"is", "nb", "nn", "et", "ru", "en"}
    for language in LANGUAGES:
        titles = renderer._language(language).module.titles
        missing = {kind for _, kind in CASES} - set(titles)
        assert not missing, f"lang/{language}.j2 has no title for {sorted(missing)}"


def money(minor: int, currency: str, language: str) -> str:
    digits = {"ISK": 0, "NOK": 2, "EUR": 2}[currency]
    return str(format_currency(Decimal(minor) / 10**digits, currency, locale=LOCALES[language]))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("jurisdiction", "kind"), CASES)
def test_a_notice_says_everything_its_kind_requires(
    renderer: ReminderRenderer, jurisdiction: str, kind: str, language: str
) -> None:
    pack = packs.jurisdiction(jurisdiction)
    notice = pack.notice_kinds[kind]
    c = notice_content(jurisdiction, kind, language)
    email = renderer.email(c)
    letter = renderer.letter_text(c)
    letter_words = " ".join(
        [letter.heading, *letter.letterhead, letter.creditor_name, letter.greeting, *letter.address_lines]
        + [letter.pay_by or "", *letter.intro, *letter.clauses, *letter.closing]
        + [f"{a} {b}" for a, b in (*letter.statement, *letter.pay_rows)]
        + list(letter.totals)
        + [f"{cl.invoice_no} {cl.description} {cl.due_date} {cl.total}" for cl in letter.claims]
    )
    currency = SETUP[jurisdiction]["currency"]
    loc = LOCALES[language]
    by_agency = notice.sender == "agency"
    expected: dict[str, list[str]] = {
        "notice_title": [letter.heading],
        "creditor_name": ["Fram Sports Club"],
        "creditor_id": [SETUP[jurisdiction]["registration_no"]],
        "sender_address": ["Borgartun 1" if by_agency else "Safamyri 26"],
        "agency_name": ["Collecta Agency"],
        "agency_id": ["590269-7199"],
        "debtor_name": ["Jon Jonsson"],
        "claim_reference": ["INV-2026-0042"],
        "claim_basis": ["Season fee 2026"],
        "due_date": [str(format_date(date(2026, 3, 2), "medium", locale=loc))],
        "principal": [money(100_000, currency, language)],
        "fees_itemised": [money(3_900, currency, language), money(9_500, currency, language)],
        "interest_amount": [money(2_780, currency, language)],
        "interest_rate": ["15,50" if language != "en" else "15.50"],
        "interest_from": [str(format_date(date(2026, 3, 13), "short", locale=loc))],
        "payments_received": [money(-46_180, currency, language)],
        "total_due": [money(70_000, currency, language)],
        "pay_by": [str(format_date(date(2026, 4, 6), "long", locale=loc))],
        "payment_details": [SETUP[jurisdiction]["payment_text"]],
        "contact": ["+354 440 7000" if by_agency else "+354 555 1234"],
        "legal_basis": [notice.legal_basis or ""],
    }
    clauses = renderer.required_text(c)
    for element in sorted(notice.required):
        if element in content.CLAUSES:
            assert clauses.get(element), f"{language}: no text for {element}"
            wanted = [clauses[element]]
        else:
            wanted = expected[element]
        for value in wanted:
            assert value, f"{element} has no value"
            assert value in email.text, f"{jurisdiction} {kind} {language}: {element} {value!r} not in the email"
            assert value in letter_words, f"{jurisdiction} {kind} {language}: {element} {value!r} not in the letter"
    if kind in LEGAL_NAMES:
        assert any(name in letter.heading.lower() for name in LEGAL_NAMES[kind]), letter.heading
    # The ledger's total, by construction the sum of the lines shown.
    assert sum(line.total_minor for line in c.claims) == 70_000
    # A collection letter after handover comes from the agency and names the creditor too.
    if by_agency:
        assert letter.creditor_name == "Collecta Agency"
        assert "Fram Sports Club" in email.text


def test_the_legal_lead_of_each_warning_says_what_the_law_requires(renderer: ReminderRenderer) -> None:
    warning = renderer.email(notice_content("IS", "innheimtuvidvorun", "is")).text
    assert "innheimtuviðvörun samkvæmt 7. gr. innheimtulaga nr. 95/2008" in warning
    assert "10 daga" in warning and "hefst innheimta" in warning
    varsel = renderer.email(notice_content("NO", "inkassovarsel", "nb")).text
    assert "inkassovarsel etter inkassoloven § 9" in varsel and "minst 14 dager" in varsel
    for language in LANGUAGES:
        text = renderer.email(notice_content("NO", "inkassovarsel", language)).text.lower()
        # Never the old text that said the notice does not meet § 9 while its fee was charged.
        for denial in ("ikke oppfyller", "does not meet", "not an inkassovarsel", "ikkje oppfyller"):
            assert denial not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_first_notice_never_says_the_debtor_was_reminded_before(renderer: ReminderRenderer, language: str) -> None:
    # A failed card instalment's slip: its first notice is step 1 of a new claim.
    for jurisdiction, kind in (("IS", "aminning"), ("NO", "purring"), ("EE", "meeldetuletus"), ("EU", "reminder")):
        text = renderer.email(notice_content(jurisdiction, kind, language, step=1)).text.lower()
        for before in ("reminded you earlier", "minntum þig áður", "tidligere minnet", "tidlegare mint",
                       "tuletasime teile juba", "уже напоминали"):  # fmt: skip
            assert before not in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("jurisdiction", "kind"), CASES)
def test_sms_fits_two_segments_with_amount_date_link_and_phone(
    renderer: ReminderRenderer, jurisdiction: str, kind: str, language: str
) -> None:
    c = notice_content(jurisdiction, kind, language)
    text = renderer.sms(c)
    count = count_segments(text)
    assert count.segments <= 2, (count, text)
    assert "\xa0" not in text and "\u202f" not in text
    assert money(70_000, SETUP[jurisdiction]["currency"], language).replace("\xa0", " ").replace("\u202f", " ") in text
    assert "https://pay.krafa.localhost/" in text
    assert "+354" in text
    assert str(format_date(date(2026, 4, 6), "short", locale=LOCALES[language])) in text
    if language in ("en", "nb", "nn"):
        # These languages fit GSM 03.38 (æ, ø, å are in it): 160 characters a segment, not 70.
        assert count.encoding == "GSM-7", text


def test_the_statement_is_the_ledger_line_by_line() -> None:
    row = claim_row("ISK", SETUP["IS"]["payment"])
    m = balance.money_of(row)
    assert (m.principal_minor, m.fees_minor, m.interest_minor, m.paid_minor) == (100_000, 13_400, 2_780, 46_180)
    assert m.total_minor == sum(
        line["principal_minor"] + line["fees_minor"] + line["interest_minor"] for line in row["ledger"]["lines"]
    )
    assert [e.kind for e in m.entries] == ["principal", "fee", "interest", "fee", "payment"]
    assert balance.ready([FEE_ID, INTEREST_ID], [row])
    assert not balance.ready([FEE_ID, uuid.uuid4()], [row])
    # A waived charge and its waiver: neither is a line, the total holds neither.
    waived = {
        **row,
        "ledger": {
            "lines": [
                *row["ledger"]["lines"],
                {**_line("waiver", "2026-03-25", charge_id=str(FEE_ID), fees_minor=-9_500, amount_minor=-9_500)},
            ]
        },
    }
    w = balance.money_of(waived)
    assert w.total_minor == m.total_minor - 9_500
    assert [e.kind for e in w.entries] == ["principal", "fee", "interest", "payment"]
    assert datetime(2026, 1, 1, tzinfo=UTC)  # (dates in the ledger are aware)
