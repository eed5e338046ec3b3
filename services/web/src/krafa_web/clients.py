"""The owning services' HTTP APIs, as the web calls them on a logged-in debtor's behalf (the
portal token). The web keeps no copy of what they own: every page reads it fresh."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

import httpx
from krafa_kit.clients import service_client

from krafa_web.domain import Principal


class ServiceError(Exception):
    """A service answered with a problem: `status` and its `detail` for the page to explain."""

    def __init__(self, status: int, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.body = body or {}


def _raise(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    raise ServiceError(response.status_code, str(body.get("detail") or body.get("title") or ""), body)


@dataclass
class Clients:
    claims: httpx.AsyncClient
    scheduler: httpx.AsyncClient
    notifier: httpx.AsyncClient
    payments: httpx.AsyncClient
    bounces: httpx.AsyncClient
    # The agency's own screens (call queue, unmatched payments, bounces) use the operator token.
    operator: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        claims_url: str,
        scheduler_url: str,
        notifier_url: str,
        payments_url: str,
        bounces_url: str,
        token: str | None,
        operator_token: str | None = None,
    ) -> Clients:
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        def client(base: str) -> httpx.AsyncClient:
            return service_client(base, headers, timeout=15.0)

        operator = {"Authorization": f"Bearer {operator_token}"} if operator_token else {}
        return cls(
            client(claims_url),
            client(scheduler_url),
            client(notifier_url),
            client(payments_url),
            client(bounces_url),
            operator,
        )

    async def close(self) -> None:
        for client in (self.claims, self.scheduler, self.notifier, self.payments, self.bounces):
            await client.aclose()

    # -- claims-api ------------------------------------------------------------------------------
    @staticmethod
    def _debtor(p: Principal) -> str:
        return f"/v1/portal/creditors/{p.creditor_id}/debtors/{p.debtor_id}"

    async def debtor(self, p: Principal) -> dict[str, Any]:
        response = await self.claims.get(self._debtor(p))
        _raise(response)
        body: dict[str, Any] = response.json()
        return body

    async def claims_of(self, p: Principal) -> list[dict[str, Any]]:
        response = await self.claims.get(self._debtor(p) + "/claims")
        _raise(response)
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def claim(self, p: Principal, claim_id: UUID) -> dict[str, Any]:
        response = await self.claims.get(f"{self._debtor(p)}/claims/{claim_id}")
        _raise(response)
        body: dict[str, Any] = response.json()
        return body

    async def dispute(self, p: Principal, claim_id: UUID, reason: str) -> None:
        response = await self.claims.post(f"{self._debtor(p)}/claims/{claim_id}/dispute", json={"reason": reason})
        _raise(response)

    async def arrange(self, p: Principal, claim_id: UUID, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.claims.post(f"{self._debtor(p)}/claims/{claim_id}/arrangements", json=body)
        _raise(response)
        result: dict[str, Any] = response.json()
        return result

    async def add_contact(self, p: Principal, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.claims.post(self._debtor(p) + "/contact-points", json=body)
        _raise(response)
        result: dict[str, Any] = response.json()
        return result

    async def opt_out(self, p: Principal, contact_id: UUID, reason: str) -> None:
        response = await self.claims.post(
            f"{self._debtor(p)}/contact-points/{contact_id}/opt-out", json={"reason": reason}
        )
        _raise(response)

    async def export(self, p: Principal, *, wait_s: float = 15.0) -> dict[str, Any]:
        """Everything held on the debtor for this creditor in every service: an export started at
        claims-api and followed until each service has answered with its part — or, after `wait_s`,
        what has arrived, its `status` still `pending` (the debtor sees which parts are missing)."""
        started = await self.claims.post(self._debtor(p) + "/exports")
        _raise(started)
        location = started.headers["location"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            response = await self.claims.get(location)
            _raise(response)
            body: dict[str, Any] = response.json()
            if body["status"] == "complete" or loop.time() >= deadline:
                return body
            await asyncio.sleep(0.2)

    async def identities(self, national_id: str) -> list[dict[str, Any]]:
        response = await self.claims.post("/v1/portal/identities", json={"national_id": national_id})
        _raise(response)
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    # -- scheduler ---------------------------------------------------------------------------------
    async def schedule(self, p: Principal, claim_id: UUID) -> dict[str, Any] | None:
        return await self.schedule_of(p.creditor_id, claim_id)

    async def schedule_of(self, creditor_id: UUID, claim_id: UUID) -> dict[str, Any] | None:
        """What happens next and when; None when the scheduler has no active timeline for it."""
        try:
            response = await self.scheduler.get(
                f"/v1/claims/{claim_id}/schedule", params={"creditor_id": str(creditor_id)}
            )
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    # -- notifier ----------------------------------------------------------------------------------
    async def send_code(self, body: dict[str, Any]) -> None:
        response = await self.notifier.post("/v1/one-time-codes", json=body)
        _raise(response)

    async def document(self, p: Principal, delivery_id: UUID) -> bytes:
        response = await self.notifier.get(
            f"/v1/portal/deliveries/{delivery_id}/document",
            params={"creditor_id": str(p.creditor_id), "debtor_id": str(p.debtor_id)},
        )
        _raise(response)
        return response.content

    # -- payments-ingest ---------------------------------------------------------------------------
    async def checkout(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.payments.post("/v1/card-checkouts", json=body)
        _raise(response)
        result: dict[str, Any] = response.json()
        return result

    # -- the agency's own screens (operator token) ------------------------------------------------
    async def operator_get(self, client: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await client.get(path, params=params, headers=self.operator)
        _raise(response)
        return response.json()

    async def operator_post(self, client: httpx.AsyncClient, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await client.post(path, json=body, headers=self.operator)
        _raise(response)
        return response.json() if response.content else None

    async def checkout_status(self, checkout_id: str) -> dict[str, Any]:
        response = await self.payments.get(f"/v1/card-checkouts/{checkout_id}")
        _raise(response)
        result: dict[str, Any] = response.json()
        return result


@dataclass(frozen=True, slots=True)
class AsCreditor:
    """Whom a creditor-web request is for: the user's creditor and their role's scopes. claims-api
    scopes every route to that creditor, as it does for the creditor's own API key."""

    creditor_id: UUID
    scopes: tuple[str, ...]
    actor: str = ""  # the user, for claims-api's record of who changed the creditor's settings

    def headers(self) -> dict[str, str]:
        headers = {"X-Krafa-Creditor": str(self.creditor_id), "X-Krafa-Scopes": ",".join(self.scopes)}
        if self.actor:
            headers["X-Krafa-Actor"] = self.actor
        return headers


