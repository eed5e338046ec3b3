"""notifier: renders reminders and hands them to email, letter and the other channels."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

from fastapi import Depends, FastAPI
from krafa_kit.clock import Clock, clock_from_settings
from krafa_kit.http import Problem, install_text_errors, problems, require_operator
from krafa_kit.http import create_app as create_service_app
from krafa_kit.runtime import Runtime, ServiceSpec
from krafa_kit.wakeup import Wakeup

from krafa_notifier import calls, kpi, repository, retention, soft_retry
from krafa_notifier.api.portal import portal
from krafa_notifier.api.routes import agents, creditor_reads, creditors, receipts
from krafa_notifier.channels import EmailChannel, LetterChannel, NetbankChannel
from krafa_notifier.content import ReminderRenderer
from krafa_notifier.handlers import LANES, build_routes
from krafa_notifier.mime import DkimSigner
from krafa_notifier.service import Dispatcher
from krafa_notifier.settings import Settings
from krafa_notifier.sms import GenericJsonSms, SmsProvider, TwilioSms

SCHEMA = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    if settings.sms_provider == "twilio" and (not settings.twilio_account_sid or settings.twilio_auth_token is None):
        # Refuse to start rather than fail every SMS later.
        raise ValueError("KRAFA_SMS_PROVIDER=twilio needs KRAFA_TWILIO_ACCOUNT_SID and KRAFA_TWILIO_AUTH_TOKEN")
    clock = clock or clock_from_settings(settings)
    routes = build_routes(clock)
    spec = ServiceSpec("notifier", SCHEMA, MIGRATIONS, routes, LANES, retention=retention.rules(settings))
    runtime = Runtime(spec, settings, clock)
    kpi.install(runtime)  # collection KPIs from this service's tables, on /metrics
    channels: dict[str, EmailChannel | LetterChannel | NetbankChannel | SmsProvider] = {}
    renderer = ReminderRenderer()

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
        sms_provider = _sms_provider(settings)
        if sms_provider is not None:
            channels["sms"] = sms_provider
        netbank = None
        if settings.netbank_url:
            token = settings.netbank_token.get_secret_value() if settings.netbank_token else None
            netbank = channels["netbank"] = NetbankChannel(settings.netbank_url, token)
        dispatcher = Dispatcher(
            runtime.db,
            runtime.clock,
            email=email,
            letters=letters,
            renderer=renderer,
            sms_provider=sms_provider,
            netbank=netbank,
            receipts_url=f"{settings.public_url.rstrip('/')}/v1/receipts/sms" if settings.public_url else None,
            dkim_signer=_dkim_signer(settings),
            sms_quiet_hours=settings.sms_quiet_hours,
            sender=settings.sender_email,
            return_domain=settings.return_domain,
            return_secret=settings.return_path_secret.get_secret_value().encode(),
            batch_size=settings.dispatch_batch_size,
            concurrency=settings.dispatch_concurrency,
            idle_wall_s=settings.dispatch_idle_wall_s,
            max_idle_wall_s=settings.dispatch_max_idle_wall_s,
            portal_url=settings.portal_url,
            portal_link_secret=settings.portal_link_secret.get_secret_value().encode()
            if settings.portal_link_secret
            else None,
            stops=runtime.lane("stops"),
        )
        runtime.wake_on_events(dispatcher.wakeup)  # planned deliveries may be due at once
        runtime.wake_on_due(repository.DELIVERIES, dispatcher.wakeup)  # from an API call, a re-send, a replica
        await dispatcher.run()

    async def close_channels() -> None:
        for channel in channels.values():
            await channel.close()

    runtime.add_background("dispatcher", dispatch)

    async def load_calendars() -> None:
        year = runtime.clock.now().year
        await asyncio.to_thread(calls.preload, ("IS", "NO", "EE"), (year, year + 1))

    runtime.add_background("calendars", load_calendars)
    soft_retry_wakeup = Wakeup()
    runtime.wake_on_events(soft_retry_wakeup)  # a soft bounce may have scheduled a re-send
    runtime.add_background(
        "soft-retry", lambda: soft_retry.sweep_forever(runtime.db, runtime.clock, wakeup=soft_retry_wakeup)
    )
    app = create_service_app(
        runtime, title="Krafa notifier", description="Deliveries of reminders.", on_shutdown=close_channels
    )

    app.state.settings = settings
    app.state.renderer = renderer
    app.state.channels = channels  # the one-time codes of the portal go out on the same channels
    for router in (receipts, agents, creditors, creditor_reads, portal):
        app.include_router(router)

    @app.get(
        "/v1/deliveries/{delivery_id}",
        tags=["deliveries"],
        summary="One delivery and its state",
        dependencies=[Depends(require_operator)],  # names the debtor's channel and provider refs
        responses=problems(401, 404, 422),
        response_model=dict[str, str | None],
    )
    async def get_delivery(delivery_id: UUID) -> dict[str, object]:
        """Operator only. One delivery of a notice: its channel, provider reference, attempts and state."""
        async with runtime.db.connection() as conn:
            row = await repository.delivery_state(conn, delivery_id)
        if row is None:
            raise Problem(404, "Not Found", "no such delivery")
        return {k: (str(v) if v is not None else None) for k, v in dict(row).items()}

    install_text_errors(app)  # NUL in text → 422, not 500
    return app


def _sms_provider(settings: Settings) -> SmsProvider | None:
    if settings.sms_provider == "generic":
        token = settings.sms_token.get_secret_value() if settings.sms_token else None
        return GenericJsonSms(settings.sms_url, sender=settings.sms_sender, token=token)
    if settings.sms_provider == "twilio":
        assert settings.twilio_account_sid and settings.twilio_auth_token is not None  # checked in create_app
        return TwilioSms(
            settings.sms_url,
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            sender=settings.sms_sender,
            price_per_segment_minor=settings.sms_price_per_segment_minor,
            currency=settings.sms_price_currency,
        )
    return None


def _dkim_signer(settings: Settings) -> DkimSigner | None:
    key: bytes | None = None
    if settings.dkim_private_key is not None:
        key = settings.dkim_private_key.get_secret_value().encode()
    elif settings.dkim_private_key_file is not None:
        key = settings.dkim_private_key_file.read_bytes()
    if key is None or not settings.dkim_selector or not settings.dkim_domain:
        return None
    return DkimSigner(selector=settings.dkim_selector, domain=settings.dkim_domain, private_key_pem=key)
