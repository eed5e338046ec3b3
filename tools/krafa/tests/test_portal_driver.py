"""The demo's and the browser tests' view of the SMTP catcher's spool: messages by recipient, in
order of arrival, found by reading only what the catcher's index gained since the last look."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import aiosmtplib
import pytest
from krafa.portal_driver import _MailIndex, addresses_with_mail
from krafa.sinks.smtp_catcher import SmtpCatcher
from krafa.stack import Stack


@pytest.fixture
async def catcher(tmp_path: Path) -> AsyncIterator[SmtpCatcher]:
    c = SmtpCatcher(tmp_path / "mail", hostname="mx.catcher.test")
    await c.start()
    yield c
    await c.stop(dsn_grace=0)


async def send(catcher: SmtpCatcher, subject: str, *recipients: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "krafa@example.is", ", ".join(recipients), subject
    message.set_content(subject)
    await aiosmtplib.send(message, hostname="127.0.0.1", port=catcher.port, recipients=list(recipients))


def subjects(index: _MailIndex, address: str) -> list[str]:
    return [path.read_text().split("Subject: ", 1)[1].split("\n", 1)[0].strip() for path in index.paths_to(address)]


async def test_messages_by_recipient_in_arrival_order_and_new_ones_found_on_the_next_look(
    catcher: SmtpCatcher,
) -> None:
    index = _MailIndex(catcher.spool)
    index.refresh()  # nothing spooled yet, not even the index
    await send(catcher, "first", "anna@example.is", "jon@example.is")
    await send(catcher, "second", "Anna@Example.is")
    await send(catcher, "third", "jonina@example.is")
    index.refresh()
    assert subjects(index, "ANNA@example.is") == ["first", "second"]
    assert subjects(index, "jon@example.is") == ["first"]  # not jonina's
    assert index.paths_to("nobody@example.is") == []
    await send(catcher, "fourth", "jon@example.is")
    index.refresh()
    assert subjects(index, "jon@example.is") == ["first", "fourth"]


async def test_a_line_still_being_written_is_read_whole_on_the_next_look(catcher: SmtpCatcher) -> None:
    await send(catcher, "first", "anna@example.is")
    index_file = catcher.spool / "index.jsonl"
    whole = index_file.read_bytes()
    index_file.write_bytes(whole[:-20])  # the catcher caught mid-line
    index = _MailIndex(catcher.spool)
    index.refresh()
    assert index.paths_to("anna@example.is") == []
    index_file.write_bytes(whole)
    index.refresh()
    assert subjects(index, "anna@example.is") == ["first"]


async def test_the_addresses_any_message_reached_are_known_from_the_index(catcher: SmtpCatcher) -> None:
    # The demo's portal phase picks the debtors whose reminder is in: only the index is read.
    stack = cast(Stack, SimpleNamespace(spool=catcher.spool.parent))
    assert "anna@example.is" not in addresses_with_mail(stack)
    await send(catcher, "reminder", "Anna@Example.is")
    reached = addresses_with_mail(stack)
    assert "anna@example.is" in reached and "jon@example.is" not in reached
