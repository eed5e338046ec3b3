"""One trace per claim: the reminder step a timeline fires days after the claim was registered
continues the trace of the ClaimCreated that began the timeline (the trace of the claim's POST)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from krafa_events.testing import a_claim_created
from krafa_kit.clock import ManualClock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import eventually, publish, serving
from krafa_scheduler.app import create_app
from krafa_scheduler.settings import Settings

pytestmark = pytest.mark.integration

POST_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_a_step_fired_later_continues_the_claims_trace(database_url: str, broker: EmbeddedBroker) -> None:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    app = create_app(Settings(database_url=database_url, kafka_bootstrap=broker.bootstrap), clock)
    traced, untraced = a_claim_created(invoice_no="TRACED"), a_claim_created(invoice_no="UNTRACED")
    async with serving(app):
        db = app.state.runtime.db
        await publish(broker.bootstrap, traced, traceparent=f"00-{POST_TRACE}-00f067aa0ba902b7-01")
        await publish(broker.bootstrap, untraced)

        async def planned() -> bool:
            async with db.connection() as conn:
                return bool(await conn.fetchval("SELECT count(*) = 2 FROM timelines"))

        await eventually(planned, timeout=60)
        clock.set(datetime(2026, 3, 23, 9, 30, tzinfo=UTC))  # the collection warning is due

        async def traces() -> dict[str, set[str]]:
            async with db.connection() as conn:
                rows = await conn.fetch(
                    "SELECT value, headers FROM outbox WHERE event_type = 'krafa.dunning.reminder_due.v1'"
                )
            found: dict[str, set[str]] = {}
            for row in rows:
                claim = str(json.loads(row["value"])["claim_ids"][0])
                headers = dict(json.loads(row["headers"]))
                found.setdefault(claim, set()).add(headers["traceparent"].split("-")[1])
            return found

        async def both_fired() -> bool:
            return len(await traces()) == 2

        await eventually(both_fired, timeout=60)
        found = await traces()
        assert found[str(traced.claim_id)] == {POST_TRACE}
        assert found[str(untraced.claim_id)] != {POST_TRACE}  # a claim of its own trace, not a shared one
