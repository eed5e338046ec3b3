"""payments-ingest: reads bank files, records each payment once, matches it to a claim by its
structured reference and publishes PaymentReceived or PaymentUnmatched."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from krafa_kit.clock import Clock
from krafa_kit.http import create_app as create_service_app
from krafa_kit.http import install_text_errors
from krafa_kit.runtime import Runtime, ServiceSpec

from krafa_payments_ingest import kpi, psp
from krafa_payments_ingest.api.cards import portal_router, webhook_router
from krafa_payments_ingest.api.routes import card_router, router
from krafa_payments_ingest.bank_claims.client import ClaimsClient
from krafa_payments_ingest.bank_claims.worker import BankClaimsSync, BankPaymentsPoll
from krafa_payments_ingest.handlers import build_routes
from krafa_payments_ingest.inbox import Inbox
from krafa_payments_ingest.settings import Settings

SCHEMA = "payments"
MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)


def create_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    runtime = Runtime(ServiceSpec("payments-ingest", SCHEMA, MIGRATIONS), settings, clock)
    kpi.install(runtime)  # collection KPIs from this service's tables, on /metrics
    runtime.spec.routes = build_routes(runtime.clock)
    if settings.inbox_dir is not None:
        inbox = Inbox(
            settings.inbox_dir,
            runtime.db,
            runtime.clock,
            csv_mapping=settings.inbox_csv_mapping,
            interval_s=settings.inbox_poll_interval_s,
        )
        runtime.add_background("inbox", inbox.run)
    if settings.iobws_url:
        client = ClaimsClient(
            settings.iobws_url,
            token_url=settings.iobws_token_url or settings.iobws_url.rstrip("/") + "/oauth2/token",
            client_id=settings.iobws_client_id,
            client_secret=settings.iobws_client_secret.get_secret_value() if settings.iobws_client_secret else "",
            scope=settings.iobws_scope,
            timeout_s=settings.iobws_timeout_s,
        )
        # Both wait for the consumer's events (the only writers of what the bank should hold) or
        # the next due moment instead of polling the database (bank_claims.worker).
        sync = BankClaimsSync(runtime.db, client, idle_s=settings.iobws_sync_idle_s)
        poll = BankPaymentsPoll(
            runtime.db,
            runtime.clock,
            client,
            poll_interval_s=settings.iobws_poll_interval_s,
            idle_s=settings.iobws_sync_idle_s,
        )
        runtime.wake_on_events(sync.wakeup)
        runtime.wake_on_events(poll.wakeup)
        runtime.add_background("bank-claims-sync", sync.run)
        runtime.add_background("bank-claims-poll", poll.run)
    return runtime


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    runtime = create_runtime(settings, clock)
    if settings.operator_token is None:
        log.warning("KRAFA_OPERATOR_TOKEN is unset: the operator API answers only on a loopback listener")
    client = (
        psp.CheckoutClient(settings.psp_url, settings.psp_secret_key.get_secret_value())
        if settings.psp_url and settings.psp_secret_key
        else None
    )

    async def close() -> None:
        if client is not None:
            await client.close()

    app = create_service_app(
        runtime,
        title="Krafa payments ingest",
        description="Operators upload bank files (camt.052/053/054, MT940, Nets OCR) here and work the "
        "queue of payments no claim matched; card processors report failed card instalments. "
        "Authenticate with `Authorization: Bearer <operator token>` "
        "(KRAFA_OPERATOR_TOKEN; must be set in production). Errors are RFC 9457 problem details.",
        on_shutdown=close,
    )
    app.state.settings = settings
    app.state.psp = client
    app.include_router(router)
    app.include_router(card_router)
    app.include_router(portal_router)  # card checkouts started from the debtor portal
    app.include_router(webhook_router)  # the provider's signed webhook
    install_text_errors(app)  # NUL in text → 422, not 500
    return app
