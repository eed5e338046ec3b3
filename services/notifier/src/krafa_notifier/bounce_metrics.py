"""Time from an email failure to its fallback letter: the fallback delivery's `due_at` is the
moment the bounce was received (`EmailBounced.bounced_at`, or the SMTP refusal), so the letter's
send time minus it is the latency the debtor's paper reminder waited (docs/domain.md: digital letters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from krafa_events import Channel
from krafa_kit.clock import Clock
from prometheus_client import Histogram

BOUNCE_TO_LETTER = Histogram(
    "krafa_bounce_to_letter_seconds",
    "From the bounce (or SMTP refusal) received to the fallback letter handed to the print provider, in wall seconds",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
)


def observe_fallback_letter(row: Any, channel: Channel, sent_at: datetime, clock: Clock) -> None:
    """Called once a delivery is sent; counts fallback letters only. Under a simulated clock the
    span is converted back to wall seconds (what an operator waits)."""
    if channel != Channel.LETTER or row["fallback_for"] is None:
        return
    BOUNCE_TO_LETTER.observe(clock.wall_seconds(sent_at - row["due_at"]))
