"""`krafa samples DIR`: every legal notice kind of every jurisdiction pack, in every language the
notifier writes, rendered as the debtor receives it — email text and HTML, the SMS, the PDF letter
and its first page as a PNG (pypdfium2) — so people (translators, lawyers, creditors) can read and
look at them. The notices are rendered by the notifier's own renderer from a claim whose ledger is
what claims-api books: principal and slip fee, a step's fee and late interest, a part payment
allocated costs first; nothing here formats a message itself."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

WRITTEN = {"email", "letter", "netbank"}
# Per jurisdiction: currency, amounts in its minor units, how its payers pay, the creditor's id.
SETUP: dict[str, dict[str, Any]] = {
    "IS": {"currency": "ISK", "scale": 1, "registration_no": "450101-2340", "account": "0133-26-012345",
           "payment": {"kind": "bank_claim", "reference": "0133-66-000042", "claimant_id": "4501012340",
                       "claim_bank": "0133", "claim_number": "000042"}},
    "NO": {"currency": "NOK", "scale": 1, "registration_no": "923609016", "account": "15031234567",
           "payment": {"kind": "kid", "reference": "0000012343", "account": "15031234567"}},
    "EE": {"currency": "EUR", "scale": 1, "registration_no": "10137319", "account": "EE382200221020145685",
           "payment": {"kind": "reference_number", "reference": "12345614", "account": "EE382200221020145685"}},
    "EU": {"currency": "EUR", "scale": 1, "registration_no": "HRB 123456", "account": "DE89370400440532013000",
           "payment": {"kind": "rf", "reference": "RF18539007547034", "account": "DE89370400440532013000"}},
}  # fmt: skip


def _line(kind: str, at: str, **values: Any) -> dict[str, Any]:
    base = {"kind": kind, "principal_minor": 0, "fees_minor": 0, "interest_minor": 0, "overpaid_minor": 0}
    return {**base, "occurred_at": f"{at}T10:00:00+00:00", **values}


def sample_claim(jurisdiction: str) -> dict[str, Any]:
    """A claim as the notifier holds it: its ledger as claims-api announced it."""
    setup = SETUP[jurisdiction]
    fee, interest = uuid.uuid4(), uuid.uuid4()
    lines = [
        _line("charge", "2026-02-10", fee_kind="slip_fee", principal_minor=100_000, fees_minor=3_900,
              amount_minor=103_900),
        _line("interest", "2026-03-23", fee_kind="late_interest", charge_id=str(interest), step=3,
              interest_minor=2_780, amount_minor=2_780, rate_pct="15.5", interest_from="2026-03-13",
              interest_to="2026-03-23"),
        _line("fee", "2026-03-23", fee_kind="collection_fee", charge_id=str(fee), step=3, fees_minor=9_500,
              amount_minor=9_500),
        _line("payment", "2026-03-25", principal_minor=-30_000, fees_minor=-13_400, interest_minor=-2_780,
              amount_minor=46_180, value_date="2026-03-24"),
    ]  # fmt: skip
    return {
        "claim_id": uuid.uuid4(),
        "invoice_no": "INV-2026-0042",
        "description": "Season fee spring 2026",
        "due_date": date(2026, 3, 2),
        "amount_minor": 100_000,
        "fees_minor": 3_900,
        "currency": setup["currency"],
        "reference": setup["payment"]["reference"],
        "jurisdiction": jurisdiction,
        "payment": setup["payment"],
        "ledger": {"lines": lines},
        "booked_fee_ids": [fee, interest],
    }


def sample_content(jurisdiction: str, kind: str, language: str) -> Any:
    from krafa_notifier.domain import reminder_content

    setup = SETUP[jurisdiction]
    creditor = {
        "name": "Fram Sports Club",
        "contact_phone": "+354 555 1234",
        "payment_account": setup["account"],
        "registration_no": setup["registration_no"],
        "address": {"name": "Fram", "lines": ["Safamýri 26"], "postcode": "108", "city": "Reykjavík", "country": "IS"},
        "payment_link_template": "https://pay.krafa.localhost/{reference}",
        "agency": {
            "name": "Innheimta Collection Agency",
            "org_id": "590269-7199",
            "address": {"name": "Innheimta", "lines": ["Borgartún 1"], "postcode": "105", "city": "Reykjavík",
                        "country": "IS"},
            "phone": "+354 440 7000",
        },
    }  # fmt: skip
    debtor = {
        "name": "Jón Jónsson",
        "language": language,
        "address": {"name": "Jón Jónsson", "lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík",
                    "country": "IS"},
    }  # fmt: skip
    return reminder_content(
        [sample_claim(jurisdiction)],
        creditor,
        debtor,
        step=3,
        tone="firm",
        fee_minor=0,
        interest_minor=0,
        pay_by=date(2026, 4, 6),
        sent_on=date(2026, 3, 23),
        notice={"notice_kind": kind, "jurisdiction": jurisdiction, "interest_rate_pct": "15.50"},
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
