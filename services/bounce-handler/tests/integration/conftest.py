"""The bounce-handler running over the real PostgreSQL and broker, with its SMTP endpoint on a
free port, and the DSNs a receiving MTA would send to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any
from uuid import UUID

import aiosmtplib
import pytest
from fastapi import FastAPI
from krafa_bounce_handler.app import create_app
from krafa_bounce_handler.settings import Settings
from krafa_events import return_path as verp
from krafa_kit.db import Database
from krafa_kit.embedded import EmbeddedBroker, free_port
from krafa_kit.testing import serving
from pydantic import SecretStr

SECRET = "test-return-path-secret"  # noqa: S105 (a test value, not a credential)
DOMAIN = "returns.test"
MAILGUN_KEY = "test-mailgun-signing-key"
POSTMARK_CREDENTIALS = "krafa:test-postmark-password"
OPERATOR_TOKEN = "operator-test-token"  # noqa: S105 (a test value, not a credential)
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@dataclass
class BounceHandler:
    """The running service, and what a test asks of it."""

    app: FastAPI
    base_url: str
    settings: Settings

    @property
    def db(self) -> Database:
        db: Database = self.app.state.runtime.db
        return db

    def return_path(self, delivery_id: UUID) -> str:
        return verp.encode(delivery_id, DOMAIN, SECRET.encode())

    async def send(self, raw: bytes, rcpt: str, *, sender: str = "") -> int:
        """Send one message as an MTA would (`MAIL FROM:<>` for a DSN); the final reply code."""
        async with aiosmtplib.SMTP(hostname=self.settings.smtp_host, port=self.app.state.smtp.port, timeout=30) as smtp:
            await smtp.mail(sender)
            await smtp.rcpt(rcpt)
            try:
                response = await smtp.data(raw)
            except aiosmtplib.SMTPDataError as exc:
                return exc.code
            return response.code

    async def rows(self, query: str, *args: object) -> list[Mapping[str, Any]]:
        async with self.db.connection() as conn:
            return [dict(row) for row in await conn.fetch(query, *args)]

    async def count(self, query: str, *args: object) -> int:
        async with self.db.connection() as conn:
            return int(await conn.fetchval(query, *args))

    async def delivery_known(self, delivery_id: UUID) -> bool:
        return bool(await self.rows("SELECT 1 FROM deliveries WHERE delivery_id = $1", delivery_id))

    async def inbound(self, delivery_id: UUID | None = None) -> list[Mapping[str, Any]]:
        return await self.rows(
            "SELECT * FROM inbound_messages WHERE $1::uuid IS NULL OR delivery_id = $1 ORDER BY received_at",
            delivery_id,
        )

    async def bounces(self, delivery_id: UUID) -> list[Mapping[str, Any]]:
        return await self.rows("SELECT * FROM bounces WHERE delivery_id = $1 ORDER BY received_at", delivery_id)

    async def bounced_in_outbox(self) -> int:
        return await self.count("SELECT count(*) FROM outbox WHERE event_type = 'krafa.bounce.email_bounced.v1'")


@pytest.fixture
async def bounce_handler(database_url: str, broker: EmbeddedBroker) -> AsyncIterator[BounceHandler]:
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        smtp_port=free_port(),
        return_domain=DOMAIN,
        return_path_secret=SecretStr(SECRET),
        mailgun_webhook_signing_key=SecretStr(MAILGUN_KEY),
        postmark_webhook_credentials=SecretStr(POSTMARK_CREDENTIALS),
        operator_token=SecretStr(OPERATOR_TOKEN),
    )
    app = create_app(settings)
    async with serving(app) as base_url:
        await app.state.smtp.wait_listening()
        yield BounceHandler(app=app, base_url=base_url, settings=settings)


def a_dsn(
    recipient: str,
    return_path: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
) -> bytes:
    """An RFC 3464 delivery status notification as Postfix sends it."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.is (Mail Delivery System)"
    report["To"] = return_path
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = formatdate()
    report["Auto-Submitted"] = "auto-replied"
    report.attach(
        MIMEText(
            "This is the mail system at host mx.example.is.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n"
        )
    )
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.is"
    per_message["Arrival-Date"] = formatdate()
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = diagnostic.format(recipient=recipient)
    delivery_status = MIMEBase("message", "delivery-status")
    delivery_status.set_payload([per_message, per_recipient])
    report.attach(delivery_status)
    headers = MIMEBase("text", "rfc822-headers")
    headers.set_payload(f"From: reminders@krafa.test\nTo: {recipient}\nSubject: Reminder\n")
    report.attach(headers)
    return report.as_bytes()


def an_out_of_office_reply(sender: str, return_path: str) -> bytes:
    reply = MIMEText("I am out of the office until Monday and will answer your mail then.\n")
    reply["From"] = sender
    reply["To"] = return_path
    reply["Subject"] = "Out of office: Reminder"
    reply["Date"] = formatdate()
    reply["Auto-Submitted"] = "auto-replied"
    return reply.as_bytes()
