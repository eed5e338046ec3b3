"""The escalation engine's rules, pure (no I/O): when each step of a policy falls due for a
claim, which channels may carry it, which fees it may charge and how much late interest has
accrued. The sweep and the dry run both walk a claim's timeline through `plan_next` and `fire`,
so what `GET /v1/claims/{id}/schedule` shows is what the sweep will do.

Timing rules, in order: the step's planned moment (anchor + offset at the policy's local time);
the policy's spacing from the previous step, kept after a delay (pause, budget, holiday); the
legal gap after the last notice — counted from when it was actually sent (ReminderSent), never
before its pay-by date has passed; the sending windows of every channel the step uses (debtor's
time zone, public holidays); the debtor's contact budget. A skippable step whose successor is
already due is obsolete.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import krafa_law
from krafa_events import Channel
from krafa_law import Calendar, Jurisdiction, NoticeKind, dated_value
from krafa_law import rates as law_rates
from krafa_law import windows as law_windows

from krafa_scheduler.policy import Policy, Step

REMINDER_NAMESPACE = uuid.UUID("6f0b2c8e-8a43-4c55-9d7e-7f7d6b0d7a11")
FEE_NAMESPACE = uuid.UUID("0c6e4f7a-3d0b-4d53-8f0e-2a7e9a1b5c42")
NOTICE_NAMESPACE = uuid.UUID("b1f7a0d2-58c4-4f7b-9a55-5a3e1c0e9d67")
CONTACT_KINDS = ("reminder", "call", "claim_watch")
# FeeCharged.kind of the late interest booked on a claim when a step fires (claims-api books it
# as the ledger's interest).
LATE_INTEREST = "late_interest"


@lru_cache(maxsize=1024)
def zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Claim:
    """What planning needs to know about one claim and its debtor."""

    claim_id: uuid.UUID
    creditor_id: uuid.UUID
    debtor_id: uuid.UUID
    currency: str
    amount_minor: int
    due_date: date
    final_due_date: date
    jurisdiction: str
    time_zone: str = "UTC"
    debtor_country: str = ""
    debtor_kind: str = "person"
    customer_class: str = "regular"
    payments: tuple[tuple[date, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a timeline stands: the next step's index, when the previous step fired, the fees
    charged so far (kind, amount) and how many free reminders went out."""

    index: int = 0
    last_fired_at: datetime | None = None
    watch_round: int = 0
    fees: tuple[tuple[str, int, str], ...] = ()  # (kind, amount, the pack's fee rule or "")
    free_reminders: int = 0
    # How far a pause (or a late resume) pushed the rest of the timeline, in seconds.
    shift_s: int = 0
    # Late interest already booked on the claim (FeeCharged kind late_interest), in minor units.
    interest_booked_minor: int = 0
    # The last notice whose law holds the next steps back: its step index, when it was due, when
    # the notifier reported it sent (None until ReminderSent arrives) and the pay-by it stated.
    notice_step: int | None = None
    notice_due_at: datetime | None = None
    notice_sent_at: datetime | None = None
    notice_pay_by: date | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    channel: Channel
    at: datetime


@dataclass(frozen=True, slots=True)
class Next:
    index: int
    at: datetime
    channels: tuple[Channel, ...]
    shift_s: int = 0
    # The step is held by a notice the notifier has not reported sent yet: nothing fires until
    # ReminderSent says when it went (`at` is then what the gap would allow if it went on time).
    awaiting_send: bool = False


@dataclass(frozen=True, slots=True)
class Fired:
    """One claim's share of a fired step; the service turns it into events (and groups
    reminders per debtor)."""

    claim: Claim
    index: int
    step: Step
    at: datetime
    channels: tuple[Channel, ...]
    fees: tuple[tuple[str, int], ...]
    interest_minor: int
    pay_by: date | None
    watch_round: int
    cursor: Cursor  # the cursor after this step
    skipped: bool = False
    # Late interest to book now: accrued to the step's day minus what was booked before.
    interest_charge_minor: int = 0
    notice: NoticeKind | None = None
    interest_rate_pct: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Context:
    claim: Claim
    policy: Policy
    pack: Jurisdiction

    @property
    def holiday_country(self) -> str:
        # The generic EU pack has no calendar of its own: the debtor's country decides.
        return krafa_law.holiday_country(self.pack, self.claim.debtor_country)

    @property
    def cal(self) -> Calendar:
        return krafa_law.calendar(self.pack, self.claim.debtor_country)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.claim.time_zone)


