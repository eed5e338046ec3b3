"""Upcasters: an older version of an event, read from a topic or an outbox written before the
change, reaches the handlers in today's shape.

A breaking change to an event is a new version (`krafa.claim.created.v2`) beside the old one.
Records of the old version stay on the topics for their retention, and a replica still running
the old code may emit some during a rollout. Register one upcaster per old type: it turns the old
payload (a JSON object) into the new one, and `krafa_events.envelope.decode` validates the result
as the new model, so a handler is written once, for the current version.

    register(ClaimCreatedV1.TYPE, ClaimCreated, lambda old: {**old, "payment": default_payment(old)})

Chains compose: an upcaster may produce a type that has an upcaster of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from krafa_events.base import Event

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Upcaster:
    source_type: str
    target: type[Event]
    upcast: Callable[[Payload], Payload]


UPCASTERS: dict[str, Upcaster] = {}


def register(source_type: str, target: type[Event], upcast: Callable[[Payload], Payload]) -> None:
    """Read records of `source_type` as `target`, their payload passed through `upcast`."""
    if source_type == target.TYPE:
        raise ValueError(f"{source_type} cannot be upcast to itself")
    if source_type in UPCASTERS:
        raise ValueError(f"{source_type} already has an upcaster (to {UPCASTERS[source_type].target.TYPE})")
    UPCASTERS[source_type] = Upcaster(source_type, target, upcast)


def unregister(source_type: str) -> None:
    UPCASTERS.pop(source_type, None)


def upcast(source_type: str, payload: Payload) -> tuple[type[Event], Payload] | None:
    """The current model and payload for a record of an older type, or None when `source_type`
    has no upcaster. Follows chains (v1 → v2 → v3), refusing a loop."""
    seen = {source_type}
    step = UPCASTERS.get(source_type)
    if step is None:
        return None
    while True:
        payload = step.upcast(payload)
        following = UPCASTERS.get(step.target.TYPE)
        if following is None:
            return step.target, payload
        if following.source_type in seen:
            raise ValueError(f"upcasters loop at {following.source_type}")
        seen.add(following.source_type)
        step = following
