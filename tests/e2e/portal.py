"""Helpers of the portal's browser tests: a creditor and its claims over REST, the reminder
emails and one-time codes as they arrive at the SMTP catcher."""

from __future__ import annotations

import asyncio
import email
import re
import time
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from krafa.stack import Stack

LINK = re.compile(r"https?://[\w.:\-]+/l/[a-z2-7]{16}")
CODE = re.compile(r"\b(\d{6})\b")


def messages_to(stack: Stack, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted((stack.spool / "mail" / "new").glob("*.eml"), key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if address.lower() in str(message["To"] or "").lower():
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


async def wait_for(check: Any, timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise TimeoutError(f"waited {timeout}s for {what}")


async def reminder_link(stack: Stack, address: str) -> str:
    """The personal link in the first reminder email to `address`."""

    def find() -> str | None:
        for message in messages_to(stack, address):
            match = LINK.search(text_of(message))
            if match:
                return match.group(0)
        return None

    link: str = await wait_for(find, 90, f"a reminder with a link to {address}")
    return link


async def one_time_code(stack: Stack, address: str, seen: int) -> str:
    """The code in the newest code email to `address` after the first `seen` messages."""

    def find() -> str | None:
        for message in reversed(messages_to(stack, address)[seen:]):
            subject = str(message["Subject"] or "")
            match = CODE.search(subject)
            if match:
                return match.group(1)
        return None

    code: str = await wait_for(find, 30, f"a one-time code to {address}")
    return code


class Creditor:
    def __init__(self, stack: Stack, api_key: str, creditor_id: str) -> None:
        self.stack, self.api_key, self.id = stack, api_key, creditor_id
        self.http = httpx.AsyncClient(
            base_url=stack.url("claims-api"), headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )

    @classmethod
    async def create(cls, stack: Stack, name: str = "Ungmennafélagið Fram") -> Creditor:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                stack.url("claims-api") + "/v1/admin/creditors",
                headers={"Authorization": f"Bearer {stack.state.admin_token}"},
                json={
                    "name": name,
                    "country": "IS",
                    "currency": "ISK",
                    "default_language": "is",
                    "contact_phone": "+354 555 1234",
                    "payment_account": "0133-26-012345",
                    "sender_email": "innheimta@fram.localhost",
                    "slip_fee_minor": 390,
                },
            )
            response.raise_for_status()
            body = response.json()
        return cls(stack, body["api_key"], body["creditor_id"])

    async def claim(
        self, n: int, *, email: str | None, language: str = "is", amount: int = 12_000, **debtor: Any
    ) -> dict[str, Any]:
        today = self.stack.sim_now().date()
        response = await self.http.post(
            "/v1/claims",
            json={
                "invoice_no": f"P-{n:04d}-{int(time.time() * 1000) % 100000}",
                "amount_minor": amount,
                "currency": "ISK",
                "issue_date": (today - timedelta(days=20)).isoformat(),
                "due_date": (today - timedelta(days=1)).isoformat(),
                "description": "Æfingagjöld vor 2026",
                "debtor": {
                    "customer_no": f"C-{n:04d}",
                    "name": debtor.pop("name", "Guðrún Jónsdóttir"),
                    "country": "IS",
                    "language": language,
                    "time_zone": "Atlantic/Reykjavik",
                    "email": email,
                    "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
                    **debtor,
                },
            },
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def get(self, claim_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/claims/{claim_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def close(self) -> None:
        await self.http.aclose()


def dates_from(today: date, days: int) -> str:
    return (today + timedelta(days=days)).isoformat()


def saved(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
