"""Dependencies of the routes: the runtime's database, clock and the service settings (the operator
check is krafa_kit.http.require_operator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from krafa_kit.clock import Clock
from krafa_kit.db import Database

from krafa_bounce_handler.settings import Settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.runtime.db
    return db


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.runtime.clock
    return clock


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DB = Annotated[Database, Depends(get_db)]
RuntimeClock = Annotated[Clock, Depends(get_clock)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
