"""Pure rules of the lifecycle: the state machine, payment allocation, department due dates, and
the Standard Webhooks signature."""

from __future__ import annotations

import time
from datetime import date

import pytest
from krafa_claims_api import domain, webhooks
from krafa_claims_api.domain import Action, ClaimStatus


@pytest.mark.parametrize(
    ("action", "status", "ok"),
    [
        (Action.AMEND, ClaimStatus.OPEN, True),
        (Action.AMEND, ClaimStatus.PAID, False),
        (Action.AMEND, ClaimStatus.DISPUTED, True),
        (Action.CANCEL, ClaimStatus.HELD, True),
        (Action.CANCEL, ClaimStatus.WRITTEN_OFF, False),
        (Action.DISPUTE, ClaimStatus.DISPUTED, False),
        (Action.RESOLVE, ClaimStatus.OPEN, False),
        (Action.RESOLVE, ClaimStatus.DISPUTED, True),
        (Action.DEFER, ClaimStatus.DISPUTED, False),
        (Action.HOLD, ClaimStatus.HELD, False),
        (Action.RELEASE, ClaimStatus.HELD, True),
        (Action.RELEASE, ClaimStatus.OPEN, False),
        (Action.WRITE_OFF, ClaimStatus.CANCELLED, False),
        (Action.WRITE_OFF, ClaimStatus.DISPUTED, False),  # decided first
        (Action.WRITE_OFF, ClaimStatus.HELD, True),
        (Action.CANCEL, ClaimStatus.DISPUTED, True),  # the dispute upheld in full
        (Action.SPLIT, ClaimStatus.PAID, False),
    ],
)
def test_state_machine(action: Action, status: ClaimStatus, ok: bool) -> None:
    assert domain.allowed(action, status) is ok


def test_partial_payment_covers_fees_then_interest_then_principal() -> None:
    outstanding = {"fees": 390, "interest": 100, "principal": 10_000}
    a = domain.allocate_payment("IS", 1_000, outstanding)
    assert (a.fees_minor, a.interest_minor, a.principal_minor, a.overpaid_minor) == (390, 100, 510, 0)
    b = domain.allocate_payment("NO", 200, outstanding)
    assert (b.fees_minor, b.interest_minor, b.principal_minor) == (200, 0, 0)


def test_overpayment_and_reversal() -> None:
    a = domain.allocate_payment("IS", 11_000, {"fees": 390, "interest": 0, "principal": 10_000})
    assert (a.fees_minor, a.principal_minor, a.overpaid_minor) == (390, 10_000, 610)
    # A reversal takes back the overpaid credit first, then restores principal.
    r = domain.allocate_payment("IS", -1_000, {"fees": 0, "interest": 0, "principal": 0}, overpaid_minor=610)
    assert (r.overpaid_minor, r.principal_minor, r.fees_minor) == (-610, -390, 0)


def test_final_due_date_from_department_else_country() -> None:
    due = date(2026, 2, 1)
    assert domain.default_final_due_date("IS", due) == date(2026, 2, 11)
    assert domain.default_final_due_date("IS", due, 14) == date(2026, 2, 15)
    assert domain.default_final_due_date("NO", due) == due
    assert domain.default_final_due_date("IS", due, 0) == due


def test_balance_with_interest_and_write_off() -> None:
    b = domain.Balance(amount_minor=10_000, fees_minor=390, paid_minor=1_000, interest_minor=50, written_off_minor=0)
    assert b.balance_minor == 9_440 and not b.settled
    w = domain.Balance(10_000, 390, 1_000, 50, written_off_minor=9_440)
    assert w.balance_minor == 0 and w.settled and w.overpaid_minor == 0


def test_standard_webhooks_signature_vector() -> None:
    # The published Standard Webhooks test vector.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 (the public test vector)
    body = b'{"test": 2432232314}'
    signature = webhooks.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_rejects_tampering_and_stale_timestamps() -> None:
    secret = webhooks.new_secret()
    body = webhooks.encode_body({"type": "claim.paid", "data": {"claim_id": "x"}})
    now = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": ""}
    headers["webhook-signature"] = webhooks.sign(secret, "msg_1", now, body)
    assert webhooks.verify(secret, headers, body)
    assert not webhooks.verify(secret, headers, body + b" ")
    assert not webhooks.verify(webhooks.new_secret(), headers, body)
    stale = {**headers, "webhook-timestamp": str(now - 3600)}
    stale["webhook-signature"] = webhooks.sign(secret, "msg_1", now - 3600, body)
    assert not webhooks.verify(secret, stale, body)
