"""A sent notice rendered again from what it said (the JSON kept with the send), as the debtor portal
and claims-api's creditor route show it: the ledger's lines come back as typed entries, so the
statement a message showed — principal, each fee, interest at its rate, each payment — is the
statement of its PDF. And a creditor's sample notice, sent in its own name."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from io import BytesIO

from krafa_notifier import service
from krafa_notifier.balance import Entry
from krafa_notifier.content import ClaimLine, PostalAddress, ReminderContent, ReminderRenderer
from pypdf import PdfReader

ENTRIES = (
    Entry("principal", None, date(2026, 3, 2), 10_000),
    Entry("fee", "collection_fee", date(2026, 3, 20), 1_300, step=2),
    Entry(
        "interest", "late_interest", date(2026, 3, 20), 125, rate_pct=Decimal("9.25"), interest_from=date(2026, 3, 3)
    ),
    Entry("payment", None, date(2026, 3, 25), -4_000),
)


def sent() -> ReminderContent:
    return ReminderContent(
        creditor_name="Íþróttafélagið Hörður",
        creditor_contact_phone="+354 555 1234",
        creditor_account="0133-26-012345",
        payment_link=None,
        debtor_name="Jón Jónsson",
        language="is",
        step=2,
        tone="firm",
        claims=(
            ClaimLine(
                "INV-1001",
                None,
                date(2026, 3, 2),
                10_000,
                "ISK",
                1_300,
                125,
                "RF18539007547034",
                paid_minor=4_000,
                entries=ENTRIES,
            ),
        ),
        address=PostalAddress("Jón Jónsson", ("Laugavegur 1",), "101", "Reykjavík", "IS"),
        sent_on=date(2026, 3, 26),
    )


def stored(reminder: ReminderContent) -> object:
    # As the dispatcher keeps it with the send, and as the jsonb column gives it back.
    return json.loads(service.CONTENT.dump_json(reminder))


def test_the_stored_content_comes_back_with_its_ledger_entries_typed() -> None:
    again = service.stored_content(stored(sent()))
    assert again == sent()
    assert again.claims[0].entries == ENTRIES


def test_a_sent_notice_with_its_statement_renders_as_the_pdf_of_what_it_said() -> None:
    renderer = ReminderRenderer()
    pdf = service.sent_notice_pdf(stored(sent()), renderer)
    text = " ".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    assert "Jón Jónsson" in text and "INV-1001" in text
    # The statement's lines as the message had them: the fee, the interest and the payment.
    assert "1.300" in text and "125" in text and "4.000" in text


def test_a_sample_is_sent_by_the_creditor_its_snapshot_names() -> None:
    """A creditor's sample preview: its own name, phone, account, registry id and sender address;
    what its snapshot leaves empty keeps the sample's."""
    from krafa_notifier import domain

    snapshot = {
        "name": "Knattspyrnufélagið Fram",
        "contact_phone": "",
        "payment_account": "0115-26-012345",
        "registration_no": "5301690219",
        "address": {
            "name": "Fram",
            "lines": ["Úlfarsbraut 126"],
            "postcode": "113",
            "city": "Reykjavík",
            "country": "IS",
        },
    }
    again = domain.sent_by(sent(), snapshot)
    assert (again.creditor_name, again.creditor_account, again.creditor_registration_no) == (
        "Knattspyrnufélagið Fram",
        "0115-26-012345",
        "5301690219",
    )
    assert again.creditor_contact_phone == sent().creditor_contact_phone
    assert again.creditor_address == PostalAddress("Fram", ("Úlfarsbraut 126",), "113", "Reykjavík", "IS")
    assert (again.debtor_name, again.claims) == (sent().debtor_name, sent().claims)
