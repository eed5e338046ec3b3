"""Use cases of the scheduler: plan a timeline, re-plan it on pauses and changes, sweep the steps
that fell due, and show the dry run. The rules are in `domain`; this module loads rows, asks the
domain and writes the outcome with its events in one unit of work."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import uuid
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from krafa_events import Channel, Event, encode
from krafa_events.catalog import (
    ClaimCreated,
    ClaimEscalated,
    ClaimWatchStarted,
    CreditorNoticeDue,
    DeliveryPlan,
    DueDatePassed,
    FeeCharged,
    ReminderDue,
    SandboxClockAdvanced,
)
from krafa_kit import tracing
from krafa_kit.clock import Clock, CreditorClocks, ManualClock
from krafa_kit.collector import gc_paused
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.outbox import notify_channel
from krafa_kit.wakeup import Wakeup

from krafa_scheduler import domain, metrics, policy, repository
from krafa_scheduler.policy import Policy

log = logging.getLogger(__name__)

CONTACT_LOOKBACK = timedelta(days=60)
AWAITING_SEND = "awaiting_send"
_creditor_policies: dict[tuple[UUID, str, int], Policy] = {}


# -- rows <-> domain -------------------------------------------------------------------------


def claim_of(row: Any) -> domain.Claim:
    payments = row["payments"]
    if isinstance(payments, str):
        payments = json.loads(payments)
    return domain.Claim(
        claim_id=row["claim_id"],
        creditor_id=row["creditor_id"],
        debtor_id=row["debtor_id"],
        currency=row["currency"],
        amount_minor=row["amount_minor"],
        due_date=row["due_date"],
        final_due_date=row["final_due_date"],
        jurisdiction=row["jurisdiction"].strip(),
        time_zone=row["time_zone"],
        debtor_country=row["debtor_country"],
        debtor_kind=row["debtor_kind"],
        customer_class=row["customer_class"],
        # What each payment took off the principal, as claims-api's ledger allocated it (rows
        # written before the ledger said so hold the whole payment).
        payments=tuple((date.fromisoformat(p[0]), int(p[2] if len(p) > 2 else p[1])) for p in payments),
    )


def cursor_of(row: Any) -> domain.Cursor:
    fees = row["fees"]
    if isinstance(fees, str):
        fees = json.loads(fees)
    return domain.Cursor(
        index=row["step"],
        last_fired_at=row["last_fired_at"],
        watch_round=row["watch_round"],
        # Rows written before fee rules were recorded hold [kind, amount]: no rule, no cap counted.
        fees=tuple((str(f[0]), int(f[1]), str(f[2]) if len(f) > 2 else "") for f in fees),
        free_reminders=row["free_reminders"],
        shift_s=row["shift_s"],
        interest_booked_minor=row.get("interest_booked_minor", 0),
        notice_step=row.get("notice_step"),
        notice_due_at=row.get("notice_due_at"),
        notice_sent_at=row.get("notice_sent_at"),
        notice_pay_by=row.get("notice_pay_by"),
    )


async def policy_of(conn: asyncpg.Connection, row: Any) -> Policy:
    """The policy version the timeline was planned with (immutable, so cached forever)."""
    key, version, creditor = row["policy_key"], row["policy_version"], row["policy_creditor"]
    if key is None:
        return policy.default_policy(row["jurisdiction"].strip())
    if creditor is None:
        found = policy.shipped_policy_versions().get(f"{key}@{version}")
        return found or policy.default_policy(row["jurisdiction"].strip())
    return await _creditor_policy(conn, creditor, key, version) or policy.default_policy(row["jurisdiction"].strip())


async def _creditor_policy(conn: asyncpg.Connection, creditor: UUID, key: str, version: int) -> Policy | None:
    """A stored version of a creditor's policy (a version is never changed, so cached forever)."""
    cached = _creditor_policies.get((creditor, key, version))
    if cached is None:
        document = await repository.policy_version(conn, creditor, key, version)
        if document is None:
            return None
        cached = _creditor_policies[(creditor, key, version)] = Policy.model_validate_json(document)
    return cached


async def select_policy(
    conn: asyncpg.Connection, creditor_id: UUID, department: str | None, customer_class: str | None, jurisdiction: str
) -> tuple[UUID | None, Policy]:
    """The creditor's own policy for the most specific scope, else the jurisdiction's default.
    Only which version applies is read per claim: validating the document was a sixth of the
    scheduler's CPU in a burst of new claims."""
    ref = await repository.scoped_policy_ref(conn, creditor_id, department, customer_class)
    if ref is not None:
        found = await _creditor_policy(conn, creditor_id, *ref)
        if found is not None:  # versions are never deleted; were one, the default applies as in policy_of
            return creditor_id, found
    return None, policy.default_policy(jurisdiction)


class NoSuchPolicy(LookupError):
    """The creditor has no stored policy by that `key@version`."""


