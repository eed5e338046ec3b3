"""The bank claim as Krafa wants the bank to hold it: amounts that make the netbank show the
ledger's balance (after payments at the bank too), only the changed fields in a patch, the bank's
payment report in the ledger's terms, and a create body the standard allows."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from krafa_iobws import contract
from krafa_payments_ingest.bank_claims import client, domain, repository

CLAIM = domain.BankClaim(
    claim_id=uuid.UUID(int=7),
    claimant_id="5101690509",
    claim_bank="0133",
    claim_number="000042",
    due_date=date(2026, 3, 2),
    final_due_date=date(2026, 3, 12),
    payor_id="1201743399",
    template_code="001",
    secondary_template_code=None,
    partial_payment_allowed=True,
    currency="ISK",
    principal_minor=10_000,
    fees_minor=390,
    interest_minor=0,
    bank_paid_principal_minor=0,
    bank_paid_fees_minor=0,
    bank_paid_interest_minor=0,
    wanted="open",
    collection="primary",
    state="new",
    sent=None,
)


def test_the_create_body_is_one_the_standard_allows() -> None:
    body = domain.create_body(CLAIM)
    assert body["claimKey"] == {"claimantId": "5101690509", "account": "013366000042", "dueDate": "2026-03-02"}
    assert (body["amount"], body["otherCostsAmount"], body["otherDefaultCostsAmount"]) == (10_000, 390, 0)
    # The bank computes no charges of its own: the ledger books them.
    assert body["defaultCharge"] is None and body["defaultInterest"] is None
    assert body["expirationDate"] == "2030-03-12"
    headers = {"X-Request-ID": str(uuid.uuid4()), "Content-Type": "application/json", "Authorization": "Bearer t"}
    contract.check_request("POST", "http://bank/v1/claims", headers, json.dumps(body).encode())


@given(
    principal=st.integers(0, 10**7),
    fees=st.integers(0, 10**5),
    interest=st.integers(0, 10**5),
    paid=st.integers(0, 3 * 10**7),
)
def test_a_payment_at_the_bank_changes_nothing_to_send(principal: int, fees: int, interest: int, paid: int) -> None:
    """The bank applies a payment to costs, default costs, then principal, as the ledger does; what
    it covered leaves the outstanding components and joins what the bank paid: same amounts."""
    before = replace(CLAIM, principal_minor=principal, fees_minor=fees, interest_minor=interest)
    paid = min(paid, principal + fees + interest)
    take_fees = min(paid, fees)
    take_interest = min(paid - take_fees, interest)
    take_principal = paid - take_fees - take_interest
    after = replace(
        before,
        principal_minor=principal - take_principal,
        fees_minor=fees - take_fees,
        interest_minor=interest - take_interest,
        bank_paid_principal_minor=take_principal,
        bank_paid_fees_minor=take_fees,
        bank_paid_interest_minor=take_interest,
    )
    assert domain.amounts(after) == domain.amounts(before)
    # And what the bank shows due is the ledger's balance.
    shown = sum(domain.amounts(after).values()) - paid
    assert shown == after.principal_minor + after.fees_minor + after.interest_minor


def test_a_patch_carries_only_what_changed() -> None:
    sent = replace(CLAIM, state="open", sent=domain.sent_after_create(CLAIM))
    assert domain.patch_for(sent) == {}
    booked = replace(sent, fees_minor=1_340, interest_minor=75)
    assert domain.patch_for(booked) == {"otherCostsAmount": 1_340, "otherDefaultCostsAmount": 75}
    handed_over = replace(sent, collection="secondary", final_due_date=date(2026, 4, 1))
    assert domain.patch_for(handed_over) == {
        "collectionStatus": "SecondaryCollection",
        "finalDueDate": "2026-04-01",
        "expirationDate": "2030-04-01",
    }


def test_krónur_only() -> None:
    with pytest.raises(ValueError, match="krónur"):
        domain.amounts(replace(CLAIM, currency="EUR"))


def test_the_banks_report_in_the_ledgers_terms() -> None:
    paid = domain.reported_payment(
        {
            "claimKey": {"claimantId": "5101690509", "account": "013366000042", "dueDate": "2026-03-02"},
            "amount": 1_585,
            "paymentType": "Partial",
            "totalAmountPaid": 3_000,
            "otherCostsAmountPaid": 1_340,
            "noticeChargeAmountPaid": 0,
            "otherDefaultCostsAmountPaid": 75,
            "defaultInterestAmountPaid": 0,
            "bookingDate": "2026-03-21",
            "transactionBatchId": "b7",
        }
    )
    assert paid.bank_id == "5101690509013366000042+20260302" and paid.batch_id == "b7"
    assert (paid.total_minor, paid.principal_minor, paid.fees_minor, paid.interest_minor) == (3_000, 1_585, 1_340, 75)
    assert not paid.complete and paid.booking_date == date(2026, 3, 21)


TRANSACTION = {
    "claimKey": {"claimantId": "5101690509", "account": "013366000042", "dueDate": "2026-03-02"},
    "paymentType": "Complete",
    "transactionTimestamp": "2026-03-21T10:00:00Z",
}


def test_amounts_written_with_decimals_are_read_exactly_never_through_a_float() -> None:
    # A bank writes krónur as 1585.00; the client reads the body the way _json does.
    body = b'[{"amount": 1585.00, "totalAmountPaid": 3000.0, "otherCostsAmountPaid": 1340, "currency": "isk"}]'
    transactions = client._json(httpx.Response(200, content=body))
    assert isinstance(transactions[0]["amount"], Decimal)  # no float anywhere on the way
    paid = domain.reported_payment({**TRANSACTION, **transactions[0]})
    assert (paid.total_minor, paid.principal_minor, paid.fees_minor, paid.currency) == (3000, 1585, 1340, "ISK")


def test_an_amount_finer_than_a_krona_is_refused_not_rounded() -> None:
    with pytest.raises(ValueError, match=r"amount: amount 1585\.5 has more decimals than ISK allows"):
        domain.reported_payment({**TRANSACTION, "amount": Decimal("1585.5"), "totalAmountPaid": 1586})


def test_a_float_amount_is_refused() -> None:
    # What httpx's own .json() would hand over: refused, so no caller can bring floats back.
    with pytest.raises(ValueError, match=r"totalAmountPaid: .*float"):
        domain.reported_payment({**TRANSACTION, "totalAmountPaid": 3000.0})


def test_a_payment_in_a_currency_with_decimals_keeps_them() -> None:
    paid = domain.reported_payment({**TRANSACTION, "currency": "KWD", "totalAmountPaid": Decimal("1.235")})
    assert (paid.total_minor, paid.currency) == (1235, "KWD")


def test_without_a_batch_id_the_same_payment_is_named_alike_however_its_amount_is_written() -> None:
    ids = {domain.reported_payment({**TRANSACTION, "totalAmountPaid": v}).batch_id for v in (3000, Decimal("3000.00"))}
    assert len(ids) == 1
    assert domain.reported_payment({**TRANSACTION, "totalAmountPaid": 3001}).batch_id not in ids


def test_the_stored_transaction_keeps_the_banks_amounts_exactly() -> None:
    stored = json.dumps({"amount": Decimal("3000.00"), "fee": Decimal("1.235")}, default=repository._exact)
    assert json.loads(stored) == {"amount": 3000, "fee": "1.235"}
