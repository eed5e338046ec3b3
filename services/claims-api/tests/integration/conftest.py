"""One claims-api app per test over the real PostgreSQL and broker, with helpers to add creditors
and talk to the API as each of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from krafa_claims_api import service
from krafa_claims_api.api.schemas import CreditorIn
from krafa_claims_api.app import create_app
from krafa_claims_api.settings import Settings
from krafa_kit.clock import Clock
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import serving


def claim_body(
    invoice: str = "INV-1", amount: int = 10_000, *, customer_no: str = "C-1", due: str = "2026-02-01", **extra: Any
) -> dict[str, Any]:
    return {
        "invoice_no": invoice,
        "amount_minor": amount,
        "currency": "ISK",
        "due_date": due,
        "debtor": {
            "customer_no": customer_no,
            "name": "Jón Jónsson",
            "country": "IS",
            "language": "is",
            "email": "jon@example.is",
            "address": {"lines": ["Laugavegur 1"], "postcode": "101", "city": "Reykjavík", "country": "IS"},
        },
        **extra,
    }


CONTACT_CONSENT = {"source": "terms of business §7", "terms_version": "2026-01", "terms_date": "2026-01-01"}


@dataclass
class Api:
    app: FastAPI
    base: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def db(self) -> Any:
        return self.app.state.runtime.db

    async def creditor(self, name: str = "Fram", **fields: Any) -> tuple[Any, httpx.AsyncClient]:
        """A creditor whose terms allow sharing its customers' addresses (its contact consent), unless
        `contact_consent=None` is given."""
        fields.setdefault("contact_consent", CONTACT_CONSENT)
        async with self.db.uow() as uow:
            creditor_id, key = await service.create_creditor(uow, CreditorIn(name=name, **fields))
            await uow.commit()
        client = httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {key.token}"}, timeout=30)
        self.clients.append(client)
        return creditor_id, client


@pytest.fixture
def clock() -> Clock | None:
    return None


@pytest.fixture
def settings(database_url: str, broker: EmbeddedBroker, consume: bool) -> Settings:
    # Tests receive webhooks on 127.0.0.1 over http: the SSRF guard's test-only allowance. Only
    # tests marked `consumes` run the consumer (see krafa_kit.testing.consume).
    return Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        idempotency_lock_timeout_ms=300,
        webhook_allow_private=True,
        consume=consume,
    )


@pytest.fixture
async def api(settings: Settings, clock: Clock | None) -> AsyncIterator[Api]:
    app = create_app(settings, clock)
    async with serving(app) as base:
        result = Api(app, base)
        try:
            yield result
        finally:
            for client in result.clients:
                await client.aclose()