# -- dates -----------------------------------------------------------------------------------


def effective_due(ctx: Context, day: date) -> date:
    """A due date on a non-business day moves where the jurisdiction says so."""
    if ctx.pack.due_date_shift == "next_business_day":
        return ctx.cal.next_business_day(day)
    return day


def _offset(ctx: Context, base: date, step: Step) -> date:
    when = step.when
    if when.business_days:
        return ctx.cal.add_business_days(base, when.business_days)
    return base + timedelta(days=when.days)


def _local(ctx: Context, day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=ctx.tz).astimezone(UTC)


def planned(ctx: Context, index: int) -> datetime:
    """The undelayed moment of step `index` (each `previous` anchor on the undelayed previous)."""
    return _planned_all(ctx)[index]


def _calendar_key(ctx: Context) -> tuple[object, ...]:
    """What a claim's planned moments depend on: its policy (by identity: the caches below hold
    the policy, so its id cannot be reused), pack, calendar, zone and dates — not the claim, so
    the thousands of claims due on one day share one plan."""
    claim = ctx.claim
    return (id(ctx.policy), ctx.pack.code, ctx.holiday_country, claim.time_zone, claim.due_date, claim.final_due_date)


def _planned_all(ctx: Context) -> tuple[datetime, ...]:
    key = _calendar_key(ctx)
    hit = _PLANS.get(key)
    if hit is None:
        if len(_PLANS) > 50_000:
            _PLANS.clear()
        hit = _PLANS[key] = (_plan_steps(ctx), ctx.policy)  # holding the policy pins its id
    return hit[0]


_PLANS: dict[tuple[object, ...], tuple[tuple[datetime, ...], Policy]] = {}


def _plan_steps(ctx: Context) -> tuple[datetime, ...]:
    out: list[datetime] = []
    for step in ctx.policy.steps:
        when = step.when
        if when.after == "previous" and out:
            prev = out[-1]
            if when.hours and not when.days and not when.business_days:
                out.append(prev + timedelta(hours=when.hours))
                continue
            base = prev.astimezone(ctx.tz).date()
        else:
            base = effective_due(
                ctx, ctx.claim.final_due_date if when.after == "final_due_date" else ctx.claim.due_date
            )
        day = _offset(ctx, base, step)
        out.append(_local(ctx, day, when.at) + timedelta(hours=when.hours))
    return tuple(out)


# -- windows and budget ----------------------------------------------------------------------


def step_windows(ctx: Context, step: Step) -> tuple[Channel, ...]:
    """Channels whose windows bind a step. A creditor notice needs the creditor's business day;
    a handover is internal and fires exactly on time."""
    if step.kind == "creditor_notice":
        return (Channel.LETTER,)
    if step.kind == "handover":
        return ()
    return step.channels


def business_only(ctx: Context, step: Step) -> bool:
    """A notice kind that goes out on business days only (a legal notice: not on a Sunday, a
    holiday or a half day)."""
    kind = notice_of(ctx, step)
    return kind is not None and kind.business_days_only


def in_window(ctx: Context, channels: tuple[Channel, ...], moment: datetime, business_days_only: bool = False) -> bool:
    return law_windows.in_window(ctx.pack, ctx.cal, channels, moment, ctx.tz, business_days_only)


def next_window(
    ctx: Context,
    channels: tuple[Channel, ...],
    moment: datetime,
    prefer: time | None = None,
    business_days_only: bool = False,
) -> datetime:
    """The earliest moment at or after `moment` inside the windows of every channel (krafa_law:
    the same rule the notifier holds its sends to)."""
    return law_windows.next_window(ctx.pack, ctx.cal, channels, moment, ctx.tz, prefer, business_days_only)


