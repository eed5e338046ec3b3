"""Icelandic bank claims against the bank sink (a real HTTP server speaking IOBWS 3.2 Claims):
the claim appears in the payer's netbank, follows the ledger's balance, leaves on cancellation,
moves to secondary collection at handover; a payment in the netbank becomes PaymentReceived once,
and the bank file that reports it again later is a duplicate. The sink checks every request
against the standard's schemas and every answer it gives; the tests assert it found no fault."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from krafa.sinks.bank_sink import create_app as create_bank
from krafa_events import ClaimCancelled, ClaimCreated, ClaimPaid, CreditorSnapshot, DebtorSnapshot, PaymentReceived
from krafa_events.catalog import ClaimBalanceChanged, ClaimEscalated, PaymentIdentity
from krafa_events.references import bank_claim_reference, claim_number_from
from krafa_iobws import contract
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, serving
from krafa_payments_ingest.bank_claims import repository
from krafa_payments_ingest.bank_claims import service as bank_claims
from krafa_payments_ingest.bank_claims.client import ClaimsClient

from .conftest import NOW, PaymentsIngest, running

pytestmark = pytest.mark.integration

CLUB = "4101692079"
PAYER = "1201743399"
CLIENT = ("krafa", "bank-test-secret")


@pytest.fixture
async def bank(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    app = create_bank(
        tmp_path / "bank",
        clock=ManualClock(NOW),
        client_id=CLIENT[0],
        client_secret=CLIENT[1],
        token_ttl_s=600,
        rate_per_s=200,
        burst=200,
    )
    async with serving(app) as base:
        yield base, app


@pytest.fixture
async def service(database_url: str, broker: EmbeddedBroker, bank: tuple[str, Any]) -> AsyncIterator[PaymentsIngest]:
    async with running(
        database_url,
        broker,
        consume=True,
        iobws_url=bank[0],
        iobws_client_id=CLIENT[0],
        iobws_client_secret=CLIENT[1],
        iobws_poll_interval_s=0.2,
        # Longer than any test: the sync and the poll must be woken by the events that give them
        # work (and by a retry falling due), never find it by polling.
        iobws_sync_idle_s=600,
    ) as running_service:
        yield running_service


def created(number: int, amount: int = 10_000, fees: int = 390, due: date = date(2026, 3, 2)) -> ClaimCreated:
    claim_no = claim_number_from(number)
    return ClaimCreated(
        creditor_id=uuid.UUID(int=1),
        debtor_id=uuid.UUID(int=100 + number),
        claim_id=uuid.uuid4(),
        invoice_no=f"FRAM-{number}",
        amount_minor=amount,
        currency="ISK",
        fees_minor=fees,
        issue_date=due - timedelta(days=20),
        due_date=due,
        final_due_date=due + timedelta(days=10),
        reference=bank_claim_reference(CLUB, "0133", claim_no, due),
        jurisdiction="IS",
        creditor=CreditorSnapshot(name="Fram", payment_account="0133-26-012345", registration_no=CLUB),
        debtor=DebtorSnapshot(customer_no=f"C-{number}", name="Jón Jónsson", country="IS", language="is"),
        created_at=NOW,
        payment=PaymentIdentity(
            kind="bank_claim",
            reference=bank_claim_reference(CLUB, "0133", claim_no, due),
            claimant_id=CLUB,
            claim_bank="0133",
            claim_number=claim_no,
            payor_id=PAYER,
            template_code="001",
        ),
    )


def balance(
    claim: ClaimCreated, entries: int, principal: int, fees: int, interest: int, paid: int
) -> ClaimBalanceChanged:
    return ClaimBalanceChanged(
        creditor_id=claim.creditor_id,
        debtor_id=claim.debtor_id,
        claim_id=claim.claim_id,
        currency="ISK",
        principal_minor=principal,
        fees_minor=fees,
        interest_minor=interest,
        paid_minor=paid,
        balance_minor=principal + fees + interest,
        cause="payment" if paid else "fee",
        ledger_entries=entries,
        changed_at=NOW,
    )


async def netbank(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    claims = (await http.get(f"/netbank/{PAYER}/claims")).json()["claims"]
    return {c["claimNumber"]: c for c in claims}


async def test_a_claim_lives_in_the_netbank_as_the_ledger_says(
    service: PaymentsIngest, bank: tuple[str, Any], payments_topic: TopicReader
) -> None:
    base, _ = bank
    first, second, third = created(1), created(2, amount=5_000), created(3, amount=7_000)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        # A fault or two at the bank: the sync tries again and the claim still arrives.
        await http.post("/_sink/faults", json={"status": 503, "count": 2})
        await service.publish(first, second, third)
        shown = await eventually(lambda: _has(http, "000001", 10_390), timeout=60)
        assert shown["claimantId"] == CLUB and shown["claimBank"] == "0133" and shown["dueDate"] == "2026-03-02"
        assert shown["finalDueDate"] == "2026-03-12" and shown["isPartialPaymentAllowed"]

        # The other two are in the netbank too (a fault may have delayed one) before the ledger
        # moves them: a claim cancelled before the bank ever had it is never sent at all.
        async def all_shown() -> bool:
            return {"000002", "000003"} <= set(await netbank(http))

        await eventually(all_shown, timeout=60)

        # The ledger books a reminder fee and late interest: the netbank shows the new balance.
        await service.publish(balance(first, 2, 10_000, 1_340, 0, 0), balance(first, 3, 10_000, 1_340, 75, 0))
        await eventually(lambda: _has(http, "000001", 11_415), timeout=60)
        # ...and the sync notes the ledger's length behind what the bank now holds.
        await eventually(lambda: _held(service, first.claim_id, 3), timeout=30)

        # A token the bank ends early: the client fetches another and carries on.
        await http.post("/_sink/revoke-tokens")
        # Cancelled: gone from the netbank. Handed over: secondary collection at the bank.
        await service.publish(
            ClaimCancelled(
                creditor_id=second.creditor_id, debtor_id=second.debtor_id, claim_id=second.claim_id, cancelled_at=NOW
            ),
            ClaimEscalated(
                creditor_id=third.creditor_id,
                debtor_id=third.debtor_id,
                claim_id=third.claim_id,
                stage="collection",
                escalated_at=NOW,
            ),
        )

        async def moved() -> bool:
            shown = await netbank(http)
            return "000002" not in shown and shown.get("000003", {}).get("collectionStatus") == "SecondaryCollection"

        await eventually(moved, timeout=60)

        # The payer pays part of it in the netbank: PaymentReceived once, by the bank's reference.
        paid = (await http.post(f"/netbank/{PAYER}/claims/{shown['claimId']}/pay", json={"amount": 3_000})).json()
        assert paid["paymentType"] == "Partial" and paid["otherCostsAmountPaid"] == 1_340
        assert paid["otherDefaultCostsAmountPaid"] == 75 and paid["amount"] == 1_585

        def received() -> list[PaymentReceived]:
            return [e for e in payments_topic.events if isinstance(e, PaymentReceived)]

        await eventually(received, timeout=60)
        (payment,) = received()
        assert (payment.claim_id, payment.amount_minor, payment.bank_ref) == (
            first.claim_id,
            3_000,
            paid["transactionBatchId"],
        )
        assert payment.source == "iobws" and payment.reference == first.reference
        assert payment.stated_entries is None  # part of it: no statement paid in full
        # Until claims-api books it, and after, the netbank shows what is left: 8,415.
        await eventually(lambda: _has(http, "000001", 8_415), timeout=30)
        await service.publish(balance(first, 4, 8_415, 0, 0, 3_000))
        await eventually(lambda: _held(service, first.claim_id, 4), timeout=30)

        # The bank file that reports the same payment the next day is a duplicate, not a second payment.
        statement = await http.get("/_sink/statement.camt054", params={"claimantId": CLUB, "date": NOW.date()})
        async with service.client() as ops:
            imported = (
                await ops.post(
                    "/v1/payments/files",
                    content=statement.content,
                    params={"filename": "claims.xml"},
                    headers={"Content-Type": "application/xml"},
                )
            ).json()
        assert (imported["entries"], imported["new"], imported["duplicates"]) == (1, 0, 1)

        # The rest paid: the claim is paid at the bank, and ClaimPaid cancels nothing there.
        rest = (await http.post(f"/netbank/{PAYER}/claims/{shown['claimId']}/pay", json={})).json()
        assert rest["paymentType"] == "Complete" and rest["totalAmountPaid"] == 8_415
        await eventually(lambda: len(received()) == 2, timeout=60)
        # Paid in full as the bank held it: the payment names that ledger, so a charge claims-api
        # booked meanwhile cannot leave the claim open behind a payer who paid all they were asked.
        assert received()[1].stated_entries == 4
        await service.publish(
            ClaimPaid(
                creditor_id=first.creditor_id,
                debtor_id=first.debtor_id,
                claim_id=first.claim_id,
                amount_paid_minor=11_415,
                currency="ISK",
                paid_at=NOW,
            )
        )
        await service.wait_indexed(3, closed=2)
        states = await _states(service)
        assert states[first.claim_id] == "paid" and states[second.claim_id] == "cancelled"
        assert "000001" not in await netbank(http)
        assert len(received()) == 2

        stats = (await http.get("/_sink/stats")).json()
    assert stats.get("request_violations", 0) == 0 and stats.get("response_violations", 0) == 0
    assert stats["injected_faults"] == 2 and stats["tokens_issued"] >= 2 and stats["unauthorized"] >= 1
    assert stats["claims"] == {"Paid": 1, "Cancelled": 1, "Unpaid": 1}


async def _has(http: httpx.AsyncClient, number: str, total: int) -> dict[str, Any] | None:
    found = (await netbank(http)).get(number)
    return found if found is not None and found["totalAmountDue"] == total else None


async def _held(service: PaymentsIngest, claim_id: uuid.UUID, entries: int) -> bool:
    async with service.db.connection() as conn:
        held = await conn.fetchval("SELECT sent_ledger_entries FROM bank_claims WHERE claim_id = $1", claim_id)
    return bool(held == entries)


async def _states(service: PaymentsIngest) -> dict[uuid.UUID, str]:
    async with service.db.connection() as conn:
        rows = await conn.fetch("SELECT claim_id, state FROM bank_claims")
    return {row["claim_id"]: row["state"] for row in rows}


async def test_every_message_of_the_client_follows_the_standard(bank: tuple[str, Any]) -> None:
    """The client against the sink with the contract checked on the client's side too: every
    request before it leaves and every answer before the client reads it."""
    base, _ = bank
    recorder = contract.Recorder([], [])
    client = ClaimsClient(
        base,
        token_url=base + "/oauth2/token",
        client_id=CLIENT[0],
        client_secret=CLIENT[1],
        event_hooks=contract.checked_hooks(recorder),
    )
    claim = created(7)
    body = {
        "claimKey": {"claimantId": CLUB, "account": "013366000007", "dueDate": "2026-03-02"},
        "payorId": PAYER,
        "templateCode": "001",
        "amount": 10_000,
        "otherCostsAmount": 390,
        "otherDefaultCostsAmount": 0,
        "finalDueDate": "2026-03-12",
        "expirationDate": "2030-03-12",
        "isPartialPaymentAllowed": False,
        "defaultCharge": None,
        "defaultInterest": None,
        "currency": "ISK",
        "claimType": "NormalClaim",
    }
    key = uuid.uuid5(claim.claim_id, "create")
    try:
        first = await client.create_claim(body, key)
        again = await client.create_claim(body, key)  # a retry after a lost answer: the same answer
        assert first == again and first["success"]["claimId"] == "4101692079013366000007+20260302"
        other = await client.create_claim(body, uuid.uuid4())  # the same claim under another key
        assert other["error"]["resultCode"] == "CLAIM_EXISTS"
        bank_id = first["success"]["claimId"]
        await client.patch_claim(bank_id, {"otherDefaultCostsAmount": 120, "finalDueDate": "2026-03-20"})
        details = await client.get_claim(bank_id)
        assert (details["totalAmountDue"], details["finalDueDate"]) == (10_510, "2026-03-20")
        cancelled = await client.patch_claim(bank_id, {"claimStatus": "Cancelled"})
        assert "success" in cancelled
        paid_after = await client.patch_claim(bank_id, {"amount": 1})
        assert paid_after["error"]["resultCode"] == "CLAIM_IS_CANCELLED"
        assert await client.claimant_transactions(CLUB, date(2026, 3, 1), date(2026, 3, 9)) == []
        assert await client.claim_transactions(bank_id) == []
        with pytest.raises(Exception, match="404"):
            await client.get_claim("4101692079013366999999+20260302")
    finally:
        await client.aclose()
    assert not recorder.violations
    assert {op for _, _, op in recorder.exchanges} >= {201, 200, 404}


async def test_replicas_poll_a_claimants_payments_in_turn(
    database_url: str, broker: EmbeddedBroker, bank: tuple[str, Any]
) -> None:
    """While one replica reads a claimant's payments at the bank, another skips that claimant
    (no second read of the same payments); once the first is done, the next poll reads it."""
    base, _ = bank
    async with running(database_url, broker, consume=False) as service:
        db = service.db
        async with db.uow() as uow:
            await bank_claims.on_claim_created(uow, created(1))
            await uow.commit()
        client = ClaimsClient(base, token_url=base + "/oauth2/token", client_id=CLIENT[0], client_secret=CLIENT[1])
        clock = ManualClock(NOW)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:

            async def reads() -> int:
                return int((await http.get("/_sink/stats")).json().get("getClaimsTransactions", 0))

            async with db.connection() as other_replica:
                assert await repository.try_lock_poll(other_replica, CLUB)
                await bank_claims.poll_payments(db, client, clock)
                assert await reads() == 0
                await repository.unlock_poll(other_replica, CLUB)
            await bank_claims.poll_payments(db, client, clock)
            assert await reads() == 1
            # The poll let go of its lock: the other replica's next turn is free.
            async with db.connection() as other_replica:
                assert await repository.try_lock_poll(other_replica, CLUB)
                await repository.unlock_poll(other_replica, CLUB)
        await client.aclose()