async def sample_plan(
    db: Database,
    creditor_id: UUID,
    *,
    policy_ref: str | None,
    department: str | None,
    customer_class: str,
    jurisdiction: str,
    amount_minor: int,
    currency: str,
    due: date,
    final_due: date | None,
    debtor_kind: str,
    pays_on: date | None,
    watch_rounds: int,
) -> dict[str, Any]:
    """The dry run of a sample claim of the creditor's: with one of its stored policies (`key@version`),
    else the one a new claim of that department and customer class would get — the creditor's own for the
    most specific scope, else the country's default. Nothing is stored."""
    async with db.connection() as conn:
        if policy_ref is not None:
            key, _, version = policy_ref.partition("@")
            row = await repository.stored_policy(conn, creditor_id, key, int(version))
            if row is None:
                raise NoSuchPolicy(policy_ref)
        else:
            row = await repository.scoped_policy(conn, creditor_id, department, customer_class)
    if row is not None:
        document = row["document"]
        pol = Policy.model_validate_json(document) if isinstance(document, str) else Policy.model_validate(document)
        scope: dict[str, Any] = {
            "source": "creditor",
            "department": row["department"] or None,
            "customer_class": row["customer_class"] or None,
        }
    else:
        pol = policy.default_policy(jurisdiction)
        scope = {"source": "shipped", "department": None, "customer_class": None}
    pack = policy.jurisdiction(pol.jurisdiction)
    ctx = domain.hypothetical(
        pack,
        pol,
        amount_minor=amount_minor,
        currency=currency,
        due=due,
        final_due=final_due,
        customer_class=customer_class,
        debtor_kind=debtor_kind,
    )
    steps = domain.preview(ctx, pays_on=pays_on, watch_rounds=watch_rounds)
    return {
        **scope,
        "jurisdiction": pack.code,
        "policy": pol.ref,
        "time_zone": ctx.claim.time_zone,
        "steps": [p.as_json(currency) for p in steps],
    }


def context_of(row: Any, pol: Policy) -> domain.Context:
    return domain.Context(claim_of(row), pol, policy.jurisdiction(pol.jurisdiction))


async def contacts_of(
    conn: asyncpg.Connection, pairs: set[tuple[UUID, UUID]], now: datetime, pending: Handoff | None = None
) -> dict[tuple[UUID, UUID], list[domain.Contact]]:
    """The debtors' recent contacts; with `pending`, also those a batch still writing is about to
    record (each once, by reminder id, whether or not it committed meanwhile)."""
    out: dict[tuple[UUID, UUID], list[domain.Contact]] = defaultdict(list)
    seen: dict[tuple[UUID, UUID], set[UUID]] = defaultdict(set)
    for r in await repository.contacts_of(conn, pairs, now - CONTACT_LOOKBACK):
        pair = (r["creditor_id"], r["debtor_id"])
        out[pair].append(domain.Contact(Channel(r["channel"]), r["at"]))
        seen[pair].add(r["reminder_id"])
    if pending is not None:
        for pair in pairs & pending.contacts.keys():
            out[pair].extend(c for rid, c in pending.contacts[pair].items() if rid not in seen[pair])
    return out


def _plan_fields(nxt: domain.Next | None) -> dict[str, Any]:
    if nxt is None:
        return {"next_action_at": None, "status": "completed", "pause_reason": None}
    if nxt.awaiting_send:
        # Held by a notice the notifier has not reported sent: ReminderSent re-plans it.
        return {"next_action_at": None, "status": "active", "shift_s": nxt.shift_s, "pause_reason": AWAITING_SEND}
    return {"next_action_at": nxt.at, "status": "active", "shift_s": nxt.shift_s, "pause_reason": None}


# -- planning and re-planning ----------------------------------------------------------------


async def plan(uow: UnitOfWork, event: ClaimCreated, now: datetime) -> None:
    debtor = event.debtor
    creditor, pol = await select_policy(
        uow.conn, event.creditor_id, event.department, debtor.customer_class, event.jurisdiction
    )
    values: dict[str, Any] = {
        "claim_id": event.claim_id,
        "creditor_id": event.creditor_id,
        "debtor_id": event.debtor_id,
        "currency": event.currency,
        "amount_minor": event.amount_minor,
        "due_date": event.due_date,
        "final_due_date": event.final_due_date,
        "jurisdiction": event.jurisdiction,
        "time_zone": debtor.time_zone,
        "department": event.department,
        "customer_class": debtor.customer_class,
        "debtor_kind": debtor.kind,
        "debtor_country": debtor.country,
        "policy_creditor": creditor,
        "policy_key": pol.key,
        "policy_version": pol.version,
        "payments": [],
        "fees": [],
        "step": 0,
        "watch_round": 0,
        "free_reminders": 0,
        "shift_s": 0,
        "last_fired_at": None,
        "interest_booked_minor": 0,
        "notice_step": None,
        "notice_due_at": None,
        "notice_sent_at": None,
        "notice_pay_by": None,
    }
    contacts = await contacts_of(uow.conn, {(event.creditor_id, event.debtor_id)}, now)
    # Planning never starts before the claim exists: a claim posted late starts dunning now.
    nxt = domain.plan_next(
        context_of(values, pol), cursor_of(values), now, contacts[(event.creditor_id, event.debtor_id)], resume=True
    )
    values.update(_plan_fields(nxt))
    # The trace the claim's POST started: every step this timeline fires later continues it.
    context = tracing.current()
    values["traceparent"] = context.traceparent if context is not None else None
    await repository.insert_timeline(uow.conn, values)


