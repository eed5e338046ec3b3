"""Every message of the real-world bounce corpus, sent over SMTP to the signed return path of a
known delivery whose recipient is the manifest's first failed address: the verdict recorded (a
bounce or not, hard or soft) must be the manifest's. One service instance serves all messages
(a consumer group join costs seconds); mismatches are collected and reported together."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from krafa_events.testing import a_reminder_sent
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import eventually, publish, shared_dir

from .conftest import BounceHandler

pytestmark = pytest.mark.integration

# Where the manifest names no failed address (auto-replies, receipts): any address will do.
NOT_A_BOUNCE_RECIPIENT = "debtor@example.com"


async def test_every_corpus_message_gets_the_manifest_verdict_over_smtp(
    bounce_handler: BounceHandler, broker: EmbeddedBroker
) -> None:
    shared = shared_dir()
    entries: list[dict[str, Any]] = json.loads((shared / "corpus/bounces/manifest.json").read_text("utf-8"))["files"]
    assert len(entries) >= 35
    deliveries = {entry["file"]: uuid.uuid4() for entry in entries}
    recipients = {
        entry["file"]: (entry["expected_failed_recipients"] or [{"address": NOT_A_BOUNCE_RECIPIENT}])[0]["address"]
        for entry in entries
    }
    await publish(
        broker.bootstrap,
        *[
            a_reminder_sent(
                delivery_id=deliveries[file],
                recipient=recipients[file],
                return_path=bounce_handler.return_path(deliveries[file]),
            )
            for file in deliveries
        ],
    )

    async def all_known() -> bool:
        return await bounce_handler.count("SELECT count(*) FROM deliveries") == len(deliveries)

    await eventually(all_known)

    mismatches: list[str] = []
    for entry in entries:
        file, delivery_id = entry["file"], deliveries[entry["file"]]
        raw = (shared / file).read_bytes()
        code = await bounce_handler.send(raw, bounce_handler.return_path(delivery_id))
        if code != 250:
            mismatches.append(f"{file}: SMTP answered {code}")
            continue
        [inbound] = await bounce_handler.inbound(delivery_id)
        bounces = await bounce_handler.bounces(delivery_id)
        if not entry["is_bounce"]:
            if inbound["verdict"] != "not_bounce" or bounces:
                mismatches.append(f"{file}: expected not a bounce, got {inbound['verdict']} ({inbound['detail']})")
            continue
        want = entry["expected_failed_recipients"][0]
        got = [(b["state"], b["kind"], b["reported_address"]) for b in bounces]
        if inbound["verdict"] != "bounce" or got != [("emitted", want["class"], want["address"].lower())]:
            mismatches.append(f"{file}: expected emitted {want['class']} bounce, got {inbound['verdict']} {got}")

    assert not mismatches, "\n".join(mismatches)
    assert await bounce_handler.bounced_in_outbox() == sum(entry["is_bounce"] for entry in entries)
