"""The FastAPI dependencies every service's routes share, read from the app the kit built: the
process's Runtime (its database and clock) and the service's own Settings. A service's `api/`
re-exports them (`DB`, `CurrentClock`) and makes its typed settings dependency with
`settings_dependency(Settings)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from krafa_kit.clock import Clock
from krafa_kit.db import Database
from krafa_kit.runtime import Runtime
from krafa_kit.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def get_runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    if not isinstance(runtime, Runtime):
        raise TypeError("app.state.runtime is not a krafa_kit Runtime")
    return runtime


def get_db(request: Request) -> Database:
    return get_runtime(request).db


def get_clock(request: Request) -> Clock:
    return get_runtime(request).clock


def settings_dependency(cls: type[S]) -> Callable[[Request], S]:
    """A dependency giving the service's own settings, typed as its Settings class."""

    def get_settings(request: Request) -> S:
        settings = request.app.state.settings
        if not isinstance(settings, cls):
            raise TypeError(f"app.state.settings is not a {cls.__name__}")
        return settings

    return get_settings


DB = Annotated[Database, Depends(get_db)]
CurrentClock = Annotated[Clock, Depends(get_clock)]
