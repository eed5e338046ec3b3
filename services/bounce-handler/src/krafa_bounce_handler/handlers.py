"""What the bounce-handler does with the events of other services: remember every email
delivery, so that a bounce can be attributed to it, and emit the bounces that beat it here."""

from __future__ import annotations

import logging
from functools import partial

from krafa_events import Channel, DecodedEvent, Event, ReminderSent
from krafa_kit.clock import Clock
from krafa_kit.consumer import Handler, typed
from krafa_kit.db import UnitOfWork

from krafa_bounce_handler import personal_data, service
from krafa_bounce_handler.domain import SoftBouncePolicy

log = logging.getLogger(__name__)


async def on_reminder_sent(
    uow: UnitOfWork, event: ReminderSent, envelope: DecodedEvent, *, clock: Clock, policy: SoftBouncePolicy
) -> None:
    if event.channel != Channel.EMAIL:
        return  # only email bounces; the inbox has still recorded the event
    emitted = await service.record_delivery(uow, event, clock.now(), policy)
    service.count_emitted(emitted)
    log.info(
        "delivery recorded",
        extra={
            "event_id": envelope.id,
            "delivery_id": str(event.delivery_id),
            "claim_ids": [str(c) for c in event.claim_ids],
            "bounces_emitted": len(emitted),
        },
    )


def build_routes(clock: Clock, policy: SoftBouncePolicy = service.DEFAULT_POLICY) -> dict[type[Event], Handler]:
    return {
        ReminderSent: typed(ReminderSent, partial(on_reminder_sent, clock=clock, policy=policy)),
        **personal_data.build_routes(clock),
    }
