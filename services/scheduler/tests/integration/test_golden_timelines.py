"""Golden timelines: the Icelandic payment slip and the Norwegian invoice of docs/domain.md, replayed
hour by hour on the manual clock over the real database; every event and its moment is asserted."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from krafa_events import Channel, Event
from krafa_events.catalog import (
    ClaimEscalated,
    ClaimPaid,
    ClaimWatchStarted,
    CreditorNoticeDue,
    DebtorSnapshot,
    DueDatePassed,
    FeeCharged,
    ReminderDue,
)
from krafa_events.testing import a_claim_created
from krafa_scheduler import domain

from .conftest import Engine

pytestmark = pytest.mark.integration


def utc(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def summary(event: Event) -> tuple[Any, ...]:
    """The parts of an event the timeline is about."""
    if isinstance(event, ReminderDue):
        return ("ReminderDue", event.step, tuple(c.value for c in event.channels), event.template, event.tone,
                event.fee_minor, event.pay_by, event.due_at)  # fmt: skip
    if isinstance(event, FeeCharged):
        return ("FeeCharged", event.step, event.kind, event.amount_minor, event.charged_at)
    if isinstance(event, DueDatePassed):
        return ("DueDatePassed", event.due_date, event.passed_at)
    if isinstance(event, CreditorNoticeDue):
        return ("CreditorNoticeDue", event.handover_at, event.noticed_at)
    if isinstance(event, ClaimEscalated):
        return ("ClaimEscalated", event.stage, event.escalated_at)
    if isinstance(event, ClaimWatchStarted):
        return ("ClaimWatchStarted", event.creditor_share_pct, event.interval_days, event.started_at)
    return (type(event).__name__,)


async def test_icelandic_payment_slip_follows_seed_003_to_claim_watch(engine: Engine) -> None:
    # A 10,000 kr. slip due Monday 2 March 2026; eindagi 12 March (due + 10). Reykjavik is UTC.
    claim = a_claim_created(amount_minor=10_000, due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    await engine.deliver(claim)
    await engine.run_until(utc(2, 28))
    assert await engine.new_events() == []

    # Every step from the eindagi on also books the dráttarvextir accrued since the previous step
    # (FeeCharged late_interest): 10,000 kr. x 15.5 % x days since 12 March / 365, rounded once,
    # minus what is already booked: 4, 47, 81, 85, 110, 153, 195, 255, 382 and 764 kr. accrued.
    expected_by_day: list[tuple[datetime, list[tuple[Any, ...]]]] = [
        # day 1: the due date has passed — a friendly reminder the next morning
        (utc(3, 3), [("DueDatePassed", date(2026, 3, 2), utc(3, 3)),
                     ("ReminderDue", 1, ("email", "letter"), "reminder", "friendly", 0, None, utc(3, 3))]),
        # day 10 = eindagi: the morning after it, a firmer reminder (late interest runs from here)
        (utc(3, 13), [("ReminderDue", 2, ("email", "letter"), "reminder", "firm", 0, None, utc(3, 13)),
                      ("FeeCharged", 2, "late_interest", 4, utc(3, 13))]),
        # day 20 (Sunday 22 March) → Monday: innheimtuviðvörun, 950 kr., ten days to pay — to
        # Thursday 2 April, Maundy Thursday, so the deadline is the next business day: 7 April
        (utc(3, 23), [("ReminderDue", 3, ("email", "letter"), "collection_warning", "firm", 950, date(2026, 4, 7),
                       utc(3, 23)),
                      ("FeeCharged", 3, "collection_fee", 950, utc(3, 23)),
                      ("FeeCharged", 3, "late_interest", 43, utc(3, 23))]),
        # day 29: the creditor's notice, 24 hours before the handover on day 30
        (utc(3, 31), [("CreditorNoticeDue", utc(4, 1), utc(3, 31)),
                      ("FeeCharged", 4, "late_interest", 34, utc(3, 31))]),
        (utc(4, 1), [("ClaimEscalated", "collection", utc(4, 1)),
                     ("FeeCharged", 5, "late_interest", 4, utc(4, 1))]),
        # day 31 is Maundy Thursday; Good Friday, the weekend and Easter Monday follow → 7 April
        (utc(4, 7), [("ReminderDue", 6, ("email", "letter"), "collection_letter", "firm", 2100, date(2026, 4, 17),
                      utc(4, 7)),
                     ("FeeCharged", 6, "collection_fee", 2100, utc(4, 7)),
                     ("FeeCharged", 6, "late_interest", 25, utc(4, 7))]),
        # ten days after the first letter, the second; then the phone call
        (utc(4, 17), [("ReminderDue", 7, ("email", "letter"), "collection_letter", "firm", 2100, date(2026, 4, 27),
                       utc(4, 17)),
                      ("FeeCharged", 7, "collection_fee", 2100, utc(4, 17)),
                      ("FeeCharged", 7, "late_interest", 43, utc(4, 17))]),
        (utc(4, 27), [("ReminderDue", 8, ("call",), "collection_call", "firm", 550, None, utc(4, 27)),
                      ("FeeCharged", 8, "collection_fee", 550, utc(4, 27)),
                      ("FeeCharged", 8, "late_interest", 42, utc(4, 27))]),
        # day 70: the final letter
        (utc(5, 11), [("ReminderDue", 9, ("email", "letter"), "final_letter", "final", 2100, date(2026, 5, 21),
                       utc(5, 11)),
                      ("FeeCharged", 9, "collection_fee", 2100, utc(5, 11)),
                      ("FeeCharged", 9, "late_interest", 60, utc(5, 11))]),
        # 30 days later: claim watch, 50/50, a letter every 90 days
        (utc(6, 10), [("ReminderDue", 10, ("letter",), "claim_watch", "firm", 0, None, utc(6, 10)),
                      ("ClaimWatchStarted", 50, 90, utc(6, 10)),
                      ("FeeCharged", 10, "late_interest", 127, utc(6, 10))]),
        (utc(9, 8), [("ReminderDue", 10, ("letter",), "claim_watch", "firm", 0, None, utc(9, 8)),
                     ("FeeCharged", 10, "late_interest", 382, utc(9, 8))]),
    ]  # fmt: skip
    reminders: list[ReminderDue] = []
    interest: list[FeeCharged] = []
    for moment, expected in expected_by_day:
        # Nothing may happen between two expected moments; then exactly the expected events.
        await engine.run_until(moment - timedelta(minutes=1))
        assert [summary(e) for e in await engine.new_events()] == [], f"early events before {moment}"
        await engine.run_until(moment)
        events = await engine.new_events()
        assert sorted(summary(e) for e in events) == sorted(expected), moment
        reminders += [e for e in events if isinstance(e, ReminderDue)]
        interest += [e for e in events if isinstance(e, FeeCharged) and e.kind == "late_interest"]

    for reminder in reminders:
        assert reminder.claim_ids == (claim.claim_id,)
        assert reminder.policy == "is-default@1"
        # Dráttarvextir from the eindagi at 15.5 % (Seðlabanki, May 2025 onwards), day by day.
        days = max((reminder.due_at.date() - date(2026, 3, 12)).days, 0)
        assert reminder.interest_minor == round(10_000 * 0.155 * days / 365)
    assert len({r.reminder_id for r in reminders}) == len(reminders)
    # What is booked adds up to what the last reminder shows; every booking has its own id, the
    # two claim-watch rounds of step 10 included.
    assert sum(f.amount_minor for f in interest) == reminders[-1].interest_minor == 764
    assert len({f.fee_id for f in interest}) == len(interest)
    assert (await engine.timeline(claim.claim_id))["interest_booked_minor"] == 764

    await engine.deliver(
        ClaimPaid(
            creditor_id=claim.creditor_id,
            debtor_id=claim.debtor_id,
            claim_id=claim.claim_id,
            amount_paid_minor=20_000,
            currency="ISK",
            paid_at=engine.clock.now(),
        )
    )
    await engine.run_until(utc(12, 31), step=timedelta(hours=6))
    assert await engine.new_events() == []
    assert (await engine.timeline(claim.claim_id))["status"] == "stopped"


async def test_norwegian_invoice_gets_sms_call_purring_and_inkassovarsel(engine: Engine) -> None:
    debtor = DebtorSnapshot(
        customer_no="N-1", name="Kari Nordmann", language="nb", time_zone="Europe/Oslo", country="NO",
        email="kari@example.no", phone="+4791234567",
    )  # fmt: skip
    first = a_claim_created(
        jurisdiction="NO", currency="NOK", amount_minor=100_000, fees_minor=0, debtor=debtor,
        due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 2), reference="1234567890128",
    )  # fmt: skip
    # A second invoice of the same debtor, due the next day: the SMS budget (1 per 3 days) moves
    # its friendly reminder to email, and both calls fall on Monday 9 March: one call task.
    second = a_claim_created(
        jurisdiction="NO", currency="NOK", amount_minor=50_000, fees_minor=0, debtor=debtor,
        creditor_id=first.creditor_id, debtor_id=first.debtor_id,
        due_date=date(2026, 3, 3), final_due_date=date(2026, 3, 3), reference="1234567890136",
    )  # fmt: skip
    await engine.deliver(first, second)
    await engine.run_until(datetime(2026, 4, 20, tzinfo=UTC))
    events = await engine.new_events()
    reminders = [e for e in events if isinstance(e, ReminderDue)]
    by_claims: dict[tuple[Any, ...], list[ReminderDue]] = {}
    for r in reminders:
        by_claims.setdefault(r.claim_ids, []).append(r)
    one = [r for r in reminders if first.claim_id in r.claim_ids]
    # 09:00 in Oslo: 08:00 UTC in winter, 07:00 UTC after the switch to summer time on 29 March.
    assert [(r.step, r.channels, r.due_at, r.fee_minor, r.pay_by, r.tone) for r in one] == [
        (1, (Channel.SMS, Channel.EMAIL), utc(3, 3, 8), 0, None, "friendly"),
        # day 5 is Saturday 7 March: calls only on weekdays → Monday
        (2, (Channel.CALL,), utc(3, 9, 8), 0, None, "friendly"),
        # purregebyr from 14 days after the due date, 1/20 of the 2026 inkassosats (750 kr) = 37.50
        (3, (Channel.EMAIL, Channel.LETTER), utc(3, 16, 8), 3_750, date(2026, 3, 30), "firm"),
        # the inkassovarsel after the purring's 14 days ran out, with its own 14 days
        (4, (Channel.LETTER,), utc(3, 31, 7), 3_750, date(2026, 4, 14), "final"),
    ]
    assert one[1].claim_ids == tuple(sorted((first.claim_id, second.claim_id))), "one call for both invoices"
    two = by_claims[(second.claim_id,)]
    assert two[0].step == 1 and two[0].channels == (Channel.EMAIL,), "SMS budget: the second SMS drops out"
    assert two[0].due_at == utc(3, 4, 8)
    assert [(r.step, r.due_at) for r in two[1:]] == [(3, utc(3, 17, 8)), (4, utc(4, 1, 7))]
    # Forsinkelsesrente from the due date at 12 % (2026), per day.
    principal = {first.claim_id: (100_000, date(2026, 3, 2)), second.claim_id: (50_000, date(2026, 3, 3))}
    for r in reminders:
        assert r.interest_minor == sum(
            round(principal[c][0] * 0.12 * (r.due_at.date() - principal[c][1]).days / 365) for c in r.claim_ids
        )
    fees = [e for e in events if isinstance(e, FeeCharged) and e.kind != "late_interest"]
    assert {(f.claim_id, f.step, f.amount_minor) for f in fees if f.claim_id == first.claim_id} == {
        (first.claim_id, 3, 3_750),
        (first.claim_id, 4, 3_750),
    }
    assert all(f.amount_minor <= 3_750 for f in fees)
    # The forsinkelsesrente is booked as it accrues: at each step, a claim's late_interest
    # bookings so far add up to its interest accrued to that day (rounded half up once).
    late = [e for e in events if isinstance(e, FeeCharged) and e.kind == "late_interest"]
    booked: dict[Any, int] = {}
    for f in late:
        booked[f.claim_id] = booked.get(f.claim_id, 0) + f.amount_minor
        amount, due = principal[f.claim_id]
        days = (f.charged_at.astimezone(domain.zone("Europe/Oslo")).date() - due).days
        accrued = (Decimal(amount) * Decimal("12") * days / 36500).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert booked[f.claim_id] == accrued, f
    assert set(booked) == set(principal) and len({f.fee_id for f in late}) == len(late)
    escalated = [e for e in events if isinstance(e, ClaimEscalated)]
    assert {(e.claim_id, e.escalated_at) for e in escalated if e.claim_id == first.claim_id} == {
        (first.claim_id, utc(4, 15, 7))
    }
    # No two SMS within 3 days, no more than 3 contacts in any 7 days, for this debtor.
    contacts = sorted(r.due_at for r in reminders)
    sms = sorted(r.due_at for r in reminders if r.channels[0] == Channel.SMS)
    assert all(b - a >= timedelta(days=3) for a, b in itertools.pairwise(sms))
    for i, at in enumerate(contacts):
        assert sum(1 for c in contacts[i:] if c < at + timedelta(days=7)) <= 3
