"""The SMTP catcher's fault mode, which the chaos run switches through a file: refused messages
get a transient 451 and dropped ones lose their connection before any reply; neither is stored,
so only a client that retries delivers them, and nothing is stored twice."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from krafa.sinks.smtp_catcher import FaultMode, SmtpCatcher, read_faults, write_fault_mode


def message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "reminders@krafa.localhost"
    msg["To"] = f"payer{i}@example.is"
    msg["Subject"] = f"Reminder {i}"
    msg["Message-ID"] = f"<m{i}@krafa.localhost>"
    msg.set_content("Please pay.")
    return msg


async def test_refused_and_dropped_messages_are_not_stored_and_a_retry_delivers_them(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    spool = tmp_path / "spool"
    async with SmtpCatcher(spool, faults_file=faults, fault_seed=1) as catcher:
        write_fault_mode(faults, FaultMode(refuse_rate=1.0))
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await aiosmtplib.send(message(1), hostname="127.0.0.1", port=catcher.port)
        assert refused.value.code == 451
        write_fault_mode(faults, FaultMode(drop_rate=1.0))
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await aiosmtplib.send(message(2), hostname="127.0.0.1", port=catcher.port, timeout=10)
        assert catcher.messages() == []
        assert [f["fault"] for f in read_faults(spool)] == ["refused", "dropped"]

        # 30 % refused: a client that retries gets every message through, each stored once.
        write_fault_mode(faults, FaultMode(refuse_rate=0.3))
        attempts = 0
        for i in range(3, 23):
            while True:
                attempts += 1
                try:
                    await aiosmtplib.send(message(i), hostname="127.0.0.1", port=catcher.port)
                    break
                except aiosmtplib.SMTPResponseException as exc:
                    assert exc.code == 451
        ids = [str(m.message_id) for m in catcher.messages()]
        assert sorted(ids) == sorted(f"<m{i}@krafa.localhost>" for i in range(3, 23))
        assert attempts > 20 and len(read_faults(spool)) == 2 + attempts - 20

        write_fault_mode(faults, FaultMode())
        await aiosmtplib.send(message(99), hostname="127.0.0.1", port=catcher.port)
        assert catcher.messages()[-1].message_id == "<m99@krafa.localhost>"