def budget_free_at(policy: Policy, contacts: list[Contact], channel: Channel, moment: datetime) -> datetime:
    """The earliest moment ≥ `moment` at which one more contact on `channel` keeps every rule of
    the debtor's budget (at most `max` contacts in any `days`-long window)."""
    if not contacts:
        return moment
    # Fewer contacts in all than any rule allows: nothing can be over budget (the common case).
    if all(
        rule.max > (len(contacts) if rule.channel is None else sum(1 for c in contacts if c.channel == rule.channel))
        for rule in policy.contact_budget
        if rule.channel is None or rule.channel == channel
    ):
        return moment
    while True:
        later = moment
        for rule in policy.contact_budget:
            if rule.channel is not None and rule.channel != channel:
                continue
            span = timedelta(days=rule.days)
            inside = sorted(
                c.at
                for c in contacts
                if moment - span < c.at <= moment + span and (rule.channel is None or c.channel == rule.channel)
            )
            before = [at for at in inside if at <= moment]
            if len(before) >= rule.max:
                later = max(later, before[len(before) - rule.max] + span)
        if later == moment:
            return moment
        moment = later


def usable_channels(
    ctx: Context, step: Step, contacts: list[Contact], moment: datetime
) -> tuple[tuple[Channel, ...], datetime]:
    """The step's channels that the budget allows at `moment`, or (empty, the next moment worth
    trying). A channel over its own budget drops out and the next one in order carries the step."""
    allowed = tuple(ch for ch in step.channels if budget_free_at(ctx.policy, contacts, ch, moment) == moment)
    if allowed:
        return allowed, moment
    return (), min(budget_free_at(ctx.policy, contacts, ch, moment) for ch in step.channels)


def schedule(
    ctx: Context, step: Step, earliest: datetime, contacts: list[Contact]
) -> tuple[datetime, tuple[Channel, ...]]:
    """Windows and budget together: the first moment both allow, and the channels usable then."""
    business = business_only(ctx, step)
    moment = next_window(ctx, step_windows(ctx, step), earliest, step.when.at, business)
    if step.kind not in CONTACT_KINDS:
        return moment, step.channels
    for _ in range(100):
        moment = next_window(ctx, step_windows(ctx, step), moment, step.when.at, business)
        channels, later = usable_channels(ctx, step, contacts, moment)
        if channels:
            # The surviving channels may have narrower windows than the full list.
            if in_window(ctx, channels, moment, business):
                return moment, channels
            later = next_window(ctx, channels, moment, step.when.at, business)
        moment = later if later > moment else moment + timedelta(minutes=1)
    return moment, step.channels


# -- planning --------------------------------------------------------------------------------


def notice_of(ctx: Context, step: Step) -> NoticeKind | None:
    return ctx.pack.notice(step.notice) if step.notice else None


def pay_days(ctx: Context, step: Step) -> int | None:
    """Days to pay from the send: the step's own, else its notice kind's legal minimum."""
    kind = notice_of(ctx, step)
    return step.pay_within_days or (kind.min_days_to_pay if kind is not None else None) or None


def step_for(ctx: Context, cursor: Cursor, index: int) -> Step:
    """Step `index` as it will go out next (claim watch: its coming round's contact)."""
    step = ctx.policy.steps[index]
    if step.kind == "claim_watch" and index == cursor.index:
        return step.watch_round(cursor.watch_round + 1)
    return step.watch_round(1) if step.kind == "claim_watch" else step


def gate_day(ctx: Context, cursor: Cursor, *, assume_sent: bool = True) -> date | None:
    """The first day a step after the last notice may happen: `min_gap_days` after the day the
    notice was sent, and never before its pay-by date has passed (the pay-by it stated, and the
    one its days give from the actual send). None: no notice holds anything back — or, without
    `assume_sent`, none until the notifier has reported the notice sent."""
    if cursor.notice_step is None or cursor.notice_due_at is None:
        return None
    sent = cursor.notice_sent_at
    if sent is None:
        if not assume_sent:
            return None
        sent = cursor.notice_due_at
    step = ctx.policy.steps[cursor.notice_step]
    kind = notice_of(ctx, step)
    sent_day = sent.astimezone(ctx.tz).date()
    day = sent_day + timedelta(days=kind.min_gap_days if kind is not None else 0)
    days = pay_days(ctx, step)
    if days:
        day = max(day, ctx.cal.deadline(sent_day, days) + timedelta(days=1))
    if cursor.notice_pay_by is not None:
        day = max(day, cursor.notice_pay_by + timedelta(days=1))
    return day


