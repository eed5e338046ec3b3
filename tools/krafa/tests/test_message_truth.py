"""What every sent message told its debtor, judged against claims-api's ledger and the law: the
stated total is the ledger's balance at the version stated and holds the step's own charge; no fee
beyond its notice kind's caps; no step inside a notice's minimum gap after its send. Scripted rows;
the demo's verdict runs the same rules over a live stack's database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from krafa.invariants import (
    LedgerEntry,
    Statement,
    fees_beyond_caps,
    statements_off_the_ledger,
    steps_inside_gaps,
)

CLAIM = uuid.uuid4()
WARNING_FEE, LETTER_FEE = uuid.uuid4(), uuid.uuid4()
SENT = datetime(2026, 3, 23, 10, tzinfo=UTC)

LEDGER = [
    LedgerEntry("created", "charge", 10_390, "slip_fee"),
    LedgerEntry(f"fee:{WARNING_FEE}", "fee", 950, "collection_fee", 3),
    LedgerEntry("payment:1", "payment", -2_000),
    LedgerEntry(f"fee:{LETTER_FEE}", "fee", 2_100, "collection_fee", 4),
]


def stated(
    step: int,
    version: int,
    total: int,
    *,
    kind: str = "innheimtuvidvorun",
    fees: tuple[uuid.UUID, ...] = (),
    due: datetime = SENT,
    sent: datetime = SENT,
) -> Statement:
    return Statement(uuid.uuid4(), CLAIM, step, "IS", kind, version, total, fees, due, sent)


def test_a_total_that_is_the_ledgers_balance_at_its_version_holds() -> None:
    statements = [
        stated(1, 1, 10_390, kind="aminning"),
        stated(3, 2, 11_340, fees=(WARNING_FEE,)),
        stated(3, 3, 9_340, fees=(WARNING_FEE,)),  # a resend after the part payment states it
    ]
    assert statements_off_the_ledger(statements, {CLAIM: LEDGER}) == []


def test_a_total_worked_out_apart_from_the_ledger_is_caught() -> None:
    # The old fault: the step's fee added to the opening charge, the part payment forgotten.
    [problem] = statements_off_the_ledger([stated(3, 3, 11_340, fees=(WARNING_FEE,))], {CLAIM: LEDGER})
    assert "states 11340" in problem and "is 9340" in problem


def test_a_message_stating_the_balance_before_its_own_fee_is_caught() -> None:
    [problem] = statements_off_the_ledger([stated(3, 1, 10_390, fees=(WARNING_FEE,))], {CLAIM: LEDGER})
    assert str(WARNING_FEE) in problem


def test_a_ledger_version_claims_api_never_booked_is_caught() -> None:
    [problem] = statements_off_the_ledger([stated(4, 9, 11_440)], {CLAIM: LEDGER})
    assert "version 9" in problem


def test_fees_within_the_icelandic_caps_hold() -> None:
    statements = [stated(3, 2, 11_340), stated(4, 4, 11_440, kind="milliinnheimtubref")]
    assert fees_beyond_caps(statements, {CLAIM: LEDGER}) == []


def test_a_second_warning_fee_breaks_the_cap() -> None:
    ledger = [*LEDGER[:2], LedgerEntry(f"fee:{uuid.uuid4()}", "fee", 950, "collection_fee", 4)]
    statements = [stated(3, 2, 11_340), stated(4, 3, 12_290)]  # both innheimtuviðvörun
    [problem] = fees_beyond_caps(statements, {CLAIM: ledger})
    assert "2 fees under the cap innheimtuvidvorun (at most 1)" in problem


def test_a_waived_fee_does_not_count_towards_the_cap() -> None:
    second = uuid.uuid4()
    ledger = [
        *LEDGER[:2],
        LedgerEntry(f"fee:{second}", "fee", 950, "collection_fee", 4),
        LedgerEntry(f"waiver:fee:{second}", "waiver", -950),
    ]
    assert fees_beyond_caps([stated(3, 2, 11_340), stated(4, 4, 11_340)], {CLAIM: ledger}) == []


def test_a_fee_booked_by_a_notice_that_allows_none_is_caught() -> None:
    ledger = [LEDGER[0], LedgerEntry(f"fee:{uuid.uuid4()}", "fee", 950, "reminder_fee", 1)]
    [problem] = fees_beyond_caps([stated(1, 2, 11_340, kind="aminning")], {CLAIM: ledger})
    assert "aminning, which allows no fee" in problem


def test_the_next_step_counts_its_gap_from_the_warnings_actual_send() -> None:
    # The warning fell due on the 23rd but went out three days late: the letter waits 10 days from
    # the 26th, not from the 23rd.
    sent_late = SENT + timedelta(days=3)
    warning = stated(3, 2, 11_340, sent=sent_late)
    too_early = stated(4, 4, 11_440, kind="milliinnheimtubref", due=SENT + timedelta(days=10, hours=1))
    [problem] = steps_inside_gaps([warning, too_early])
    assert "within the 10 days of its innheimtuvidvorun" in problem
    on_time = stated(4, 4, 11_440, kind="milliinnheimtubref", due=sent_late + timedelta(days=10))
    assert steps_inside_gaps([warning, on_time]) == []


def test_a_notice_without_a_gap_holds_nothing_back() -> None:
    reminder = stated(1, 1, 10_390, kind="aminning")
    next_day = stated(2, 1, 10_390, kind="aminning", due=SENT + timedelta(days=1))
    assert steps_inside_gaps([reminder, next_day]) == []
