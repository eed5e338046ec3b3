"""payments-ingest's part of a debtor's personal-data requests (claims-api owns the debtor).

What it holds about a debtor: the payments matched to the debtor's claims, with the payer's name
and account as the bank reported them and the remittance text the payer typed (which often names
them), the debtor's Icelandic bank claims (the payer's kennitala, what was sent to the bank, the
bank's payment transactions), the card checkouts and card instalment failures of the debtor. An erasure pseudonymises
the payer data in the transaction that records the request in the inbox (the amounts, dates and
references stay: bookkeeping keeps them); an export returns all of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from krafa_events.catalog import (
    PaymentsPersonalDataHandled,
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
)
from krafa_kit import privacy
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler
from krafa_kit.db import UnitOfWork
from krafa_kit.personal_data import answer, plain_rows, request_routes

SERVICE = "payments-ingest"


async def erase(uow: UnitOfWork, event: PersonalDataErasureRequested, now: datetime) -> int:
    conn = uow.conn
    payments = await conn.fetch(
        "SELECT id, debtor_name, debtor_account, remittance_text FROM payments"
        " WHERE creditor_id = $1 AND debtor_id = $2 FOR UPDATE",
        event.creditor_id,
        event.debtor_id,
    )
    bank_claims = await conn.fetch(
        "SELECT claim_id, payor_id, sent FROM bank_claims WHERE creditor_id = $1 AND debtor_id = $2 FOR UPDATE",
        event.creditor_id,
        event.debtor_id,
    )
    patterns = privacy.needles(
        [p["debtor_name"] for p in payments]
        + [p["debtor_account"] for p in payments]
        + [c["payor_id"] for c in bank_claims]
    )
    rows = 0
    # The bank keeps its own record of the claim under the payer's id (it is the payer's bank);
    # here the id has served its purpose once the claim exists there.
    for claim in bank_claims:
        await conn.execute(
            "UPDATE bank_claims SET payor_id = $2, sent = $3 WHERE claim_id = $1",
            claim["claim_id"],
            event.pseudonym,
            privacy.scrub_json(claim["sent"], patterns),
        )
        rows += 1
    for tx in await conn.fetch(
        "SELECT identity, transaction FROM bank_claim_payments WHERE claim_id = ANY($1::uuid[])",
        [c["claim_id"] for c in bank_claims],
    ):
        await conn.execute(
            "UPDATE bank_claim_payments SET transaction = $2 WHERE identity = $1",
            tx["identity"],
            privacy.scrub_json(tx["transaction"], patterns),
        )
        rows += 1
    for payment in payments:
        await conn.execute(
            "UPDATE payments SET debtor_name = CASE WHEN debtor_name IS NULL THEN NULL ELSE $2 END,"
            " debtor_account = NULL, remittance_text = $3 WHERE id = $1",
            payment["id"],
            event.pseudonym,
            privacy.scrub(payment["remittance_text"], patterns),
        )
        rows += 1
    rows += await privacy.erase_outbox(conn, event.creditor_id, event.debtor_id, patterns)
    await privacy.record_erasure(conn, event.creditor_id, event.debtor_id, event.pseudonym, event.requested_at)
    answer(uow, PaymentsPersonalDataHandled, event, service=SERVICE, rows=rows, now=now)
    return rows


async def export(uow: UnitOfWork, event: PersonalDataExportRequested, now: datetime) -> None:
    conn = uow.conn
    payments = await conn.fetch(
        "SELECT id, claim_id, amount_minor, currency, booking_date, value_date, reference, remittance_text, bank_ref,"
        " end_to_end_id, debtor_name AS payer_name, debtor_account AS payer_account, account, state, received_at,"
        " reversal_of FROM payments WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY seq",
        event.creditor_id,
        event.debtor_id,
    )
    checkouts = await conn.fetch(
        "SELECT id, claim_id, reference, amount_minor, currency, status, created_at, completed_at FROM card_checkouts"
        " WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY created_at, id",
        event.creditor_id,
        event.debtor_id,
    )
    failures = await conn.fetch(
        "SELECT id, source_id, customer_no, agreement_ref, instalment_no, instalment_count, amount_minor, currency,"
        " reason, next_attempt_date, failed_at FROM card_instalment_failures"
        " WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY failed_at, id",
        event.creditor_id,
        event.debtor_id,
    )
    bank_claims = await conn.fetch(
        "SELECT claim_id, claimant_id, claim_bank, claim_number, due_date, final_due_date, payor_id, state, collection,"
        " principal_minor, fees_minor, interest_minor, currency, created_at, synced_at FROM bank_claims"
        " WHERE creditor_id = $1 AND debtor_id = $2 ORDER BY created_at, claim_id",
        event.creditor_id,
        event.debtor_id,
    )
    data = {
        "payments": plain_rows(payments),
        "bank_claims": plain_rows(bank_claims),
        "card_checkouts": plain_rows(checkouts),
        "card_instalment_failures": plain_rows(failures),
    }
    answer(
        uow,
        PaymentsPersonalDataHandled,
        event,
        service=SERVICE,
        rows=len(payments) + len(checkouts) + len(failures) + len(bank_claims),
        now=now,
        data=data,
    )


def build_routes(clock: Clock) -> dict[type[Any], Handler]:
    return request_routes(clock, erase, export)
