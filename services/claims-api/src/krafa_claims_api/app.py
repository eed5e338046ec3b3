"""claims-api: the REST interface ERP systems talk to."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from krafa_events import PaymentReceived
from krafa_kit.clock import Clock
from krafa_kit.http import create_app as create_service_app
from krafa_kit.http import install_text_errors
from krafa_kit.runtime import Lane, Runtime, ServiceSpec

from krafa_claims_api import kpi, repository, retention, webhook_repository
from krafa_claims_api.api.debtors import router as debtors_router
from krafa_claims_api.api.gateway import router as gateway_router
from krafa_claims_api.api.integrations import router as integrations_router
from krafa_claims_api.api.lifecycle import router as lifecycle_router
from krafa_claims_api.api.operations import router as operations_router
from krafa_claims_api.api.portal import creditor as self_service_router
from krafa_claims_api.api.portal import portal as portal_router
from krafa_claims_api.api.routes import router
from krafa_claims_api.api.sandbox import router as sandbox_router
from krafa_claims_api.api.webhook_payloads import document_webhooks
from krafa_claims_api.gateway.client import Upstreams
from krafa_claims_api.handlers import build_routes
from krafa_claims_api.lifecycle import HoldExpiry
from krafa_claims_api.settings import Settings
from krafa_claims_api.webhooks import UrlPolicy, WebhookWorker

SCHEMA = "claims"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    runtime = Runtime(
        ServiceSpec("claims-api", SCHEMA, MIGRATIONS, retention=retention.rules(settings)), settings, clock
    )
    kpi.install(runtime)  # collection KPIs from this service's tables, on /metrics
    routes = build_routes(runtime.clock)
    # Payments on a lane of their own: a ClaimPaid (and the balance that ends the notifier's
    # payment hold) is never queued behind the bursts of ReminderSent and FeeCharged the main
    # consumer books (docs/adr/0008). Both lock the claim row, so either order books the same.
    runtime.spec.lanes = (Lane("payments", {PaymentReceived: routes.pop(PaymentReceived)}),)
    runtime.spec.routes = routes
    return runtime


def url_policy(settings: Settings) -> UrlPolicy:
    return UrlPolicy(allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private)


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    runtime = create_runtime(settings, clock)
    # Signed webhooks to creditors, from their table; the SSRF guard checks every attempt.
    webhook_worker = WebhookWorker(runtime.db, url_policy=url_policy(settings))
    runtime.wake_on_due(webhook_repository.WORK, webhook_worker.wakeup)  # a delivery queued
    runtime.add_background("webhooks", webhook_worker.run)
    # Holds end on their own at `until` (supervised by the runtime like every background loop).
    hold_expiry = HoldExpiry(runtime.db, runtime.clock, poll_interval_s=settings.hold_expiry_poll_s)
    runtime.wake_on_due(repository.HOLDS, hold_expiry.wakeup)  # a hold placed
    runtime.add_background("hold-expiry", hold_expiry.run)
    # The notifier's and scheduler's APIs, for the creditor's reads they own (docs/adr/0013).
    upstreams = Upstreams.from_settings(settings)
    app = create_service_app(
        runtime,
        title="Krafa claims API",
        description="Creditors' ERP systems register claims here and follow them to payment. "
        "Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problem details.",
        on_shutdown=upstreams.close,
    )
    app.state.settings = settings
    app.state.webhook_worker = webhook_worker
    app.state.upstreams = upstreams
    app.state.hold_expiry = hold_expiry
    install_text_errors(app)  # NUL in text → 422, not 500
    app.include_router(router)
    app.include_router(lifecycle_router)  # claim lifecycle, ledger, timeline
    app.include_router(integrations_router)  # departments, webhooks, API keys
    app.include_router(debtors_router)  # debtors, contact points, uploads, credit status, GDPR
    app.include_router(self_service_router)  # self-service terms, debtors' arrangement requests
    app.include_router(portal_router)  # the web service's calls on a logged-in debtor's behalf
    app.include_router(gateway_router)  # templates, previews, policies, schedules: the owners', for the creditor
    app.include_router(sandbox_router)  # a sandbox's clock
    app.include_router(operations_router)  # the operators': given-up webhooks across creditors
    document_webhooks(app)  # what Krafa POSTs to creditors' endpoints, per event type
    return app