def gated(ctx: Context, cursor: Cursor, index: int) -> bool:
    """Whether the last notice holds step `index` back: every later step but the creditor's own
    notice (it tells the creditor, not the debtor, and its 24 hours count toward the handover)."""
    return (
        cursor.notice_step is not None
        and index > cursor.notice_step
        and ctx.policy.steps[index].kind != "creditor_notice"
    )


def earliest_for(ctx: Context, cursor: Cursor, index: int) -> datetime:
    """Step `index` before windows and budget: a step anchored on the previous one counts from
    when that step really fired; the others keep their planned day, moved by any pause; and none
    comes before the last notice's gap has run (counted from its send, or its planned send while
    the notifier has not reported it)."""
    step = ctx.policy.steps[index]
    when = step.when
    if when.after == "previous" and cursor.last_fired_at is not None and index > 0:
        if when.hours and not when.days and not when.business_days:
            earliest = cursor.last_fired_at + timedelta(hours=when.hours)
        else:
            base = cursor.last_fired_at.astimezone(ctx.tz).date()
            earliest = _local(ctx, _offset(ctx, base, step), when.at) + timedelta(hours=when.hours)
    else:
        earliest = _planned_all(ctx)[index] + timedelta(seconds=cursor.shift_s)
    if gated(ctx, cursor, index):
        day = gate_day(ctx, cursor)
        if day is not None:
            earliest = max(earliest, _local(ctx, day, when.at))
    return earliest


def plan_next(
    ctx: Context, cursor: Cursor, not_before: datetime, contacts: list[Contact], *, resume: bool = False
) -> Next | None:
    """The next step to fire, at or after `not_before`; None when the timeline is complete.
    On `resume` (a re-plan after a pause, a deferral, a claim posted late) the rest of the
    timeline shifts by the lateness, so the policy's spacing — and every payment deadline it
    implies — survives; a step merely held back by a window or the budget shifts nothing.

    Pure in the calendar key, the cursor's position, the moment and the debtor's contacts (never
    the amount, payments or fees), so it is memoised on exactly those: a sweep batch plans each
    distinct (policy, pack, zone, dates, step, contacts) once, however many claims share it."""
    key = (
        _calendar_key(ctx),
        cursor.index,
        cursor.last_fired_at,
        cursor.watch_round,
        cursor.shift_s,
        cursor.notice_step,
        cursor.notice_due_at,
        cursor.notice_sent_at,
        cursor.notice_pay_by,
        not_before,
        resume,
        tuple(contacts),
    )
    hit = _NEXT.get(key)
    if hit is None:
        if len(_NEXT) > 50_000:
            _NEXT.clear()
        # Holding the policy pins its id, which the key names.
        hit = _NEXT[key] = (_plan_next(ctx, cursor, not_before, contacts, resume=resume), ctx.policy)
    return hit[0]


_NEXT: dict[tuple[object, ...], tuple[Next | None, Policy]] = {}


def _plan_next(
    ctx: Context, cursor: Cursor, not_before: datetime, contacts: list[Contact], *, resume: bool
) -> Next | None:
    steps = ctx.policy.steps
    index = cursor.index
    if index >= len(steps):
        return None
    step = steps[index]
    if step.kind == "claim_watch" and cursor.watch_round > 0 and cursor.last_fired_at is not None:
        coming = step_for(ctx, cursor, index)
        interval = step.cadence[cursor.watch_round % len(step.cadence)].days if step.cadence else step.interval_days
        day = cursor.last_fired_at.astimezone(ctx.tz).date() + timedelta(days=interval)
        earliest = max(_local(ctx, day, step.when.at), not_before)
        at, channels = schedule(ctx, coming, earliest, contacts)
        return Next(index, at, channels, cursor.shift_s)
    # A skippable step is obsolete when the step after it is already due.
    while steps[index].skippable and index + 1 < len(steps) and earliest_for(ctx, cursor, index + 1) <= not_before:
        index += 1
    planned_at = earliest_for(ctx, cursor, index)
    at, channels = schedule(ctx, step_for(ctx, cursor, index), max(planned_at, not_before), contacts)
    shift = cursor.shift_s
    if resume and planned_at < not_before and steps[index].when.after != "previous":
        # Late by the pause and by the window it then waited for: the rest moves as much.
        shift += int((at - planned_at).total_seconds())
    awaiting = gated(ctx, cursor, index) and cursor.notice_sent_at is None
    return Next(index, at, channels, shift, awaiting_send=awaiting)


