"""Channel adapters: one small interface, a real implementation each. Errors are sorted into
transient (retried with backoff) and permanent (DeliveryFailed, then the fallback)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from dataclasses import dataclass

import aiosmtplib
import httpx


class SendError(Exception):
    pass


class TransientSendError(SendError):
    """Worth another try later: a timeout, a 4xx SMTP reply, a 5xx from a provider."""


class PermanentSendError(SendError):
    """Will never work for this message: a 5xx SMTP reply to the recipient, a 4xx from a provider."""


class EmailChannel:
    """A pool of persistent SMTP connections (one connection manages ~390 msg/s here; a few in
    parallel keep the SMTP round trips overlapped), and one more kept for interactive sends: a
    debtor waiting at the portal for a one-time code must not queue behind a burst of reminders
    that holds every connection of the pool."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        connections: int = 4,
        interactive_connections: int = 1,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.timeout = timeout
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        self._interactive: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(None)  # connected lazily
        for _ in range(interactive_connections):
            self._interactive.put_nowait(None)

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=ssl.create_default_context() if self.security != "none" else None,
        )
        await client.connect()
        if self.username and self.password:
            await client.login(self.username, self.password)
        return client

    async def send(
        self, *, envelope_from: str, recipients: list[str], message: bytes, interactive: bool = False
    ) -> None:
        """`interactive`: someone is waiting for this message (a login code); it takes the kept
        connection, never one the reminders' dispatch is queued for."""
        pool = self._interactive if interactive else self._idle
        client = await pool.get()
        try:
            if client is None or not client.is_connected:
                client = await self._connect()
            errors, _ = await client.sendmail(envelope_from, recipients, message)
            if errors:
                raise PermanentSendError(f"{len(errors)} recipient(s) refused")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [getattr(r, "code", 550) for r in exc.recipients]
            if all(400 <= c < 500 for c in codes):
                raise TransientSendError(f"recipient deferred ({codes[0]})") from exc
            raise PermanentSendError(f"recipient refused ({codes[0]})") from exc
        except aiosmtplib.SMTPResponseException as exc:
            await _discard(client)
            client = None
            if 400 <= exc.code < 500:
                raise TransientSendError(f"SMTP {exc.code}") from exc
            raise PermanentSendError(f"SMTP {exc.code}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _discard(client)
            client = None
            raise TransientSendError(f"SMTP connection: {type(exc).__name__}") from exc
        finally:
            pool.put_nowait(client)

    async def close(self) -> None:
        for pool in (self._idle, self._interactive):
            while not pool.empty():
                client = pool.get_nowait()
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.quit()


async def _discard(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()


@dataclass(frozen=True, slots=True)
class ProviderAccepted:
    """What an HTTP provider answered: its id for the item and what it charges (postage, fee)."""

    provider_ref: str
    cost_minor: int | None
    cost_currency: str | None
    delivered: bool = False  # the provider confirmed delivery in its answer (netbank)


def _accepted(response: httpx.Response, what: str) -> ProviderAccepted:
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientSendError(f"{what} answered {response.status_code}")
    if response.status_code >= 400:
        raise PermanentSendError(f"{what} refused the document ({response.status_code})")
    data = response.json()
    price = data.get("price_minor")
    return ProviderAccepted(
        provider_ref=str(data.get("id", "")),
        cost_minor=int(price) if price is not None else None,
        cost_currency=data.get("currency"),
        delivered=data.get("status") == "delivered",
    )


class LetterChannel:
    """A print-and-post provider over HTTP. The delivery id is the provider's client reference,
    so a retried or re-sent letter is printed once."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)

    async def send(self, *, client_ref: str, pdf: bytes, recipient_name: str, country: str) -> ProviderAccepted:
        try:
            response = await self.client.post(
                "/print/letters",
                files={"file": (f"{client_ref}.pdf", pdf, "application/pdf")},
                data={"client_ref": client_ref, "recipient_name": recipient_name, "country": country},
            )
        except httpx.HTTPError as exc:
            raise TransientSendError(f"print provider unreachable: {type(exc).__name__}") from exc
        return _accepted(response, "print provider")

    async def close(self) -> None:
        await self.client.aclose()


class NetbankChannel:
    """The "document in the online bank" (docs/domain.md: digital letters): the letter's PDF posted as JSON to a
    configurable endpoint with the debtor's national id and/or customer number. The delivery id
    is the client reference, so a retry files the document once."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers)

    async def send(
        self, *, client_ref: str, pdf: bytes, title: str, national_id: str | None, customer_no: str
    ) -> ProviderAccepted:
        body: dict[str, str] = {
            "client_ref": client_ref,
            "customer_no": customer_no,
            "title": title,
            "pdf_base64": base64.b64encode(pdf).decode("ascii"),
        }
        if national_id:
            body["national_id"] = national_id
        try:
            response = await self.client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise TransientSendError(f"netbank endpoint unreachable: {type(exc).__name__}") from exc
        return _accepted(response, "netbank endpoint")

    async def close(self) -> None:
        await self.client.aclose()
