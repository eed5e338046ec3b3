"""A one-time code does not queue behind a burst of reminders: over a real SMTP server that is
slow to accept the reminders, with every connection of the pool busy and more reminders waiting
for one, the code is accepted at once on the connection kept for interactive sends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from krafa_kit.embedded import free_port
from krafa_notifier.channels import EmailChannel


class SlowForReminders:
    """Accepts a reminder only once released; anything else at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.accepted: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        recipient = envelope.rcpt_tos[0]
        while recipient.startswith("reminder") and not self.release.is_set():
            await asyncio.sleep(0.02)
        self.accepted.append(recipient)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[SlowForReminders, int]]:
    handler = SlowForReminders()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.release.set()
        controller.stop()


def mail(to: str) -> bytes:
    return f"From: krafa@example.is\r\nTo: {to}\r\nSubject: test\r\n\r\nbody\r\n".encode()


async def test_a_login_code_passes_a_burst_of_reminders_holding_every_connection(
    smtp: tuple[SlowForReminders, int],
) -> None:
    server, port = smtp
    channel = EmailChannel(host="127.0.0.1", port=port, connections=4, timeout=30)
    reminders = [
        asyncio.create_task(
            channel.send(envelope_from="krafa@example.is", recipients=[f"reminder{i}@example.is"], message=mail("x"))
        )
        for i in range(12)
    ]
    try:
        await asyncio.sleep(0.5)  # four reminders on the wire, eight queued for a connection
        assert server.accepted == []
        await asyncio.wait_for(
            channel.send(
                envelope_from="krafa@example.is",
                recipients=["debtor@example.is"],
                message=mail("debtor@example.is"),
                interactive=True,
            ),
            timeout=10,
        )
        assert server.accepted == ["debtor@example.is"]  # no reminder has gone yet
        server.release.set()
        await asyncio.wait_for(asyncio.gather(*reminders), timeout=30)
        assert sorted(server.accepted[1:]) == sorted(f"reminder{i}@example.is" for i in range(12))
    finally:
        server.release.set()
        for task in reminders:
            task.cancel()
        await channel.close()
