"""The rules of a creditor's sender identity: what a phone can show as an SMS sender, a name
that cannot pass for an address, addresses and numbers stored as they are used."""

from __future__ import annotations

import pytest
from krafa_claims_api.domain import checked_sender


@pytest.mark.parametrize("sender", ["FRAM", "Fram 2026", "KNATTSPYRNA", "UMF Fram"])
def test_an_alphanumeric_sms_sender_of_up_to_11_plain_characters_is_kept(sender: str) -> None:
    assert checked_sender({"sms_sender_id": sender}, "IS") == ({"sms_sender_id": sender}, {})


@pytest.mark.parametrize("sender", ["Þróttur", "Knattspyrnufélag", "FRAM!", "12345 67", " "])
def test_an_sms_sender_a_phone_cannot_show_is_refused(sender: str) -> None:
    values, errors = checked_sender({"sms_sender_id": sender}, "IS")
    if sender.strip():
        assert "sms_sender_id" in errors
    else:
        assert values == {"sms_sender_id": ""} and not errors  # blank: back to the agency's


def test_a_numeric_sms_sender_is_a_phone_number_in_e164() -> None:
    assert checked_sender({"sms_sender_id": "+354 555 1234"}, "IS")[0] == {"sms_sender_id": "+3545551234"}


@pytest.mark.parametrize("name", ["Fram <innheimta@valur.is>", "innheimta@valur.is", "Fram\r\nBcc: x@y.is", "x" * 101])
def test_a_sending_name_that_could_pass_for_an_address_or_break_a_header_is_refused(name: str) -> None:
    assert "sender_name" in checked_sender({"sender_name": name}, "IS")[1]


def test_addresses_and_the_phone_are_stored_as_they_are_used() -> None:
    values, errors = checked_sender(
        {"reply_to": " Gjaldkeri@FRAM.is ", "sender_email": "innheimta@fram.is", "contact_phone": "555 1234"}, "IS"
    )
    assert not errors
    assert values == {
        "reply_to": "Gjaldkeri@fram.is",
        "sender_email": "innheimta@fram.is",
        "contact_phone": "+354 555 1234",
    }
    assert "reply_to" in checked_sender({"reply_to": "gjaldkeri"}, "IS")[1]
    assert "contact_phone" in checked_sender({"contact_phone": "12"}, "IS")[1]
