"""bounce-handler: receives DSNs over SMTP at the signed return paths of reminder emails and
turns the failures into EmailBounced events."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from krafa_kit.clock import Clock
from krafa_kit.http import create_app as create_service_app
from krafa_kit.http import install_text_errors
from krafa_kit.runtime import Runtime, ServiceSpec

from krafa_bounce_handler import retention, service
from krafa_bounce_handler.api import webhooks as webhook_api
from krafa_bounce_handler.api.routes import router
from krafa_bounce_handler.domain import InboundMessage
from krafa_bounce_handler.handlers import build_routes
from krafa_bounce_handler.settings import Settings
from krafa_bounce_handler.smtp import InboundSmtp

SCHEMA = "bounces"
MIGRATIONS = Path(__file__).parent / "migrations"


class BounceRuntime(Runtime):
    """The kit's runtime, with the SMTP endpoint in its readiness checks."""

    smtp: InboundSmtp | None = None

    async def ready(self) -> dict[str, bool]:
        checks = await super().ready()
        if self.smtp is not None:
            checks["smtp"] = self.smtp.listening
        return checks


def create_runtime(settings: Settings, clock: Clock | None = None) -> BounceRuntime:
    runtime = BounceRuntime(
        ServiceSpec("bounce-handler", SCHEMA, MIGRATIONS, retention=retention.rules(settings)), settings, clock
    )
    policy = settings.soft_bounce_policy
    runtime.spec.routes = build_routes(runtime.clock, policy)
    secret = settings.return_path_secret.get_secret_value().encode()

    async def receive(message: InboundMessage) -> object:
        return await service.receive_message(runtime.db, runtime.clock, message, secret=secret, policy=policy)

    runtime.smtp = InboundSmtp(
        receive,
        host=settings.smtp_host,
        port=settings.smtp_port,
        return_domain=settings.return_domain,
        max_message_bytes=settings.max_message_bytes,
        transaction_timeout_s=settings.smtp_transaction_timeout_s,
    )
    # A background task of the runtime: it starts once migrations ran and the pool is up, and is
    # cancelled (then drains) on shutdown before the pool closes.
    runtime.add_background("smtp", runtime.smtp.serve)
    return runtime


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    runtime = create_runtime(settings, clock)
    app = create_service_app(
        runtime,
        title="Krafa bounce-handler",
        description="Receives delivery status notifications (DSNs) over SMTP at the signed return "
        "paths of reminder emails and publishes EmailBounced. Operators list bounces here and can "
        "classify a raw message without side effects.",
    )
    app.state.settings = settings
    app.state.smtp = runtime.smtp
    app.include_router(router)
    app.include_router(webhook_api.router)
    install_text_errors(app)  # NUL in text → 422, not 500
    return app
