"""Dependencies of the routes: the runtime's database, clock and the service settings (the operator
check is krafa_kit.http.require_operator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from krafa_kit.clock import Clock
from krafa_kit.db import Database
from krafa_kit.deps import get_clock, get_db, settings_dependency

from krafa_bounce_handler.settings import Settings

get_settings = settings_dependency(Settings)


DB = Annotated[Database, Depends(get_db)]
RuntimeClock = Annotated[Clock, Depends(get_clock)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
