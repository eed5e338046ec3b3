"""An older version of an event reaches the handlers in today's shape, through its upcaster."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from krafa_events import ClaimPaid, upcasting
from krafa_events.envelope import UndecodableMessage, decode, encode

V0 = "krafa.claim.paid.v0"
V_MINUS = "krafa.claim.paid.v-1"


@pytest.fixture(autouse=True)
def no_upcasters_left() -> Iterator[None]:
    yield
    upcasting.unregister(V0)
    upcasting.unregister(V_MINUS)


def renamed(payload: dict[str, Any], **names: str) -> dict[str, Any]:
    """The payload with fields renamed (new=old)."""
    old_to_new = {old: new for new, old in names.items()}
    return {old_to_new.get(key, key): value for key, value in payload.items()}


def _paid() -> ClaimPaid:
    return ClaimPaid(
        creditor_id=uuid.uuid4(),
        debtor_id=uuid.uuid4(),
        claim_id=uuid.uuid4(),
        amount_paid_minor=12_000,
        currency="ISK",
        paid_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
    )


def _as_old(event: ClaimPaid, ce_type: str, rename: dict[str, str]) -> tuple[list[tuple[str, bytes]], bytes]:
    """The record an older producer wrote: its own type, its own field names."""
    record = encode(event, source="claims-api")
    headers = [(name, ce_type.encode() if name == "ce_type" else value) for name, value in record.headers]
    payload = json.loads(record.value)
    for new, old in rename.items():
        payload[old] = payload.pop(new)
    return headers, json.dumps(payload).encode()


def test_an_old_version_is_decoded_as_the_current_model() -> None:
    paid = _paid()
    headers, value = _as_old(paid, V0, {"amount_paid_minor": "paid_minor"})
    upcasting.register(V0, ClaimPaid, lambda old: renamed(old, amount_paid_minor="paid_minor"))
    decoded = decode(headers, value)
    assert decoded.event == paid
    assert decoded.type == ClaimPaid.TYPE  # the handlers' routing key: one shape
    assert decoded.source_type == V0


def test_upcasters_chain_to_the_current_version() -> None:
    paid = _paid()
    headers, value = _as_old(paid, V_MINUS, {"amount_paid_minor": "paid", "paid_at": "at"})
    upcasting.register(V0, ClaimPaid, lambda old: renamed(old, amount_paid_minor="paid_minor"))

    class ClaimPaidV0(ClaimPaid):
        TYPE = V0

    upcasting.register(V_MINUS, ClaimPaidV0, lambda old: renamed(old, paid_minor="paid", paid_at="at"))
    decoded = decode(headers, value)
    assert type(decoded.event) is ClaimPaid and decoded.event == paid


def test_an_old_version_without_an_upcaster_is_undecodable() -> None:
    headers, value = _as_old(_paid(), V0, {})
    with pytest.raises(UndecodableMessage, match="unknown event type"):
        decode(headers, value)


def test_an_upcast_payload_is_still_validated() -> None:
    headers, value = _as_old(_paid(), V0, {"amount_paid_minor": "paid_minor"})
    upcasting.register(V0, ClaimPaid, lambda old: old)  # forgets to rename: amount_paid_minor is missing
    with pytest.raises(UndecodableMessage, match=r"does not match krafa\.claim\.paid\.v1"):
        decode(headers, value)


def test_a_type_cannot_be_upcast_twice_or_to_itself() -> None:
    upcasting.register(V0, ClaimPaid, lambda old: old)
    with pytest.raises(ValueError, match="already has an upcaster"):
        upcasting.register(V0, ClaimPaid, lambda old: old)
    with pytest.raises(ValueError, match="to itself"):
        upcasting.register(ClaimPaid.TYPE, ClaimPaid, lambda old: old)
