"""Golden timelines of the shipped policies, asserted as rules — the users' processes and the law —
not as a snapshot: Iceland's payment slip (warning on day 20 with 10 days to pay, the creditor's
notice and 24 hours, letters, a call, the final letter around day 70, claim watch), Norway's
invoice (SMS and email at once, a call, the purring after 14 days, the inkassovarsel) and
Estonia's reminders. Each runs over due dates spread across two years (Easter, Christmas, the
Icelandic and Estonian summer holidays), every notice reported sent some hours after it fell
due, as the notifier does."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from krafa_events import Channel
from krafa_law import calendar, jurisdiction
from krafa_scheduler import domain, policy

ZONE = {"IS": "Atlantic/Reykjavik", "NO": "Europe/Oslo", "EE": "Europe/Tallinn"}


def due_dates() -> list[date]:
    """Every 11 days over two years, plus the dates whose timelines cross the holidays."""
    days = [date(2025, 1, 2) + timedelta(days=11 * i) for i in range(67)]
    days += [date(2025, 3, 20), date(2025, 4, 1), date(2026, 3, 10), date(2026, 3, 16)]  # Easter
    days += [date(2025, 11, 24), date(2025, 12, 1), date(2026, 11, 27), date(2026, 12, 2)]  # Christmas
    days += [date(2025, 5, 28), date(2025, 7, 14), date(2026, 5, 28), date(2026, 7, 13)]  # summer
    return sorted(set(days))


@dataclass
class Sent:
    """One step as it went: fired at `at`, reported sent at `sent_at` (contacts only)."""

    fired: domain.Fired
    local: datetime
    sent_at: datetime | None

    @property
    def name(self) -> str:
        return self.fired.step.name

    @property
    def day(self) -> date:
        return self.local.date()

    @property
    def sent_day(self) -> date:
        assert self.sent_at is not None
        return self.sent_at.astimezone(self.local.tzinfo).date()


def run(
    code: str,
    due: date,
    *,
    final_due: date | None = None,
    amount: int = 10_000,
    kind: str = "person",
    delay: Callable[[domain.Fired], timedelta] = lambda f: timedelta(hours=2),
    watch_rounds: int = 4,
) -> list[Sent]:
    """The shipped policy's timeline for one claim, as the sweep fires it: each contact reported
    sent `delay` after it fell due (ReminderSent), and nothing held by a notice fires before the
    notifier reported that notice sent."""
    pol = policy.default_policy(code)
    pack = jurisdiction(code)
    claim = domain.Claim(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "ISK", amount, due, final_due or due, code, ZONE[code], code, kind
    )
    ctx = domain.Context(claim, pol, pack)
    cursor, contacts = domain.Cursor(), []
    moment = datetime.combine(due - timedelta(days=3), time(12), UTC)
    out: list[Sent] = []
    for _ in range(60):
        nxt = domain.plan_next(ctx, cursor, moment, contacts)
        if nxt is None:
            break
        assert not nxt.awaiting_send
        fired = domain.fire(ctx, cursor, nxt, contacts)
        cursor, moment = fired.cursor, nxt.at
        if fired.skipped:
            continue
        sent_at = None
        if fired.step.kind in domain.CONTACT_KINDS:
            contacts.append(domain.Contact(fired.channels[0], nxt.at))
            sent_at = nxt.at + delay(fired)
            cursor = domain.sent(cursor, nxt.index, sent_at)
            if cursor.notice_step == nxt.index:
                moment = max(moment, sent_at)  # the scheduler learns of the send when it happens
        out.append(Sent(fired, nxt.at.astimezone(ctx.tz), sent_at))
        if fired.step.kind == "claim_watch" and fired.watch_round >= watch_rounds:
            break
    return out


def one(timeline: list[Sent], name: str) -> Sent:
    [found] = [s for s in timeline if s.name == name]
    return found


def check_common(code: str, timeline: list[Sent]) -> None:
    """What holds in every jurisdiction: deadlines on business days, no step before the last
    notice's gap from its send and its deadline, fees only from notices allowed them and within
    the caps, SMS and calls only in their windows."""
    pack = jurisdiction(code)
    cal = calendar(pack)
    holding: Sent | None = None
    counts: dict[str, int] = {}
    for s in timeline:
        f = s.fired
        if f.pay_by is not None:
            assert cal.is_business_day(f.pay_by), (s.name, f.pay_by)
            assert f.notice is not None and (f.pay_by - s.day).days >= f.notice.min_days_to_pay
        if holding is not None and f.step.kind != "creditor_notice":
            kind = holding.fired.notice
            assert kind is not None
            assert s.day >= holding.sent_day + timedelta(days=kind.min_gap_days), (s.name, holding.name)
            assert holding.fired.pay_by is None or s.day > holding.fired.pay_by, (s.name, holding.name)
        if f.notice is not None and (f.pay_by is not None or f.notice.min_gap_days):
            holding = s
        for fee_kind, amount in f.fees:
            rule = next(fee.rule for fee in f.step.fees if fee.kind == fee_kind)
            assert rule is not None and f.notice is not None and rule in f.notice.fee_rules
            counts[rule] = counts.get(rule, 0) + 1
            assert amount > 0
        if Channel.SMS in f.channels or Channel.CALL in f.channels:
            assert s.local.weekday() < 6 and not cal.is_holiday(s.day)
            assert time(9) <= s.local.time() < time(20)
            if s.local.weekday() == 5:
                assert Channel.CALL not in f.channels and s.local.time() < time(15)
        if f.notice is not None and f.notice.business_days_only:
            assert cal.is_business_day(s.day), (s.name, s.day)
    for cap in pack.fee_caps.values():
        if cap.max_count is not None:
            assert sum(counts.get(r, 0) for r in cap.rules) <= cap.max_count, cap


# -- Iceland: the payment slip ---------------------------------------------------------------


@pytest.mark.parametrize("due", due_dates(), ids=str)
def test_icelandic_payment_slip(due: date) -> None:
    cal = calendar(jurisdiction("IS"))
    eindagi = due + timedelta(days=10)
    timeline = run("IS", due, final_due=eindagi)
    check_common("IS", timeline)
    names = [s.name for s in timeline]
    # No friendly or firm reminder before or around eindagi: the process starts with the warning.
    assert names[:7] == [
        "collection_warning", "creditor_notice", "handover", "collection_letter_1", "collection_letter_2",
        "collection_call", "final_letter",
    ]  # fmt: skip
    assert set(names[7:]) == {"claim_watch"}
    first_due = cal.next_business_day(due)
    warning = one(timeline, "collection_warning")
    # innheimtuviðvörun 10 days after eindagi (day 20), on a business day, with 950 kr.
    assert warning.day == cal.next_business_day(cal.next_business_day(eindagi) + timedelta(days=10))
    assert warning.fired.notice is not None and warning.fired.notice.legal_basis.startswith("innheimtulög")
    assert warning.fired.fees == (("collection_fee", 950),)
    assert warning.fired.pay_by == cal.deadline(warning.day, 10)
    # The creditor hears 10 days after the warning was sent, and has 24 hours.
    notice, handover = one(timeline, "creditor_notice"), one(timeline, "handover")
    assert notice.day >= warning.sent_day + timedelta(days=10) and cal.is_business_day(notice.day)
    assert handover.fired.at - notice.fired.at >= timedelta(hours=24)
    # Collection never before the warning's ten days from its sending have run (7. gr.).
    assert handover.day > warning.fired.pay_by and handover.day >= warning.sent_day + timedelta(days=10)
    # The agency writes the next business day, again 10 days later (after that letter's deadline).
    letter_1, letter_2 = one(timeline, "collection_letter_1"), one(timeline, "collection_letter_2")
    assert letter_1.day == cal.next_business_day(handover.day + timedelta(days=1))
    assert letter_1.fired.notice is not None and letter_1.fired.notice.sender == "agency"
    assert letter_2.day >= letter_1.sent_day + timedelta(days=10) and letter_2.day > letter_1.fired.pay_by
    call = one(timeline, "collection_call")
    assert call.fired.channels == (Channel.CALL,) and call.day > letter_2.fired.pay_by
    # The final letter around day 70, never before day 70.
    final = one(timeline, "final_letter")
    assert final.day >= first_due + timedelta(days=70)
    assert final.day <= max(first_due + timedelta(days=70), call.day) + timedelta(days=5)
    assert final.fired.step.notice == "lokavidvorun" and final.fired.fees == (("collection_fee", 2100),)
    # Fees: one warning, three letters at the band of a 10,000 kr. claim, one call.
    fees = [amount for s in timeline for _, amount in s.fired.fees]
    assert sorted(fees) == [550, 950, 2100, 2100, 2100] and sum(fees) == 7_800
    # Claim watch: letters and calls in turn, on their own cadence, no fees.
    watch = [s for s in timeline if s.name == "claim_watch"]
    assert [s.fired.channels for s in watch] == [(Channel.LETTER,), (Channel.CALL,)] * 2
    assert watch[0].day >= final.day + timedelta(days=30)
    for a, b in itertools.pairwise(watch):
        assert b.day - a.day >= timedelta(days=45)
    assert all(s.fired.fees == () for s in watch)


def test_icelandic_half_days_and_christmas_hold_the_deadline() -> None:
    # Due 25 Nov 2025, eindagi Fri 5 Dec: the warning goes out Mon 15 Dec; its ten days end on
    # jóladagur (25 Dec), then annar í jólum and a weekend, so the deadline is Mon 29 Dec.
    timeline = run("IS", date(2025, 11, 25), final_due=date(2025, 12, 5))
    warning = one(timeline, "collection_warning")
    assert warning.day == date(2025, 12, 15) and warning.fired.pay_by == date(2025, 12, 29)
    handover = one(timeline, "handover")
    assert handover.day > date(2025, 12, 29)
    # Ten days ending on aðfangadagur or gamlársdagur (half days) end on the next business day.
    cal = calendar(jurisdiction("IS"))
    assert cal.deadline(date(2025, 12, 14), 10) == date(2025, 12, 29)
    assert cal.deadline(date(2025, 12, 21), 10) == date(2026, 1, 2)
    # No legal notice goes out on a half day either: none on 24 or 31 December in two years.
    for due in due_dates():
        for s in run("IS", due, final_due=due + timedelta(days=10)):
            if s.fired.notice is not None and s.fired.notice.business_days_only:
                assert (s.day.month, s.day.day) not in {(12, 24), (12, 31)}


def test_a_late_send_moves_collection_with_it() -> None:
    """The warning fell due on time but went out three days late (an outage, a print run): the
    creditor's notice, the handover and the letters count from the actual sending."""
    due, eindagi = date(2026, 9, 1), date(2026, 9, 11)
    on_time = run("IS", due, final_due=eindagi)
    late = run(
        "IS",
        due,
        final_due=eindagi,
        delay=lambda f: timedelta(days=3) if f.step.name == "collection_warning" else timedelta(hours=1),
    )
    assert one(late, "collection_warning").fired.at == one(on_time, "collection_warning").fired.at
    warning = one(late, "collection_warning")
    assert one(late, "handover").day >= warning.sent_day + timedelta(days=11)
    assert one(late, "handover").day > one(on_time, "handover").day
    assert one(late, "collection_letter_1").day > one(on_time, "collection_letter_1").day
    check_common("IS", late)


