"""The payment-service provider's wire rules: its amounts, and its webhook signatures."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_payments_ingest import psp


def test_amounts_in_the_providers_minor_units() -> None:
    assert psp.provider_amount(10_390, "ISK") == 1_039_000  # ISK counts two decimals there
    assert psp.provider_amount(12_345, "EUR") == 12_345
    assert psp.provider_amount(500, "JPY") == 500
    assert psp.from_provider_amount(1_039_000, "isk") == 10_390
    with pytest.raises(psp.PspError):
        psp.from_provider_amount(1_039_050, "ISK")


def test_three_decimal_currencies_go_in_thousandths_in_whole_tens() -> None:
    # 5.120 KWD is 5120 fils both here and at the provider (not 512: a tenth of the debt).
    assert psp.provider_amount(5_120, "KWD") == 5_120
    assert psp.from_provider_amount(5_120, "kwd") == 5_120
    with pytest.raises(psp.PspError, match="not an integer"):
        psp.from_provider_amount(_verified(b'{"amount_total": 512.7}')["amount_total"], "KWD")
    with pytest.raises(psp.NotChargeable, match="whole tens"):
        psp.provider_amount(5_125, "BHD")  # never rounded to 5.120 or 5.130


def test_an_iso_three_decimal_currency_the_provider_counts_in_two_is_exact_or_refused() -> None:
    # IQD: three decimals in ISO 4217, two at the provider.
    assert psp.provider_amount(10_120, "IQD") == 1_012
    assert psp.from_provider_amount(1_012, "IQD") == 10_120
    with pytest.raises(psp.NotChargeable):
        psp.provider_amount(10_125, "IQD")


@given(
    minor=st.integers(min_value=0, max_value=10**15), code=st.sampled_from(["ISK", "EUR", "JPY", "KWD", "IQD", "CLF"])
)
def test_what_the_provider_is_sent_comes_back_as_the_same_amount(minor: int, code: str) -> None:
    try:
        sent = psp.provider_amount(minor, code)
    except psp.NotChargeable:
        return
    assert isinstance(sent, int) and psp.from_provider_amount(sent, code) == minor


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


def _verified(body: bytes) -> dict[str, object]:
    return psp.verify(body, psp.sign(body, "whsec_test", 1_800_000_000), "whsec_test", now=1_800_000_000)
