"""Sandbox creditors' timelines on their own clocks (docs/adr/0015), through the real database:
an advance fires every step that fell due under the sandbox's new now, in order, with the gaps the
law sets counted in sandbox time — the same timeline a live claim gets when real time reaches those
days — while live creditors' claims stay on the service's clock. An offset only moves forward.
One test runs the service over the broker: the advance arrives as an event and wakes the sweep."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from krafa_events import Event, Topic
from krafa_events.catalog import ClaimEscalated, CreditorSnapshot, ReminderDue, ReminderSent
from krafa_events.testing import a_claim_created, a_sandbox_clock_advanced
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import TopicReader, eventually, publish, serving
from krafa_scheduler import repository
from krafa_scheduler.app import create_app
from krafa_scheduler.settings import Settings
from pydantic import SecretStr

from .conftest import Engine

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
TOKEN = "operator-test-token"  # noqa: S105


def sandbox_snapshot() -> CreditorSnapshot:
    return CreditorSnapshot(name="Fram (sandbox)", payment_account="0159-26-007654", sandbox=True)


def of_claim(events: list[Event], claim_id: UUID) -> list[Event]:
    return [e for e in events if claim_id in getattr(e, "claim_ids", ()) or getattr(e, "claim_id", None) == claim_id]


async def advance(engine: Engine, creditor_id: UUID, offset: timedelta) -> None:
    """The sandbox moves its clock; then the sweep runs as the advance wakes it, and each reminder
    is reported sent at its own (sandbox) instant, as the notifier reports a sandbox's, until
    nothing more is due under the sandbox's now."""
    await engine.deliver(
        a_sandbox_clock_advanced(
            creditor_id=creditor_id,
            offset_s=int(offset.total_seconds()),
            advanced_by_s=int(offset.total_seconds()),
            sandbox_now=engine.clock.now() + offset,
            advanced_at=engine.clock.now(),
        )
    )
    reported: set[UUID] = set()
    while True:
        fired = await engine.sweep()
        sends = [
            e
            for e in await engine.emitted()
            if isinstance(e, ReminderDue) and e.creditor_id == creditor_id and e.reminder_id not in reported
        ]
        for due in sends:
            reported.add(due.reminder_id)
            await engine.deliver(
                ReminderSent(
                    creditor_id=due.creditor_id,
                    debtor_id=due.debtor_id,
                    delivery_id=uuid4(),
                    reminder_id=due.reminder_id,
                    claim_ids=due.claim_ids,
                    step=due.step,
                    channel=due.channels[0],
                    recipient="debtor",
                    sent_at=due.due_at,
                )
            )
        if fired == 0 and not sends:
            return


def shape(events: list[Event]) -> list[tuple[Any, ...]]:
    return [
        (type(e).__name__, getattr(e, "notice_kind", None), getattr(e, "due_at", None) or e.escalated_at)
        for e in events
        if isinstance(e, ReminderDue | ClaimEscalated)
    ]


async def test_an_advance_fires_the_sandbox_timeline_a_live_claim_gets_in_real_time(engine: Engine) -> None:
    live_creditor, sandbox_creditor = uuid4(), uuid4()
    due = {"due_date": date(2026, 3, 2), "final_due_date": date(2026, 3, 12)}
    live = a_claim_created(creditor_id=live_creditor, invoice_no="LIVE", **due)
    trial = a_claim_created(creditor_id=sandbox_creditor, invoice_no="TRIAL", creditor=sandbox_snapshot(), **due)
    # The live claim's reminders are reported sent when they fall due; the sandbox's by `advance`.
    engine.send_delay = lambda r: None if r.creditor_id == sandbox_creditor else timedelta(0)
    engine.clock.set(START)
    await engine.deliver(live, trial)
    assert await engine.sweep() == 0

    # 80 sandbox days: the warning, the handover and the agency's letters, all at once.
    horizon = timedelta(days=80)
    await advance(engine, sandbox_creditor, horizon)
    events = await engine.new_events()
    assert of_claim(events, live.claim_id) == []  # the live claim is still on the service's clock
    sandboxed = shape(of_claim(events, trial.claim_id))
    kinds = [kind for name, kind, _ in sandboxed if name == "ReminderDue"]
    assert kinds[:2] == ["innheimtuvidvorun", "milliinnheimtubref"], kinds
    assert "ClaimEscalated" in [name for name, _, _ in sandboxed]
    assert all(START < at <= START + horizon for _, _, at in sandboxed)
    assert [at for _, _, at in sandboxed] == sorted(at for _, _, at in sandboxed)  # in order

    # Real time reaching the same day gives the live claim the same timeline, step for step.
    await engine.run_until(START + horizon)
    lived = shape(of_claim(await engine.new_events(), live.claim_id))
    assert lived == sandboxed


