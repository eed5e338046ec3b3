"""Sandbox use cases (docs/adr/0015): a live creditor's sandbox — a creditor of its own, linked
to the live one, made on first use — and its clock, which only moves forward.

Isolation is the tenancy every route already has: a sandbox key authenticates as the sandbox
creditor, so a live key never sees sandbox claims and the other way round."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from krafa_events.catalog import SandboxClockAdvanced
from krafa_kit import errors
from krafa_kit.clock import advanced_offset
from krafa_kit.db import UnitOfWork

from krafa_claims_api import apikey_repository, repository, sandbox_repository, service


@dataclass(frozen=True, slots=True)
class SandboxClock:
    creditor_id: UUID
    offset: timedelta
    now: datetime


def sandbox_only(live_of: UUID | None) -> None:
    if live_of is None:
        raise errors.Forbidden(
            'this is a sandbox\'s route: call it with a sandbox API key (POST /v1/api-keys with "sandbox": true)',
            kind="sandbox-only",
        )


async def ensure_sandbox(uow: UnitOfWork, live_id: UUID) -> UUID:
    """The live creditor's sandbox, made now (a copy of its settings) if it has none yet."""
    live = await sandbox_repository.lock_live(uow.conn, live_id)
    if live is None:
        raise errors.NotFound("no such creditor")
    if live["sandbox_of"] is not None:
        raise errors.Forbidden(
            "a sandbox has no sandbox of its own: create sandbox keys with a live key",
            kind="sandbox-of-sandbox",
        )
    found = await sandbox_repository.sandbox_of_live(uow.conn, live_id)
    if found is not None:
        return found
    sandbox_id = uuid.uuid4()
    await sandbox_repository.insert_sandbox(uow.conn, live_id, sandbox_id)
    return sandbox_id


async def create_sandbox_key(
    uow: UnitOfWork, live_id: UUID, scopes: Sequence[str], name: str | None
) -> tuple[UUID, dict[str, object], str]:
    """An API key of the live creditor's sandbox (made on first use): (sandbox id, key row, token)."""
    sandbox_id = await ensure_sandbox(uow, live_id)
    row, key = await apikey_repository.create(uow.conn, sandbox_id, list(scopes), name)
    return sandbox_id, dict(row), key.token


async def clock_of(uow: UnitOfWork, creditor_id: UUID, base_now: datetime) -> SandboxClock:
    offset = await sandbox_repository.clock_offset(uow.conn, creditor_id)
    return SandboxClock(creditor_id, offset, base_now + offset)


async def advance_clock(
    uow: UnitOfWork,
    creditor_id: UUID,
    base_now: datetime,
    *,
    by: timedelta | None = None,
    to: datetime | None = None,
) -> SandboxClock:
    """Move the sandbox's clock forward (by a duration or to an instant) and announce it
    (SandboxClockAdvanced), in the caller's unit of work. Refused when it would not move forward
    or would move too far at once (krafa_kit.clock.advanced_offset)."""
    offset = await sandbox_repository.clock_offset(uow.conn, creditor_id, lock=True)
    new = advanced_offset(offset, base_now, by=by, to=to)
    # Whole seconds, rounded up so the sandbox is at least where it was asked to be.
    new = timedelta(seconds=math.ceil(new.total_seconds()))
    await sandbox_repository.set_clock_offset(uow.conn, creditor_id, new, base_now)
    sandbox_now = base_now + new
    uow.outbox.add(
        SandboxClockAdvanced(
            creditor_id=creditor_id,
            debtor_id=UUID(int=0),
            offset_s=int(new.total_seconds()),
            advanced_by_s=int((new - offset).total_seconds()),
            sandbox_now=sandbox_now,
            advanced_at=base_now,
        ),
        time=base_now,
    )
    return SandboxClock(creditor_id, new, sandbox_now)


async def pay(uow: UnitOfWork, creditor_id: UUID, claim_id: UUID, amount_minor: int, now: datetime) -> UUID:
    """A payment into a sandbox claim, booked as a matched bank payment is (the ledger's order, a
    settled claim paid, its reminders stopped), valued on the sandbox's day. The sandbox's claims
    are in no bank, so this is the only way money reaches them. Returns the payment's id."""
    claim = await repository.get_claim(uow.conn, creditor_id, claim_id)
    if claim is None:
        raise errors.NotFound("no such claim")
    if claim["status"] != "open":
        raise errors.Conflict(
            f"the claim is {claim['status']}: only an open claim takes a payment", kind="claim-closed"
        )
    payment_id = uuid.uuid4()
    await service.apply_payment(
        uow,
        event_id=str(uuid.uuid4()),
        creditor_id=creditor_id,
        claim_id=claim_id,
        amount_minor=amount_minor,
        occurred_at=now,
        now=now,
        details={
            "amount_minor": amount_minor,
            "currency": claim["currency"],
            "reference": claim["reference"],
            "bank_ref": None,
            "payment_id": str(payment_id),
            "source": "sandbox",
            "value_date": now.date().isoformat(),
        },
    )
    return payment_id
