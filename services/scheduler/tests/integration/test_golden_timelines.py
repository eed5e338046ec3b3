"""Golden timelines through the real database: the handlers, the sweep and the ReminderSent
consumer on a manual clock, for claims due around Christmas, Easter and the summer. The notifier's
part is played by reporting each reminder sent — the collection warnings late, as after an outage
— and what comes out is checked against the users' process and the law, not against a snapshot:
gaps counted from the actual send, pay-by dates on business days, fees within the caps, and the
ReminderDue fields the message side renders from."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from krafa_events import Channel, Event
from krafa_events.catalog import ClaimEscalated, ClaimWatchStarted, DebtorSnapshot, FeeCharged, ReminderDue
from krafa_events.testing import a_claim_created
from krafa_law import calendar, jurisdiction
from krafa_scheduler import domain

from .conftest import Engine

pytestmark = pytest.mark.integration

REYKJAVIK, OSLO = domain.zone("Atlantic/Reykjavik"), domain.zone("Europe/Oslo")


def local_day(moment: datetime, tz: Any) -> date:
    return moment.astimezone(tz).date()


def by_claim(events: list[Event]) -> dict[Any, list[Event]]:
    out: dict[Any, list[Event]] = defaultdict(list)
    for e in events:
        if isinstance(e, ReminderDue):
            for c in e.claim_ids:
                out[c].append(e)
        elif hasattr(e, "claim_id"):
            out[e.claim_id].append(e)
    return out


async def test_icelandic_slips_count_collection_from_the_warnings_actual_send(engine: Engine) -> None:
    cal = calendar(jurisdiction("IS"))
    dues = [date(2025, 11, 25), date(2026, 3, 2), date(2026, 7, 13)]  # Christmas, Easter, summer
    claims = [a_claim_created(due_date=d, final_due_date=d + timedelta(days=10)) for d in dues]
    # Each warning is reported sent three days after it fell due (the email bounced, the letter
    # went out later); everything else an hour after.
    late = timedelta(days=3)
    sent_at: dict[Any, datetime] = {}

    def delay(r: ReminderDue) -> timedelta:
        d = late if r.notice_kind == "innheimtuvidvorun" else timedelta(hours=1)
        sent_at[r.reminder_id] = r.due_at + d
        return d

    engine.send_delay = delay
    engine.clock.set(datetime(2025, 11, 20, 12, tzinfo=UTC))
    await engine.deliver(*claims)
    await engine.run_until(datetime(2027, 1, 15, tzinfo=UTC))
    events = by_claim(await engine.new_events())
    for claim in claims:
        mine = events[claim.claim_id]
        reminders = [e for e in mine if isinstance(e, ReminderDue)]
        kinds = [r.notice_kind for r in reminders]
        # The payment slip's process: no reminder before the warning; agency letters, a call, the final
        # letter; then claim watch, letters and calls in turn.
        assert kinds[:5] == ["innheimtuvidvorun", "milliinnheimtubref", "milliinnheimtubref", "innheimtusimtal",
                             "lokavidvorun"], kinds  # fmt: skip
        assert set(kinds[5:]) == {"krofuvakt"} and len(kinds) >= 7
        warning, letter_1, letter_2, call, final = reminders[:5]
        eindagi = cal.next_business_day(claim.final_due_date)
        assert local_day(warning.due_at, REYKJAVIK) == cal.next_business_day(eindagi + timedelta(days=10))
        assert warning.stage == "reminder" and letter_1.stage == "collection" and reminders[5].stage == "watch"
        # Ten days to pay, ending on a business day; the handover not before ten days from the
        # warning's actual (late) send, nor before its deadline has passed.
        assert warning.pay_by is not None and cal.is_business_day(warning.pay_by)
        assert (warning.pay_by - local_day(warning.due_at, REYKJAVIK)).days >= 10
        [handover] = [e for e in mine if isinstance(e, ClaimEscalated)]
        sent_day = local_day(sent_at[warning.reminder_id], REYKJAVIK)
        assert local_day(handover.escalated_at, REYKJAVIK) >= sent_day + timedelta(days=10)
        assert local_day(handover.escalated_at, REYKJAVIK) > warning.pay_by
        assert letter_1.due_at > handover.escalated_at
        # Each letter after the previous one's deadline; the call after the second letter's.
        for before, after in ((letter_1, letter_2), (letter_2, call)):
            assert before.pay_by is not None and local_day(after.due_at, REYKJAVIK) > before.pay_by
            assert local_day(after.due_at, REYKJAVIK) >= local_day(sent_at[before.reminder_id], REYKJAVIK) + timedelta(
                days=10
            )
        assert local_day(final.due_at, REYKJAVIK) >= cal.next_business_day(claim.due_date) + timedelta(days=70)
        for r in reminders:
            assert r.pay_by is None or cal.is_business_day(r.pay_by), r
            assert r.jurisdiction == "IS" and r.interest_rate_pct is not None and r.policy == "is-default@2"
        # Fees within reg. 37/2009: one warning, three letters, one call.
        fees = [e for e in mine if isinstance(e, FeeCharged) and e.kind != domain.LATE_INTEREST]
        assert sorted(f.amount_minor for f in fees) == [550, 950, 2100, 2100, 2100]
        # Every booking a reminder announces is one its step booked, and every booking of a
        # contact step is announced (the creditor notice and the handover book interest silently).
        announced = {i for r in reminders for i in r.fee_ids}
        contact_steps = {r.step for r in reminders}
        assert announced == {e.fee_id for e in mine if isinstance(e, FeeCharged) and e.step in contact_steps}
        watch = [r for r in reminders if r.stage == "watch"]
        assert [r.channels for r in watch[:2]] == [(Channel.LETTER,), (Channel.CALL,)]
        assert all(b.due_at - a.due_at >= timedelta(days=45) for a, b in itertools.pairwise(watch))
        assert next(e for e in mine if isinstance(e, ClaimWatchStarted)).creditor_share_pct == 50


async def test_norwegian_invoices_go_by_sms_and_email_then_purring_and_inkassovarsel(engine: Engine) -> None:
    cal = calendar(jurisdiction("NO"))
    debtor = DebtorSnapshot(
        customer_no="N-1", name="Kari Nordmann", language="nb", time_zone="Europe/Oslo", country="NO",
        email="kari@example.no", phone="+4791234567",
    )  # fmt: skip
    dues = [date(2025, 12, 1), date(2026, 3, 16), date(2026, 5, 11)]  # Christmas, Easter, 17 May
    claims = [
        a_claim_created(
            jurisdiction="NO",
            currency="NOK",
            amount_minor=100_000,
            fees_minor=0,
            debtor=debtor,
            due_date=d,
            final_due_date=d,
            reference="1234567890128",
        )
        for d in dues
    ]
    sent_at: dict[Any, datetime] = {}

    def delay(r: ReminderDue) -> timedelta:
        d = timedelta(days=2) if r.notice_kind == "inkassovarsel" else timedelta(minutes=5)
        sent_at[r.reminder_id] = r.due_at + d
        return d

    engine.send_delay = delay
    engine.clock.set(datetime(2025, 11, 28, 12, tzinfo=UTC))
    await engine.deliver(*claims)
    await engine.run_until(datetime(2026, 8, 1, tzinfo=UTC))
    events = by_claim(await engine.new_events())
    for claim in claims:
        mine = events[claim.claim_id]
        reminders = [e for e in mine if isinstance(e, ReminderDue)]
        first_due = cal.next_business_day(claim.due_date)
        assert [r.notice_kind for r in reminders] == ["purring", "telefon", "purring", "telefon", "inkassovarsel"]
        reminder, call, purring, followup, varsel = reminders
        # SMS and email at once, each a delivery of its own.
        assert [(d.channel, d.fallbacks) for d in reminder.deliveries] == [(Channel.SMS, ()), (Channel.EMAIL, ())]
        assert reminder.fee_minor == 0 and local_day(reminder.due_at, OSLO) > first_due
        assert call.channels == (Channel.CALL,) and call.due_at > reminder.due_at
        # The purring 14 days after the due date, with 14 days to pay and the reminder fee.
        assert local_day(purring.due_at, OSLO) >= first_due + timedelta(days=14)
        assert purring.pay_by is not None and (purring.pay_by - local_day(purring.due_at, OSLO)).days >= 14
        assert cal.is_business_day(purring.pay_by)
        assert [(d.channel, d.fallbacks) for d in purring.deliveries] == [
            (Channel.EMAIL, (Channel.LETTER,)),
            (Channel.SMS, ()),
        ]
        assert purring.channels == (Channel.EMAIL, Channel.LETTER)  # what an older notifier reads
        twentieth = (75_000 if local_day(purring.due_at, OSLO) >= date(2026, 1, 1) else 70_000) // 20
        assert purring.fee_minor == twentieth
        assert local_day(followup.due_at, OSLO) > purring.pay_by
        # The inkassovarsel (§ 9): in writing, 14 days from its sending; collection only after.
        assert {d.channel for d in varsel.deliveries} <= {Channel.EMAIL, Channel.LETTER, Channel.NETBANK}
        assert varsel.pay_by is not None and cal.is_business_day(varsel.pay_by)
        [handover] = [e for e in mine if isinstance(e, ClaimEscalated)]
        varsel_sent = local_day(sent_at[varsel.reminder_id], OSLO)
        assert local_day(handover.escalated_at, OSLO) >= varsel_sent + timedelta(days=14)
        assert local_day(handover.escalated_at, OSLO) > varsel.pay_by
        fees = [e for e in mine if isinstance(e, FeeCharged) and e.kind != domain.LATE_INTEREST]
        assert len(fees) == 2, "at most two reminder fees: the purring and the inkassovarsel"
        for r in reminders:
            if Channel.SMS in {d.channel for d in r.deliveries} or r.channels == (Channel.CALL,):
                local = r.due_at.astimezone(OSLO)
                assert local.weekday() < 6 and not cal.is_holiday(local.date()) and 9 <= local.hour < 20