async def replan(
    conn: asyncpg.Connection, row: Any, now: datetime, changes: dict[str, Any] | None = None, *, reselect: bool = True
) -> dict[str, Any]:
    """Re-plan an active timeline from `now` (after a pause, a deferral, an amendment or a new
    time zone). Steps the pause made obsolete are skipped; the rest keep their spacing. A
    re-plan adopts the creditor's newest policy; merely planned timelines keep theirs."""
    values = {**dict(row), **(changes or {})}
    if reselect:
        creditor, pol = await select_policy(
            conn, values["creditor_id"], values["department"], values["customer_class"], values["jurisdiction"].strip()
        )
        values.update(policy_creditor=creditor, policy_key=pol.key, policy_version=pol.version)
    else:
        pol = await policy_of(conn, values)
    pair = (values["creditor_id"], values["debtor_id"])
    contacts = (await contacts_of(conn, {pair}, now))[pair]
    fields = {
        **(changes or {}),
        **_plan_fields(domain.plan_next(context_of(values, pol), cursor_of(values), now, contacts, resume=True)),
    }
    if reselect:
        fields.update(
            policy_creditor=values["policy_creditor"],
            policy_key=values["policy_key"],
            policy_version=values["policy_version"],
        )
    await repository.update_timeline(conn, row["claim_id"], fields)
    return fields


async def record_send(conn: asyncpg.Connection, row: Any, step: int, sent_at: datetime, now: datetime) -> bool:
    """The notifier sent a delivery of step `step` (1-based) at `sent_at`. When that step is the
    notice holding the rest of the timeline, the gap now counts from this send and an active
    timeline is re-planned from it. Returns whether anything changed."""
    cursor = cursor_of(row)
    after = domain.sent(cursor, step - 1, sent_at)
    if after is cursor:
        return False
    fields: dict[str, Any] = {"notice_sent_at": after.notice_sent_at}
    if row["status"] == "active":
        pol = await policy_of(conn, row)
        pair = (row["creditor_id"], row["debtor_id"])
        contacts = (await contacts_of(conn, {pair}, now))[pair]
        fields.update(_plan_fields(domain.plan_next(context_of(row, pol), after, now, contacts)))
    await repository.update_timeline(conn, row["claim_id"], fields)
    return True


def instalment_checkpoint(row: Any, instalments: list[dict[str, Any]], today: date) -> datetime | None:
    """The morning after the next instalment falls due (in the debtor's zone)."""
    upcoming = sorted(
        date.fromisoformat(i["due_date"]) for i in instalments if date.fromisoformat(i["due_date"]) >= today
    )
    if not upcoming:
        return None
    return datetime.combine(upcoming[0] + timedelta(days=1), time(9, 0), tzinfo=domain.zone(row["time_zone"]))


def instalment_missed(row: Any, instalments: list[dict[str, Any]], today: date) -> bool:
    payments = row["payments"]
    if isinstance(payments, str):
        payments = json.loads(payments)
    owed = sum(int(i["amount_minor"]) for i in instalments if date.fromisoformat(i["due_date"]) < today)
    # Instalments are of the whole balance: every payment counts in full, whatever it covered.
    paid = sum(int(p[1]) for p in payments if date.fromisoformat(p[0]) < today)
    return paid < owed


# -- the sweep -------------------------------------------------------------------------------

_ID, _SUBJECT, _TRACE = "@krafa-ce-id@", "@krafa-ce-subject@", "@krafa-traceparent@"


def traced_claim(event: Event) -> UUID | None:
    """The claim an event is about (the first of a reminder's claims), whose trace it continues."""
    claim_id = getattr(event, "claim_id", None)
    if isinstance(claim_id, UUID):
        return claim_id
    claim_ids = getattr(event, "claim_ids", None)
    return claim_ids[0] if claim_ids else None


