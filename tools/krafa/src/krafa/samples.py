"""`krafa samples DIR`: every legal notice kind of every jurisdiction pack, in every language the
notifier writes, rendered as the debtor receives it — email text and HTML, the SMS, the PDF letter
and its first page as a PNG (pypdfium2) — so people (translators, lawyers, creditors) can read and
look at them. The notices are rendered by the notifier's own renderer from a claim whose ledger is
what claims-api books: principal and slip fee, a part payment allocated costs first, then the late
interest and the notice kind's own fee as the scheduler books them (none where the kind allows none);
each jurisdiction's sample comes from a creditor and goes to a debtor of that country. Nothing here
formats a message itself."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

WRITTEN = {"email", "letter", "netbank"}
DUE, SENT_ON, PAY_BY = date(2026, 3, 2), date(2026, 3, 23), date(2026, 4, 6)
PRINCIPAL = 100_000
# A part payment before the notice: it pays the slip fee first, the rest off the principal.
PAID_ON, PAID_PRINCIPAL = SENT_ON - timedelta(days=2), 30_000
# Per jurisdiction: a creditor of that country (its id, account and how its payers pay), the
# collection agency it hands claims to, and a debtor living there.
SETUP: dict[str, dict[str, Any]] = {
    "IS": {"currency": "ISK", "time_zone": "Atlantic/Reykjavik",
           "creditor": {"name": "Fram Sports Club", "registration_no": "450101-2340", "account": "0133-26-012345",
                        "phone": "+354 555 1234", "street": "Safamýri 26", "postcode": "108", "city": "Reykjavík"},
           "agency": {"name": "Innheimta Collection Agency", "org_id": "590269-7199", "phone": "+354 440 7000",
                      "street": "Borgartún 1", "postcode": "105", "city": "Reykjavík"},
           "debtor": {"name": "Jón Jónsson", "street": "Laugavegur 1", "postcode": "101", "city": "Reykjavík"},
           "payment": {"kind": "bank_claim", "reference": "0133-66-000042", "claimant_id": "4501012340",
                       "claim_bank": "0133", "claim_number": "000042"}},
    "NO": {"currency": "NOK", "time_zone": "Europe/Oslo",
           "creditor": {"name": "Nordlys Idrettslag", "registration_no": "923609016", "account": "15031234567",
                        "phone": "+47 22 12 34 56", "street": "Storgata 10", "postcode": "0155", "city": "Oslo"},
           "agency": {"name": "Nordlys Inkasso AS", "org_id": "987654321", "phone": "+47 22 98 76 54",
                      "street": "Karl Johans gate 2", "postcode": "0154", "city": "Oslo"},
           "debtor": {"name": "Kari Nordmann", "street": "Thereses gate 5", "postcode": "0168", "city": "Oslo"},
           "payment": {"kind": "kid", "reference": "0000012343", "account": "15031234567"}},
    "EE": {"currency": "EUR", "time_zone": "Europe/Tallinn",
           "creditor": {"name": "Kalev Spordiklubb", "registration_no": "10137319", "account": "EE382200221020145685",
                        "phone": "+372 600 1234", "street": "Narva mnt 5", "postcode": "10117", "city": "Tallinn"},
           "agency": {"name": "Põhja Inkasso OÜ", "org_id": "12345678", "phone": "+372 600 9876",
                      "street": "Pärnu mnt 20", "postcode": "10141", "city": "Tallinn"},
           "debtor": {"name": "Mari Tamm", "street": "Tartu mnt 12", "postcode": "10145", "city": "Tallinn"},
           "payment": {"kind": "reference_number", "reference": "12345614", "account": "EE382200221020145685"}},
    "EU": {"currency": "EUR", "time_zone": "Europe/Berlin",
           "creditor": {"name": "Beispiel Sport GmbH", "registration_no": "HRB 123456",
                        "account": "DE89370400440532013000",
                        "phone": "+49 30 1234567", "street": "Hauptstraße 1", "postcode": "10115", "city": "Berlin"},
           "agency": {"name": "Beispiel Inkasso GmbH", "org_id": "HRB 654321", "phone": "+49 30 7654321",
                      "street": "Friedrichstraße 9", "postcode": "10117", "city": "Berlin"},
           "debtor": {"name": "Max Mustermann", "street": "Lindenstraße 3", "postcode": "10969", "city": "Berlin"},
           "payment": {"kind": "rf", "reference": "RF18539007547034", "account": "DE89370400440532013000"}},
}  # fmt: skip
COUNTRY = {"IS": "IS", "NO": "NO", "EE": "EE", "EU": "DE"}


def _line(kind: str, on: date, **values: Any) -> dict[str, Any]:
    base = {"kind": kind, "principal_minor": 0, "fees_minor": 0, "interest_minor": 0, "overpaid_minor": 0}
    return {**base, "occurred_at": f"{on.isoformat()}T10:00:00+00:00", **values}


def _planning(jurisdiction: str) -> Any:
    """The scheduler's view of the sample claim: its fees and interest are what it would book."""
    from krafa_law import jurisdiction as pack_of
    from krafa_scheduler import domain, policy

    setup = SETUP[jurisdiction]
    final_due = DUE + timedelta(days=10) if jurisdiction == "IS" else DUE
    claim = domain.Claim(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), setup["currency"], PRINCIPAL, DUE, final_due, jurisdiction,
        setup["time_zone"], COUNTRY[jurisdiction], payments=((PAID_ON, PAID_PRINCIPAL),),
    )  # fmt: skip
    return domain.Context(claim, policy.default_policy(jurisdiction), pack_of(jurisdiction))


