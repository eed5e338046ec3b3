"""Pauses and re-plans over the real database: each event re-plans the timeline predictably, and
resuming never fires a step the pause made obsolete. The claims follow the first Icelandic policy
(a reminder after the due date and after the eindagi, then the collection warning), pinned as the
creditor's own, so the steps these scenarios pause and resume stay the same."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from krafa_events import Channel
from krafa_events.catalog import (
    CallOutcomeRecorded,
    ClaimAmended,
    ClaimDeferred,
    ClaimDisputed,
    ClaimDisputeResolved,
    ClaimEscalated,
    ClaimHeld,
    ClaimInstalmentPlanAgreed,
    ClaimReleased,
    ClaimWrittenOff,
    CreditorNoticeDue,
    DebtorUpdated,
    Instalment,
    ReminderDue,
)
from krafa_events.testing import a_balance_changed, a_claim_created, a_payment_line
from krafa_law import jurisdictions, rates
from krafa_scheduler import policy, repository, service
from krafa_scheduler.handlers import make_routes

from .conftest import Engine

pytestmark = pytest.mark.integration

FIRST_IS_POLICY = json.loads(policy.shipped_policy_versions()["is-default@1"].model_dump_json())


def utc(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def test_dispute_hold_deferral_and_plan_replan_predictably(engine: Engine) -> None:
    disputed = a_claim_created(invoice_no="DISPUTED", due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    held = a_claim_created(invoice_no="HELD", due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    deferred = a_claim_created(invoice_no="DEFERRED", due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    plan = a_claim_created(invoice_no="PLAN", due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    written_off = a_claim_created(invoice_no="GONE", due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    engine.pin(FIRST_IS_POLICY)
    await engine.deliver(disputed, held, deferred, plan, written_off)
    await engine.run_until(utc(3, 4))
    assert len([e for e in await engine.new_events() if isinstance(e, ReminderDue)]) == 5

    now = engine.clock.now()
    # Disputed on 4 March, resolved on 10 April: the friendly reminder after the eindagi and
    # every step that fell due meanwhile must not fire during the dispute.
    dispute = ClaimDisputed(
        creditor_id=disputed.creditor_id, debtor_id=disputed.debtor_id, claim_id=disputed.claim_id,
        reason="never ordered", disputed_at=now,
    )  # fmt: skip
    deferral = ClaimDeferred(
        creditor_id=deferred.creditor_id, debtor_id=deferred.debtor_id, claim_id=deferred.claim_id,
        due_date=date(2026, 4, 1), final_due_date=date(2026, 4, 11), deferred_at=now,
    )  # fmt: skip
    instalments = ClaimInstalmentPlanAgreed(
        creditor_id=plan.creditor_id, debtor_id=plan.debtor_id, claim_id=plan.claim_id, currency="ISK",
        instalments=(Instalment(due_date=date(2026, 3, 20), amount_minor=5_000),
                     Instalment(due_date=date(2026, 4, 20), amount_minor=5_390)),
        agreed_at=now,
    )  # fmt: skip
    gone = ClaimWrittenOff(
        creditor_id=written_off.creditor_id, debtor_id=written_off.debtor_id, claim_id=written_off.claim_id,
        amount_minor=10_390, currency="ISK", written_off_at=now,
    )  # fmt: skip
    await engine.deliver(dispute, deferral, instalments, gone)
    # The first instalment is paid on time; the second is not.
    await engine.deliver(a_balance_changed(plan, a_payment_line(5_000, date(2026, 3, 19), fees=390, principal=4_610)))

    # The held claim: held within the creditor's 24-hour notice window, released five days later.
    await engine.run_until(utc(3, 31, 9))
    notices = [e for e in await engine.new_events() if isinstance(e, CreditorNoticeDue)]
    assert {n.claim_ids for n in notices} == {(held.claim_id,)}
    await engine.deliver(
        ClaimHeld(
            creditor_id=held.creditor_id, debtor_id=held.debtor_id, claim_id=held.claim_id,
            reason="special handling", held_at=engine.clock.now(),
        )
    )  # fmt: skip
    await engine.run_until(utc(4, 5, 12))
    assert not [e for e in await engine.new_events() if isinstance(e, ClaimEscalated)], "no handover while held"
    await engine.deliver(
        ClaimReleased(
            creditor_id=held.creditor_id, debtor_id=held.debtor_id, claim_id=held.claim_id,
            released_at=engine.clock.now(),
        )
    )  # fmt: skip
    await engine.run_until(utc(4, 10, 12))
    await engine.deliver(
        ClaimDisputeResolved(
            creditor_id=disputed.creditor_id, debtor_id=disputed.debtor_id, claim_id=disputed.claim_id,
            outcome="resume", resolved_at=engine.clock.now(),
        )
    )  # fmt: skip
    await engine.run_until(utc(5, 30))
    events = await engine.new_events()

    def steps_of(claim_id: object) -> list[tuple[int, datetime]]:
        return [(e.step, e.due_at) for e in events if isinstance(e, ReminderDue) and claim_id in e.claim_ids]

    # Released on 5 April — but the collection warning of Monday 23 March gave ten days, to
    # Thursday 2 April, Maundy Thursday, so to Tuesday 7 April: the handover waits until the
    # morning after that deadline, Wednesday 8 April at 09:00.
    escalated = [e for e in events if isinstance(e, ClaimEscalated)]
    assert [(e.claim_id, e.escalated_at) for e in escalated if e.claim_id == held.claim_id] == [
        (held.claim_id, utc(4, 8))
    ]
    # Resumed on Friday 10 April at noon: step 2 (not skippable) fires at once, and the rest keeps
    # the policy's spacing from it: the collection warning 9 days later falls on a Sunday, so
    # Monday the 20th at the policy's 09:00.
    disputed_steps = steps_of(disputed.claim_id)
    assert disputed_steps[:2] == [(2, utc(4, 10, 12)), (3, utc(4, 20))]
    # Deferred to 1 April: step 1 already went out; the new eindagi, Saturday 11 April, moves
    # to Monday the 13th, and step 2 follows the morning after.
    assert steps_of(deferred.claim_id)[0] == (2, utc(4, 14))
    # Instalment 1 paid by 20 March; instalment 2 missed on 20 April → dunning re-armed the next
    # morning with step 2.
    assert steps_of(plan.claim_id)[0] == (2, utc(4, 21))
    assert steps_of(written_off.claim_id) == []
    assert (await engine.timeline(written_off.claim_id))["status"] == "stopped"


async def test_amendment_partial_payment_call_and_new_time_zone(engine: Engine) -> None:
    claim = a_claim_created(amount_minor=100_000, due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))
    engine.pin(FIRST_IS_POLICY)
    await engine.deliver(claim)
    # The creditor raises the amount and moves the due date a week; the debtor pays half, which
    # claims-api's ledger applies to the slip fee first and the rest to the principal.
    await engine.deliver(
        ClaimAmended(
            creditor_id=claim.creditor_id, debtor_id=claim.debtor_id, claim_id=claim.claim_id,
            amount_minor=120_000, currency="ISK", due_date=date(2026, 3, 9), final_due_date=date(2026, 3, 19),
            amended_at=engine.clock.now(),
        ),
        a_balance_changed(claim, a_payment_line(60_000, date(2026, 3, 25), fees=390, principal=59_610)),
    )  # fmt: skip
    await engine.run_until(utc(3, 10, 9))
    first = [e for e in await engine.new_events() if isinstance(e, ReminderDue)]
    assert [(r.step, r.due_at) for r in first] == [(1, utc(3, 10))]
    # The debtor moves to Oslo: the next step lands at 09:00 Oslo time (08:00 UTC).
    debtor = claim.debtor.model_copy(update={"time_zone": "Europe/Oslo"})
    await engine.deliver(
        DebtorUpdated(
            creditor_id=claim.creditor_id, debtor_id=claim.debtor_id, debtor=debtor, updated_at=engine.clock.now()
        )
    )
    await engine.run_until(utc(3, 31))
    later = [e for e in await engine.new_events() if isinstance(e, ReminderDue)]
    assert [(r.step, r.due_at) for r in later] == [(2, utc(3, 20, 8)), (3, utc(3, 30, 7))]
    # Interest on the amended amount from the new eindagi, on what the ledger left of it after the
    # payment (120,000 - 59,610), not on half of it.
    days_full, days_half = (
        (date(2026, 3, 25) - date(2026, 3, 19)).days - 1,
        (date(2026, 3, 30) - date(2026, 3, 24)).days,
    )
    rate = rates.rate_on(jurisdictions()["IS"], date(2026, 3, 20)) / 100  # dráttarvextir that month
    expected = round((120_000 * days_full + 60_390 * days_half) * rate / 365)
    assert later[1].interest_minor == expected
    # The warning of 30 March gave ten days, to 9 April: the letters come after that deadline
    # and ten days apart after each letter's own deadline, the call after the second letter's.
    warning = later[1]
    assert warning.pay_by == date(2026, 4, 9)
    await engine.run_until(utc(5, 8))
    rest = [e for e in await engine.new_events() if isinstance(e, ReminderDue)]
    letters = [r for r in rest if r.notice_kind == "milliinnheimtubref"]
    calls = [r for r in rest if r.channels == (Channel.CALL,)]
    assert len(letters) == 2 and len(calls) == 1
    assert letters[0].due_at.date() > warning.pay_by
    assert letters[1].due_at.date() > letters[0].pay_by  # type: ignore[operator]
    assert calls[0].due_at.date() > letters[1].pay_by  # type: ignore[operator]
    # An unanswered call is retried by the notifier's call queue alone, on the same task
    # (krafa_law.windows.call_retry): the scheduler no longer even listens for call outcomes,
    # and makes no afternoon call of its own.
    assert CallOutcomeRecorded not in make_routes(engine.clock)
    await engine.run_until(calls[0].due_at + timedelta(days=1))
    assert [e for e in await engine.new_events() if isinstance(e, ReminderDue)] == []


async def test_a_new_policy_version_reaches_a_planned_timeline_only_when_re_planned(engine: Engine) -> None:
    claim = a_claim_created(due_date=date(2026, 3, 2), final_due_date=date(2026, 3, 12))

    def version(template: str) -> dict[str, object]:
        return {
            "key": "club",
            "jurisdiction": "IS",
            "steps": [
                {"name": "first", "when": {"after": "due_date", "days": 1}, "template": template},
                {"name": "second", "when": {"after": "due_date", "days": 20}, "template": template},
            ],
        }

    async with engine.db.uow() as uow:
        await repository.insert_policy(uow.conn, claim.creditor_id, "", "", version("v1"))
        await uow.commit()
    await engine.deliver(claim)
    async with engine.db.uow() as uow:
        await repository.insert_policy(uow.conn, claim.creditor_id, "", "", version("v2"))
        await uow.commit()
    await engine.run_until(utc(3, 4))
    first = [e for e in await engine.new_events() if isinstance(e, ReminderDue)]
    assert [(r.template, r.policy) for r in first] == [("v1", "club@1")]
    # A deferral re-plans the timeline: from then on it follows the newest version.
    await engine.deliver(
        ClaimDeferred(
            creditor_id=claim.creditor_id, debtor_id=claim.debtor_id, claim_id=claim.claim_id,
            due_date=date(2026, 3, 9), final_due_date=date(2026, 3, 19), deferred_at=engine.clock.now(),
        )
    )  # fmt: skip
    await engine.run_until(utc(4, 1))
    second = [e for e in await engine.new_events() if isinstance(e, ReminderDue)]
    # 20 days after the new due date is Sunday 29 March: an email may go out on a Sunday.
    assert [(r.step, r.template, r.policy, r.due_at) for r in second] == [(2, "v2", "club@2", utc(3, 29))]


async def test_a_claim_gets_its_scopes_newest_policy_version_validated_once(engine: Engine) -> None:
    """Each new claim reads which version of the creditor's policies applies to its scope; a
    version is never changed, so it is validated once and the next claims share it, while a newer
    version or a more specific scope is picked up at once."""
    creditor = a_claim_created().creditor_id

    def club(key: str, template: str) -> dict[str, object]:
        return {
            "key": key,
            "jurisdiction": "IS",
            "steps": [{"name": "first", "when": {"after": "due_date", "days": 1}, "template": template}],
        }

    async with engine.db.uow() as uow:
        assert await service.select_policy(uow.conn, creditor, None, None, "IS") == (None, policy.default_policy("IS"))
        await repository.insert_policy(uow.conn, creditor, "", "", club("club", "v1"))
        chosen, first = await service.select_policy(uow.conn, creditor, None, None, "IS")
        assert chosen == creditor and (first.ref, first.steps[0].template) == ("club@1", "v1")
        assert (await service.select_policy(uow.conn, creditor, None, None, "IS"))[1] is first
        await repository.insert_policy(uow.conn, creditor, "", "", club("club", "v2"))
        assert (await service.select_policy(uow.conn, creditor, None, None, "IS"))[1].ref == "club@2"
        await repository.insert_policy(uow.conn, creditor, "golf", "", club("golf", "g1"))
        assert (await service.select_policy(uow.conn, creditor, "golf", None, "IS"))[1].ref == "golf@1"
        assert (await service.select_policy(uow.conn, creditor, "tennis", None, "IS"))[1].ref == "club@2"
