"""Use cases of card checkouts from the debtor portal: start one at the provider for a claim in
the index, and turn the provider's signed `checkout.session.completed` into a payment recorded
exactly as a real-time bank notification (matched by the claim's reference, PaymentReceived,
idempotent on the session id: the provider retries webhooks)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from krafa_events import currencies
from krafa_kit import errors
from krafa_kit.db import Database

from krafa_payments_ingest import psp, repository, service


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    creditor_id: UUID
    debtor_id: UUID
    claim_id: UUID
    amount_minor: int
    currency: str
    description: str
    language: str
    success_url: str
    cancel_url: str
    stated_entries: int | None = None  # PaymentReceived.stated_entries, for a checkout of the whole balance


async def start(db: Database, client: psp.CheckoutClient, request: CheckoutRequest, now: datetime) -> psp.Session:
    async with db.connection() as conn:
        claim = await repository.checkout_claim(conn, request.claim_id)
    # Another creditor's or debtor's claim is as unknown as a missing one.
    if claim is None or claim["creditor_id"] != request.creditor_id or claim["debtor_id"] != request.debtor_id:
        raise errors.NotFound("no such claim")
    if claim["status"] != "open":
        raise errors.Conflict(f"the claim is {claim['status']}", kind="claim-closed")
    if claim["currency"] != request.currency.upper():
        raise errors.Invalid("the claim is in another currency", kind="validation")
    try:
        psp.provider_amount(request.amount_minor, request.currency)
    except psp.NotChargeable as exc:
        raise errors.Invalid(str(exc), kind="validation") from exc
    key = hashlib.sha256(
        f"{request.claim_id}:{request.amount_minor}:{request.currency}:{int(time.time() // 60)}".encode()
    ).hexdigest()
    try:
        session = await client.create(
            amount_minor=request.amount_minor,
            currency=request.currency,
            description=request.description,
            success_url=request.success_url,
            cancel_url=request.cancel_url,
            reference=claim["reference"],
            metadata={
                "claim_id": str(request.claim_id),
                "creditor_id": str(request.creditor_id),
                "debtor_id": str(request.debtor_id),
                "reference": claim["reference"],
            },
            locale={"nb": "nb", "is": "auto", "et": "et"}.get(request.language, "en"),
            idempotency_key=key,
        )
    except psp.PspError as exc:
        raise errors.Unavailable(str(exc), kind="psp-unavailable") from exc
    async with db.uow() as uow:
        await repository.add_checkout(
            uow.conn,
            session.id,
            request.claim_id,
            request.creditor_id,
            request.debtor_id,
            claim["reference"],
            request.amount_minor,
            request.currency.upper(),
            now,
            stated_entries=request.stated_entries,
        )
        await uow.commit()
    return session


async def status(db: Database, checkout_id: str) -> dict[str, Any] | None:
    async with db.connection() as conn:
        row = await repository.checkout(conn, checkout_id)
    return dict(row) if row else None


async def completed(db: Database, event: dict[str, Any], now: datetime) -> bool:
    """A paid checkout session: the payment, once. False for an event we do not act on."""
    if event.get("type") not in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        return False
    session = (event.get("data") or {}).get("object") or {}
    if session.get("payment_status") != "paid":
        return False
    async with db.uow() as uow:
        row = await repository.lock_checkout(uow.conn, str(session.get("id")))
        if row is None:
            raise errors.NotFound("no such checkout")
        try:
            amount = psp.from_provider_amount(session.get("amount_total"), str(session.get("currency") or ""))
        except (psp.PspError, currencies.UnknownCurrency) as exc:
            raise errors.Invalid(f"the amount paid is unreadable: {exc}", kind="validation") from exc
        if amount != row["amount_minor"] or str(session.get("currency", "")).upper() != row["currency"]:
            raise errors.Invalid("the amount paid is not the checkout's", kind="validation")
        first = bool(row["status"] != "paid")
        if first:
            await repository.set_checkout_paid(uow.conn, row["id"], now, event.get("id"))
        await uow.commit()
    # Recorded as any real-time notification: the session id is its identity, so the provider's
    # retries (and this webhook arriving twice) apply it once.
    await service.import_notifications(
        db,
        [
            service.Notification(
                source_id=row["id"],
                amount_minor=row["amount_minor"],
                currency=row["currency"],
                reference=row["reference"],
                remittance_text=f"card payment {row['id']}",
                booking_date=now.date(),
                payer_account=None,
                stated_entries=row["stated_entries"],
            )
        ],
        hashlib.sha256(row["id"].encode()).hexdigest(),
        0,
        now,
    )
    return first
