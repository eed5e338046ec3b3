"""Creditors' own templates: rendered in the sandbox, checked before they are saved; DKIM."""

from __future__ import annotations

import base64
from datetime import date

import dkim  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from krafa_notifier.content import (
    ClaimLine,
    PostalAddress,
    ReminderContent,
    ReminderRenderer,
    TemplateInvalid,
    TemplateOverride,
)
from krafa_notifier.mime import DkimSigner, build_email


def reminder(language: str = "is", default_language: str = "en") -> ReminderContent:
    return ReminderContent(
        creditor_name="Fram",
        creditor_contact_phone="+354 555 1234",
        creditor_account="0133-26-012345",
        payment_link=None,
        debtor_name="Jón Jónsson",
        language=language,
        step=2,
        tone="firm",
        claims=(ClaimLine("INV-1", None, date(2026, 3, 2), 10_000, "ISK", 390, 125, "RF18539007547034"),),
        address=PostalAddress("Jón Jónsson", ("Laugavegur 1",), "101", "Reykjavík", "IS"),
        sent_on=date(2026, 3, 20),
        pay_by=date(2026, 4, 3),
        default_language=default_language,
    )


@pytest.fixture(scope="module")
def renderer() -> ReminderRenderer:
    return ReminderRenderer()


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ v.first.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% set _ = v.update({'account': 'x'}) %}",
        "{{ v.nonexistent }}",
        "{% for %}",
    ],
)
def test_a_template_reaching_outside_the_sandbox_is_invalid(renderer: ReminderRenderer, payload: str) -> None:
    with pytest.raises(TemplateInvalid):
        renderer.check_override(TemplateOverride(body=payload), reminder())


def test_a_creditor_template_replaces_the_prose_but_keeps_the_itemised_amounts(renderer: ReminderRenderer) -> None:
    override = TemplateOverride(
        body="Kæri {{ v.debtor_name }}, greiddu {{ v.total_text }}.", subject="Krafa {{ v.first.invoice_no }}"
    )
    email = renderer.email(reminder(), override)
    assert email.subject == "Krafa INV-1"
    assert "Kæri Jón Jónsson, greiddu 10.515\xa0kr.." in email.text
    # The layout still itemises fee and interest, and states the pay-by date and the reference.
    assert "390\xa0kr." in email.text and "125\xa0kr." in email.text
    assert "RF18539007547034" in email.text
    assert "3. apríl 2026" in email.text
    sms = renderer.sms(reminder(), TemplateOverride(body="{{ v.first.total }} {{ v.pay_by }}"))
    assert sms == "10.515 kr. 3. apríl 2026"  # no no-break space: it would force UCS-2


def test_an_unwritten_language_falls_back_to_the_creditors_then_english(renderer: ReminderRenderer) -> None:
    assert renderer.language_of(reminder("de", default_language="nb")) == "nb"
    assert renderer.language_of(reminder("de", default_language="fr")) == "en"
    assert renderer.language_of(reminder("et", default_language="nb")) == "et"


def test_dkim_signature_verifies_with_dkimpy_against_the_key(renderer: ReminderRenderer) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"krafa._domainkey.fram.example."
        return record

    message = build_email(
        renderer.email(reminder()),
        sender="Fram <innheimta@fram.example>",
        recipient="jon@example.is",
        message_id="<d1@returns.test>",
        cc=["skrifstofa@fram.example"],
    )
    signed = DkimSigner(selector="krafa", domain="fram.example", private_key_pem=pem)(message)
    assert signed.startswith(b"DKIM-Signature:")
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"10.515", b"99.515"), dnsfunc=dns)
