"""emails_per_s: render (`ReminderRenderer.email`) + MIME (`build_email`) + send through
`EmailChannel` (4 pooled connections) into an SmtpCatcher subprocess (spool in a temp dir).

Component: aiosmtplib alone, 4 connections, sending the same pre-rendered message bytes to the
same catcher. The catcher fsyncs every message into its spool, like a real MTA's queue."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime

import aiosmtplib
from krafa_notifier.channels import EmailChannel
from krafa_notifier.content import ReminderContent, ReminderRenderer
from krafa_notifier.mime import build_email

from bench.common import Figure, Options, reminders, say, subprocess_server, temp_dir

KEY = "emails_per_s"
CONNECTIONS = 4
SENDER = "Íþróttafélagið Fram <innheimta@fram.is>"
ENVELOPE_FROM = "bounces+bench@krafa.example"
DATE = datetime(2026, 3, 5, 10, tzinfo=UTC)


def _compose(renderer: ReminderRenderer, content: ReminderContent, i: int) -> bytes:
    return build_email(
        renderer.email(content),
        sender=SENDER,
        recipient=f"debtor{i}@example.is",
        message_id=f"<r{i}.bench@krafa.example>",
        date=DATE,
    )


async def _pipeline(port: int, renderer: ReminderRenderer, batch: list[ReminderContent]) -> float:
    """The notifier's email path: CONNECTIONS workers, each composing then sending one at a time."""
    channel = EmailChannel(host="127.0.0.1", port=port, connections=CONNECTIONS)
    queue = list(enumerate(batch))
    queue.reverse()

    async def worker() -> None:
        while queue:
            i, content = queue.pop()
            message = _compose(renderer, content, i)
            await channel.send(envelope_from=ENVELOPE_FROM, recipients=[f"debtor{i}@example.is"], message=message)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return time.perf_counter() - started
    finally:
        await channel.close()


async def _raw_smtp(port: int, messages: list[bytes]) -> float:
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) for _ in range(CONNECTIONS)]
    for client in clients:
        await client.connect()
    queue = list(enumerate(messages))
    queue.reverse()

    async def worker(client: aiosmtplib.SMTP) -> None:
        while queue:
            i, message = queue.pop()
            await client.sendmail(ENVELOPE_FROM, [f"debtor{i}@example.is"], message)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in clients))
        return time.perf_counter() - started
    finally:
        for client in clients:
            await client.quit()


def run(opts: Options) -> Figure:
    n = opts.size(2_000, 200)
    batch = reminders(n)
    renderer = ReminderRenderer()
    for content in batch[:8]:  # warm-up: templates compile once per process
        _compose(renderer, content, 0)
    values, component = [], []
    with temp_dir("smtp") as spool:
        args = [sys.executable, "-m", "krafa.sinks.smtp_catcher", "--port", "0", "--spool", str(spool)]
        with subprocess_server([*args, "--log-level", "WARNING"]) as catcher:
            assert catcher.stdout is not None
            line = catcher.stdout.readline().decode().strip()  # "READY smtp 127.0.0.1:PORT"
            if not line.startswith("READY smtp "):
                raise RuntimeError(f"smtp catcher did not start: {line!r}")
            port = int(line.rsplit(":", 1)[1])
            messages = [_compose(renderer, c, i) for i, c in enumerate(batch)]
            for i in range(opts.runs):
                values.append(n / asyncio.run(_pipeline(port, renderer, batch)))
                component.append(n / asyncio.run(_raw_smtp(port, messages)))
                say(f"{KEY} run {i + 1}: {values[-1]:.1f} emails/s, pre-rendered SMTP alone {component[-1]:.1f}/s")
    return Figure(KEY, "emails/s", n, values, component, f"aiosmtplib, {CONNECTIONS} connections, pre-rendered bytes")
