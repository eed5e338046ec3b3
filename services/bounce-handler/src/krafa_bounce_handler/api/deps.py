"""Dependencies of the routes: the runtime's database, the service settings and the operator
check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from krafa_kit.clock import Clock
from krafa_kit.db import Database
from krafa_kit.http import Problem, operator_allowed

from krafa_bounce_handler.settings import Settings

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <operator token>")
UNAUTHORIZED = Problem(
    401, "Unauthorized", "a valid operator token is required", headers={"WWW-Authenticate": "Bearer"}
)


def get_db(request: Request) -> Database:
    db: Database = request.app.state.runtime.db
    return db


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.runtime.clock
    return clock


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def require_operator(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    if not operator_allowed(settings, settings.operator_token, credentials.credentials if credentials else None):
        raise UNAUTHORIZED


DB = Annotated[Database, Depends(get_db)]
RuntimeClock = Annotated[Clock, Depends(get_clock)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
