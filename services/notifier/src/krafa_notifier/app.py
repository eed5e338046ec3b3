"""notifier: renders reminders and hands them to email, letter and the other channels."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from fastapi import FastAPI
from krafa_kit.clock import Clock
from krafa_kit.http import Problem
from krafa_kit.http import create_app as create_service_app
from krafa_kit.runtime import Runtime, ServiceSpec

from krafa_notifier.channels import EmailChannel, LetterChannel
from krafa_notifier.content import ReminderRenderer
from krafa_notifier.handlers import ROUTES
from krafa_notifier.service import Dispatcher
from krafa_notifier.settings import Settings

SCHEMA = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    runtime = Runtime(ServiceSpec("notifier", SCHEMA, MIGRATIONS, ROUTES), settings, clock)
    channels: dict[str, EmailChannel | LetterChannel] = {}

    async def dispatch() -> None:
        email = EmailChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            connections=settings.smtp_connections,
            timeout=settings.smtp_timeout_s,
        )
        letters = LetterChannel(
            settings.print_url, settings.print_token.get_secret_value() if settings.print_token else None
        )
        channels.update(email=email, letters=letters)
        dispatcher = Dispatcher(
            runtime.db,
            runtime.clock,
            email=email,
            letters=letters,
            renderer=ReminderRenderer(),
            sender=settings.sender_email,
            return_domain=settings.return_domain,
            return_secret=settings.return_path_secret.get_secret_value().encode(),
            batch_size=settings.dispatch_batch_size,
            concurrency=settings.dispatch_concurrency,
            idle_wall_s=settings.dispatch_idle_wall_s,
        )
        await dispatcher.run()

    async def close_channels() -> None:
        for channel in channels.values():
            await channel.close()

    runtime.add_background("dispatcher", dispatch)
    app = create_service_app(
        runtime, title="Krafa notifier", description="Deliveries of reminders.", on_shutdown=close_channels
    )

    @app.get("/v1/deliveries/{delivery_id}", tags=["deliveries"], summary="One delivery and its state")
    async def get_delivery(delivery_id: UUID) -> dict[str, object]:
        async with runtime.db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT id, reminder_id, kind, channel, status, step, attempts, last_error, sent_at, fallback_for"
                " FROM deliveries WHERE id = $1",
                delivery_id,
            )
        if row is None:
            raise Problem(404, "Not Found", "no such delivery")
        return {k: (str(v) if v is not None else None) for k, v in dict(row).items()}

    return app
