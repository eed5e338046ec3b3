"""Properties of the pure planning logic over random claims, payments, pauses, calendars and send
delays: a debtor's claims are walked through `plan_next`/`fire` the way the sweep does, each
contact reported sent some hours after it fell due (as ReminderSent does), and every send, fee,
gap and contact is checked against the law and the policy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from krafa_events import Channel
from krafa_scheduler import domain, policy

ZONES = ["Atlantic/Reykjavik", "Europe/Oslo", "Europe/Tallinn", "America/New_York", "Asia/Tokyo"]
WEEKDAY_ONLY = {Channel.SMS, Channel.CALL}


@dataclass
class Track:
    ctx: domain.Context
    cursor: domain.Cursor = field(default_factory=domain.Cursor)
    next_at: datetime | None = None
    paused_until: datetime | None = None  # a dispute: nothing fires inside it
    pause_from: datetime | None = None
    stopped_at: datetime | None = None
    fired: list[domain.Fired] = field(default_factory=list)
    sent: dict[int, datetime] = field(default_factory=dict)  # id(fired) -> when it was sent


claims_strategy = st.fixed_dictionaries(
    {
        "jurisdiction": st.sampled_from(["IS", "NO", "EE", "DE"]),
        "zone": st.sampled_from(ZONES),
        "kind": st.sampled_from(["person", "company"]),
        "due": st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 6, 30)),
        "amounts": st.lists(st.integers(min_value=100, max_value=10_000_000), min_size=1, max_size=3),
        "gaps": st.lists(st.integers(min_value=0, max_value=20), min_size=3, max_size=3),
        "payment": st.none() | st.tuples(st.integers(0, 80), st.integers(1, 100)),
        "dispute": st.none() | st.tuples(st.integers(0, 60), st.integers(1, 60)),
        "stop_day": st.none() | st.integers(0, 120),
        # How long after it fell due each contact was reported sent (an outage, a print run).
        "send_delays_h": st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=8),
    }
)


def simulate(spec: dict[str, object]) -> list[Track]:
    jurisdiction = str(spec["jurisdiction"])
    due0: date = spec["due"]  # type: ignore[assignment]
    amounts: list[int] = spec["amounts"]  # type: ignore[assignment]
    gaps: list[int] = spec["gaps"]  # type: ignore[assignment]
    creditor, debtor = uuid.uuid4(), uuid.uuid4()
    pol = policy.default_policy(jurisdiction)
    pack = policy.jurisdiction(pol.jurisdiction)
    tracks: list[Track] = []
    for i, amount in enumerate(amounts):
        due = due0 + timedelta(days=gaps[i])
        payments: tuple[tuple[date, int], ...] = ()
        payment = spec["payment"]
        if isinstance(payment, tuple):
            payments = ((due + timedelta(days=payment[0]), amount * payment[1] // 200),)
        claim = domain.Claim(
            uuid.uuid4(), creditor, debtor, "EUR", amount, due, due + timedelta(days=10 if jurisdiction == "IS" else 0),
            jurisdiction, str(spec["zone"]), jurisdiction, str(spec["kind"]), "regular", payments,
        )  # fmt: skip
        track = Track(domain.Context(claim, pol, pack))
        dispute = spec["dispute"]
        if isinstance(dispute, tuple):
            start = datetime.combine(due + timedelta(days=dispute[0]), datetime.min.time(), UTC)
            track.pause_from, track.paused_until = start, start + timedelta(days=dispute[1])
        if spec["stop_day"] is not None:
            track.stopped_at = datetime.combine(due + timedelta(days=int(spec["stop_day"])), datetime.min.time(), UTC)  # type: ignore[call-overload]
        tracks.append(track)

    contacts: list[domain.Contact] = []
    created = datetime.combine(due0 - timedelta(days=5), datetime.min.time(), UTC)
    for t in tracks:
        nxt = domain.plan_next(t.ctx, t.cursor, created, contacts, resume=True)
        t.next_at = nxt.at if nxt else None
    for _ in range(400):
        live = [t for t in tracks if t.next_at is not None]
        if not live:
            break
        now = min(t.next_at for t in live if t.next_at is not None)
        for t in live:
            if t.next_at is None or t.next_at > now:
                continue
            if t.stopped_at is not None and now >= t.stopped_at:
                t.next_at = None  # paid or cancelled: the handler stops the timeline
                continue
            if t.pause_from is not None and t.paused_until is not None and t.pause_from <= now < t.paused_until:
                # Disputed: nothing fires; the resolution re-plans from its own moment.
                nxt = domain.plan_next(t.ctx, t.cursor, t.paused_until, contacts, resume=True)
                assert nxt is None or nxt.at >= t.paused_until
                t.next_at = nxt.at if nxt else None
                continue
            nxt = domain.plan_next(t.ctx, t.cursor, now, contacts)
            if nxt is None:
                t.next_at = None
                continue
            if nxt.at > now:
                t.next_at = nxt.at
                continue
            assert not nxt.awaiting_send, "a step held by a notice not yet sent fired"
            fired = domain.fire(t.ctx, t.cursor, nxt, contacts)
            t.cursor = fired.cursor
            if not fired.skipped:
                t.fired.append(fired)
                if fired.step.kind in domain.CONTACT_KINDS:
                    contacts.append(domain.Contact(fired.channels[0], now))
                    delays: list[int] = spec["send_delays_h"]  # type: ignore[assignment]
                    sent_at = now + timedelta(hours=delays[len(t.sent) % len(delays)])
                    t.sent[id(fired)] = sent_at
                    t.cursor = domain.sent(t.cursor, fired.index, sent_at)  # ReminderSent
            after = domain.plan_next(t.ctx, t.cursor, now, contacts)
            t.next_at = after.at if after else None
            if fired.step.kind == "claim_watch" and fired.watch_round >= 3:
                t.next_at = None
    return tracks


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims_strategy)
def test_fees_sends_and_contacts_keep_the_law_and_the_budget(spec: dict[str, object]) -> None:
    tracks = simulate(spec)
    pol = tracks[0].ctx.policy
    contacts: list[tuple[datetime, Channel]] = []
    for t in tracks:
        ctx = t.ctx
        claim = ctx.claim
        per_kind: dict[str, int] = {}
        holding: tuple[domain.Fired, datetime] | None = None
        for f in t.fired:
            local = f.at.astimezone(ctx.tz)
            # No step while stopped or disputed.
            assert t.stopped_at is None or f.at < t.stopped_at
            if t.pause_from is not None and t.paused_until is not None:
                assert not (t.pause_from <= f.at < t.paused_until)
            if f.step.kind in domain.CONTACT_KINDS:
                contacts.append((f.at, f.channels[0]))
                # Inside the window of every channel it may use; SMS and calls never on a
                # Sunday or a public holiday.
                assert domain.in_window(ctx, f.channels, f.at), (f.step.name, local)
                if WEEKDAY_ONLY & set(f.channels):
                    assert local.weekday() != 6 and not ctx.cal.is_holiday(local.date())
            for kind, amount in f.fees:
                rule_name = next(fee.rule for fee in f.step.fees if fee.kind == kind)
                assert rule_name is not None
                rule = ctx.pack.fees[rule_name]
                cap = domain.fee_cap(ctx, rule_name, local.date())
                assert cap is not None and 0 < amount <= cap
                assert local.date() >= domain.effective_due(ctx, claim.due_date) + timedelta(
                    days=rule.min_days_after_due
                )
                assert not rule.debtor_kinds or claim.debtor_kind in rule.debtor_kinds
                if rule.min_pay_within_days:
                    assert f.pay_by is not None and (f.pay_by - local.date()).days >= rule.min_pay_within_days
                per_kind[rule_name] = per_kind.get(rule_name, 0) + 1
                for cap_rule in ctx.pack.fee_caps.values():
                    if rule_name in cap_rule.rules and cap_rule.max_count is not None:
                        assert sum(per_kind.get(r, 0) for r in cap_rule.rules) <= cap_rule.max_count
            # No step after a notice earlier than its gap counted from when it was actually sent,
            # nor before its pay-by date (as stated, and as counted from the send) has passed.
            if f.step.kind != "creditor_notice" and holding is not None:
                notice, sent_at = holding
                kind = ctx.pack.notice(notice.step.notice or "")
                sent_day = sent_at.astimezone(ctx.tz).date()
                assert local.date() >= sent_day + timedelta(days=kind.min_gap_days), (f.step.name, notice.step.name)
                assert notice.pay_by is None or local.date() > notice.pay_by, (f.step.name, notice.pay_by)
                days = domain.pay_days(ctx, notice.step)
                assert not days or local.date() > ctx.cal.deadline(sent_day, days), (f.step.name, sent_day)
            if f.notice is not None and (f.pay_by is not None or f.notice.min_gap_days):
                holding = (f, t.sent[id(f)])
            if f.pay_by is not None:
                # A pay-by date is a business day, at least the notice's days after the step.
                assert ctx.cal.is_business_day(f.pay_by), f.pay_by
                assert (f.pay_by - local.date()).days >= (f.notice.min_days_to_pay if f.notice else 0)
        # Steps fire in policy order, each at most once (claim watch repeats by design).
        indexes = [f.index for f in t.fired if f.step.kind != "claim_watch"]
        assert indexes == sorted(set(indexes))
    contacts.sort()
    for budget in pol.contact_budget:
        times = [at for at, ch in contacts if budget.channel is None or ch == budget.channel]
        for i, at in enumerate(times):
            inside = [x for x in times[i:] if x < at + timedelta(days=budget.days)]
            assert len(inside) <= budget.max, (budget, inside)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["IS", "NO", "EE", "DE"]),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    st.integers(1, 200),
)
def test_a_resumed_timeline_never_fires_an_obsolete_or_past_step(jurisdiction: str, due: date, pause_days: int) -> None:
    claim = domain.Claim(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "EUR", 50_000, due, due, jurisdiction, "UTC")
    ctx = domain.Context(claim, policy.default_policy(jurisdiction), policy.jurisdiction(jurisdiction))
    resumed = datetime.combine(due + timedelta(days=pause_days), datetime.min.time(), UTC)
    nxt = domain.plan_next(ctx, domain.Cursor(), resumed, [], resume=True)
    if nxt is None:
        return
    assert nxt.at >= resumed
    skipped = ctx.policy.steps[: nxt.index]
    # Only skippable (friendly) steps may be passed over, and only when their successor was due.
    assert all(s.skippable for s in skipped)
    # The policy's spacing survives: the step after this one keeps its planned gap.
    fired = domain.fire(ctx, domain.Cursor(), nxt, [])
    after = domain.plan_next(ctx, fired.cursor, nxt.at, [])
    if after is not None and ctx.policy.steps[after.index].when.after != "previous":
        gap = domain.planned(ctx, after.index) - domain.planned(ctx, nxt.index)
        assert after.at - nxt.at >= gap - timedelta(hours=1)  # a DST change moves local 09:00


def test_interest_follows_the_rate_in_force_each_day() -> None:
    # Norway: 12.5 % until 30 June 2025, 12.25 % from 1 July; 100,000 øre over the change.
    claim = domain.Claim(
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        "NOK",
        100_000,
        date(2025, 6, 20),
        date(2025, 6, 20),
        "NO",
        "Europe/Oslo",
    )
    ctx = domain.Context(claim, policy.default_policy("NO"), policy.jurisdiction("NO"))
    expected = 100_000 * (0.125 * 10 + 0.1225 * 10) / 365  # 21 June–30 June, 1–10 July
    assert domain.interest_minor(ctx, date(2025, 7, 10)) == round(expected)
    # A partial payment on 1 July halves the principal from that day on.
    paid = domain.Context(replace(claim, payments=((date(2025, 7, 1), 50_000),)), ctx.policy, ctx.pack)
    expected = (100_000 * 0.125 * 10 + 50_000 * 0.1225 * 10) / 365
    assert domain.interest_minor(paid, date(2025, 7, 10)) == round(expected)


def test_norwegian_reminder_fee_is_a_twentieth_of_the_inkassosats_in_force() -> None:
    claim = domain.Claim(
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        "NOK",
        100_000,
        date(2025, 12, 1),
        date(2025, 12, 1),
        "NO",
        "Europe/Oslo",
    )
    ctx = domain.Context(claim, policy.default_policy("NO"), policy.jurisdiction("NO"))
    assert domain.fee_cap(ctx, "purregebyr", date(2025, 12, 15)) == 3_500  # 700 kr / 20
    assert domain.fee_cap(ctx, "purregebyr", date(2026, 1, 2)) == 3_750  # 750 kr / 20
