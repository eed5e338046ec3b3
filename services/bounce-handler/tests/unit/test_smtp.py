"""The SMTP endpoint against a real client over localhost, with the use case faked: what the
sending MTA is told, and when."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiosmtplib
import pytest
from krafa_bounce_handler.domain import InboundMessage
from krafa_bounce_handler.smtp import InboundSmtp

DOMAIN = "returns.test"
RETURN_PATH = f"bounce+abc.def@{DOMAIN}"
MESSAGE = b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail\r\n\r\nbody\r\n"


class FakeInbox:
    """Stands in for service.receive_message: records, fails or blocks on demand."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, message: InboundMessage) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.messages.append(message)


Start = Callable[..., Any]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    tasks: list[asyncio.Task[None]] = []

    async def run(**options: Any) -> tuple[InboundSmtp, FakeInbox, asyncio.Task[None]]:
        inbox = FakeInbox()
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "return_domain": DOMAIN,
            "max_message_bytes": 10_000,
            **options,
        }
        server = InboundSmtp(inbox, **settings)
        task = asyncio.create_task(server.serve())
        tasks.append(task)
        await server.wait_listening()
        return server, inbox, task

    yield run
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def send(server: InboundSmtp, raw: bytes = MESSAGE, rcpt: str = RETURN_PATH, sender: str = "") -> int:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=10) as client:
        await client.mail(sender)
        await client.rcpt(rcpt)
        try:
            return (await client.data(raw)).code
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code


async def test_a_dsn_is_answered_250_once_recorded(start: Start) -> None:
    server, inbox, _ = await start()
    assert await send(server) == 250
    [message] = inbox.messages
    assert message.mail_from == ""  # MAIL FROM:<>
    assert message.rcpt_tos == (RETURN_PATH,)
    assert message.raw == MESSAGE


async def test_mail_for_another_domain_is_refused_at_rcpt(start: Start) -> None:
    server, inbox, _ = await start()
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
        await send(server, rcpt="jon@example.is")
    assert refused.value.code == 550
    assert inbox.messages == []


async def test_a_failure_to_record_answers_451_so_the_mta_retries(start: Start) -> None:
    server, inbox, _ = await start()
    inbox.fail = OSError("connection refused")  # the database is away
    assert await send(server) == 451
    inbox.fail = None
    assert await send(server) == 250
    assert len(inbox.messages) == 1


async def test_a_slow_transaction_answers_451(start: Start) -> None:
    server, inbox, _ = await start(transaction_timeout_s=0.1)
    inbox.gate = asyncio.Event()  # never opens
    assert await send(server) == 451


async def test_a_message_over_the_limit_is_refused_with_552(start: Start) -> None:
    server, inbox, _ = await start(max_message_bytes=1_000)
    assert await send(server, raw=MESSAGE + (b"x" * 70 + b"\r\n") * 30) == 552
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, timeout=10) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.mail("", options=["SIZE=5000"])
        assert refused.value.code == 552
    assert inbox.messages == []


async def test_shutdown_lets_the_message_in_flight_commit_and_answers_it(start: Start) -> None:
    server, inbox, task = await start()
    inbox.gate = asyncio.Event()
    sending = asyncio.create_task(send(server))
    await inbox.entered.wait()
    task.cancel()
    await asyncio.sleep(0)  # the server stops accepting while the transaction is still open
    assert not task.done()
    inbox.gate.set()
    assert await sending == 250
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not server.listening
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await send(server)
