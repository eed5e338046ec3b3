"""The scheduler as a service over the real PostgreSQL and broker, driven by a manual clock:
consumption, the sweep, the policy API and the dry run."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import httpx
import pytest
from krafa_events import Channel, Topic
from krafa_events.catalog import (
    ClaimDisputed,
    ClaimEscalated,
    ClaimPaid,
    CreditorNoticeDue,
    DueDatePassed,
    ReminderDue,
    ReminderSent,
)
from krafa_events.testing import a_claim_created
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_law import jurisdiction
from krafa_scheduler import domain
from krafa_scheduler.app import create_app
from krafa_scheduler.policy import default_policy
from krafa_scheduler.settings import Settings
from pydantic import SecretStr

pytestmark = pytest.mark.integration

TOKEN = "operator-test-token"  # noqa: S105


async def test_steps_fire_once_stop_when_paid_and_follow_a_creditor_policy(
    database_url: str, broker: EmbeddedBroker
) -> None:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    settings = Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap, operator_token=SecretStr(TOKEN))
    app = create_app(settings, clock)
    paid_claim = a_claim_created(invoice_no="PAID")
    open_claim = a_claim_created(invoice_no="OPEN")
    disputed = a_claim_created(invoice_no="DISPUTED")
    gold = a_claim_created(
        invoice_no="GOLD",
        department="knattspyrna",
        debtor=a_claim_created().debtor.model_copy(update={"customer_class": "gold"}),
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        serving(app) as url,
        httpx.AsyncClient(base_url=url) as client,
        TopicReader(broker.bootstrap, Topic.DUNNING) as dunning,
    ):
        db = app.state.runtime.db

        # A creditor's own policy for its gold customers of one department: one gentle email on
        # the third business day, copied to the club's treasurer, nothing else.
        policy = {
            "key": "gold-members",
            "jurisdiction": "IS",
            "aggregation": "claim",
            "steps": [
                {"name": "gentle", "when": {"after": "due_date", "business_days": 3, "at": "10:00"},
                 "channels": ["email"], "template": "gentle", "cc": ["gjaldkeri@fram.example"]},
            ],
        }  # fmt: skip
        assert (await client.put(f"/v1/policies/{gold.creditor_id}", json=policy)).status_code == 401
        bad = await client.put(
            f"/v1/policies/{gold.creditor_id}",
            json={**policy, "steps": [{**policy["steps"][0], "fees": [{"rule": "no_such_rule"}]}]},  # type: ignore[dict-item]
            headers=auth,
        )
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["pointer"] == "/steps/0/fees/0/rule"
        shapeless = await client.put(f"/v1/policies/{gold.creditor_id}", json={"key": "x", "steps": []}, headers=auth)
        assert shapeless.status_code == 422 and shapeless.json()["title"] == "Validation failed"
        scope = {"department": "knattspyrna", "customer_class": "gold"}
        for version in (1, 2):
            put = await client.put(f"/v1/policies/{gold.creditor_id}", json=policy, params=scope, headers=auth)
            assert put.status_code == 201 and put.json()["policy"]["version"] == version
        got = await client.get(f"/v1/policies/{gold.creditor_id}", params=scope, headers=auth)
        assert got.json()["source"] == "creditor" and got.json()["policy"]["version"] == 2
        shipped = await client.get(f"/v1/policies/{uuid4()}", params={"jurisdiction": "NO"}, headers=auth)
        assert shipped.json()["policy"]["key"] == "no-default"
        # The plan of a claim that does not exist: the same dry run `krafa plan` prints.
        hypothetical = {"country": "IS", "amount_minor": 10_000, "currency": "ISK", "due_date": "2026-09-01",
                        "final_due_date": "2026-09-11"}  # fmt: skip
        preview = await client.post("/v1/plan", json=hypothetical, headers=auth)
        assert preview.status_code == 200, preview.text
        ctx = domain.hypothetical(
            jurisdiction("IS"), default_policy("IS"), amount_minor=10_000, currency="ISK",
            due=date(2026, 9, 1), final_due=date(2026, 9, 11),
        )  # fmt: skip
        assert preview.json()["steps"] == [p.as_json("ISK") for p in domain.preview(ctx)]
        wrong = await client.post("/v1/plan", json={**hypothetical, "policy": "no-default"}, headers=auth)
        assert wrong.status_code == 422 and wrong.headers["content-type"].startswith("application/problem+json")

        # Published twice: the second copy is a redelivery and must plan nothing new.
        await publish(broker.bootstrap, paid_claim, open_claim, disputed, gold)
        await publish(broker.bootstrap, paid_claim)

        async def planned() -> bool:
            async with db.connection() as conn:
                return bool(await conn.fetchval("SELECT count(*) = 4 FROM timelines"))

        await eventually(planned, timeout=60)

        schedule = (await client.get(f"/v1/claims/{open_claim.claim_id}/schedule", headers=auth)).json()
        # The payment slip's process: nothing before the collection warning, 10 days after the
        # eindagi (Thursday 12 March + 10 = Sunday → Monday 23 March), with its 950 kr. fee.
        assert [s["name"] for s in schedule["steps"][:3]] == ["collection_warning", "creditor_notice", "handover"]
        warning_plan = schedule["steps"][0]
        assert warning_plan["at"] == "2026-03-23T09:00:00+00:00"
        assert warning_plan["fees"] == [{"kind": "collection_fee", "amount_minor": 950}]
        assert warning_plan["notice_kind"] == "innheimtuvidvorun" and warning_plan["pay_by"] == "2026-04-07"
        assert schedule["policy"] == "is-default@2"
        other = await client.get(
            f"/v1/claims/{open_claim.claim_id}/schedule", params={"creditor_id": str(uuid4())}, headers=auth
        )
        assert other.status_code == 404 and other.json()["status"] == 404
        gold_plan = (await client.get(f"/v1/claims/{gold.claim_id}/schedule", headers=auth)).json()
        assert gold_plan["policy"] == "gold-members@2"
        assert [(s["at"], s["channels"]) for s in gold_plan["steps"]] == [("2026-03-05T10:00:00+00:00", ["email"])]

        clock.set(datetime(2026, 3, 5, 10, 30, tzinfo=UTC))
        await eventually(lambda: len(dunning.of_type(ReminderDue)) == 1, timeout=60)
        gentle = dunning.of_type(ReminderDue)[-1]
        assert gentle.claim_ids == (gold.claim_id,)
        assert gentle.cc == ("gjaldkeri@fram.example",) and gentle.template == "gentle"
        assert gentle.policy == "gold-members@2"

        clock.set(datetime(2026, 3, 23, 9, 30, tzinfo=UTC))
        await eventually(lambda: len(dunning.of_type(ReminderDue)) == 4, timeout=60)
        assert len(dunning.of_type(DueDatePassed)) == 4
        warnings = [e for e in dunning.of_type(ReminderDue) if e.step == 1 and e.notice_kind == "innheimtuvidvorun"]
        assert len(warnings) == 3

        await publish(
            broker.bootstrap,
            ClaimPaid(
                creditor_id=paid_claim.creditor_id,
                debtor_id=paid_claim.debtor_id,
                claim_id=paid_claim.claim_id,
                amount_paid_minor=10_390,
                currency="ISK",
                paid_at=clock.now(),
            ),
            ClaimDisputed(
                creditor_id=disputed.creditor_id,
                debtor_id=disputed.debtor_id,
                claim_id=disputed.claim_id,
                reason="never a member",
                disputed_at=clock.now(),
            ),
        )

        async def stopped() -> bool:
            async with db.connection() as conn:
                rows = await conn.fetch(
                    "SELECT status FROM timelines WHERE claim_id = ANY($1::uuid[])",
                    [paid_claim.claim_id, disputed.claim_id],
                )
                return sorted(r["status"] for r in rows) == ["paused", "stopped"]

        await eventually(stopped, timeout=60)
        # The notifier reports the open claim's warning sent (over the broker): from then its ten
        # days count, and the creditor notice, the handover and the first letter follow.
        [open_warning] = [w for w in warnings if w.claim_ids == (open_claim.claim_id,)]
        await publish(
            broker.bootstrap,
            ReminderSent(
                creditor_id=open_claim.creditor_id, debtor_id=open_claim.debtor_id, delivery_id=uuid4(),
                reminder_id=open_warning.reminder_id, claim_ids=open_warning.claim_ids, step=1,
                channel=Channel.EMAIL, recipient="debtor@example.is", sent_at=clock.now(),
            ),
        )  # fmt: skip

        async def sent_recorded() -> bool:
            async with db.connection() as conn:
                return bool(
                    await conn.fetchval(
                        "SELECT notice_sent_at IS NOT NULL FROM timelines WHERE claim_id = $1", open_claim.claim_id
                    )
                )

        await eventually(sent_recorded, timeout=60)
        # The warning's ten days end on Maundy Thursday, so on Tuesday 7 April: the creditor hears
        # that morning, the claim is handed over the next, the agency writes the day after.
        clock.set(datetime(2026, 4, 7, 9, 30, tzinfo=UTC))
        await eventually(lambda: len(dunning.of_type(CreditorNoticeDue)) == 1, timeout=60)
        clock.set(datetime(2026, 4, 8, 9, 30, tzinfo=UTC))
        await eventually(lambda: len(dunning.of_type(ClaimEscalated)) == 1, timeout=60)
        clock.set(datetime(2026, 4, 9, 9, 30, tzinfo=UTC))
        await eventually(lambda: len(dunning.of_type(ReminderDue)) == 5, timeout=60)
        letter = dunning.of_type(ReminderDue)[-1]
        assert letter.claim_ids == (open_claim.claim_id,) and letter.notice_kind == "milliinnheimtubref"
        assert letter.stage == "collection" and letter.tone == "firm"
        # Neither the paid nor the disputed claim ever got a second step.
        fired = {c for e in dunning.of_type(ReminderDue) if e.step > 1 for c in e.claim_ids}
        assert not fired & {paid_claim.claim_id, disputed.claim_id}
        # The operations dashboard's gauges are served.
        exposed = (await client.get("/metrics")).text
        assert "krafa_scheduler_due_steps " in exposed and "krafa_scheduler_timer_lag_seconds " in exposed
