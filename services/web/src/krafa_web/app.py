"""web: the pages for people — the debtor portal (Mínar síður), the creditor web, the agent desk
and the operators' pages. Server-rendered HTML over the
owning services' APIs; its own schema holds links, logins and sessions only (docs/adr/0006)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from krafa_kit.clock import Clock, WallClock
from krafa_kit.http import create_app as create_service_app
from krafa_kit.http import install_text_errors
from krafa_kit.runtime import Runtime, ServiceSpec

from krafa_web.api.agent_pages import router as agent_router
from krafa_web.api.creditor_pages import router as creditor_router
from krafa_web.api.creditor_policies import router as creditor_policies_router
from krafa_web.api.creditor_settings import router as creditor_settings_router
from krafa_web.api.ops_pages import router as ops_router
from krafa_web.api.pages import install_pages, router
from krafa_web.api.sso_pages import router as sso_router
from krafa_web.api.staff_api import router as staff_api
from krafa_web.api.staff_pages import router as staff_router
from krafa_web.calls import CallBoard
from krafa_web.clients import Clients
from krafa_web.handlers import build_routes
from krafa_web.identity import OidcClient
from krafa_web.operations import DeadLetterDesk
from krafa_web.service import Portal
from krafa_web.settings import Settings
from krafa_web.staff.sealing import Sealer
from krafa_web.staff.service import Staff
from krafa_web.staff.sso import SingleSignOn

SCHEMA = "web"
MIGRATIONS = Path(__file__).parent / "migrations"
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    runtime = Runtime(ServiceSpec("web", SCHEMA, MIGRATIONS), settings, clock)
    clients = Clients.create(
        claims_url=settings.claims_api_url,
        scheduler_url=settings.scheduler_url,
        notifier_url=settings.notifier_url,
        payments_url=settings.payments_url,
        bounces_url=settings.bounce_handler_url,
        token=settings.portal_token.get_secret_value() if settings.portal_token else None,
        operator_token=settings.operator_token.get_secret_value() if settings.operator_token else None,
    )
    portal = Portal(runtime.db, runtime.clock, clients, settings)
    staff = Staff(
        runtime.db,
        WallClock(),
        services=runtime.clock,
        idle=timedelta(minutes=settings.staff_idle_minutes),
        absolute=timedelta(minutes=settings.staff_max_minutes),
        lockout_failures=settings.lockout_failures,
        lockout=timedelta(minutes=settings.lockout_minutes),
    )
    sso = SingleSignOn(
        runtime.db,
        WallClock(),
        services=runtime.clock,
        sealer=Sealer(settings.staff_oidc_keys.get_secret_value()) if settings.staff_oidc_keys else None,
        redirect_uri=settings.portal_url.rstrip("/") + "/staff/sso/callback",
    )
    runtime.spec.routes = build_routes(portal)
    oidc = None
    if settings.oidc_issuer and settings.oidc_client_id:
        oidc = OidcClient(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
            redirect_uri=settings.portal_url.rstrip("/") + "/auth/callback",
            scopes=settings.oidc_scopes,
            national_id_claim=settings.oidc_national_id_claim,
        )

    async def close() -> None:
        await clients.close()
        await sso.close()
        if oidc is not None:
            await oidc.close()

    app = create_service_app(
        runtime,
        title="Krafa web",
        description="The debtor portal: server-rendered pages for people (not an API).",
        on_shutdown=close,
    )
    app.state.settings = settings
    app.state.portal = portal
    app.state.staff = staff
    app.state.sso = sso
    app.state.dead_letters = DeadLetterDesk(settings)
    app.state.calls = CallBoard()
    app.state.clients = clients
    app.state.oidc = oidc
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
    app.include_router(staff_router)
    app.include_router(sso_router)
    app.include_router(creditor_router)
    app.include_router(creditor_policies_router)
    app.include_router(creditor_settings_router)
    app.include_router(agent_router)
    app.include_router(ops_router)
    app.include_router(staff_api)
    install_pages(app)
    install_text_errors(app)
    return app
