"""The payment-service provider's wire rules: its amounts, and its webhook signatures."""

from __future__ import annotations

import json

import pytest
from krafa_payments_ingest import psp


def test_amounts_in_the_providers_minor_units() -> None:
    assert psp.provider_amount(10_390, "ISK") == 1_039_000  # ISK counts two decimals there
    assert psp.provider_amount(12_345, "EUR") == 12_345
    assert psp.provider_amount(500, "JPY") == 500
    assert psp.from_provider_amount(1_039_000, "isk") == 10_390
    with pytest.raises(psp.PspError):
        psp.from_provider_amount(1_039_050, "ISK")


def test_a_signed_webhook_verifies_and_a_forged_or_old_one_does_not() -> None:
    body = json.dumps({"id": "evt_1", "type": "checkout.session.completed"}).encode()
    header = psp.sign(body, "whsec_test", 1_800_000_000)
    assert psp.verify(body, header, "whsec_test", now=1_800_000_010)["id"] == "evt_1"
    with pytest.raises(psp.BadSignature):
        psp.verify(body.replace(b"evt_1", b"evt_2"), header, "whsec_test", now=1_800_000_010)
    with pytest.raises(psp.BadSignature):
        psp.verify(body, header, "whsec_other", now=1_800_000_010)
    with pytest.raises(psp.BadSignature):
        psp.verify(body, header, "whsec_test", now=1_800_000_000 + psp.TOLERANCE_S + 1)
    with pytest.raises(psp.BadSignature):
        psp.verify(body, None, "whsec_test")
    rolled = header + ",v1=" + "0" * 64  # a second signature while secrets roll
    assert psp.verify(body, rolled, "whsec_test", now=1_800_000_000)
