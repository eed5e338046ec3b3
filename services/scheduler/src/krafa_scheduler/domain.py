"""The escalation engine's rules, pure (no I/O): when each step of a policy falls due for a
claim, which channels may carry it, which fees it may charge and how much late interest has
accrued. The sweep and the dry run both walk a claim's timeline through `plan_next` and `fire`,
so what `GET /v1/claims/{id}/schedule` shows is what the sweep will do.

Timing rules, in order: the step's planned moment (anchor + offset at the policy's local time);
the policy's spacing from the previous step, kept after a delay (pause, budget, holiday); the
sending windows of every channel the step may use (debtor's time zone, public holidays); the
debtor's contact budget. A skippable step whose successor is already due is obsolete.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import krafa_law
from krafa_events import Channel
from krafa_law import Calendar, Jurisdiction, dated_value
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


def in_window(ctx: Context, channels: tuple[Channel, ...], moment: datetime) -> bool:
    return law_windows.in_window(ctx.pack, ctx.cal, channels, moment, ctx.tz)


def next_window(ctx: Context, channels: tuple[Channel, ...], moment: datetime, prefer: time | None = None) -> datetime:
    """The earliest moment at or after `moment` inside the windows of every channel (krafa_law:
    the same rule the notifier holds its sends to)."""
    return law_windows.next_window(ctx.pack, ctx.cal, channels, moment, ctx.tz, prefer)


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
    moment = next_window(ctx, step_windows(ctx, step), earliest, step.when.at)
    if step.kind not in CONTACT_KINDS:
        return moment, step.channels
    for _ in range(100):
        moment = next_window(ctx, step_windows(ctx, step), moment, step.when.at)
        channels, later = usable_channels(ctx, step, contacts, moment)
        if channels:
            # The surviving channels may have narrower windows than the full list.
            if in_window(ctx, channels, moment):
                return moment, channels
            later = next_window(ctx, channels, moment, step.when.at)
        moment = later if later > moment else moment + timedelta(minutes=1)
    return moment, step.channels


# -- planning --------------------------------------------------------------------------------


def earliest_for(ctx: Context, cursor: Cursor, index: int) -> datetime:
    """Step `index` before windows and budget: a step anchored on the previous one counts from
    when that step really fired; the others keep their planned day, moved by any pause."""
    step = ctx.policy.steps[index]
    when = step.when
    if when.after == "previous" and cursor.last_fired_at is not None and index > 0:
        if when.hours and not when.days and not when.business_days:
            return cursor.last_fired_at + timedelta(hours=when.hours)
        base = cursor.last_fired_at.astimezone(ctx.tz).date()
        day = _offset(ctx, base, step)
        return _local(ctx, day, when.at) + timedelta(hours=when.hours)
    return _planned_all(ctx)[index] + timedelta(seconds=cursor.shift_s)


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
        day = cursor.last_fired_at.astimezone(ctx.tz).date() + timedelta(days=step.interval_days)
        earliest = max(_local(ctx, day, step.when.at), not_before)
        at, channels = schedule(ctx, step, earliest, contacts)
        return Next(index, at, channels, cursor.shift_s)
    # A skippable step is obsolete when the step after it is already due.
    while steps[index].skippable and index + 1 < len(steps) and earliest_for(ctx, cursor, index + 1) <= not_before:
        index += 1
    planned_at = earliest_for(ctx, cursor, index)
    at, channels = schedule(ctx, steps[index], max(planned_at, not_before), contacts)
    shift = cursor.shift_s
    if resume and planned_at < not_before and steps[index].when.after != "previous":
        # Late by the pause and by the window it then waited for: the rest moves as much.
        shift += int((at - planned_at).total_seconds())
    return Next(index, at, channels, shift)


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
    """The fees a step charges now as (kind, amount, rule): each within its legal amount and the
    claim's caps, none before it is allowed."""
    day = at.astimezone(ctx.tz).date()
    charged: list[tuple[str, int, str]] = []
    for fee in step.fees:
        amount = fee.amount_minor
        if fee.rule is not None:
            rule = ctx.pack.fees.get(fee.rule)
            if rule is None:
                continue
            if rule.debtor_kinds and ctx.claim.debtor_kind not in rule.debtor_kinds:
                continue
            if day < effective_due(ctx, ctx.claim.due_date) + timedelta(days=rule.min_days_after_due):
                continue
            if cursor.free_reminders < rule.after_free_reminders:
                continue
            if rule.min_pay_within_days and (step.pay_within_days or 0) < rule.min_pay_within_days:
                continue
            cap = fee_cap(ctx, fee.rule, day)
            if cap is None:
                continue
            amount = cap_allows(
                ctx, fee.rule, cursor.fees + tuple(charged), cap if amount is None else min(amount, cap)
            )
        if amount:
            charged.append((fee.kind, amount, fee.rule or ""))
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
    """Fire step `nxt.index` at `nxt.at`; the cursor moves past it (claim watch stays put)."""
    step = ctx.policy.steps[nxt.index]
    if not conditions_met(ctx, step, contacts, nxt.at):
        after = replace(cursor, index=nxt.index + 1, shift_s=nxt.shift_s)
        return Fired(ctx.claim, nxt.index, step, nxt.at, (), (), 0, None, 0, after, skipped=True)
    booked = fees_for(ctx, step, cursor, nxt.at)
    fees = tuple((kind, amount) for kind, amount, _ in booked)
    day = nxt.at.astimezone(ctx.tz).date()
    pay_by = ctx.cal.deadline(day, step.pay_within_days) if step.pay_within_days else None
    watch = step.kind == "claim_watch"
    accrued = interest_minor(ctx, day)
    charge = late_interest_charge(accrued, cursor.interest_booked_minor)
    after = Cursor(
        index=nxt.index if watch else nxt.index + 1,
        last_fired_at=nxt.at,
        watch_round=cursor.watch_round + 1 if watch else 0,
        fees=cursor.fees + booked,
        free_reminders=cursor.free_reminders + (1 if step.kind == "reminder" and not fees else 0),
        shift_s=nxt.shift_s,
        interest_booked_minor=cursor.interest_booked_minor + charge,
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
    )


