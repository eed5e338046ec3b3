"""Icelandic bank claims across the whole stack: a claim posted over REST appears in the payer's
netbank within seconds (through payments-ingest and the bank sink, over IOBWS 3.2 Claims), its
amount follows every fee and interest the ledger books, it moves to secondary collection at
handover, the payer pays it in the netbank, ClaimPaid follows and no reminder goes out after; a
cancelled claim disappears from the netbank. The bank sink checks every request and answer
against the standard's schemas and must have found no fault. On the same stack, the club's sandbox:
its claim is issued to no bank, and its clock, moved 30 days on, brings its warning (to no mailbox)
weeks before the stack's own clock would."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from krafa import invariants
from krafa.chaos import kennitala
from krafa.observer import Observer
from krafa.sinks.smtp_catcher import read_spool
from krafa.stack import Stack
from krafa_kit.kafka_cluster import KafkaCluster
from krafa_kit.testing import eventually

from .conftest import make_stack

pytestmark = pytest.mark.e2e

CLUB = "5101690509"
DAY_S = 1.0  # wall seconds per simulated day


@pytest.fixture(scope="module")
def bank_stack(tmp_path_factory: pytest.TempPathFactory, stack_kafka: KafkaCluster | None) -> Iterator[Stack]:
    instance = make_stack(tmp_path_factory.mktemp("stack"), day_seconds=DAY_S, kafka=stack_kafka)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


async def test_a_claim_lives_in_the_netbank_until_paid_there(bank_stack: Stack) -> None:
    stack = bank_stack
    observer = Observer(stack.broker.bootstrap)
    await observer.start()
    payer = kennitala(stack.sim_now().date().replace(year=1984), 7)
    other = kennitala(stack.sim_now().date().replace(year=1990), 8)
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.post(
            stack.url("claims-api") + "/v1/admin/creditors",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            json={
                "name": "Ungmennafélagið Fram",
                "country": "IS",
                "currency": "ISK",
                "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
                "default_language": "is",
                "slip_fee_minor": 390,
                "registration_no": CLUB,
                "bank_claims": {"claim_bank": "0133", "template_code": "001"},
            },
        )
        assert created.status_code == 201, created.text
        key = {"Authorization": f"Bearer {created.json()['api_key']}"}
        due = stack.sim_now().date() + timedelta(days=1)

        def body(invoice: str, customer: str, national_id: str) -> dict[str, Any]:
            return {
                "invoice_no": invoice,
                "amount_minor": 12_000,
                "currency": "ISK",
                "due_date": due.isoformat(),
                "debtor": {
                    "customer_no": customer,
                    "name": "Jón Jónsson",
                    "national_id": national_id,
                    "country": "IS",
                    "language": "is",
                    "email": f"{customer.lower()}@example.is",
                    "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
                },
            }

        bank = stack.url("bank-sink")

        async def netbank(kt: str) -> dict[str, dict[str, Any]]:
            shown = (await http.get(f"{bank}/netbank/{kt}/claims")).json()["claims"]
            return {c["claimNumber"]: c for c in shown}

        posted_at = time.monotonic()
        claim = await http.post(stack.url("claims-api") + "/v1/claims", json=body("E2E-1", "C-1", payer), headers=key)
        assert claim.status_code == 201, claim.text
        claim_json = claim.json()
        number = claim_json["payment"]["claim_number"]
        assert claim_json["payment"]["kind"] == "bank_claim" and claim_json["payment"]["claimant_id"] == CLUB
        shown = await eventually(lambda: _shown(netbank(payer), number, 12_390), timeout=20)
        print(f"claim in the netbank {time.monotonic() - posted_at:.2f} s after the POST")
        assert shown["claimantId"] == CLUB and shown["claimBank"] == "0133"

        # A second claim, cancelled: it leaves the netbank.
        second = await http.post(stack.url("claims-api") + "/v1/claims", json=body("E2E-2", "C-2", other), headers=key)
        second_number = second.json()["payment"]["claim_number"]
        await eventually(lambda: _shown(netbank(other), second_number, 12_390), timeout=20)
        cancelled = await http.post(
            stack.url("claims-api") + f"/v1/claims/{second.json()['id']}/cancel",
            json={"reason": "paid at the desk"},
            headers=key,
        )
        assert cancelled.status_code == 200, cancelled.text
        await eventually(lambda: _gone(netbank(other), second_number), timeout=20)

        # Every balance the ledger reaches (fees and late interest booked by the steps) is what the
        # netbank shows, until the handover to collection (day 30) and a collection fee after it.
        seen: list[int] = []

        async def ledger() -> dict[str, Any]:
            got = await http.get(stack.url("claims-api") + f"/v1/claims/{claim_json['id']}", headers=key)
            found: dict[str, Any] = got.json()
            return found

        async def balance() -> int:
            return int((await ledger())["balance_minor"])

        async def in_step() -> int | None:
            """The ledger's balance when the netbank shows it (the ledger may move on meanwhile:
            a fee and its late interest are booked moments apart)."""
            ledger = await balance()
            shown = (await netbank(payer)).get(number)
            return ledger if shown is not None and shown["totalAmountDue"] == ledger else None

        # The loop ends at the first collection fee after the handover (late interest alone is
        # booked between steps too, so a rising balance does not mean a step fired).
        fees_at_handover: int | None = None
        deadline = time.monotonic() + 50 * DAY_S + 60
        while time.monotonic() < deadline:
            current = await balance()
            if not seen or current != seen[-1]:
                seen.append(await eventually(in_step, timeout=20))
            shown_now = (await netbank(payer)).get(number, {})
            fees = int((await ledger())["fees_minor"])
            if shown_now.get("collectionStatus") == "SecondaryCollection":
                if fees_at_handover is None:
                    fees_at_handover = fees
                elif fees > fees_at_handover and shown_now.get("totalAmountDue") == seen[-1]:
                    break
            await asyncio.sleep(0.3)
        assert len(seen) >= 3, f"the ledger moved only through {seen}"
        assert fees_at_handover is not None and int((await ledger())["fees_minor"]) > fees_at_handover

        # Midway to the next step (14 days after the collection fee's), once this step's letter is
        # out, the payer pays it all in the netbank: ClaimPaid, and no reminder after. (A payment in
        # the very moment a step fires races the step's own sends and fee: the notifier's stop
        # fence, not the bank's path.)
        await asyncio.sleep(3 * DAY_S)
        # The netbank shows what the ledger holds (in_step) right before the payer pays it: a
        # separate read after it could meet the next booking of a machine that runs late.
        await eventually(in_step, timeout=20)
        paid = await http.post(f"{bank}/netbank/{payer}/claims/{shown['claimId']}/pay", json={})
        assert paid.status_code == 201, paid.text
        claim_id = uuid.UUID(claim_json["id"])
        await eventually(lambda: observer.claims.get(claim_id) and observer.claims[claim_id].paid_at, timeout=30)
        assert [p.source for p in observer.payments if p.claim_id == claim_id] == ["iobws"]
        # Past the next step (fourteen days after the collection fee's): what was due stays silent.
        await asyncio.sleep(12 * DAY_S)
        assert not [sent for cid, sent in observer.reminders_after_payment() if cid == claim_id]
        assert number not in await netbank(payer)
        stats = (await http.get(f"{bank}/_sink/stats")).json()
    await observer.stop()
    assert stats.get("request_violations", 0) == 0 and stats.get("response_violations", 0) == 0
    assert stats["claims"]["Paid"] == 1 and stats["claims"]["Cancelled"] == 1
    # Every message the notifier sent on the way — the warning with its fee, the letters after the
    # handover — stated the ledger's balance as booked, within the caps and the notices' gaps.
    conn = await asyncpg.connect(stack.database_url)
    try:
        statements, _ = await invariants.read_statements(conn)
        truth = await invariants.messages_tell_the_truth(conn)
    finally:
        await conn.close()
    assert truth.ok, truth.detail
    assert any(s.ledger_entries > 1 and s.notice_kind == "innheimtuvidvorun" for s in statements), truth.detail


async def _shown(listing: Any, number: str, total: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await listing).get(number)
    return found if found is not None and found["totalAmountDue"] == total else None


async def _gone(listing: Any, number: str) -> bool:
    return number not in await listing


async def test_a_sandbox_claim_reaches_its_warning_on_the_sandbox_clock_and_never_the_bank_or_a_mailbox(
    bank_stack: Stack,
) -> None:
    """The same club's sandbox (docs/adr/0015), on the module's stack: its claim is issued to no
    bank, an advance of 30 days brings its collection warning while the stack's own clock is
    still weeks before it, and the warning reaches no mail server."""
    stack = bank_stack
    observer = Observer(stack.broker.bootstrap)
    await observer.start()
    payer = kennitala(stack.sim_now().date().replace(year=1986), 5)
    api = stack.url("claims-api")
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.post(
            api + "/v1/admin/creditors",
            headers={"Authorization": f"Bearer {stack.state.admin_token}"},
            json={
                "name": "Knattspyrnufélagið Fram",
                "country": "IS",
                "currency": "ISK",
                "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
                "registration_no": CLUB,
                "bank_claims": {"claim_bank": "0133", "template_code": "001"},
            },
        )
        assert created.status_code == 201, created.text
        live = {"Authorization": f"Bearer {created.json()['api_key']}"}
        made = await http.post(
            api + "/v1/api-keys", json={"scopes": ["claims:write", "read"], "sandbox": True}, headers=live
        )
        assert made.status_code == 201, made.text
        trial = {"Authorization": f"Bearer {made.json()['api_key']}"}
        due = stack.sim_now().date() + timedelta(days=1)
        claim = await http.post(
            api + "/v1/claims",
            headers=trial,
            json={
                "invoice_no": "TRIAL-1",
                "amount_minor": 12_000,
                "currency": "ISK",
                "due_date": due.isoformat(),
                "debtor": {
                    "customer_no": "T-1",
                    "name": "Jón Jónsson",
                    "national_id": payer,
                    "country": "IS",
                    "email": "sandbox.debtor@example.is",
                    "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
                },
            },
        )
        assert claim.status_code == 201, claim.text
        # The payment identity is the live one's (a bank claim), but no bank ever holds it.
        assert claim.json()["payment"]["kind"] == "bank_claim"
        claim_id = uuid.UUID(claim.json()["id"])
        await eventually(lambda: observer.claims.get(claim_id) and observer.claims[claim_id].created, timeout=20)
        moved = await http.post(api + "/v1/sandbox/clock", json={"advance": "P30D"}, headers=trial)
        assert moved.status_code == 200, moved.text
        warning = (await eventually(lambda: observer.claims[claim_id].sent, timeout=30))[0]
        assert warning.step == 1 and warning.channel.value == "email"
        # In sandbox time, and ahead of the stack's own clock (a day every second here).
        assert warning.sent_at > stack.sim_now() + timedelta(days=5)
        shown = (await http.get(f"{stack.url('bank-sink')}/netbank/{payer}/claims")).json()["claims"]
        assert shown == []
    await observer.stop()
    mailed = [rcpt for message in read_spool(stack.spool / "mail") for rcpt in message.rcpt_tos]
    assert "sandbox.debtor@example.is" not in mailed