class Envelopes:
    """A sweep batch's events as outbox rows, in the CloudEvents envelope krafa_events' `encode`
    makes. Every event of a batch shares its source and time, and every event of one type its
    ce_type, dataschema and header order; so `encode` runs once per type and batch (with markers
    for what differs) and each event only gets its own id, subject, traceparent, key and payload
    put in — the same bytes `encode` would give (tests/unit/test_sweep_units.py holds them equal),
    at a fraction of the cost of building a CloudEvent per event."""

    def __init__(self, source: str, time: datetime) -> None:
        self.source = source
        self.time = time
        self.records: list[repository.OutboxRecord] = []
        self._templates: dict[tuple[type[Event], bool], tuple[str, str, str]] = {}
        self._random, self._used = b"", 0

    def add(self, event: Event, traceparent: str | None = None) -> UUID:
        """Add `event`; with `traceparent` (its claim's) it continues that trace, else starts one."""
        subject = event.subject()
        kind = (type(event), subject is None)
        template = self._templates.get(kind)
        if template is None:
            template = self._templates[kind] = self._template(event)
        headers, event_type, topic = template
        if self._used + 40 > len(self._random):
            self._random, self._used = os.urandom(40 * 512), 0
        random = self._random[self._used : self._used + 40]
        self._used += 40
        # A version 4 UUID and a W3C trace context, as encode makes them (one urandom call for many).
        event_id = uuid.UUID(bytes=random[:16], version=4)
        trace = random[16:].hex()
        parent = tracing.parse(traceparent)
        context = f"00-{parent[0]}-{trace[32:]}-{parent[1]}" if parent else f"00-{trace[:32]}-{trace[32:]}-01"
        headers = headers.replace(_ID, str(event_id), 1).replace(_TRACE, context, 1)
        if subject is not None:
            headers = headers.replace(_SUBJECT, json.dumps(subject)[1:-1], 1)
        self.records.append(
            (event_id, event_type, topic, event.key().encode(), headers, event.model_dump_json().encode())
        )
        return event_id

    def _template(self, event: Event) -> tuple[str, str, str]:
        encoded = encode(event, source=self.source, time=self.time, event_id=_ID, traceparent=_TRACE)
        pairs = [[name, _SUBJECT if name == "ce_subject" else value.decode()] for name, value in encoded.headers]
        event_type = next(value for name, value in pairs if name == "ce_type")
        # The outbox's `headers` column holds exactly this JSON (krafa_kit.outbox).
        return json.dumps(pairs), event_type, encoded.topic


@dataclass
class SweepResult:
    events: list[Event] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[tuple[UUID, UUID, Channel, datetime, UUID]] = field(default_factory=list)
    fired_steps: list[int] = field(default_factory=list)


def _update_of(row: Any, cursor: domain.Cursor, nxt: domain.Next | None, **extra: Any) -> dict[str, Any]:
    awaiting = nxt is not None and nxt.awaiting_send
    return {
        "claim_id": row["claim_id"],
        "step": cursor.index,
        "next_action_at": None if nxt is None or awaiting else nxt.at,
        "status": "active" if nxt is not None else "completed",
        "last_fired_at": cursor.last_fired_at,
        "watch_round": cursor.watch_round,
        "fees": [list(f) for f in cursor.fees],
        "free_reminders": cursor.free_reminders,
        "shift_s": nxt.shift_s if nxt is not None else cursor.shift_s,
        "pause_reason": AWAITING_SEND if awaiting else None,
        "instalments": extra.get("instalments"),
        "interest_booked_minor": cursor.interest_booked_minor,
        "notice_step": cursor.notice_step,
        "notice_due_at": cursor.notice_due_at,
        "notice_sent_at": cursor.notice_sent_at,
        "notice_pay_by": cursor.notice_pay_by,
    }


@dataclass
class Due:
    row: Any
    ctx: domain.Context
    cursor: domain.Cursor
    nxt: domain.Next | None


def events_of(
    fired: list[domain.Fired],
    group: list[Due],
    now: datetime,
    handover_at: datetime | None,
    rid: UUID | None = None,
) -> list[Event]:
    """Every event of one fired step (a group of one debtor's claims when it aggregates); `rid`
    is the group's reminder id when the caller already has it."""
    events: list[Event] = []
    real = [f for f in fired if not f.skipped]
    if not real:
        return events
    if len(real) < len(fired):
        rid = None  # a claim dropped out at the last moment: the id lists only the others
    first = real[0]
    step, number = first.step, first.index + 1
    creditor_id, debtor_id = first.claim.creditor_id, first.claim.debtor_id
    charges = _charges_of(fired, group, number, now)
    for f, due in zip(fired, group, strict=True):
        if not f.skipped and due.cursor.last_fired_at is None:
            events.append(
                DueDatePassed(
                    creditor_id=creditor_id,
                    debtor_id=debtor_id,
                    claim_id=f.claim.claim_id,
                    due_date=f.claim.due_date,
                    passed_at=now,
                )
            )
    # The fees and interest a step books go out before the reminder that announces them (one
    # partition per debtor): claims-api has them on the ledger when the message states its balance.
    events.extend(charges)
    if step.kind in domain.CONTACT_KINDS:
        claim_ids = tuple(sorted(f.claim.claim_id for f in real))
        ctx = group[0].ctx
        deliveries = tuple(DeliveryPlan(channel=c, fallbacks=step.fallbacks.get(c, ())) for c in first.channels)
        notice = first.notice
        events.append(
            ReminderDue(
                creditor_id=creditor_id,
                debtor_id=debtor_id,
                reminder_id=rid or domain.reminder_id(claim_ids, number, first.watch_round),
                claim_ids=claim_ids,
                step=number,
                # For a consumer that reads only `channels`: the first delivery, its fallbacks after it.
                channels=step.chain(first.channels[0]),
                template=step.template,
                tone=step.tone,
                fee_minor=sum(a for f in real for _, a in f.fees),
                currency=first.claim.currency,
                due_at=first.at,
                interest_minor=sum(f.interest_minor for f in real),
                pay_by=first.pay_by,
                cc=step.cc,
                bcc=step.bcc,
                policy=ctx.policy.ref,
                jurisdiction=ctx.pack.code,
                notice_kind=step.notice,
                stage="watch" if step.kind == "claim_watch" else (notice.stage if notice is not None else None),
                deliveries=deliveries,
                fee_ids=tuple(c.fee_id for c in charges),
                interest_rate_pct=f"{first.interest_rate_pct:.2f}",
                watch_round=first.watch_round,
            )
        )
        if step.kind == "claim_watch" and first.watch_round == 1:
            events.extend(
                ClaimWatchStarted(
                    creditor_id=creditor_id,
                    debtor_id=debtor_id,
                    claim_id=f.claim.claim_id,
                    creditor_share_pct=step.creditor_share_pct,
                    interval_days=step.cadence[0].days if step.cadence else step.interval_days,
                    started_at=now,
                )
                for f in real
            )
    elif step.kind == "creditor_notice":
        events.extend(
            CreditorNoticeDue(
                creditor_id=creditor_id,
                debtor_id=debtor_id,
                notice_id=domain.notice_id(f.claim.claim_id, number),
                claim_ids=(f.claim.claim_id,),
                handover_at=handover_at or now,
                noticed_at=now,
            )
            for f in real
        )
    elif step.kind == "handover":
        events.extend(
            ClaimEscalated(
                creditor_id=creditor_id,
                debtor_id=debtor_id,
                claim_id=f.claim.claim_id,
                stage="collection",
                escalated_at=now,
            )
            for f in real
        )
    return events