# -- money -----------------------------------------------------------------------------------


def outstanding(claim: Claim, day: date) -> int:
    return max(claim.amount_minor - sum(amount for paid_on, amount in claim.payments if paid_on <= day), 0)


def interest_minor(ctx: Context, on: date) -> int:
    """Late interest accrued up to and including `on`: each day after the interest start, the
    outstanding principal at that day's rate (Actual/365), rounded once at the end. Summed per
    run of days with one rate and one principal (they change only on a rate's valid_from or a
    payment's date), exactly: the sum of principal x rate x days is divided once."""
    claim = ctx.claim
    first = interest_start(ctx)
    if on < first:
        return 0
    runs = law_rates.runs(ctx.pack, first, on)
    rate_days = sum((rate * (end - begin).days for begin, end, rate in runs), Decimal(0))
    if not any(paid_on <= on for paid_on, _ in claim.payments):
        numerator = max(claim.amount_minor, 0) * rate_days  # one principal throughout
    else:
        numerator = Decimal(0)
        for begin, end, rate in runs:
            cuts = sorted({paid_on for paid_on, _ in claim.payments if begin < paid_on < end})
            for b, e in zip([begin, *cuts], [*cuts, end], strict=True):
                numerator += outstanding(claim, b) * rate * (e - b).days
    return int((numerator / Decimal(36500)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def interest_start(ctx: Context) -> date:
    """The first day late interest accrues: the day after the (final) due date, moved off a
    non-business day where the jurisdiction says so."""
    claim = ctx.claim
    start = effective_due(ctx, claim.final_due_date if ctx.pack.interest_from == "final_due_date" else claim.due_date)
    return start + timedelta(days=1)


def interest_rate(ctx: Context, on: date) -> Decimal | None:
    """The annual late-interest rate in percent in force on `on` (what a message says was applied)."""
    rate = law_rates.rate_on(ctx.pack, on)
    return rate if rate else None


def late_interest_charge(accrued_minor: int, booked_minor: int) -> int:
    """What to book now: the interest accrued beyond what the claim was already charged. Never
    negative — a backdated payment that lowers the accrual books nothing, and the next step books
    only once the accrual passes what is on the ledger again."""
    return max(accrued_minor - booked_minor, 0)


def fee_cap(ctx: Context, rule_name: str, on: date) -> int | None:
    """What the jurisdiction allows for this rule on this day; None: the rule forbids it now."""
    rule = ctx.pack.fees.get(rule_name)
    if rule is None:
        return None
    if rule.bands:
        principal = outstanding(ctx.claim, on)
        for band in rule.bands:
            if band.up_to_minor is None or principal <= band.up_to_minor:
                return band.amount_minor
        return None
    if rule.fraction_of is not None:
        base = dated_value(ctx.pack.tables.get(rule.fraction_of, ()), on)
        return None if base is None else int(base * rule.fraction)
    value = dated_value(rule.amount_minor, on)
    return None if value is None else int(value)


def cap_allows(ctx: Context, rule_name: str, booked: tuple[tuple[str, int, str], ...], amount: int) -> int:
    """How much of `amount` the pack's per-claim caps still allow for one more fee of
    `rule_name`, given the fees the claim already carries (0: none)."""
    for cap in ctx.pack.fee_caps.values():
        if rule_name not in cap.rules:
            continue
        same = [a for _, a, r in booked if r in cap.rules]
        if cap.max_count is not None and len(same) >= cap.max_count:
            return 0
        if cap.max_total_minor is not None:
            amount = min(amount, max(cap.max_total_minor - sum(same), 0))
    return amount


def fees_for(ctx: Context, step: Step, cursor: Cursor, at: datetime) -> tuple[tuple[str, int, str], ...]:
    """The fees a step charges now as (kind, amount, rule): only a notice whose kind allows the
    fee's rule books it, each within its legal amount and the claim's caps, none before it is
    allowed."""
    kind = notice_of(ctx, step)
    if kind is None:
        return ()
    day = at.astimezone(ctx.tz).date()
    charged: list[tuple[str, int, str]] = []
    for fee in step.fees:
        if fee.rule is None or fee.rule not in kind.fee_rules:
            continue
        rule = ctx.pack.fees.get(fee.rule)
        if rule is None:
            continue
        if rule.debtor_kinds and ctx.claim.debtor_kind not in rule.debtor_kinds:
            continue
        if day < effective_due(ctx, ctx.claim.due_date) + timedelta(days=rule.min_days_after_due):
            continue
        if cursor.free_reminders < rule.after_free_reminders:
            continue
        if rule.min_pay_within_days and (pay_days(ctx, step) or 0) < rule.min_pay_within_days:
            continue
        cap = fee_cap(ctx, fee.rule, day)
        if cap is None:
            continue
        wanted = cap if fee.amount_minor is None else min(fee.amount_minor, cap)
        amount = cap_allows(ctx, fee.rule, cursor.fees + tuple(charged), wanted)
        if amount:
            charged.append((fee.kind, amount, fee.rule))
    return tuple(charged)


def conditions_met(ctx: Context, step: Step, contacts: list[Contact], at: datetime) -> bool:
    cond = step.conditions
    if outstanding(ctx.claim, at.astimezone(ctx.tz).date()) < cond.min_amount_minor:
        return False
    if cond.customer_classes and ctx.claim.customer_class not in cond.customer_classes:
        return False
    if cond.debtor_kinds and ctx.claim.debtor_kind not in cond.debtor_kinds:
        return False
    if cond.no_contact_days:
        since = at - timedelta(days=cond.no_contact_days)
        if any(since < c.at <= at for c in contacts):
            return False
    return True


def fire(ctx: Context, cursor: Cursor, nxt: Next, contacts: list[Contact]) -> Fired:
    """Fire step `nxt.index` at `nxt.at`; the cursor moves past it (claim watch stays put). A
    notice that gives days to pay, or whose kind keeps a gap, now holds the steps after it; its
    send is unknown until the notifier reports it (`sent` records it)."""
    step = step_for(ctx, cursor, nxt.index)
    if not conditions_met(ctx, step, contacts, nxt.at):
        after = replace(cursor, index=nxt.index + 1, shift_s=nxt.shift_s)
        return Fired(ctx.claim, nxt.index, step, nxt.at, (), (), 0, None, 0, after, skipped=True)
    kind = notice_of(ctx, step)
    booked = fees_for(ctx, step, cursor, nxt.at)
    fees = tuple((fee_kind, amount) for fee_kind, amount, _ in booked)
    day = nxt.at.astimezone(ctx.tz).date()
    days = pay_days(ctx, step)
    pay_by = ctx.cal.deadline(day, days) if days else None
    watch = step.kind == "claim_watch"
    accrued = interest_minor(ctx, day)
    charge = late_interest_charge(accrued, cursor.interest_booked_minor)
    holds = kind is not None and (pay_by is not None or kind.min_gap_days > 0)
    after = Cursor(
        index=nxt.index if watch else nxt.index + 1,
        last_fired_at=nxt.at,
        watch_round=cursor.watch_round + 1 if watch else 0,
        fees=cursor.fees + booked,
        free_reminders=cursor.free_reminders + (1 if step.kind == "reminder" and not fees else 0),
        shift_s=nxt.shift_s,
        interest_booked_minor=cursor.interest_booked_minor + charge,
        notice_step=nxt.index if holds else cursor.notice_step,
        notice_due_at=nxt.at if holds else cursor.notice_due_at,
        notice_sent_at=None if holds else cursor.notice_sent_at,
        notice_pay_by=pay_by if holds else cursor.notice_pay_by,
    )
    return Fired(
        ctx.claim,
        nxt.index,
        step,
        nxt.at,
        nxt.channels,
        fees,
        accrued,
        pay_by,
        after.watch_round,
        after,
        interest_charge_minor=charge,
        notice=kind,
        interest_rate_pct=law_rates.rate_on(ctx.pack, day),
    )


def sent(cursor: Cursor, step_index: int, sent_at: datetime) -> Cursor:
    """The notifier reported a delivery of step `step_index` sent at `sent_at`: when it is the
    notice holding the next steps, its gap now counts from the latest such send (a letter after a
    bounced email restarts it). Anything else changes nothing."""
    if cursor.notice_step != step_index:
        return cursor
    if cursor.notice_sent_at is not None and cursor.notice_sent_at >= sent_at:
        return cursor
    return replace(cursor, notice_sent_at=sent_at)


@dataclass(frozen=True, slots=True)
class Planned:
    """One line of the dry run: a step as it would go out if nothing else happens."""

    step: int
    name: str
    kind: str
    at: datetime
    local_at: datetime
    channels: tuple[Channel, ...]
    deliveries: tuple[tuple[Channel, ...], ...]  # each delivery: its channel, then its fallbacks
    template: str
    tone: str
    notice: str | None
    notice_name: str | None
    stage: str | None
    fees: tuple[tuple[str, int], ...]
    interest_minor: int  # late interest accrued up to the step's day
    interest_rate_pct: Decimal
    pay_by: date | None
    total_minor: int  # what the debtor is told: principal outstanding + every fee and interest booked
    gap_days: int | None  # days since the previous contact with the debtor
    watch_round: int = 0
    rate_published: bool = True  # False: past the table's last published row (carried forward)
    extra: dict[str, object] = field(default_factory=dict)

    def as_json(self, currency: str) -> dict[str, Any]:
        """The line as the dry-run endpoints and `krafa plan --json` show it."""
        return {
            "step": self.step,
            "name": self.name,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "local_time": self.local_at.isoformat(),
            "notice_kind": self.notice,
            "notice_name": self.notice_name,
            "stage": self.stage,
            "channels": [c.value for c in self.channels],
            "deliveries": [[c.value for c in chain] for chain in self.deliveries],
            "template": self.template,
            "tone": self.tone,
            "fees": [{"kind": k, "amount_minor": a} for k, a in self.fees],
            "interest_minor": self.interest_minor,
            "interest_rate_pct": f"{self.interest_rate_pct:.2f}",
            "interest_rate_published": self.rate_published,
            "pay_by": self.pay_by.isoformat() if self.pay_by else None,
            "total_minor": self.total_minor,
            "gap_days": self.gap_days,
            "watch_round": self.watch_round,
            "currency": currency,
        }


def dry_run(
    ctx: Context,
    cursor: Cursor,
    now: datetime,
    contacts: list[Contact],
    *,
    limit: int = 20,
    watch_rounds: int = 2,
    pays_on: date | None = None,
) -> list[Planned]:
    """What the debtor (and creditor) will receive next and when, if nothing else happens: the
    sweep's own rules, each notice assumed sent the moment it falls due. With `pays_on`, the
    claim is paid that day and nothing falls due from then on. `krafa plan` and the scheduler's
    dry runs are this function."""
    out: list[Planned] = []
    contacts = list(contacts)
    moment = now
    last_contact: date | None = cursor.last_fired_at.astimezone(ctx.tz).date() if cursor.last_fired_at else None
    language = ctx.pack.language
    while len(out) < limit:
        nxt = plan_next(ctx, cursor, moment, contacts)
        if nxt is None:
            break
        local = nxt.at.astimezone(ctx.tz)
        if pays_on is not None and local.date() >= pays_on:
            break
        fired = fire(ctx, cursor, nxt, contacts)
        cursor, moment = fired.cursor, nxt.at
        if cursor.notice_step == nxt.index and cursor.notice_sent_at is None:
            cursor = sent(cursor, nxt.index, nxt.at)  # the notice goes out when it falls due
        if fired.skipped:
            continue
        contact = fired.step.kind in CONTACT_KINDS and bool(fired.channels)
        if contact:
            contacts.append(Contact(fired.channels[0], nxt.at))
        booked = sum(amount for _, amount, _ in cursor.fees)
        out.append(
            Planned(
                step=nxt.index + 1,
                name=fired.step.name,
                kind=fired.step.kind,
                at=nxt.at,
                local_at=local,
                channels=fired.channels,
                deliveries=tuple(fired.step.chain(c) for c in fired.channels),
                template=fired.step.template,
                tone=fired.step.tone,
                notice=fired.step.notice,
                notice_name=fired.notice.label(language) if fired.notice else None,
                stage=fired.notice.stage if fired.notice else None,
                fees=fired.fees,
                interest_minor=fired.interest_minor,
                interest_rate_pct=fired.interest_rate_pct,
                pay_by=fired.pay_by,
                total_minor=outstanding(ctx.claim, local.date()) + booked + cursor.interest_booked_minor,
                gap_days=(local.date() - last_contact).days if contact and last_contact else None,
                watch_round=fired.watch_round,
                rate_published=law_rates.published(ctx.pack, local.date()),
            )
        )
        if contact:
            last_contact = local.date()
        if fired.step.kind == "claim_watch" and fired.watch_round >= watch_rounds:
            break
    return out


def hypothetical(
    pack: Jurisdiction,
    pol: Policy,
    *,
    amount_minor: int,
    currency: str,
    due: date,
    final_due: date | None = None,
    customer_class: str = "regular",
    debtor_kind: str = "person",
    time_zone: str | None = None,
) -> Context:
    """A claim that does not exist, to preview a policy on (`krafa plan`, the plan endpoint)."""
    claim = Claim(
        claim_id=uuid.uuid5(NOTICE_NAMESPACE, "hypothetical"),
        creditor_id=uuid.UUID(int=0),
        debtor_id=uuid.UUID(int=0),
        currency=currency,
        amount_minor=amount_minor,
        due_date=due,
        final_due_date=final_due or due,
        jurisdiction=pack.code,
        time_zone=time_zone or pack.time_zone,
        debtor_country="" if pack.code == "EU" else pack.code,
        debtor_kind=debtor_kind,
        customer_class=customer_class,
    )
    return Context(claim, pol, pack)


def preview(ctx: Context, *, pays_on: date | None = None, watch_rounds: int = 2, limit: int = 40) -> list[Planned]:
    """The whole timeline of a claim that does not exist yet, from the day before it falls due:
    `krafa plan` and the scheduler's plan endpoint."""
    start = datetime.combine(ctx.claim.due_date - timedelta(days=1), time(0), tzinfo=ctx.tz).astimezone(UTC)
    return dry_run(ctx, Cursor(), start, [], limit=limit, watch_rounds=watch_rounds, pays_on=pays_on)


# -- identities ------------------------------------------------------------------------------


def reminder_id(claim_ids: uuid.UUID | tuple[uuid.UUID, ...], step: int, watch_round: int = 0) -> uuid.UUID:
    # Stable per (claims, step): a redelivered or re-swept step keeps its identity, and the
    # notifier's unique delivery key turns a second ReminderDue into nothing.
    ids = (claim_ids,) if isinstance(claim_ids, uuid.UUID) else tuple(sorted(claim_ids))
    name = f"{','.join(str(i) for i in ids)}:{step}" + (f":{watch_round}" if watch_round > 1 else "")
    return uuid.uuid5(REMINDER_NAMESPACE, name)


def fee_id(claim_id: uuid.UUID, step: int, kind: str, watch_round: int = 0) -> uuid.UUID:
    return uuid.uuid5(FEE_NAMESPACE, f"{claim_id}:{step}:{kind}" + (f":{watch_round}" if watch_round > 1 else ""))


def late_interest_fee_id(claim_id: uuid.UUID, step: int, watch_round: int = 0) -> uuid.UUID:
    # The id agreed with claims-api, which books it idempotently: "{claim}:late_interest:{step}".
    # Claim watch fires one step number again and again; like every other fee, its later rounds
    # get their own id, or claims-api would take each round's interest for a replay of the first.
    name = f"{claim_id}:late_interest:{step}" + (f":{watch_round}" if watch_round > 1 else "")
    return uuid.uuid5(FEE_NAMESPACE, name)


def notice_id(claim_id: uuid.UUID, step: int) -> uuid.UUID:
    return uuid.uuid5(NOTICE_NAMESPACE, f"{claim_id}:{step}")
