"""Every message says how to pay the way the debtor's country pays: an Icelandic claim is in the
payer's netbank (creditor's kennitala and the claim's number; no reference to type, no account), a
Norwegian one has the creditor's account and a KID, an Estonian one the IBAN in groups of four and
the reference number; the letter's payment box is the country's slip."""

from __future__ import annotations

from datetime import date
from io import BytesIO

import pytest
from krafa_notifier.content import ClaimLine, Payment, PostalAddress, ReminderContent, ReminderRenderer
from krafa_notifier.letter import render_letter_pdf
from pypdf import PdfReader

BANK_CLAIM = Payment(
    kind="bank_claim",
    reference="410169207901336600004220260301",
    claimant_id="4101692079",
    claim_bank="0133",
    claim_number="000042",
)
KID = Payment(kind="kid", reference="0000012343", account="15031234567")
EE_REF = Payment(kind="reference_number", reference="12345614", account="EE382200221020145685")


def content(payment: Payment, language: str, *, currency: str = "ISK", account: str = "") -> ReminderContent:
    return ReminderContent(
        creditor_name="Fram",
        creditor_contact_phone="+354 555 1234",
        creditor_account=account or payment.account,
        payment_link=None,
        debtor_name="Jón Jónsson",
        language=language,
        step=1,
        tone="friendly",
        claims=(ClaimLine("FRAM-42", None, date(2026, 3, 1), 10_000, currency, 390, 0, payment.reference, payment),),
        address=PostalAddress("Jón Jónsson", ("Laugavegur 1",), "101", "Reykjavík", "IS"),
        sent_on=date(2026, 3, 21),
    )


@pytest.fixture(scope="module")
def renderer() -> ReminderRenderer:
    return ReminderRenderer()


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


@pytest.mark.parametrize("language", ["is", "en"])
def test_an_icelandic_claim_is_paid_in_the_netbank(renderer: ReminderRenderer, language: str) -> None:
    c = content(BANK_CLAIM, language, account="0133-26-012345")
    email = renderer.email(c)
    for text in (email.text, email.html, renderer.sms(c)):
        assert "410169-2079" in text and "0133-66-000042" in text
        # Nothing to type and no account to transfer to: the claim is in the netbank.
        assert BANK_CLAIM.reference not in text and "0133-26-012345" not in text
    assert ("netbanka" if language == "is" else "online bank") in email.text
    letter = pdf_text(render_letter_pdf(c, renderer))
    assert "GREIÐSLUSEÐILL" in letter if language == "is" else "PAYMENT SLIP" in letter
    assert "410169-2079" in letter and "0133-66-000042" in letter and BANK_CLAIM.reference not in letter


def test_norway_pays_by_kid_to_the_account(renderer: ReminderRenderer) -> None:
    c = content(KID, "nb", currency="NOK")
    email = renderer.email(c)
    assert "KID: 0000012343" in email.text and "Kontonummer: 1503.12.34567" in email.text
    assert "KID 0000012343" in renderer.sms(c)
    letter = pdf_text(render_letter_pdf(c, renderer))
    assert "GIRO" in letter and "1503.12.34567" in letter and "0000012343" in letter


def test_estonia_pays_by_reference_number_with_the_iban(renderer: ReminderRenderer) -> None:
    c = content(EE_REF, "et", currency="EUR")
    email = renderer.email(c)
    assert "IBAN: EE38 2200 2210 2014 5685" in email.text and "Viitenumber: 12345614" in email.text
    letter = pdf_text(render_letter_pdf(c, renderer))
    assert "MAKSEKORRALDUS" in letter and "EE38 2200 2210 2014 5685" in letter and "12345614" in letter