def notice_fee(jurisdiction: str, kind: str) -> tuple[str, int] | None:
    """The fee a notice of this kind may book for the sample claim (a person's) on its sending day:
    its kind as the shipped policies book it (the ledger's fee kind) and the amount the scheduler
    works out from the pack; None where the kind allows none."""
    from krafa_scheduler import domain, policy

    ctx = _planning(jurisdiction)
    booked_as = {
        fee.rule: fee.kind
        for p in policy.shipped_policies().values()
        if p.jurisdiction == jurisdiction
        for step in p.steps
        if step.notice == kind
        for fee in step.fees
    }
    for rule in ctx.pack.notice(kind).fee_rules:
        kinds = ctx.pack.fees[rule].debtor_kinds
        if kinds and "person" not in kinds:
            continue
        amount = domain.fee_cap(ctx, rule, SENT_ON)
        if amount:
            return booked_as.get(rule, rule), amount
    return None


def sample_claim(jurisdiction: str, kind: str) -> dict[str, Any]:
    """A claim as the notifier holds it: its ledger as claims-api announced it — the opening
    charge (with the pack's slip fee where there is one), late interest and this notice kind's own
    fee as the scheduler books them on the sending day, a part payment allocated costs first."""
    from krafa_scheduler import domain

    setup = SETUP[jurisdiction]
    ctx = _planning(jurisdiction)
    slip_rule = ctx.pack.fees.get("slip_fee")
    slip = (domain.fee_cap(ctx, "slip_fee", DUE) or 0) if slip_rule is not None else 0
    interest = domain.interest_minor(ctx, SENT_ON)
    fee = notice_fee(jurisdiction, kind)
    fee_id, interest_id = uuid.uuid4(), uuid.uuid4()
    lines = [
        _line("charge", DUE - timedelta(days=20), fee_kind="slip_fee" if slip else None, principal_minor=PRINCIPAL,
              fees_minor=slip, amount_minor=PRINCIPAL + slip),
        _line("payment", PAID_ON + timedelta(days=1), principal_minor=-PAID_PRINCIPAL, fees_minor=-slip,
              amount_minor=PAID_PRINCIPAL + slip, value_date=PAID_ON.isoformat()),
    ]  # fmt: skip
    if interest:
        rate = domain.interest_rate(ctx, SENT_ON)
        lines.append(
            _line("interest", SENT_ON, fee_kind="late_interest", charge_id=str(interest_id), step=3,
                  interest_minor=interest, amount_minor=interest, rate_pct=str(rate),
                  interest_from=domain.interest_start(ctx).isoformat(), interest_to=SENT_ON.isoformat())
        )  # fmt: skip
    if fee is not None:
        lines.append(
            _line("fee", SENT_ON, fee_kind=fee[0], charge_id=str(fee_id), step=3, fees_minor=fee[1],
                  amount_minor=fee[1])
        )  # fmt: skip
    return {
        "claim_id": uuid.uuid4(),
        "invoice_no": "INV-2026-0042",
        "description": "Season fee spring 2026",
        "due_date": DUE,
        "amount_minor": PRINCIPAL,
        "fees_minor": slip,
        "currency": setup["currency"],
        "reference": setup["payment"]["reference"],
        "jurisdiction": jurisdiction,
        "payment": setup["payment"],
        "ledger": {"lines": lines},
        "booked_fee_ids": [fee_id, interest_id],
    }


