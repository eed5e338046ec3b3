"""scheduler: the escalation engine. Timers are rows swept with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from fastapi import FastAPI
from krafa_kit.clock import Clock
from krafa_kit.http import Problem
from krafa_kit.http import create_app as create_service_app
from krafa_kit.runtime import Runtime, ServiceSpec

from krafa_scheduler import service
from krafa_scheduler.handlers import ROUTES
from krafa_scheduler.settings import Settings

SCHEMA = "scheduler"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    runtime = Runtime(ServiceSpec("scheduler", SCHEMA, MIGRATIONS, ROUTES), settings, clock)
    runtime.add_background(
        "sweep",
        lambda: service.sweep_forever(runtime.db, runtime.clock, settings.sweep_batch_size, settings.sweep_idle_wall_s),
    )
    app = create_service_app(runtime, title="Krafa scheduler", description="Claim timelines and their steps.")

    @app.get("/v1/timelines/{claim_id}", tags=["timelines"], summary="A claim's timeline: step, next action, status")
    async def timeline(claim_id: UUID) -> dict[str, object]:
        async with runtime.db.connection() as conn:
            row = await conn.fetchrow("SELECT * FROM timelines WHERE claim_id = $1", claim_id)
        if row is None:
            raise Problem(404, "Not Found", "no timeline for this claim")
        return {k: (str(v) if v is not None else None) for k, v in dict(row).items()}

    @app.get("/v1/clock", tags=["operations"], summary="The service's notion of now (simulated or wall)")
    async def now() -> dict[str, str]:
        return {"now": runtime.clock.now().isoformat()}

    return app