def test_a_policy_of_two_warnings_and_five_letters_is_capped_at_7250() -> None:
    """The law caps what such a policy charges a 10,000 kr. claim: one warning fee (950) and
    three letter fees (2,100) — 7,250 kr., not 12,400."""
    shipped = policy.default_policy("IS")
    warning, letter = shipped.steps[0], shipped.steps[3]
    steps = [warning, warning.model_copy(update={"name": "warning_2", "when": policy.When(after="previous", days=12)})]
    steps += [
        letter.model_copy(update={"name": f"letter_{i}", "when": policy.When(after="previous", days=12)})
        for i in range(5)
    ]
    pol = shipped.model_copy(update={"key": "greedy", "steps": tuple(steps)})
    assert policy.problems(pol, jurisdiction("IS")) == []  # lawful to send, not to charge
    claim = domain.Claim(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "ISK", 10_000, date(2026, 3, 2), date(2026, 3, 12), "IS", "UTC"
    )
    ctx = domain.Context(claim, pol, jurisdiction("IS"))
    planned = domain.dry_run(ctx, domain.Cursor(), datetime(2026, 3, 1, tzinfo=UTC), [])
    assert len(planned) == 7
    assert sum(a for p in planned for _, a in p.fees) == 7_250
    assert [sum(a for _, a in p.fees) for p in planned] == [950, 0, 2100, 2100, 2100, 0, 0]


