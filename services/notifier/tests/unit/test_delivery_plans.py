"""Several channels per step: each planned channel is a delivery of its own with its own
fallbacks; a fallback that is itself a planned delivery is left out (no second copy)."""

from __future__ import annotations

from krafa_events import Channel
from krafa_events.catalog import DeliveryPlan
from krafa_events.testing import a_reminder_due
from krafa_notifier.domain import delivery_plans


def test_sms_and_email_are_two_deliveries_each_with_its_fallbacks() -> None:
    event = a_reminder_due(
        channels=(Channel.SMS, Channel.EMAIL),
        deliveries=(
            DeliveryPlan(channel=Channel.SMS, fallbacks=(Channel.EMAIL, Channel.LETTER)),
            DeliveryPlan(channel=Channel.EMAIL, fallbacks=(Channel.LETTER,)),
        ),
    )
    assert delivery_plans(event) == [("primary", ["sms", "letter"]), ("primary:email", ["email", "letter"])]


def test_an_older_reminder_is_one_delivery_over_its_channels_and_a_call_is_no_message() -> None:
    assert delivery_plans(a_reminder_due(channels=(Channel.EMAIL, Channel.LETTER))) == [
        ("primary", ["email", "letter"])
    ]
    assert delivery_plans(a_reminder_due(channels=(Channel.CALL,))) == []
    with_call = a_reminder_due(
        channels=(Channel.CALL, Channel.SMS),
        deliveries=(DeliveryPlan(channel=Channel.CALL), DeliveryPlan(channel=Channel.SMS)),
    )
    assert delivery_plans(with_call) == [("primary", ["sms"])]