def _charges_of(fired: list[domain.Fired], group: list[Due], number: int, now: datetime) -> list[FeeCharged]:
    """The fees and the late interest a fired step books, one FeeCharged each."""
    charges: list[FeeCharged] = []
    for f, due in zip(fired, group, strict=True):
        if f.skipped:
            continue
        creditor_id, debtor_id = f.claim.creditor_id, f.claim.debtor_id
        charges.extend(
            FeeCharged(
                creditor_id=creditor_id,
                debtor_id=debtor_id,
                fee_id=domain.fee_id(f.claim.claim_id, number, kind, f.watch_round),
                claim_id=f.claim.claim_id,
                step=number,
                kind=kind,
                amount_minor=amount,
                currency=f.claim.currency,
                charged_at=now,
            )
            for kind, amount in f.fees
        )
        if f.interest_charge_minor:
            # Late interest accrued since the last step goes onto the claim's ledger, with the
            # rate and the period the debtor is told.
            day = f.at.astimezone(due.ctx.tz).date()
            since = domain.interest_start(due.ctx)
            before = due.cursor
            if before.interest_booked_minor and before.last_fired_at is not None:
                # Booked up to the previous step's day already: this line is the days since.
                since = max(since, before.last_fired_at.astimezone(due.ctx.tz).date() + timedelta(days=1))
            charges.append(
                FeeCharged(
                    creditor_id=creditor_id,
                    debtor_id=debtor_id,
                    fee_id=domain.late_interest_fee_id(f.claim.claim_id, number, f.watch_round),
                    claim_id=f.claim.claim_id,
                    step=number,
                    kind=domain.LATE_INTEREST,
                    amount_minor=f.interest_charge_minor,
                    currency=f.claim.currency,
                    charged_at=now,
                    rate_pct=domain.interest_rate(due.ctx, day),
                    interest_from=since,
                    interest_to=day,
                )
            )
    return charges