# -- Norway: Modhi's invoice -----------------------------------------------------------------


@pytest.mark.parametrize("due", due_dates(), ids=str)
def test_norwegian_invoice(due: date) -> None:
    pack = jurisdiction("NO")
    cal = calendar(pack)
    timeline = run("NO", due, amount=100_000)
    check_common("NO", timeline)
    first_due = cal.next_business_day(due)
    names = [s.name for s in timeline]
    assert names == ["payment_reminder", "reminder_call", "purring", "followup_call", "inkassovarsel", "handover"]
    # A friendly reminder by SMS and by email at once when the invoice is overdue.
    reminder = one(timeline, "payment_reminder")
    assert reminder.fired.channels == (Channel.SMS, Channel.EMAIL) and reminder.fired.fees == ()
    assert first_due < reminder.day <= first_due + timedelta(days=4)
    # Then a call, before any fee is talked about.
    call = one(timeline, "reminder_call")
    assert call.fired.channels == (Channel.CALL,) and call.fired.fees == () and call.day > reminder.day
    # The purring: 14 days after the due date, 14 days to pay, the fee 1/20 of the inkassosats.
    purring = one(timeline, "purring")
    assert purring.day >= first_due + timedelta(days=14)
    assert purring.fired.pay_by is not None and (purring.fired.pay_by - purring.day).days >= 14

    def twentieth(day: date) -> int:
        # 1/20 of the inkassosats in force that day: kr 700 to 2025, kr 750 from 2026.
        return (75_000 if day >= date(2026, 1, 1) else 70_000) // 20

    assert purring.fired.fees == (("reminder_fee", twentieth(purring.day)),)
    # A firmer call once the purring's deadline has passed, then the inkassovarsel (§ 9):
    # written, 14 days from its sending, no collection before they have run.
    assert one(timeline, "followup_call").day > purring.fired.pay_by
    varsel = one(timeline, "inkassovarsel")
    assert varsel.fired.notice is not None and varsel.fired.notice.written
    assert set(varsel.fired.channels) <= {Channel.EMAIL, Channel.LETTER, Channel.NETBANK}
    assert varsel.fired.pay_by is not None and (varsel.fired.pay_by - varsel.sent_day).days >= 14
    handover = one(timeline, "handover")
    assert handover.day > varsel.fired.pay_by and handover.day >= varsel.sent_day + timedelta(days=14)
    # At most two reminder fees: the purring and the inkassovarsel.
    assert [(s.name, f) for s in timeline for f in s.fired.fees] == [
        ("purring", ("reminder_fee", twentieth(purring.day))),
        ("inkassovarsel", ("reminder_fee", twentieth(varsel.day))),
    ]


