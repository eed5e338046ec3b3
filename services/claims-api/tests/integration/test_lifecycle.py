"""The claim lifecycle over HTTP against the real PostgreSQL and broker: departments' due-date rule,
amend, dispute and resolve, defer, hold and release, instalments, write-off; each emits its event
once through the outbox, illegal transitions answer 409, Idempotency-Key replays, another
creditor's ids answer 404; and the ledger allocates fees, payments and overpayments."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from krafa_events import ClaimCancelled, ClaimPaid, PaymentReceived
from krafa_events.catalog import (
    ClaimAmended,
    ClaimDeferred,
    ClaimDisputed,
    ClaimDisputeResolved,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    ClaimReleased,
    ClaimWrittenOff,
    FeeCharged,
)
from krafa_kit.testing import TopicReader, eventually, publish

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

ACTIONS: list[tuple[str, dict[str, Any] | None]] = [
    ("amend", {"amount_minor": 5000}),
    ("dispute", {"reason": "x"}),
    ("resolve", {"outcome": "resume"}),
    ("defer", {"due_date": "2027-01-01"}),
    ("instalments", {"instalments": [{"due_date": "2027-01-01", "amount_minor": 1}]}),
    ("hold", {}),
    ("release", None),
    ("write-off", {}),
    ("cancel", {}),
]


async def test_lifecycle_events_state_machine_idempotency_and_isolation(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=390, cancellation_fee_minor=290)
    _, other = await api.creditor("Valur")

    # Departments: the handball division gives 14 days to the final due date (docs/domain.md: Icelandic payment slips).
    dept = await client.post(
        "/v1/departments", json={"key": "handbolti", "name": "Handknattleiksdeild", "final_due_offset_days": 14}
    )
    assert dept.status_code == 201, dept.text
    assert (await client.post("/v1/departments", json={"key": "handbolti", "name": "x"})).status_code == 409
    assert [d["key"] for d in (await client.get("/v1/departments")).json()["items"]] == ["handbolti"]
    assert (await other.get("/v1/departments")).json()["items"] == []
    assert (await other.get(f"/v1/departments/{dept.json()['id']}")).status_code == 404

    async with TopicReader(broker, "krafa.claims") as reader:
        a = (await client.post("/v1/claims", json=claim_body("A", department="handbolti"))).json()
        b = (await client.post("/v1/claims", json=claim_body("B", customer_no="C-2"))).json()
        c = (await client.post("/v1/claims", json=claim_body("C", customer_no="C-3", department="handbolti"))).json()
        assert a["final_due_date"] == "2026-02-15" and b["final_due_date"] == "2026-02-11"

        # Another creditor: every lifecycle action, the ledger and the timeline answer 404.
        for action, body in ACTIONS:
            response = await other.post(f"/v1/claims/{a['id']}/{action}", json=body)
            assert response.status_code == 404, (action, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        assert (await other.get(f"/v1/claims/{a['id']}/ledger")).status_code == 404
        assert (await other.get(f"/v1/claims/{a['id']}/timeline")).status_code == 404

        # Amend the amount: the ledger records the change of principal.
        amended = await client.post(f"/v1/claims/{a['id']}/amend", json={"amount_minor": 8000, "reason": "discount"})
        assert amended.status_code == 200, amended.text
        assert amended.json()["balance_minor"] == 8390
        assert (await client.post(f"/v1/claims/{a['id']}/amend", json={})).status_code == 422

        # Dispute with an Idempotency-Key: replayed once, refused with another body.
        headers = {"Idempotency-Key": "dispute-a"}
        disputed = await client.post(f"/v1/claims/{a['id']}/dispute", json={"reason": "never ordered"}, headers=headers)
        assert disputed.status_code == 200 and disputed.json()["status"] == "disputed"
        replay = await client.post(f"/v1/claims/{a['id']}/dispute", json={"reason": "never ordered"}, headers=headers)
        assert replay.json() == disputed.json() and replay.headers["idempotent-replayed"] == "true"
        reused = await client.post(f"/v1/claims/{a['id']}/dispute", json={"reason": "other"}, headers=headers)
        assert reused.status_code == 422

        # While disputed, dunning actions are illegal: 409 with the status and what is allowed.
        illegal = await client.post(f"/v1/claims/{a['id']}/defer", json={"due_date": "2026-03-01"})
        assert illegal.status_code == 409
        problem = illegal.json()
        assert problem["type"].endswith("/illegal-transition") and problem["claim_status"] == "disputed"
        assert problem["allowed_from"] == ["held", "open"]
        assert (await client.post(f"/v1/claims/{a['id']}/dispute", json={"reason": "again"})).status_code == 409

        resumed = await client.post(f"/v1/claims/{a['id']}/resolve", json={"outcome": "resume", "note": "valid"})
        assert resumed.json()["status"] == "open"

        # Defer: must move later; the gap to the final due date is kept.
        assert (await client.post(f"/v1/claims/{a['id']}/defer", json={"due_date": "2026-01-01"})).status_code == 422
        deferred = (await client.post(f"/v1/claims/{a['id']}/defer", json={"due_date": "2026-03-01"})).json()
        assert (deferred["due_date"], deferred["final_due_date"]) == ("2026-03-01", "2026-03-15")

        # Hold within the handover notice, then release.
        until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        held = await client.post(f"/v1/claims/{a['id']}/hold", json={"until": until, "reason": "talking to parents"})
        assert held.json()["status"] == "held" and held.json()["held_until"] is not None
        assert (await client.post(f"/v1/claims/{a['id']}/hold", json={})).status_code == 409
        assert (await client.post(f"/v1/claims/{a['id']}/release")).json()["status"] == "open"
        assert (await client.post(f"/v1/claims/{a['id']}/release")).status_code == 409

        # Instalments must add up to the balance (8,390).
        bad = await client.post(
            f"/v1/claims/{a['id']}/instalments",
            json={"instalments": [{"due_date": "2026-04-01", "amount_minor": 4000}]},
        )
        assert bad.status_code == 422 and "8390" in bad.json()["detail"]
        plan = {
            "instalments": [
                {"due_date": "2026-04-01", "amount_minor": 4195},
                {"due_date": "2026-05-01", "amount_minor": 4195},
            ]
        }
        split = await client.post(f"/v1/claims/{a['id']}/instalments", json=plan)
        assert split.status_code == 200, split.text
        assert [i["amount_minor"] for i in (await client.get(f"/v1/claims/{a['id']}")).json()["instalments"]] == [
            4195,
            4195,
        ]

        # Write off B; a written-off claim cannot be amended.
        written = (await client.post(f"/v1/claims/{b['id']}/write-off", json={"reason": "bankrupt"})).json()
        assert written["status"] == "written_off" and written["balance_minor"] == 0
        assert written["written_off_minor"] == 10_390
        refused = await client.post(f"/v1/claims/{b['id']}/amend", json={"amount_minor": 1})
        assert refused.status_code == 409 and refused.json()["claim_status"] == "written_off"

        # Dispute C and resolve by cancelling: ClaimDisputeResolved then ClaimCancelled, fee to handbolti.
        await client.post(f"/v1/claims/{c['id']}/dispute", json={"reason": "left the club in January"})
        cancelled = await client.post(f"/v1/claims/{c['id']}/resolve", json={"outcome": "cancel"})
        assert cancelled.json()["status"] == "cancelled"

        expected = {
            ClaimAmended: 1,
            ClaimDisputed: 2,
            ClaimDisputeResolved: 2,
            ClaimDeferred: 1,
            ClaimHeld: 1,
            ClaimReleased: 1,
            ClaimInstalmentPlanAgreed: 1,
            ClaimWrittenOff: 1,
            ClaimCancelled: 1,
        }

        def counts() -> dict[type, int]:
            return {kind: len(reader.of_type(kind)) for kind in expected}

        await eventually(lambda: counts() == expected, timeout=60)
        written_event = reader.of_type(ClaimWrittenOff)[0]
        assert written_event.amount_minor == 10_390 and written_event.creditor_id == creditor_id
        resolved_kinds = [type(e) for e in reader.events if str(getattr(e, "claim_id", "")) == c["id"]]
        assert resolved_kinds.index(ClaimDisputeResolved) < resolved_kinds.index(ClaimCancelled)

    async with api.db.connection() as conn:
        entries = await conn.fetch("SELECT department, amount_minor FROM settlement_entries")
    assert [dict(e) for e in entries] == [{"department": "handbolti", "amount_minor": -290}]

    timeline = (await client.get(f"/v1/claims/{a['id']}/timeline")).json()["items"]
    assert [i["kind"] for i in timeline] == [
        "created",
        "amendment",
        "dispute",
        "dispute_resolved",
        "deferral",
        "hold",
        "release",
        "instalment_plan",
    ]


async def test_a_dispute_upheld_in_part_corrects_the_claim_before_dunning_resumes(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    _, client = await api.creditor("Fram", slip_fee_minor=390)
    async with TopicReader(broker, "krafa.claims") as reader:
        claim = (await client.post("/v1/claims", json=claim_body("D-1", 12_000, customer_no="C-9"))).json()
        url = f"/v1/claims/{claim['id']}"
        await client.post(url + "/dispute", json={"reason": "two trainings were cancelled"})

        # A correction the amend rules refuse changes nothing: the claim stays disputed at its amount.
        bad = await client.post(
            url + "/resolve",
            json={"outcome": "resume", "correction": {"due_date": "2026-03-01", "final_due_date": "2026-02-01"}},
        )
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["pointer"] == "/final_due_date"
        with_cancel = await client.post(url + "/resolve", json={"outcome": "cancel", "correction": {"amount_minor": 1}})
        assert with_cancel.status_code == 422 and with_cancel.json()["errors"][0]["pointer"] == "/correction"
        empty = await client.post(url + "/resolve", json={"outcome": "resume", "correction": {}})
        assert empty.status_code == 422
        unchanged = (await client.get(url)).json()
        assert (unchanged["status"], unchanged["amount_minor"]) == ("disputed", 12_000)

        fixed = await client.post(
            url + "/resolve",
            json={"outcome": "resume", "note": "two of twelve trainings off", "correction": {"amount_minor": 10_000}},
        )
        assert fixed.status_code == 200, fixed.text
        body = fixed.json()
        assert (body["status"], body["amount_minor"], body["balance_minor"]) == ("open", 10_000, 10_390)

        def mine() -> list[type]:
            return [type(e) for e in reader.events if str(getattr(e, "claim_id", "")) == claim["id"]]

        await eventually(lambda: ClaimDisputeResolved in mine(), timeout=30)
        # The scheduler re-plans the corrected claim: the amendment arrives first.
        assert mine().index(ClaimAmended) < mine().index(ClaimDisputeResolved)
        assert reader.of_type(ClaimAmended)[-1].amount_minor == 10_000
    timeline = (await client.get(url + "/timeline")).json()["items"]
    assert [i["kind"] for i in timeline][-2:] == ["amendment", "dispute_resolved"]


async def test_a_disputed_claim_is_decided_first_and_its_cancellation_upholds_the_dispute(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=390, cancellation_fee_minor=290)
    async with TopicReader(broker, "krafa.claims") as reader:
        claim = (await client.post("/v1/claims", json=claim_body("W-1", 9_000, customer_no="C-7"))).json()
        url = f"/v1/claims/{claim['id']}"
        assert "write-off" in claim["actions"] and "resolve" not in claim["actions"]
        disputed = (await client.post(url + "/dispute", json={"reason": "the hall was closed all term"})).json()
        # What a disputed claim allows, as every page and ERP reads it.
        assert disputed["actions"] == ["amend", "cancel", "resolve"]

        # A write-off would settle the debt the debtor disputes: decided first, refused until then.
        refused = await client.post(url + "/write-off", json={"reason": "not worth it"})
        assert refused.status_code == 409
        assert (refused.json()["claim_status"], refused.json()["allowed_from"]) == ("disputed", ["held", "open"])
        assert (await client.get(url)).json()["status"] == "disputed"

        # Cancelling is the dispute upheld in full: resolved (outcome cancel), then cancelled, the
        # cancellation fee booked once.
        cancelled = await client.post(url + "/cancel", json={"reason": "the debtor is right"})
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["status"], cancelled.json()["actions"]) == ("cancelled", [])

        def mine() -> list[Any]:
            return [e for e in reader.events if str(getattr(e, "claim_id", "")) == claim["id"]]

        await eventually(lambda: any(isinstance(e, ClaimCancelled) for e in mine()), timeout=30)
        kinds = [type(e) for e in mine()]
        assert kinds.index(ClaimDisputeResolved) < kinds.index(ClaimCancelled)
        resolved = next(e for e in mine() if isinstance(e, ClaimDisputeResolved))
        assert (resolved.outcome, resolved.note) == ("cancel", "the debtor is right")
    async with api.db.connection() as conn:
        fees = await conn.fetchval(
            "SELECT count(*) FROM settlement_entries WHERE creditor_id = $1 AND claim_id = $2",
            creditor_id,
            uuid.UUID(claim["id"]),
        )
    assert fees == 1
    timeline = (await client.get(url + "/timeline")).json()["items"]
    assert [i["kind"] for i in timeline][-3:] == ["dispute", "dispute_resolved", "cancelled"]


@pytest.mark.consumes
async def test_ledger_fees_partial_payments_and_overpayment(api: Api) -> None:
    broker = api.app.state.settings.kafka_bootstrap
    creditor_id, client = await api.creditor("Fram", slip_fee_minor=390)
    claim = (await client.post("/v1/claims", json=claim_body())).json()
    claim_id = uuid.UUID(claim["id"])
    debtor_id = uuid.UUID(claim["debtor_id"])
    now = datetime.now(UTC)
    fee = FeeCharged(
        creditor_id=creditor_id,
        debtor_id=debtor_id,
        fee_id=uuid.uuid4(),
        claim_id=claim_id,
        step=1,
        kind="reminder_fee",
        amount_minor=950,
        currency="ISK",
        charged_at=now,
    )

    def payment(amount: int) -> PaymentReceived:
        return PaymentReceived(
            creditor_id=creditor_id,
            debtor_id=debtor_id,
            claim_id=claim_id,
            payment_id=uuid.uuid4(),
            amount_minor=amount,
            currency="ISK",
            reference=claim["reference"],
            booking_date=date(2026, 2, 3),
            value_date=date(2026, 2, 3),
            bank_ref="B1",
            source="test",
            received_at=now,
        )

    # The same fee twice (a replay under a new event id) is charged once.
    await publish(broker, fee, fee.model_copy())

    async def fees_minor() -> int:
        return int((await client.get(f"/v1/claims/{claim['id']}")).json()["fees_minor"])

    await eventually(lambda: _is(fees_minor(), 1340), timeout=60)

    # 1,000 covers the fees (390 + 950) only partly: nothing reaches the principal.
    async with TopicReader(broker, "krafa.claims") as reader:
        await publish(broker, payment(1_000))
        await eventually(lambda: _is(_balance(client, claim["id"]), 10_340), timeout=60)
        ledger = (await client.get(f"/v1/claims/{claim['id']}/ledger")).json()
        assert ledger["outstanding"] == {"principal_minor": 10_000, "fees_minor": 340, "interest_minor": 0}
        assert ledger["entries"][-1]["details"]["allocated"]["fees_minor"] == 1_000

        # 11,000 settles 10,340 and leaves 660 overpaid; ClaimPaid says so.
        await publish(broker, payment(11_000))
        await eventually(lambda: reader.of_type(ClaimPaid), timeout=60)
        paid = reader.of_type(ClaimPaid)[0]
        assert (paid.amount_paid_minor, paid.overpaid_minor) == (12_000, 660)

    ledger = (await client.get(f"/v1/claims/{claim['id']}/ledger")).json()
    assert ledger["principal_minor"] == 10_000 and ledger["fees_minor"] == 1_340
    assert ledger["payments_minor"] == 12_000 and ledger["balance_minor"] == 0 and ledger["overpaid_minor"] == 660
    assert [e["kind"] for e in ledger["entries"]] == ["charge", "fee", "payment", "payment"]
    final = (await client.get(f"/v1/claims/{claim['id']}")).json()
    assert final["status"] == "paid" and final["overpaid_minor"] == 660
    kinds = [i["kind"] for i in (await client.get(f"/v1/claims/{claim['id']}/timeline")).json()["items"]]
    assert kinds.count("fee") == 1 and kinds.count("payment") == 2 and kinds[-1] == "paid"
    # Nothing is left to do with a paid claim.
    assert (await client.post(f"/v1/claims/{claim['id']}/hold", json={})).status_code == 409


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _balance(client: Any, claim_id: str) -> int:
    return int((await client.get(f"/v1/claims/{claim_id}")).json()["balance_minor"])
