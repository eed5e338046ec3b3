"""The owning services' HTTP APIs, as the web calls them on a logged-in debtor's behalf (the
portal token). The web keeps no copy of what they own: every page reads it fresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import httpx

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

    @classmethod
    def create(
        cls, *, claims_url: str, scheduler_url: str, notifier_url: str, payments_url: str, token: str | None
    ) -> Clients:
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        def client(base: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=base, headers=headers, timeout=15.0)

        return cls(client(claims_url), client(scheduler_url), client(notifier_url), client(payments_url))

    async def close(self) -> None:
        for client in (self.claims, self.scheduler, self.notifier, self.payments):
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

    async def export(self, p: Principal) -> dict[str, Any]:
        response = await self.claims.get(self._debtor(p) + "/export")
        _raise(response)
        body: dict[str, Any] = response.json()
        return body

    async def identities(self, national_id: str) -> list[dict[str, Any]]:
        response = await self.claims.post("/v1/portal/identities", json={"national_id": national_id})
        _raise(response)
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    # -- scheduler ---------------------------------------------------------------------------------
    async def schedule(self, p: Principal, claim_id: UUID) -> dict[str, Any] | None:
        """What happens next and when; None when the scheduler has no active timeline for it."""
        try:
            response = await self.scheduler.get(
                f"/v1/claims/{claim_id}/schedule", params={"creditor_id": str(p.creditor_id)}
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

    async def checkout_status(self, checkout_id: str) -> dict[str, Any]:
        response = await self.payments.get(f"/v1/card-checkouts/{checkout_id}")
        _raise(response)
        result: dict[str, Any] = response.json()
        return result


def as_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
