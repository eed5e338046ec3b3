"""A minimal Krafa integrator: subscribe to `krafa.payments` and print every payment.

Krafa publishes CloudEvents 1.0 in Kafka *binary* mode: the attributes are record headers
(`ce_id`, `ce_type`, `ce_source`, `ce_time`, `ce_subject`, ...), the JSON payload is the record
value, and the key is `creditor_id:debtor_id`. A topic carries several event types, so a consumer
filters on `ce_type` and skips types it does not know. Delivery is at least once: deduplicate on
`ce_id` (here in memory; a real integrator stores it with its own effect). The full contract is
deploy/asyncapi/asyncapi.yaml.

Needs only `aiokafka`. Run it against the embedded stack of `make run` (broker on 127.0.0.1:19092):

    .venv/bin/python examples/payments_consumer.py --from-beginning
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer

TOPIC = "krafa.payments"
PAYMENT_RECEIVED = "krafa.payment.received.v1"
# ISO 4217 currencies without minor units; most others have two (Krafa sends integer minor units).
ZERO_DECIMALS = {"ISK", "JPY", "KRW", "CLP", "VND", "XAF", "XOF"}


def headers_of(record: Any) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in (record.headers or ()) if value is not None}


def amount(minor: int, currency: str) -> str:
    if currency in ZERO_DECIMALS:
        return f"{minor:,} {currency}"
    return f"{minor / 100:,.2f} {currency}"


def describe(headers: dict[str, str], payload: dict[str, Any]) -> str:
    return (
        f"{payload.get('booking_date') or headers.get('ce_time', '')[:10]} "
        f"payment {amount(int(payload['amount_minor']), payload['currency'])} "
        f"claim {payload['claim_id']} ref {payload.get('reference') or '-'} "
        f"creditor {payload['creditor_id']} id {headers['ce_id']}"
    )


async def consume(bootstrap: str, group: str | None, from_beginning: bool, max_payments: int | None) -> int:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group is not None,
    )
    await consumer.start()
    seen: set[str] = set()
    printed = 0
    try:
        async for record in consumer:
            headers = headers_of(record)
            if headers.get("ce_type") != PAYMENT_RECEIVED:
                continue  # another event type on the same topic, or not a CloudEvent at all
            if headers["ce_id"] in seen:
                continue  # a redelivery: at-least-once
            seen.add(headers["ce_id"])
            try:
                payload = json.loads(record.value)
            except (TypeError, ValueError):
                print(f"skipping undecodable record at offset {record.offset}", file=sys.stderr)
                continue
            print(describe(headers, payload), flush=True)
            printed += 1
            if max_payments is not None and printed >= max_payments:
                break
    finally:
        await consumer.stop()
    return printed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the payments Krafa matches to claims.")
    parser.add_argument("--bootstrap", default="127.0.0.1:19092", help="Kafka bootstrap servers")
    parser.add_argument(
        "--group", default=f"example-{uuid.uuid4().hex[:8]}", help="consumer group (keeps your position)"
    )
    parser.add_argument("--from-beginning", action="store_true", help="read the topic from its start")
    parser.add_argument("--max", type=int, default=None, help="stop after this many payments")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(consume(args.bootstrap, args.group, args.from_beginning, args.max))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