@dataclass(frozen=True, slots=True)
class Planned:
    """One line of the dry run."""

    step: int
    name: str
    kind: str
    at: datetime
    channels: tuple[Channel, ...]
    template: str
    tone: str
    fees: tuple[tuple[str, int], ...]
    interest_minor: int
    pay_by: date | None
    extra: dict[str, object] = field(default_factory=dict)


def dry_run(
    ctx: Context, cursor: Cursor, now: datetime, contacts: list[Contact], *, limit: int = 20, watch_rounds: int = 2
) -> list[Planned]:
    """What the debtor (and creditor) will receive next and when, if nothing else happens."""
    out: list[Planned] = []
    contacts = list(contacts)
    moment = now
    while len(out) < limit:
        nxt = plan_next(ctx, cursor, moment, contacts)
        if nxt is None:
            break
        fired = fire(ctx, cursor, nxt, contacts)
        cursor, moment = fired.cursor, nxt.at
        if fired.skipped:
            continue
        if fired.step.kind in CONTACT_KINDS and fired.channels:
            contacts.append(Contact(fired.channels[0], nxt.at))
        out.append(
            Planned(
                nxt.index + 1,
                fired.step.name,
                fired.step.kind,
                nxt.at,
                fired.channels,
                fired.step.template,
                fired.step.tone,
                fired.fees,
                fired.interest_minor,
                fired.pay_by,
            )
        )
        if fired.step.kind == "claim_watch" and fired.watch_round >= watch_rounds:
            break
    return out


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


def afternoon_retry_id(reminder_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(REMINDER_NAMESPACE, f"{reminder_id}:afternoon")
