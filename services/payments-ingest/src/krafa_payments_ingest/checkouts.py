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

from krafa_kit.db import Database
from krafa_kit.http import Problem

from krafa_payments_ingest import psp, service

PROBLEMS = "https://docs.krafa.dev/problems/"


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


async def start(db: Database, client: psp.CheckoutClient, request: CheckoutRequest, now: datetime) -> psp.Session:
    async with db.connection() as conn:
        claim = await conn.fetchrow(
            "SELECT claim_id, creditor_id, debtor_id, reference, currency, status FROM claim_index WHERE claim_id = $1",
            request.claim_id,
        )
    # Another creditor's or debtor's claim is as unknown as a missing one.
    if claim is None or claim["creditor_id"] != request.creditor_id or claim["debtor_id"] != request.debtor_id:
        raise Problem(404, "Not Found", "no such claim")
    if claim["status"] != "open":
        raise Problem(409, "Conflict", f"the claim is {claim['status']}", type_=PROBLEMS + "claim-closed")
    if claim["currency"] != request.currency.upper():
        raise Problem(422, "Validation failed", "the claim is in another currency", type_=PROBLEMS + "validation")
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
        raise Problem(503, "Service Unavailable", str(exc), type_=PROBLEMS + "psp-unavailable") from exc
    async with db.uow() as uow:
        await uow.conn.execute(
            "INSERT INTO card_checkouts (id, claim_id, creditor_id, debtor_id, reference, amount_minor, currency,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            session.id,
            request.claim_id,
            request.creditor_id,
            request.debtor_id,
            claim["reference"],
            request.amount_minor,
            request.currency.upper(),
            now,
        )
        await uow.commit()
    return session


async def status(db: Database, checkout_id: str) -> dict[str, Any] | None:
    async with db.connection() as conn:
        row = await conn.fetchrow(
            "SELECT id, claim_id, amount_minor, currency, status, created_at, completed_at FROM card_checkouts"
            " WHERE id = $1",
            checkout_id,
        )
    return dict(row) if row else None


async def completed(db: Database, event: dict[str, Any], now: datetime) -> bool:
    """A paid checkout session: the payment, once. False for an event we do not act on."""
    if event.get("type") not in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        return False
    session = (event.get("data") or {}).get("object") or {}
    if session.get("payment_status") != "paid":
        return False
    async with db.uow() as uow:
        row = await uow.conn.fetchrow("SELECT * FROM card_checkouts WHERE id = $1 FOR UPDATE", session.get("id"))
        if row is None:
            raise Problem(404, "Not Found", "no such checkout")
        amount = psp.from_provider_amount(int(session.get("amount_total") or 0), str(session.get("currency") or ""))
        if amount != row["amount_minor"] or str(session.get("currency", "")).upper() != row["currency"]:
            raise Problem(
                422, "Validation failed", "the amount paid is not the checkout's", type_=PROBLEMS + "validation"
            )
        first = bool(row["status"] != "paid")
        if first:
            await uow.conn.execute(
                "UPDATE card_checkouts SET status = 'paid', completed_at = $2, provider_event = $3 WHERE id = $1",
                row["id"],
                now,
                event.get("id"),
            )
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
            )
        ],
        hashlib.sha256(row["id"].encode()).hexdigest(),
        0,
        now,
    )
    return first
