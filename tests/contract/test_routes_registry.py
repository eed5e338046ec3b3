"""Each service handles exactly the events the registry says it consumes.

The registry (krafa_events.registry) decides the topics a service subscribes to, the AsyncAPI
document and the architecture page; the routes decide what the service does. An event in the
registry without a route is read and ignored (the flow silently stops there); a route without a
registry entry never sees its event (the topic may not even be subscribed)."""

from __future__ import annotations

from typing import cast

import pytest
from krafa_bounce_handler.handlers import build_routes as bounce_routes
from krafa_claims_api.handlers import build_routes as claims_routes
from krafa_events import Event
from krafa_events.registry import (
    BOUNCE_HANDLER,
    CLAIMS_API,
    NOTIFIER,
    PAYMENTS_INGEST,
    REGISTRY,
    SCHEDULER,
    WEB,
    types_consumed_by,
)
from krafa_kit.clock import WallClock
from krafa_notifier.handlers import LANES as NOTIFIER_LANES
from krafa_notifier.handlers import build_routes as notifier_routes
from krafa_payments_ingest.handlers import build_routes as payments_routes
from krafa_scheduler.handlers import make_routes as scheduler_routes
from krafa_web.handlers import build_routes as web_routes
from krafa_web.service import Portal


def routes_of(service: str) -> set[type[Event]]:
    clock = WallClock()
    built = {
        CLAIMS_API: lambda: claims_routes(clock),
        SCHEDULER: lambda: scheduler_routes(clock),
        # The main consumer and the stops lane (a lane consumes its events apart, same service).
        NOTIFIER: lambda: {
            **notifier_routes(clock),
            **{e: h for lane in NOTIFIER_LANES for e, h in lane.routes.items()},
        },
        BOUNCE_HANDLER: lambda: bounce_routes(clock),
        PAYMENTS_INGEST: lambda: payments_routes(clock),
        # The routing table only closes over the portal; it calls nothing while being built.
        WEB: lambda: web_routes(cast(Portal, object())),
    }[service]()
    return set(built)


SERVICES = sorted({consumer for spec in REGISTRY for consumer in spec.consumers})


def test_every_consumer_in_the_registry_is_checked_here() -> None:
    assert set(SERVICES) == {CLAIMS_API, SCHEDULER, NOTIFIER, BOUNCE_HANDLER, PAYMENTS_INGEST, WEB}


@pytest.mark.parametrize("service", SERVICES)
def test_routes_are_what_the_registry_says_the_service_consumes(service: str) -> None:
    routed = {model.TYPE for model in routes_of(service)}
    consumed = set(types_consumed_by(service))
    assert not consumed - routed, f"{service} is subscribed to these but has no handler: {sorted(consumed - routed)}"
    assert not routed - consumed, (
        f"{service} handles these but the registry does not list it: {sorted(routed - consumed)}"
    )
