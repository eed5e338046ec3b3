"""Use cases of the scheduler: plan a timeline, re-plan it on pauses and changes, sweep the steps
that fell due, and show the dry run. The rules are in `domain`; this module loads rows, asks the
domain and writes the outcome with its events in one unit of work."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from krafa_events import Channel, Event
from krafa_events.catalog import (
    ClaimCreated,
    ClaimEscalated,
    ClaimWatchStarted,
    CreditorNoticeDue,
    DueDatePassed,
    FeeCharged,
    ReminderDue,
)
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork

from krafa_scheduler import domain, metrics, policy, repository
from krafa_scheduler.policy import Policy

log = logging.getLogger(__name__)

CONTACT_LOOKBACK = timedelta(days=60)
AFTERNOON = time(14, 0)
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
        payments=tuple((date.fromisoformat(p[0]), int(p[1])) for p in payments),
    )


def cursor_of(row: Any) -> domain.Cursor:
    fees = row["fees"]
    if isinstance(fees, str):
        fees = json.loads(fees)
    return domain.Cursor(
        index=row["step"],
        last_fired_at=row["last_fired_at"],
        watch_round=row["watch_round"],
        fees=tuple((str(k), int(a)) for k, a in fees),
        free_reminders=row["free_reminders"],
        shift_s=row["shift_s"],
    )


async def policy_of(conn: asyncpg.Connection, row: Any) -> Policy:
    """The policy version the timeline was planned with (immutable, so cached forever)."""
    key, version, creditor = row["policy_key"], row["policy_version"], row["policy_creditor"]
    if key is None:
        return policy.default_policy(row["jurisdiction"].strip())
    if creditor is None:
        found = policy.shipped_policy_versions().get(f"{key}@{version}")
        return found or policy.default_policy(row["jurisdiction"].strip())
    cached = _creditor_policies.get((creditor, key, version))
    if cached is None:
        document = await repository.policy_version(conn, creditor, key, version)
        if document is None:
            return policy.default_policy(row["jurisdiction"].strip())
        cached = _creditor_policies[(creditor, key, version)] = Policy.model_validate_json(document)
    return cached


async def select_policy(
    conn: asyncpg.Connection, creditor_id: UUID, department: str | None, customer_class: str | None, jurisdiction: str
) -> tuple[UUID | None, Policy]:
    """The creditor's own policy for the most specific scope, else the jurisdiction's default."""
    row = await repository.scoped_policy(conn, creditor_id, department, customer_class)
    if row is not None:
        return creditor_id, Policy.model_validate(row["document"])
    return None, policy.default_policy(jurisdiction)


def context_of(row: Any, pol: Policy) -> domain.Context:
    return domain.Context(claim_of(row), pol, policy.jurisdiction(pol.jurisdiction))


async def contacts_of(
    conn: asyncpg.Connection, pairs: set[tuple[UUID, UUID]], now: datetime
) -> dict[tuple[UUID, UUID], list[domain.Contact]]:
    out: dict[tuple[UUID, UUID], list[domain.Contact]] = defaultdict(list)
    for r in await repository.contacts_of(conn, pairs, now - CONTACT_LOOKBACK):
        out[(r["creditor_id"], r["debtor_id"])].append(domain.Contact(Channel(r["channel"]), r["at"]))
    return out


def _plan_fields(nxt: domain.Next | None) -> dict[str, Any]:
    if nxt is None:
        return {"next_action_at": None, "status": "completed"}
    return {"next_action_at": nxt.at, "status": "active", "shift_s": nxt.shift_s}


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
    }
    contacts = await contacts_of(uow.conn, {(event.creditor_id, event.debtor_id)}, now)
    # Planning never starts before the claim exists: a claim posted late starts dunning now.
    nxt = domain.plan_next(
        context_of(values, pol), cursor_of(values), now, contacts[(event.creditor_id, event.debtor_id)], resume=True
    )
    values.update(_plan_fields(nxt))
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
    fields["pause_reason"] = None
    if reselect:
        fields.update(
            policy_creditor=values["policy_creditor"],
            policy_key=values["policy_key"],
            policy_version=values["policy_version"],
        )
    await repository.update_timeline(conn, row["claim_id"], fields)
    return fields


def instalment_checkpoint(row: Any, instalments: list[dict[str, Any]], today: date) -> datetime | None:
    """The morning after the next instalment falls due (in the debtor's zone)."""
    upcoming = sorted(
        date.fromisoformat(i["due_date"]) for i in instalments if date.fromisoformat(i["due_date"]) >= today
    )
    if not upcoming:
        return None
    return datetime.combine(upcoming[0] + timedelta(days=1), time(9, 0), tzinfo=domain.zone(row["time_zone"]))


def instalment_missed(row: Any, instalments: list[dict[str, Any]], today: date) -> bool:
    claim = claim_of(row)
    owed = sum(int(i["amount_minor"]) for i in instalments if date.fromisoformat(i["due_date"]) < today)
    paid = sum(amount for paid_on, amount in claim.payments if paid_on < today)
    return paid < owed


# -- the sweep -------------------------------------------------------------------------------


@dataclass
class SweepResult:
    events: list[Event] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[tuple[UUID, UUID, str, datetime, UUID]] = field(default_factory=list)
    fired_steps: list[int] = field(default_factory=list)


def _update_of(row: Any, cursor: domain.Cursor, nxt: domain.Next | None, **extra: Any) -> dict[str, Any]:
    return {
        "claim_id": row["claim_id"],
        "step": cursor.index,
        "next_action_at": None if nxt is None else nxt.at,
        "status": "active" if nxt is not None else "completed",
        "last_fired_at": cursor.last_fired_at,
        "watch_round": cursor.watch_round,
        "fees": [list(f) for f in cursor.fees],
        "free_reminders": cursor.free_reminders,
        "shift_s": nxt.shift_s if nxt is not None else cursor.shift_s,
        "pause_reason": None,
        "instalments": extra.get("instalments"),
    }


@dataclass
class Due:
    row: Any
    ctx: domain.Context
    cursor: domain.Cursor
    nxt: domain.Next | None


def events_of(fired: list[domain.Fired], group: list[Due], now: datetime, handover_at: datetime | None) -> list[Event]:
    """Every event of one fired step (a group of one debtor's claims when it aggregates)."""
    events: list[Event] = []
    real = [f for f in fired if not f.skipped]
    if not real:
        return events
    first = real[0]
    step, number = first.step, first.index + 1
    creditor_id, debtor_id = first.claim.creditor_id, first.claim.debtor_id
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
    if step.kind in domain.CONTACT_KINDS:
        claim_ids = tuple(sorted(f.claim.claim_id for f in real))
        events.append(
            ReminderDue(
                creditor_id=creditor_id,
                debtor_id=debtor_id,
                reminder_id=domain.reminder_id(claim_ids, number, first.watch_round),
                claim_ids=claim_ids,
                step=number,
                channels=first.channels,
                template=step.template,
                tone=step.tone,
                fee_minor=sum(a for f in real for _, a in f.fees),
                currency=first.claim.currency,
                due_at=first.at,
                interest_minor=sum(f.interest_minor for f in real),
                pay_by=first.pay_by,
                cc=step.cc,
                bcc=step.bcc,
                policy=group[0].ctx.policy.ref,
            )
        )
        if step.kind == "claim_watch" and first.watch_round == 1:
            events.extend(
                ClaimWatchStarted(
                    creditor_id=creditor_id,
                    debtor_id=debtor_id,
                    claim_id=f.claim.claim_id,
                    creditor_share_pct=step.creditor_share_pct,
                    interval_days=step.interval_days,
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
    for f in real:
        events.extend(
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
    return events


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
            if due.nxt is None or due.nxt.at > now:
                # Deferred (window, budget) or complete: only the plan moves.
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
        if lead_step.kind in domain.CONTACT_KINDS and lead_channels:
            ids = tuple(sorted(f.claim.claim_id for f in fired))
            rid = domain.reminder_id(ids, lead_index + 1, fired[0].watch_round)
            contacts.append(domain.Contact(lead_channels[0], now))
            out.contacts.append(
                (lead.ctx.claim.creditor_id, lead.ctx.claim.debtor_id, lead_channels[0].value, now, rid)
            )
        nexts = [domain.plan_next(d.ctx, f.cursor, now, contacts) for d, f in zip(group, fired, strict=True)]
        out.events.extend(events_of(fired, group, now, nexts[0].at if nexts[0] is not None else None))
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


async def sweep_once(db: Database, clock: Clock, limit: int) -> int:
    """Fire every step due now, up to `limit` rows, in one transaction; returns rows handled."""
    now = clock.now()
    async with db.uow() as uow:
        conn = uow.conn
        rows = await repository.claim_due(conn, now, limit)
        retries = await repository.claim_due_retries(conn, now, limit)
        if not rows and not retries:
            return 0
        out = SweepResult()
        active = [r for r in rows if r["status"] == "active"]
        pairs = {(r["creditor_id"], r["debtor_id"]) for r in active}
        active += await repository.claim_due_of_debtors(conn, now, sorted(pairs), [r["claim_id"] for r in rows])
        contacts = await contacts_of(conn, pairs, now)
        by_debtor: dict[tuple[UUID, UUID], list[Due]] = defaultdict(list)
        for row in active:
            pol = await policy_of(conn, row)
            by_debtor[(row["creditor_id"], row["debtor_id"])].append(
                Due(row, context_of(row, pol), cursor_of(row), None)
            )
        for pair, dues in by_debtor.items():
            sweep_debtor(dues, now, contacts[pair], out)
        for row in rows:
            if row["status"] != "active":
                await _wake(conn, row, now, out)
        out.events.extend(await _fire_retries(conn, retries, now))
        await repository.save_sweep(conn, out.updates)
        await repository.add_contacts(conn, out.contacts)
        for event in out.events:
            uow.outbox.add(event, time=now)
        await uow.commit()
    for number in out.fired_steps:
        metrics.STEPS_FIRED.labels(str(number)).inc()
    return len(rows) + len(retries)


async def _fire_retries(conn: asyncpg.Connection, retries: list[Any], now: datetime) -> list[Event]:
    if not retries:
        return []
    statuses = await repository.active_statuses(conn, [c for r in retries for c in r["claim_ids"]])
    events: list[Event] = []
    for r in retries:
        # A claim paid, paused or stopped since the morning call gets no afternoon retry.
        claim_ids = tuple(c for c in r["claim_ids"] if statuses.get(c) == "active")
        if not claim_ids:
            continue
        events.append(
            ReminderDue(
                creditor_id=r["creditor_id"],
                debtor_id=r["debtor_id"],
                reminder_id=r["reminder_id"],
                claim_ids=claim_ids,
                step=r["step"],
                channels=(Channel.CALL,),
                template=r["template"],
                tone=r["tone"],
                currency=r["currency"],
                due_at=r["due_at"],
            )
        )
    await repository.mark_retries_fired(conn, [r["reminder_id"] for r in retries], now)
    return events


async def sweep_forever(db: Database, clock: Clock, batch_size: int, idle_wall_s: float) -> None:
    while True:
        try:
            fired = await sweep_once(db, clock, batch_size)
        except (OSError, ConnectionError, asyncpg.PostgresConnectionError, asyncpg.DeadlockDetectedError) as exc:
            log.warning("sweep failed, retrying", extra={"error": repr(exc)})
            fired = 0
            await asyncio.sleep(1)
        except Exception:
            # A bug or a bad row must not stop every timeline: the batch rolled back, so
            # nothing fired; log it for the operator and keep sweeping.
            log.exception("sweep batch failed")
            fired = 0
            await asyncio.sleep(5)
        if fired < batch_size:
            await asyncio.sleep(idle_wall_s)


# -- the dry run -----------------------------------------------------------------------------


async def schedule(db: Database, claim_id: UUID, now: datetime) -> dict[str, Any] | None:
    async with db.connection() as conn:
        row = await repository.get_timeline(conn, claim_id)
        if row is None:
            return None
        pol = await policy_of(conn, row)
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
    for p in domain.dry_run(ctx, cursor_of(row), now, contacts):
        body["steps"].append(
            {
                "step": p.step,
                "name": p.name,
                "kind": p.kind,
                "at": p.at.isoformat(),
                "local_time": p.at.astimezone(ctx.tz).isoformat(),
                "channels": [c.value for c in p.channels],
                "template": p.template,
                "tone": p.tone,
                "fees": [{"kind": k, "amount_minor": a} for k, a in p.fees],
                "interest_minor": p.interest_minor,
                "pay_by": p.pay_by.isoformat() if p.pay_by else None,
                "currency": row["currency"],
            }
        )
    return body
