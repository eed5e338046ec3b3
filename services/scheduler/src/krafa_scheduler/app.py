"""scheduler: the escalation engine. Timers are rows swept with FOR UPDATE SKIP LOCKED. The
composition root: the runtime, its background sweep, and the HTTP routes of `api/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from krafa_kit.clock import Clock, clock_from_settings
from krafa_kit.http import create_app as create_service_app
from krafa_kit.http import install_text_errors
from krafa_kit.runtime import Runtime, ServiceSpec
from krafa_kit.wakeup import Wakeup

from krafa_scheduler import kpi, service
from krafa_scheduler.api.routes import router
from krafa_scheduler.handlers import make_routes
from krafa_scheduler.settings import Settings

SCHEMA = "scheduler"
# The NOTIFY every INSERT INTO timelines sends (its trigger, migration 0022).
TIMELINES = "timelines"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    clock = clock or clock_from_settings(settings)
    runtime = Runtime(ServiceSpec("scheduler", SCHEMA, MIGRATIONS, make_routes(clock)), settings, clock)
    kpi.install(runtime)  # collection KPIs from this service's tables, on /metrics
    sweep_wakeup = Wakeup()
    runtime.wake_on_events(sweep_wakeup)  # new and changed timelines may be due at once
    runtime.wake_on_due(TIMELINES, sweep_wakeup)  # new timelines, whoever wrote them (migration 0022)
    runtime.add_background(
        "sweep",
        lambda: service.sweep_forever(
            runtime.db,
            runtime.clock,
            settings.sweep_batch_size,
            settings.sweep_idle_wall_s,
            sweep_wakeup,
            settings.sweep_max_idle_wall_s,
        ),
    )
    app = create_service_app(runtime, title="Krafa scheduler", description="Claim timelines and their steps.")
    install_text_errors(app)  # NUL in text → 422, not 500
    app.include_router(router)
    return app
