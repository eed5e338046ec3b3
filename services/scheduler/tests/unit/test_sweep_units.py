"""The sweep's pure parts: late interest booked as it accrues (the delta logic and its stable
fee ids), interest summed per run of days equal to the day-by-day definition, and the batch
envelopes equal to krafa_events' own `encode`, byte for byte."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st
from krafa_events import Channel, Event, decode, encode
from krafa_events.catalog import (
    ClaimEscalated,
    ClaimWatchStarted,
    CreditorNoticeDue,
    DueDatePassed,
    FeeCharged,
    ReminderDue,
)
from krafa_law import rates as law_rates
from krafa_scheduler import domain, policy, service

NOW = datetime(2026, 3, 23, 9, 30, tzinfo=UTC)


def is_context(amount: int = 100_000, payments: tuple[tuple[date, int], ...] = ()) -> domain.Context:
    claim = domain.Claim(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "ISK", amount, date(2026, 3, 2), date(2026, 3, 12), "IS",
        "Atlantic/Reykjavik", "IS", payments=payments,
    )  # fmt: skip
    return domain.Context(claim, policy.default_policy("IS"), policy.jurisdiction("IS"))


def test_late_interest_charge_is_what_accrued_beyond_what_is_booked() -> None:
    assert domain.late_interest_charge(276, 42) == 234
    assert domain.late_interest_charge(42, 0) == 42
    # Nothing more accrued, or less (a backdated payment): nothing to book, never a negative one.
    assert domain.late_interest_charge(276, 276) == 0
    assert domain.late_interest_charge(200, 276) == 0


def test_each_step_books_the_interest_accrued_since_the_previous_one() -> None:
    # 100,000 kr. at 15.0 % (the March 2026 row) from the eindagi (12 March); 50,000 paid on 15 March.
    ctx = is_context(payments=((date(2026, 3, 15), 50_000),))
    second = domain.Next(1, datetime(2026, 3, 13, 9, tzinfo=UTC), (Channel.EMAIL, Channel.LETTER))
    fired = domain.fire(ctx, domain.Cursor(index=1), second, [])
    assert (fired.interest_minor, fired.interest_charge_minor, fired.cursor.interest_booked_minor) == (41, 41, 41)
    third = domain.Next(2, datetime(2026, 3, 23, 9, tzinfo=UTC), (Channel.EMAIL, Channel.LETTER))
    again = domain.fire(ctx, fired.cursor, third, [])
    # (100,000 x 2 days + 50,000 x 9 days) x 15.0 % / 365 = 267.12 accrued; 41 of it booked.
    assert (again.interest_minor, again.interest_charge_minor, again.cursor.interest_booked_minor) == (267, 226, 267)
    # Fired again from the state after it (a re-swept step): nothing new to book.
    assert domain.fire(ctx, again.cursor, third, []).interest_charge_minor == 0
    # Fired again from the state before it (a replay): the same booking, under the same id.
    assert domain.fire(ctx, fired.cursor, third, []).interest_charge_minor == 226
    claim_id = ctx.claim.claim_id
    agreed = uuid.uuid5(domain.FEE_NAMESPACE, f"{claim_id}:late_interest:3")
    assert domain.late_interest_fee_id(claim_id, 3) == agreed == domain.late_interest_fee_id(claim_id, 3, 1)
    # Claim watch fires one step number round after round: each round is its own booking.
    assert domain.late_interest_fee_id(claim_id, 10, 2) != domain.late_interest_fee_id(claim_id, 10, 1)
    # A skipped step books nothing and keeps what was booked.
    rich = domain.Context(ctx.claim, ctx.policy.model_copy(update={"steps": _with_min_amount(ctx.policy)}), ctx.pack)
    skipped = domain.fire(rich, fired.cursor, third, [])
    assert skipped.skipped and skipped.interest_charge_minor == 0 and skipped.cursor.interest_booked_minor == 41


def _with_min_amount(pol: policy.Policy) -> tuple[policy.Step, ...]:
    steps = list(pol.steps)
    steps[2] = steps[2].model_copy(update={"conditions": policy.Conditions(min_amount_minor=10**9)})
    return tuple(steps)


def _daily_reference(ctx: domain.Context, on: date) -> int:
    """The definition, literally: every day after the start, that day's principal at that day's
    rate, summed exactly and rounded half up once."""
    start = domain.effective_due(ctx, ctx.claim.final_due_date)
    total = Fraction(0)
    day = start + timedelta(days=1)
    while day <= on:
        rate = law_rates.rate_on(ctx.pack, day)
        total += Fraction(domain.outstanding(ctx.claim, day)) * Fraction(str(rate or 0)) / 36500
        day += timedelta(days=1)
    return int(Decimal(total.numerator / Decimal(total.denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@settings(max_examples=60, deadline=None)
@given(
    amount=st.integers(min_value=1, max_value=50_000_000),
    final_due=st.dates(min_value=date(2022, 1, 1), max_value=date(2026, 6, 30)),
    days=st.integers(min_value=-5, max_value=1_200),
    payments=st.lists(st.tuples(st.integers(-30, 1_200), st.integers(1, 20_000_000)), max_size=4),
)
def test_interest_summed_per_run_of_days_equals_the_day_by_day_definition(
    amount: int, final_due: date, days: int, payments: list[tuple[int, int]]
) -> None:
    # Spans the IS rate changes of Oct 2024 and May 2025, payments before, during and after.
    ctx = is_context(amount, tuple((final_due + timedelta(days=d), a) for d, a in payments))
    ctx = replace(ctx, claim=replace(ctx.claim, due_date=final_due - timedelta(days=10), final_due_date=final_due))
    on = final_due + timedelta(days=days)
    assert domain.interest_minor(ctx, on) == _daily_reference(ctx, on)


def sweep_events() -> list[Event]:
    c, d, claim = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    return [
        DueDatePassed(creditor_id=c, debtor_id=d, claim_id=claim, due_date=date(2026, 3, 2), passed_at=NOW),
        ReminderDue(
            creditor_id=c, debtor_id=d, reminder_id=domain.reminder_id((claim,), 3), claim_ids=(claim,), step=3,
            channels=(Channel.EMAIL, Channel.LETTER), template="collection_warning", tone="firm", fee_minor=950,
            currency="ISK", due_at=NOW, interest_minor=276, pay_by=date(2026, 4, 2), cc=("a@b.is",),
            policy="is-default@1",
        ),
        FeeCharged(
            creditor_id=c, debtor_id=d, fee_id=domain.late_interest_fee_id(claim, 3), claim_id=claim, step=3,
            kind="late_interest", amount_minor=234, currency="ISK", charged_at=NOW,
        ),
        CreditorNoticeDue(
            creditor_id=c, debtor_id=d, notice_id=domain.notice_id(claim, 4), claim_ids=(claim,),
            handover_at=NOW + timedelta(days=1), noticed_at=NOW,
        ),
        ClaimEscalated(creditor_id=c, debtor_id=d, claim_id=claim, stage="collection", escalated_at=NOW),
        ClaimWatchStarted(
            creditor_id=c, debtor_id=d, claim_id=claim, creditor_share_pct=50, interval_days=90, started_at=NOW
        ),
    ]  # fmt: skip


def test_batch_envelopes_are_what_encode_makes() -> None:
    envelopes = service.Envelopes("/krafa/scheduler", NOW)
    events = sweep_events() * 2  # the second of each type goes through the cached envelope
    for event in events:
        envelopes.add(event)
    assert len({r[0] for r in envelopes.records}) == len(events)
    for event, (event_id, event_type, topic, key, headers_json, value) in zip(events, envelopes.records, strict=True):
        headers = [(name, text.encode()) for name, text in json.loads(headers_json)]
        trace = dict(headers)["traceparent"].decode()
        assert event_id.version == 4 and len(trace) == 55 and trace.startswith("00-") and trace.endswith("-01")
        expected = encode(event, source="/krafa/scheduler", time=NOW, event_id=str(event_id), traceparent=trace)
        assert tuple(headers) == expected.headers
        assert (event_type, topic, key, value) == (event.TYPE, expected.topic, expected.key, expected.value)
        # The outbox column holds what krafa_kit's Outbox writes for the same event.
        assert headers_json == json.dumps([[n, v.decode()] for n, v in expected.headers])
        decoded = decode(headers, value, key)
        assert decoded.event == event and decoded.id == str(event_id) and decoded.time == NOW