class CreditorClient:
    """claims-api's creditor REST API, called for a logged-in creditor user."""

    def __init__(self, clients: Clients, who: AsCreditor) -> None:
        self.clients, self.who = clients, who

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await self.clients.claims.get(path, params=params, headers=self.who.headers())
        _raise(response)
        return response.json()

    async def profile(self) -> dict[str, Any]:
        body: dict[str, Any] = await self._get("/v1/creditor")
        return body

    async def claims(self, params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = await self._get("/v1/claims", {k: v for k, v in params.items() if v not in (None, "")})
        return body

    async def claim(self, claim_id: UUID) -> dict[str, Any]:
        body: dict[str, Any] = await self._get(f"/v1/claims/{claim_id}")
        return body

    async def ledger(self, claim_id: UUID) -> dict[str, Any]:
        body: dict[str, Any] = await self._get(f"/v1/claims/{claim_id}/ledger")
        return body

    async def timeline(self, claim_id: UUID) -> dict[str, Any]:
        body: dict[str, Any] = await self._get(f"/v1/claims/{claim_id}/timeline")
        return body

    async def aging(self) -> dict[str, Any]:
        body: dict[str, Any] = await self._get("/v1/reports/aging")
        return body

    async def act(self, claim_id: UUID, action: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        """A lifecycle action (cancel, hold, release, write-off…) with an idempotency key, so a
        double click or a retried form does it once."""
        response = await self.clients.claims.post(
            f"/v1/claims/{claim_id}/{action}", json=body, headers={**self.who.headers(), "Idempotency-Key": key}
        )
        _raise(response)
        result: dict[str, Any] = response.json()
        return result

    async def post(
        self, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = await self.clients.claims.post(path, json=body, headers={**self.who.headers(), **(headers or {})})
        _raise(response)
        result: dict[str, Any] = response.json() if response.content else {}
        return result

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._get(path, params)

    async def patch(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        response = await self.clients.claims.patch(
            path, json=body, headers={**self.who.headers(), "Idempotency-Key": key}
        )
        _raise(response)
        result: dict[str, Any] = response.json()
        return result

    async def delete(self, path: str) -> dict[str, Any]:
        response = await self.clients.claims.delete(path, headers=self.who.headers())
        _raise(response)
        result: dict[str, Any] = response.json() if response.content else {}
        return result

    async def webhook_types(self) -> list[dict[str, str]]:
        """The event types an endpoint may subscribe to, with what each means (claims-api's list)."""
        items: list[dict[str, str]] = (await self._get("/v1/webhook-event-types"))["items"]
        return items

    async def upload_contacts(self, content: bytes, params: dict[str, str], key: str) -> dict[str, Any]:
        """The contact list as CSV to claims-api's upsert; its job with the rejected rows by line."""
        response = await self.clients.claims.post(
            "/v1/contact-uploads",
            content=content,
            params=params,
            headers={**self.who.headers(), "Content-Type": "text/csv; charset=utf-8", "Idempotency-Key": key},
        )
        _raise(response)
        result: dict[str, Any] = response.json()
        return result

    async def schedule(self, claim_id: UUID) -> dict[str, Any] | None:
        return await self.clients.schedule_of(self.who.creditor_id, claim_id)

    async def document(self, debtor_id: UUID, delivery_id: UUID) -> bytes:
        return await self.clients.document(Principal(self.who.creditor_id, debtor_id), delivery_id)


def as_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