async def test_a_sandbox_offset_only_moves_forward_whatever_order_the_advances_arrive_in(engine: Engine) -> None:
    creditor_id = uuid4()
    for days in (30, 45, 10):
        await engine.deliver(
            a_sandbox_clock_advanced(creditor_id=creditor_id, offset_s=days * 86400, advanced_at=engine.clock.now())
        )
    async with engine.db.connection() as conn:
        assert await repository.clock_offset(conn, creditor_id) == timedelta(days=45)
        assert await repository.clock_offset(conn, uuid4()) == timedelta(0)


async def test_the_sweep_wakes_for_a_sandbox_step_its_offset_earlier(engine: Engine) -> None:
    creditor_id = uuid4()
    engine.clock.set(START)
    trial = a_claim_created(
        creditor_id=creditor_id,
        creditor=sandbox_snapshot(),
        due_date=date(2026, 3, 20),
        final_due_date=date(2026, 3, 30),
    )
    await engine.deliver(trial)
    async with engine.db.connection() as conn:
        unshifted = await repository.next_due_at(conn)
    assert unshifted is not None and unshifted > START
    await engine.deliver(
        a_sandbox_clock_advanced(creditor_id=creditor_id, offset_s=5 * 86400, advanced_at=engine.clock.now())
    )
    async with engine.db.connection() as conn:
        assert await repository.next_due_at(conn) == unshifted - timedelta(days=5)


async def test_the_service_learns_an_advance_from_the_broker_and_fires_the_sandbox_steps_at_once(
    database_url: str, broker: EmbeddedBroker
) -> None:
    clock = ManualClock(START)
    settings = Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap, operator_token=SecretStr(TOKEN))
    app = create_app(settings, clock)
    due = {"due_date": date(2026, 3, 2), "final_due_date": date(2026, 3, 12)}
    live = a_claim_created(invoice_no="LIVE", **due)
    trial = a_claim_created(invoice_no="TRIAL", creditor=sandbox_snapshot(), **due)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        serving(app) as url,
        httpx.AsyncClient(base_url=url, headers=auth) as client,
        TopicReader(broker.bootstrap, Topic.DUNNING) as dunning,
    ):
        db = app.state.runtime.db
        await publish(broker.bootstrap, live, trial)

        async def planned() -> bool:
            async with db.connection() as conn:
                return bool(await conn.fetchval("SELECT count(*) = 2 FROM timelines"))

        await eventually(planned, timeout=60)
        # The sandbox moves 30 days on; the service's own clock stays where it is.
        await publish(
            broker.bootstrap,
            a_sandbox_clock_advanced(
                creditor_id=trial.creditor_id,
                offset_s=30 * 86400,
                advanced_by_s=30 * 86400,
                sandbox_now=START + timedelta(days=30),
                advanced_at=START,
            ),
        )
        [warning] = await eventually(lambda: dunning.of_type(ReminderDue), timeout=60)
        assert warning.claim_ids == (trial.claim_id,) and warning.notice_kind == "innheimtuvidvorun"
        assert warning.due_at == datetime(2026, 3, 23, 9, tzinfo=UTC)  # its own instant, in sandbox time
        # The dry run is as of the sandbox's now: the warning is behind it, the handover ahead.
        schedule = (await client.get(f"/v1/claims/{trial.claim_id}/schedule")).json()
        assert schedule["as_of"] == (START + timedelta(days=30)).isoformat()
        live_schedule = (await client.get(f"/v1/claims/{live.claim_id}/schedule")).json()
        assert live_schedule["as_of"] == START.isoformat()
        assert live_schedule["steps"][0]["at"] == "2026-03-23T09:00:00+00:00"  # still to come for the live claim
    assert not [e for e in dunning.of_type(ReminderDue) if live.claim_id in e.claim_ids]