def _address(name: str, who: dict[str, str], country: str) -> dict[str, Any]:
    return {
        "name": name,
        "lines": [who["street"]],
        "postcode": who["postcode"],
        "city": who["city"],
        "country": country,
    }


def sample_content(jurisdiction: str, kind: str, language: str) -> Any:
    from krafa_notifier.domain import reminder_content
    from krafa_scheduler import domain

    setup, country = SETUP[jurisdiction], COUNTRY[jurisdiction]
    who, agency, debtor = setup["creditor"], setup["agency"], setup["debtor"]
    creditor = {
        "name": who["name"],
        "contact_phone": who["phone"],
        "payment_account": who["account"],
        "registration_no": who["registration_no"],
        "address": _address(who["name"], who, country),
        "payment_link_template": "https://pay.krafa.localhost/{reference}",
        "agency": {
            "name": agency["name"],
            "org_id": agency["org_id"],
            "address": _address(agency["name"], agency, country),
            "phone": agency["phone"],
        },
    }
    claim = sample_claim(jurisdiction, kind)
    rate = domain.interest_rate(_planning(jurisdiction), SENT_ON)
    return reminder_content(
        [claim],
        creditor,
        {"name": debtor["name"], "language": language, "address": _address(debtor["name"], debtor, country)},
        step=3,
        tone="firm",
        fee_minor=0,  # the ledger holds the step's fee and interest, as on a real send
        interest_minor=0,
        pay_by=PAY_BY,
        sent_on=SENT_ON,
        notice={"notice_kind": kind, "jurisdiction": jurisdiction, "interest_rate_pct": str(rate) if rate else None},
    )


def write_samples(target: Path, *, png: bool = True, scale: float = 1.5) -> list[dict[str, Any]]:
    """Render every (jurisdiction, notice kind, language) into `target`; returns the index."""
    from krafa_law import packs
    from krafa_notifier.content import LOCALES, ReminderRenderer
    from krafa_notifier.letter import render_letter_pdf
    from krafa_notifier.sms import count_segments

    renderer = ReminderRenderer()
    target.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, Any]] = []
    for code, pack in sorted(packs.jurisdictions().items()):
        for kind, notice in pack.notice_kinds.items():
            if not WRITTEN & {str(c) for c in notice.channels}:
                continue
            for language in LOCALES:
                c = sample_content(code, kind, language)
                stem = target / code.lower() / kind / language
                stem.mkdir(parents=True, exist_ok=True)
                email = renderer.email(c)
                sms = renderer.sms(c)
                pdf = render_letter_pdf(c, renderer)
                (stem / "email.txt").write_text(f"Subject: {email.subject}\n\n{email.text}", encoding="utf-8")
                (stem / "email.html").write_text(email.html, encoding="utf-8")
                (stem / "sms.txt").write_text(sms + "\n", encoding="utf-8")
                (stem / "letter.pdf").write_bytes(pdf)
                segments = count_segments(sms)
                if png:
                    _png(pdf, stem / "letter.png", scale)
                index.append(
                    {
                        "jurisdiction": code,
                        "notice_kind": kind,
                        "language": language,
                        "subject": email.subject,
                        "sms_encoding": segments.encoding,
                        "sms_segments": segments.segments,
                        "dir": str(stem.relative_to(target)),
                    }
                )
    (target / "index.json").write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return index


def _png(pdf: bytes, path: Path, scale: float) -> None:
    """The letter's first page as a PNG: PDFium (pypdfium2) draws it as a viewer would."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    document = pdfium.PdfDocument(pdf)
    try:
        document[0].render(scale=scale).to_pil().save(path)
    finally:
        document.close()