def test_norwegian_saturday_sms_stays_before_15() -> None:
    # Due Thu 5 Mar 2026: the reminder falls due Friday; SMS and email go out together at 09:00.
    timeline = run("NO", date(2026, 3, 5), amount=100_000)
    reminder = one(timeline, "payment_reminder")
    assert reminder.local.replace(tzinfo=None) == datetime(2026, 3, 6, 9, 0)
    check_common("NO", timeline)


# -- Estonia ---------------------------------------------------------------------------------


@pytest.mark.parametrize("due", due_dates(), ids=str)
@pytest.mark.parametrize("kind", ["person", "company"])
def test_estonian_reminders(due: date, kind: str) -> None:
    cal = calendar(jurisdiction("EE"))
    timeline = run("EE", due, amount=50_000, kind=kind)
    check_common("EE", timeline)
    names = [s.name for s in timeline]
    assert names[-2:] == ["creditor_notice", "handover"]
    paid = one(timeline, "paid_reminder")
    fees = [f for s in timeline for f in s.fired.fees]
    if kind == "person":
        # €5 for one reminder, and only after a free one (võlaõigusseadus § 113²).
        assert fees == [("reminder_fee", 500)] and paid.fired.fees == (("reminder_fee", 500),)
        assert names.index("free_reminder") < names.index("paid_reminder")
    else:
        # A business debtor owes the €40 compensation once (§ 113¹), no reminder fee.
        assert fees == [("compensation", 4000)]
    warning = one(timeline, "final_reminder")
    assert warning.fired.notice is not None and warning.fired.notice.written
    handover = one(timeline, "handover")
    assert handover.day > warning.fired.pay_by and handover.day >= warning.sent_day + timedelta(days=10)
    assert cal.is_business_day(one(timeline, "creditor_notice").day)