def sweep_debtor(dues: list[Due], now: datetime, contacts: list[domain.Contact], out: SweepResult) -> None:
    """Fire one debtor's due steps: claims on the same step of the same policy go out as one
    reminder (when the policy aggregates); every contact counts against the debtor's budget
    before the next group is planned."""
    pending = dues
    while pending:
        firing: list[Due] = []
        again: list[Due] = []
        for due in pending:
            due.nxt = domain.plan_next(due.ctx, due.cursor, now, contacts)
            if due.nxt is None or due.nxt.at > now or due.nxt.awaiting_send:
                # Deferred (window, budget, a notice not yet reported sent) or complete: only the
                # plan moves.
                out.updates.append(_update_of(due.row, due.cursor, due.nxt))
            elif not domain.conditions_met(due.ctx, due.ctx.policy.steps[due.nxt.index], contacts, now):
                # A step whose conditions fail is passed over; the next one may be due too.
                due.cursor = replace(due.cursor, index=due.nxt.index + 1, shift_s=due.nxt.shift_s)
                again.append(due)
            else:
                firing.append(due)
        if not firing:
            pending = again
            continue
        lead = firing[0]
        assert lead.nxt is not None
        lead_index, lead_channels = lead.nxt.index, lead.nxt.channels
        lead_step = lead.ctx.policy.steps[lead_index]
        aggregate = lead.ctx.policy.aggregation == "debtor" and lead_step.kind in domain.CONTACT_KINDS
        group = [
            d
            for d in firing
            if d is lead
            or (
                aggregate
                and d.nxt is not None
                and d.nxt.index == lead_index
                and d.nxt.channels == lead_channels
                and d.ctx.policy.ref == lead.ctx.policy.ref
                and d.ctx.claim.currency == lead.ctx.claim.currency
            )
        ]
        fired = [domain.fire(d.ctx, d.cursor, d.nxt, contacts) for d in group if d.nxt is not None]
        rid = None
        if lead_step.kind in domain.CONTACT_KINDS and lead_channels:
            ids = tuple(sorted(f.claim.claim_id for f in fired))
            rid = domain.reminder_id(ids, lead_index + 1, fired[0].watch_round)
            contacts.append(domain.Contact(lead_channels[0], now))
            out.contacts.append((lead.ctx.claim.creditor_id, lead.ctx.claim.debtor_id, lead_channels[0], now, rid))
        nexts = [domain.plan_next(d.ctx, f.cursor, now, contacts) for d, f in zip(group, fired, strict=True)]
        out.events.extend(events_of(fired, group, now, nexts[0].at if nexts[0] is not None else None, rid))
        for d, f, n in zip(group, fired, nexts, strict=True):
            out.updates.append(_update_of(d.row, f.cursor, n))
            out.fired_steps.append(f.index + 1)
        pending = [d for d in firing if all(d is not g for g in group)] + again


async def _wake(conn: asyncpg.Connection, row: Any, now: datetime, out: SweepResult) -> None:
    """A paused row whose hold ran out, or an instalment checkpoint."""
    if row["status"] == "paused":
        fields = await replan(conn, row, now, {"status": "active"})
        out.updates.append({**_update_of(row, cursor_of(row), None), **_sweep_fields(row, fields)})
        return
    instalments = row["instalments"]
    if isinstance(instalments, str):
        instalments = json.loads(instalments)
    today = now.astimezone(domain.zone(row["time_zone"])).date()
    checkpoint = instalment_checkpoint(row, instalments or [], today)
    if instalment_missed(row, instalments or [], today) or checkpoint is None:
        # A missed instalment (or a plan run out unpaid) re-arms dunning from now.
        fields = await replan(conn, row, now, {"status": "active", "instalments": None})
        out.updates.append({**_update_of(row, cursor_of(row), None), **_sweep_fields(row, fields)})
        return
    update = _update_of(row, cursor_of(row), None, instalments=instalments)
    update.update(status="plan", next_action_at=checkpoint, pause_reason="instalments")
    out.updates.append(update)


def _sweep_fields(row: Any, fields: dict[str, Any]) -> dict[str, Any]:
    # `replan` already wrote the row; the sweep's bulk write must repeat the same values.
    return {
        "next_action_at": fields["next_action_at"],
        "status": fields["status"],
        "shift_s": fields.get("shift_s", row["shift_s"]),
        "instalments": None,
    }


async def creditor_now(conn: asyncpg.Connection, clock: Clock, creditor_id: UUID) -> datetime:
    """The creditor's now: the service's, plus a sandbox's offset (docs/adr/0015)."""
    return clock.now() + await repository.clock_offset(conn, creditor_id)


async def report_now(conn: asyncpg.Connection, clock: Clock, creditor_id: UUID, sent_at: datetime) -> datetime:
    """When a send report counts as having arrived. Live: now. A sandbox's clock jumps, and its
    sweep walks through the days in between while the reports come back behind it; each report
    counts as arriving at its own send (the notifier reports a sandbox's at the step's instant),
    as it would have in real time — so the next step is planned from that send, not from the
    sandbox's now."""
    offset = await repository.clock_offset(conn, creditor_id)
    now = clock.now()
    return now if not offset else min(now + offset, sent_at)


async def learn_clock(uow: UnitOfWork, event: SandboxClockAdvanced) -> None:
    """A sandbox moved its clock forward: its timelines fire on the new now from the next sweep."""
    await repository.learn_clock(uow.conn, event.creditor_id, event.offset_s, event.advanced_at)


async def _clocks(db: Database, clock: Clock) -> list[tuple[UUID | None, Clock]]:
    """The sweep's passes: every creditor on the service's clock, then each sandbox on its own."""
    async with db.connection() as conn:
        clocks = CreditorClocks(clock, await repository.clock_offsets(conn))
    return [(None, clock), *((creditor_id, clocks.of(creditor_id)) for creditor_id in sorted(clocks.offsets))]


async def sweep_once(db: Database, clock: Clock, limit: int) -> int:
    """Fire every step due now, up to `limit` rows per pass (the service's clock, then each
    sandbox's), each pass one transaction; returns rows handled."""
    with gc_paused():
        fired = 0
        passes = await _clocks(db, clock)
        sandboxes = tuple(creditor_id for creditor_id, _ in passes if creditor_id is not None)
        for creditor_id, pass_clock in passes:
            if creditor_id is None:
                fired += await _sweep_batch(db, pass_clock.now(), limit, excluding=sandboxes)
            else:
                fired += await _walk(db, pass_clock.now(), limit, creditor_id)
        return fired


