"""claims-api: the REST interface ERP systems talk to."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from krafa_kit.clock import Clock
from krafa_kit.http import create_app as create_service_app
from krafa_kit.runtime import Runtime, ServiceSpec

from krafa_claims_api.api.routes import router
from krafa_claims_api.handlers import build_routes
from krafa_claims_api.settings import Settings

SCHEMA = "claims"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    runtime = Runtime(ServiceSpec("claims-api", SCHEMA, MIGRATIONS), settings, clock)
    runtime.spec.routes = build_routes(runtime.clock)
    return runtime


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    runtime = create_runtime(settings, clock)
    app = create_service_app(
        runtime,
        title="Krafa claims API",
        description="Creditors' ERP systems register claims here and follow them to payment. "
        "Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problem details.",
    )
    app.state.settings = settings
    app.include_router(router)
    return app
