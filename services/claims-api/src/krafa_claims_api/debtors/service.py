"""Use cases for debtors. They run in the caller's unit of work (the caller commits), and every
change to a debtor or a contact point adds a DebtorUpdated event to the same transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from krafa_events import DebtorSnapshot
from krafa_events.catalog import DebtorUpdated
from krafa_kit import errors
from krafa_kit.db import UnitOfWork

from krafa_claims_api.debtors import repository
from krafa_claims_api.debtors.domain import (
    Consent,
    ContactKind,
    ContactOffer,
    ContactPoint,
    ContactState,
    CreditFigures,
    CreditStatus,
    Debtor,
    InvalidValue,
    credit_status,
    merge_master,
    new_debtor,
    normalize_email,
    normalize_national_id,
    normalize_phone_cached,
    offer_contact,
    pseudonym,
    set_state,
    snapshot,
)

NOT_FOUND = errors.NotFound("no such debtor")
CONTACT_NOT_FOUND = errors.NotFound("no such contact point")


@dataclass(frozen=True, slots=True)
class DebtorRow:
    """One validated upsert of a debtor: the master fields to set (absent ones are kept) and the
    contact points it names. `line` is where it came from in an uploaded file."""

    customer_no: str
    master: dict[str, Any]
    offers: tuple[ContactOffer, ...] = ()
    line: int = 0


@dataclass(slots=True)
class Applied:
    debtors: dict[str, Debtor] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    rejected: list[tuple[DebtorRow, InvalidValue]] = field(default_factory=list)
    # With apply_rows(wait=False): the rows still being written (see start_persist).
    writing: asyncio.Future[None] | None = None


async def apply_rows(
    uow: UnitOfWork,
    creditor_id: UUID,
    rows: list[DebtorRow],
    now: datetime,
    *,
    source: str,
    announce_new: bool = True,
    details: dict[str, Any] | None = None,
    wait: bool = True,
    meanwhile: Callable[[dict[str, Debtor]], None] | None = None,
) -> Applied:
    """Upsert debtors by customer number, in row order (a later row for the same customer wins).

    Contact points are only ever added or updated, never removed: a list that leaves a debtor or an
    address out keeps it (docs/domain.md: digital letters). A row that changes nothing writes nothing and emits nothing.
    With `announce_new=False` a newly created debtor gets no DebtorUpdated (its snapshot rides on
    the ClaimCreated that created it). With `wait=False` it returns while the changes are still
    being written, in `writing`: the caller must await it before it uses the connection again.
    `meanwhile` runs on the folded debtors while PostgreSQL inserts the new ones: a debtor another
    request created first is replaced after it, by the one in `debtors`."""
    result = Applied()
    customer_nos = list(dict.fromkeys(row.customer_no for row in rows))
    loaded = {d.customer_no: d for d in await repository.load_for_update(uow.conn, creditor_id, customer_nos)}
    state = dict(loaded)
    standing = await repository.standing_consent(uow.conn, creditor_id)
    _fold(state, rows, now, result, standing)
    fresh = [d for d in state.values() if d.new]
    inserting = asyncio.ensure_future(repository.insert_new(uow.conn, creditor_id, fresh))
    if meanwhile is not None:
        await asyncio.sleep(0)  # the INSERT goes out before the work starts
        try:
            meanwhile(state)
        except BaseException:
            await settle(inserting)
            raise
    inserted = await inserting
    raced = [d.customer_no for d in fresh if d.customer_no not in inserted]
    if raced:
        # Another transaction created these first; lock its rows (waiting for it) and merge.
        for debtor in await repository.load_for_update(uow.conn, creditor_id, raced):
            state[debtor.customer_no] = debtor
        result.rejected = [(row, err) for row, err in result.rejected if row.customer_no not in raced]
        _fold(state, [row for row in rows if row.customer_no in raced], now, result, standing, only=set(raced))
    debtors = [d for d in state.values() if not d.new or d.customer_no in inserted]
    result.created = set(inserted)
    result.updated = {d.customer_no for d in debtors if d.touched and not d.new}
    _, writing = start_persist(
        uow, creditor_id, debtors, now, source=source, announce_new=announce_new, details=details
    )
    result.debtors = {d.customer_no: d for d in debtors}
    if wait:
        await writing
    else:
        result.writing = writing
    return result


def _fold(
    state: dict[str, Debtor],
    rows: list[DebtorRow],
    now: datetime,
    result: Applied,
    standing: Consent | None,
    only: set[str] | None = None,
) -> None:
    for row in rows:
        if only is not None and row.customer_no not in only:
            continue
        debtor = state.get(row.customer_no)
        try:
            if debtor is None:
                debtor = state[row.customer_no] = new_debtor(row.customer_no, row.master, now)
            else:
                merge_master(debtor, row.master)
        except InvalidValue as exc:
            result.rejected.append((row, exc))
            continue
        for offer in row.offers:
            offer_contact(debtor, offer, now, standing)


async def persist(
    uow: UnitOfWork,
    creditor_id: UUID,
    debtors: list[Debtor],
    now: datetime,
    *,
    source: str,
    announce_new: bool = True,
    details: dict[str, Any] | None = None,
) -> list[Debtor]:
    """Write what changed on already-inserted debtors and announce each changed one; returns them."""
    touched, writes = start_persist(
        uow, creditor_id, debtors, now, source=source, announce_new=announce_new, details=details
    )
    await writes
    return touched


def start_persist(
    uow: UnitOfWork,
    creditor_id: UUID,
    debtors: list[Debtor],
    now: datetime,
    *,
    source: str,
    announce_new: bool = True,
    details: dict[str, Any] | None = None,
) -> tuple[list[Debtor], asyncio.Task[None]]:
    """`persist`, returning as soon as the events are in the outbox: the task writing the rows is
    left for the caller to await, which may use the connection only after it (see `settle`)."""
    touched = [d for d in debtors if d.touched]
    contacts_changed = {d.id: sum(cp.new or cp.dirty for cp in d.contact_points) for d in touched}
    history = []
    for debtor in touched:
        if debtor.new and not announce_new:
            continue
        event_id = uow.outbox.add(
            DebtorUpdated(creditor_id=creditor_id, debtor_id=debtor.id, debtor=snapshot(debtor), updated_at=now),
            time=now,
        )
        history.append(
            (
                debtor.id,
                uuid.UUID(event_id),
                source,
                now,
                {
                    **(details or {}),
                    "created": debtor.new,
                    "fields": sorted(debtor.changed_fields),
                    "contact_points_changed": contacts_changed[debtor.id],
                },
            )
        )

    # The rows are taken now, and the flags that chose them cleared, so that whatever the caller
    # does meanwhile cannot change what is written.
    updates = repository.debtor_updates(creditor_id, [d for d in touched if not d.new], now)
    contacts = repository.contact_writes(creditor_id, touched)
    for debtor in touched:
        debtor.new = debtor.dirty = False
        debtor.changed_fields = set()

    async def write() -> None:
        await repository.write_updates(uow.conn, updates)
        await repository.write_contacts(uow.conn, contacts)
        await repository.add_history(uow.conn, history)

    return touched, asyncio.ensure_future(write())


async def settle(task: asyncio.Future[Any]) -> None:
    """Wait for a statement still running on the unit of work's connection, whatever its outcome,
    so that the connection can roll back (an error is on its way out already)."""
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


async def upsert_debtor(uow: UnitOfWork, creditor_id: UUID, row: DebtorRow, now: datetime) -> tuple[Debtor, bool]:
    applied = await apply_rows(uow, creditor_id, [row], now, source="api")
    if applied.rejected:
        _, error = applied.rejected[0]
        raise invalid(error, "")
    return applied.debtors[row.customer_no], row.customer_no in applied.created


def invalid(error: InvalidValue, prefix: str) -> errors.Invalid:
    return invalid_all([(prefix, error)])


def invalid_all(found: list[tuple[str, InvalidValue]]) -> errors.Invalid:
    """One Invalid naming every invalid value: (JSON pointer of the object, its error)."""
    return errors.Invalid(
        found[0][1].message if len(found) == 1 else f"{len(found)} invalid field(s)",
        kind="validation",
        facts={
            "errors": [
                {"pointer": f"{prefix}/{error.field}", "field": error.field, "detail": error.message}
                for prefix, error in found
            ]
        },
    )


async def get_debtor(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> Debtor:
    debtor = await repository.get(conn, creditor_id, debtor_id)
    if debtor is None:
        # Another creditor's debtor answers exactly like a missing one.
        raise NOT_FOUND
    return debtor


async def set_contact_consent(
    uow: UnitOfWork, creditor_id: UUID, source: str, terms_version: str, terms_date: date, now: datetime
) -> dict[str, Any]:
    """Record the creditor's contact consent. It is the evidence of the addresses the creditor names
    from now on without their own, and of those without any that it names again (a re-sent list);
    what was recorded before keeps the evidence it had."""
    consent = {
        "source": source,
        "terms_version": terms_version,
        "terms_date": terms_date.isoformat(),
        "recorded_at": now.isoformat(),
    }
    await repository.set_contact_consent(uow.conn, creditor_id, consent)
    return consent


async def add_contact(
    uow: UnitOfWork, creditor_id: UUID, debtor_id: UUID, offer: ContactOffer, now: datetime
) -> tuple[Debtor, ContactPoint]:
    debtor = await repository.get(uow.conn, creditor_id, debtor_id, lock=True)
    if debtor is None:
        raise NOT_FOUND
    cp = offer_contact(debtor, offer, now, await repository.standing_consent(uow.conn, creditor_id))
    await persist(uow, creditor_id, [debtor], now, source="api")
    return debtor, cp


async def change_contact(
    uow: UnitOfWork,
    creditor_id: UUID,
    debtor_id: UUID,
    contact_id: UUID,
    now: datetime,
    *,
    verified: bool | None = None,
    consent: Consent | None = None,
    opt_out_reason: str | None = None,
    opt_out: bool = False,
) -> tuple[Debtor, ContactPoint]:
    debtor = await repository.get(uow.conn, creditor_id, debtor_id, lock=True)
    if debtor is None:
        raise NOT_FOUND
    cp = next((cp for cp in debtor.contact_points if cp.id == contact_id), None)
    if cp is None:
        raise CONTACT_NOT_FOUND
    if opt_out:
        set_state(cp, ContactState.OPTED_OUT, opt_out_reason or "opted out", now)
    else:
        offer_contact(
            debtor,
            ContactOffer(ContactKind(cp.kind), cp.value, verified=verified, consent=consent or Consent()),
            now,
            await repository.standing_consent(uow.conn, creditor_id),
        )
    await persist(uow, creditor_id, [debtor], now, source="api")
    return debtor, cp


async def mark_bounced(
    uow: UnitOfWork, creditor_id: UUID, debtor_id: UUID, recipient: str, reason: str, now: datetime
) -> bool:
    """A hard bounce: the address is never used again for this creditor. True when it changed."""
    debtor = await repository.get(uow.conn, creditor_id, debtor_id, lock=True)
    if debtor is None:
        return False
    changed = False
    for cp in debtor.contact_points:
        if cp.kind == ContactKind.EMAIL and cp.value.lower() == recipient.strip().lower():
            changed |= set_state(cp, ContactState.BOUNCED, reason[:500], now)
    if changed:
        await persist(uow, creditor_id, [debtor], now, source="bounce")
    return changed


async def erase(uow: UnitOfWork, creditor_id: UUID, debtor_id: UUID, now: datetime) -> tuple[Debtor, bool]:
    """GDPR erasure: name, national id, address and every contact point go; the claims, their
    history and payments stay, under a pseudonym. A second call changes nothing."""
    debtor = await repository.get(uow.conn, creditor_id, debtor_id, lock=True)
    if debtor is None:
        raise NOT_FOUND
    if debtor.erased_at is not None:
        return debtor, False
    name = pseudonym(debtor.id)
    await repository.erase(uow.conn, creditor_id, debtor_id, name, now)
    debtor.master.update(name=name, national_id=None, address=None, fallback_channel="letter")
    debtor.contact_points = []
    debtor.erased_at = now
    event_id = uow.outbox.add(
        DebtorUpdated(creditor_id=creditor_id, debtor_id=debtor_id, debtor=snapshot(debtor), updated_at=now),
        time=now,
    )
    await repository.add_history(uow.conn, [(debtor_id, uuid.UUID(event_id), "erasure", now, {"erased": True})])
    return debtor, True


@dataclass(frozen=True, slots=True)
class CreditReport:
    debtor: Debtor
    today: date
    figures: CreditFigures
    status: CreditStatus


def _today(debtor: Debtor, now: datetime) -> date:
    # "Today" is the debtor's calendar day: a claim due yesterday in Reykjavík is overdue there.
    return now.astimezone(ZoneInfo(debtor.master["time_zone"])).date()


async def credit_report(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, now: datetime) -> CreditReport:
    debtor = await get_debtor(conn, creditor_id, debtor_id)
    today = _today(debtor, now)
    figures = await repository.credit_figures(conn, creditor_id, debtor_id, today)
    return CreditReport(debtor, today, figures, credit_status(debtor.master, figures, today))


async def credit_reports(
    conn: asyncpg.Connection,
    creditor_id: UUID,
    now: datetime,
    *,
    customer_class: str | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[CreditReport]:
    """The credit reports of a page of the creditor's debtors (in the debtors list's order): two
    queries for the page, whatever its size."""
    debtors = await repository.page(conn, creditor_id, customer_class=customer_class, after=after, limit=limit)
    days = {d.id: _today(d, now) for d in debtors}
    figures = await repository.credit_figures_of(conn, creditor_id, days)
    return [
        CreditReport(d, days[d.id], figures[d.id], credit_status(d.master, figures[d.id], days[d.id])) for d in debtors
    ]


@dataclass(frozen=True, slots=True)
class Export:
    debtor: Debtor
    claims: list[asyncpg.Record]
    claim_history: list[asyncpg.Record]
    debtor_history: list[asyncpg.Record]


async def export(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> Export:
    debtor = await get_debtor(conn, creditor_id, debtor_id)
    claims = await repository.claims_of(conn, creditor_id, debtor_id)
    history = await repository.claim_history(conn, [c["id"] for c in claims])
    return Export(debtor, claims, history, await repository.debtor_history(conn, debtor_id))


async def upsert_for_claims(
    uow: UnitOfWork,
    creditor_id: UUID,
    debtors: list[Any],
    now: datetime,
    *,
    national_ids: dict[str, str] | None = None,
    pointer: str = "/claims/{}",
) -> tuple[dict[str, tuple[UUID, DebtorSnapshot]], asyncio.Future[None]]:
    """The debtors named inline by claims (commands.ClaimDebtorIn, in claim order): customer number →
    (debtor id, snapshot with the usable contact points of this creditor). Returns while their
    contact points are still being written, with that write: await it (or `settle` it) before the
    connection is used again; meanwhile the caller can prepare its claims on this core.
    `national_ids`, if given, receives customer number → national id for the debtors that have one
    (the snapshot leaves it out: only the payment identity needs it). A 422 names every debtor at
    fault (`pointer`: a claim's JSON pointer, `{}` for its index)."""
    rows: list[DebtorRow] = []
    errors: list[tuple[str, InvalidValue]] = []
    for index, debtor in enumerate(debtors):
        try:
            rows.append(row_from_claim(debtor))
        except InvalidValue as exc:
            errors.append((pointer.format(index) + "/debtor", exc))
    if errors:
        raise invalid_all(errors)
    snapshots: dict[str, tuple[Debtor, DebtorSnapshot]] = {}

    def take_snapshots(state: dict[str, Debtor]) -> None:
        snapshots.update((cno, (d, snapshot(d))) for cno, d in state.items())

    applied = await apply_rows(
        uow, creditor_id, rows, now, source="claims", announce_new=False, wait=False, meanwhile=take_snapshots
    )
    assert applied.writing is not None
    try:
        if applied.rejected:
            raise invalid_all([(pointer.format(rows.index(row)) + "/debtor", error) for row, error in applied.rejected])
        result = {}
        for cno, debtor in applied.debtors.items():
            taken, snap = snapshots.get(cno, (None, None))
            # A debtor that another request created first was merged after the snapshot was taken.
            result[cno] = (debtor.id, snap if taken is debtor and snap is not None else snapshot(debtor))
            if national_ids is not None and debtor.master.get("national_id"):
                national_ids[cno] = debtor.master["national_id"]
        return result, applied.writing
    except BaseException:
        await settle(applied.writing)
        raise


def row_from_claim(debtor: Any) -> DebtorRow:
    """A claim's inline debtor (commands.ClaimDebtorIn) as an upsert: only the fields the ERP sent
    are set, so a claim does not reset what the debtor routes or an upload set (language, class…)."""
    given = debtor.model_fields_set
    master: dict[str, Any] = {
        name: getattr(debtor, name)
        for name in ("kind", "name", "language", "time_zone", "country", "fallback_channel")
        if name in given or name in ("name", "country")
    }
    if debtor.national_id:
        master["national_id"] = normalize_national_id(debtor.country, debtor.kind, debtor.national_id)
    if debtor.address is not None:
        master["address"] = debtor.address.model_dump()
    offers = []
    if debtor.email:
        offers.append(ContactOffer(ContactKind.EMAIL, normalize_email(debtor.email), source_if_new="claim"))
    if debtor.phone:
        phone = normalize_phone_cached(debtor.phone, debtor.country)
        offers.append(ContactOffer(ContactKind.PHONE, phone, source_if_new="claim"))
    return DebtorRow(debtor.customer_no, master, tuple(offers))