async def sweep_due(db: Database, clock: Clock, limit: int) -> int:
    """Fire everything due, batch after batch, with two batches in flight: batch N+1 claims its
    rows (SKIP LOCKED passes over N's) and plans them while N writes and commits. N hands N+1
    the contacts it made, so N+1 plans exactly as if N had committed, and N+1 writes only after
    N committed (and fails, rolling back, if N did). Each batch is still one transaction; the
    outcome is that of `sweep_once` called until nothing is due. Returns rows handled.

    A sandbox creditor with a clock of its own is drained in a pass of its own on that clock (a
    debtor pair belongs to one creditor, so no batch mixes clocks)."""
    with gc_paused():
        fired = 0
        passes = await _clocks(db, clock)
        sandboxes = tuple(creditor_id for creditor_id, _ in passes if creditor_id is not None)
        for creditor_id, pass_clock in passes:
            if creditor_id is None:
                fired += await _drain(db, pass_clock, limit, excluding=sandboxes)
            else:
                fired += await _walk(db, pass_clock.now(), limit, creditor_id)
        return fired


async def _walk(db: Database, until: datetime, limit: int, creditor_id: UUID) -> int:
    """A sandbox's pass: its clock may have jumped by weeks, so walk it from due instant to due
    instant up to `until`, firing each step at its own instant — as real time would have, with
    each gap counted from the step before — instead of firing every overdue step at `until`."""
    fired = 0
    while True:
        async with db.connection() as conn:
            due = await repository.next_due_of(conn, creditor_id)
        if due is None or due > until:
            return fired
        fired += await _drain(db, ManualClock(due), limit, creditor_id)


async def _drain(
    db: Database, clock: Clock, limit: int, creditor_id: UUID | None = None, *, excluding: tuple[UUID, ...] = ()
) -> int:
    loop = asyncio.get_running_loop()
    fired = 0
    previous: tuple[asyncio.Task[int], Handoff] | None = None
    current: asyncio.Task[int] | None = None
    collected = loop.time()
    try:
        while True:
            if loop.time() - collected > GC_EVERY_S:
                # A long drain still lets the rest of the process's cyclic garbage go, now and then.
                gc.collect()
                collected = loop.time()
            planned: asyncio.Future[Handoff] = loop.create_future()
            task = current = asyncio.create_task(
                _sweep_batch(
                    db,
                    clock.now(),
                    limit,
                    previous[1] if previous else None,
                    planned,
                    creditor_id=creditor_id,
                    excluding=excluding,
                )
            )
            waiting: set[asyncio.Future[Any]] = {task, planned}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            looked_early = previous is not None
            if previous is not None:
                fired += await previous[0]
                previous = None
            current = None
            if planned.done():
                previous = (task, planned.result())
                continue
            n = await task
            fired += n
            if n == 0 and not looked_early:
                return fired
            # It looked while the previous batch still held rows that may be due again (a step
            # whose successor is due at once): look again now that they are committed.
    finally:
        # On a failure (or cancellation) no batch is left running behind the caller's back.
        for left in (current, previous[0] if previous else None):
            if left is not None:
                left.cancel()
                with suppress(BaseException):
                    await left


@dataclass
class Handoff:
    """What a planned batch tells the next one: the contacts it is about to record, per
    (creditor, debtor) and by reminder id, and its commit (or failure)."""

    contacts: dict[tuple[UUID, UUID], dict[UUID, domain.Contact]]
    committed: asyncio.Future[None]


