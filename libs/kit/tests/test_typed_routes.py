"""A handler written for one event type gets that type, or the event goes to the DLQ."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

import pytest
from krafa_events import ClaimPaid, DecodedEvent, Event
from krafa_events.testing import a_claim_created
from krafa_kit.consumer import PermanentError, typed
from krafa_kit.db import UnitOfWork


def _envelope(event: Event) -> DecodedEvent:
    return DecodedEvent(
        id=str(uuid.uuid4()), type=event.TYPE, source="test", time=None, subject=None, traceparent=None, event=event
    )


async def test_the_handler_gets_its_event_as_its_type() -> None:
    seen: list[ClaimPaid] = []

    async def on_paid(uow: UnitOfWork, event: ClaimPaid, envelope: DecodedEvent) -> None:
        seen.append(event)

    claim = a_claim_created()
    paid = ClaimPaid(
        creditor_id=claim.creditor_id,
        debtor_id=claim.debtor_id,
        claim_id=claim.claim_id,
        amount_paid_minor=claim.amount_minor,
        currency=claim.currency,
        paid_at=datetime(2026, 3, 5, tzinfo=UTC),
    )
    route = typed(ClaimPaid, on_paid)
    await route(cast(UnitOfWork, None), _envelope(paid))
    assert seen == [paid]
    assert route.__name__ == "on_paid"  # logs and traces name the handler, not the wrapper


async def test_another_type_is_a_permanent_error() -> None:
    async def on_paid(uow: UnitOfWork, event: ClaimPaid, envelope: DecodedEvent) -> None:
        raise AssertionError("never called")

    with pytest.raises(PermanentError, match=r"routed to a handler of krafa\.claim\.paid\.v1"):
        await typed(ClaimPaid, on_paid)(cast(UnitOfWork, None), _envelope(a_claim_created()))