async def _sweep_batch(
    db: Database,
    now: datetime,
    limit: int,
    previous: Handoff | None = None,
    planned: asyncio.Future[Handoff] | None = None,
    *,
    creditor_id: UUID | None = None,
    excluding: tuple[UUID, ...] = (),
) -> int:
    handoff: Handoff | None = None
    try:
        async with db.uow() as uow:
            conn = uow.conn
            rows = await repository.claim_due(conn, now, limit, creditor_id, excluding)
            if not rows:
                return 0
            out = SweepResult()
            active = [r for r in rows if r["status"] == "active"]
            pairs = {(r["creditor_id"], r["debtor_id"]) for r in active}
            active += await repository.claim_due_of_debtors(conn, now, sorted(pairs), [r["claim_id"] for r in rows])
            contacts = await contacts_of(conn, pairs, now, previous)
            policies = await _policies_of(conn, active)
            envelopes = Envelopes(uow.outbox.source, now)
            by_debtor: dict[tuple[UUID, UUID], list[Due]] = defaultdict(list)
            for row in active:
                ctx = context_of(row, policies[_policy_ref(row)])
                by_debtor[(row["creditor_id"], row["debtor_id"])].append(Due(row, ctx, cursor_of(row), None))
            for pair, dues in by_debtor.items():
                sweep_debtor(dues, now, contacts[pair], out)
            traces = {row["claim_id"]: row["traceparent"] for row in active}
            for event in out.events:
                envelopes.add(event, traces.get(traced_claim(event)))
            if planned is not None:
                made: dict[tuple[UUID, UUID], dict[UUID, domain.Contact]] = defaultdict(dict)
                for creditor_id, debtor_id, channel, at, rid in out.contacts:
                    made[(creditor_id, debtor_id)][rid] = domain.Contact(channel, at)
                handoff = Handoff(made, asyncio.get_running_loop().create_future())
                # Retrieved here so that a failure nobody waits for is not reported twice.
                handoff.committed.add_done_callback(lambda f: f.cancelled() or f.exception())
                planned.set_result(handoff)
            if previous is not None:
                # Nothing of this batch is written before the previous one committed (shielded: a
                # cancelled batch must not cancel its predecessor's outcome).
                await asyncio.shield(previous.committed)
            for row in rows:
                if row["status"] != "active":
                    await _wake(conn, row, now, out)
            await repository.save_sweep(conn, out.updates)
            await repository.add_contacts(conn, out.contacts)
            await repository.add_outbox(conn, envelopes.records, notify_channel(db.schema))
            await uow.commit()
    except BaseException as exc:
        if handoff is not None and not handoff.committed.done():
            handoff.committed.set_exception(exc if isinstance(exc, Exception) else RuntimeError("batch cancelled"))
        raise
    if handoff is not None and not handoff.committed.done():
        handoff.committed.set_result(None)
    for number, count in Counter(out.fired_steps).items():
        metrics.STEPS_FIRED.labels(str(number)).inc(count)
    return len(rows)


GC_EVERY_S = 5.0


def _policy_ref(row: Any) -> tuple[Any, ...]:
    return (row["policy_creditor"], row["policy_key"], row["policy_version"], row["jurisdiction"])


async def _policies_of(conn: asyncpg.Connection, rows: list[Any]) -> dict[tuple[Any, ...], Policy]:
    """Each distinct policy version of the batch, looked up once."""
    found: dict[tuple[Any, ...], Policy] = {}
    for row in rows:
        ref = _policy_ref(row)
        if ref not in found:
            found[ref] = await policy_of(conn, row)
    return found


async def sweep_forever(
    db: Database,
    clock: Clock,
    batch_size: int,
    idle_wall_s: float,
    wakeup: Wakeup | None = None,
    max_idle_wall_s: float = 30.0,
) -> None:
    """Sweep until nothing is due, then sleep until the next step falls due (never longer than
    `max_idle_wall_s`, which only bounds a clock or a writer that misbehaves) or until `wakeup`
    is set: the consumer sets it when its handlers have written timelines, which may be due at
    once (the handlers and the sweep itself are the only writers of a timeline's next step, and
    each replica's sweep is woken by its own consumer), and every new timeline's NOTIFY sets it
    (a trigger: a bulk load wakes every replica). `idle_wall_s` is the pause when a due row is
    left (another replica holds it)."""
    wakeup = wakeup or Wakeup()
    while True:
        wait = idle_wall_s
        try:
            await sweep_due(db, clock, batch_size)
            async with db.connection() as conn:
                due = await repository.next_due_at(conn)
            if due is None:
                wait = max_idle_wall_s
            else:
                until = clock.wall_seconds(due - clock.now())
                wait = min(until if until > 0 else idle_wall_s, max_idle_wall_s)
        except (OSError, ConnectionError, asyncpg.PostgresConnectionError, asyncpg.DeadlockDetectedError) as exc:
            log.warning("sweep failed, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(1)
        except Exception:
            # A bug or a bad row must not stop every timeline: the batch rolled back, so
            # nothing fired; log it for the operator and keep sweeping.
            log.exception("sweep batch failed")
            await asyncio.sleep(5)
        await wakeup.wait(wait)


# -- the dry run -----------------------------------------------------------------------------


async def schedule(db: Database, claim_id: UUID, now: datetime) -> dict[str, Any] | None:
    async with db.connection() as conn:
        row = await repository.get_timeline(conn, claim_id)
        if row is None:
            return None
        pol = await policy_of(conn, row)
        # A sandbox's dry run is as of its own now.
        now += await repository.clock_offset(conn, row["creditor_id"])
        pair = (row["creditor_id"], row["debtor_id"])
        contacts = (await contacts_of(conn, {pair}, now))[pair]
    ctx = context_of(row, pol)
    body: dict[str, Any] = {
        "claim_id": str(claim_id),
        "creditor_id": str(row["creditor_id"]),
        "status": row["status"],
        "pause_reason": row["pause_reason"],
        "policy": pol.ref,
        "jurisdiction": ctx.pack.code,
        "as_of": now.isoformat(),
        "interest_minor_today": domain.interest_minor(ctx, now.astimezone(ctx.tz).date()),
        "steps": [],
    }
    if row["status"] != "active":
        return body
    body["steps"] = [p.as_json(row["currency"]) for p in domain.dry_run(ctx, cursor_of(row), now, contacts)]
    return body
