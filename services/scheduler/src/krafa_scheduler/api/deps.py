"""Who may call the scheduler's routes: operators (the kit's operator token); for a creditor's
policies and a claim's schedule also claims-api with its gateway token (docs/adr/0013), and for a
claim's schedule the debtor portal with its own token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from krafa_kit.deps import settings_dependency
from krafa_kit.http import (
    OPERATOR_BEARER,
    Problem,
    gateway_allowed,
    operator_allowed,
    require_operator,
    require_operator_or_gateway,
)

from krafa_scheduler.settings import Settings

get_settings = settings_dependency(Settings)

# Policies change what debtors receive, timelines and dry runs show debtor data: behind the
# operator token (no token: loopback listeners only).
operator = require_operator
# The reads claims-api serves a creditor: its gateway token opens these and nothing else.
operator_or_gateway = require_operator_or_gateway


def operator_or_portal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(OPERATOR_BEARER)]
) -> str:
    """The debtor portal shows a debtor what happens next (the web asks with its own token); claims-api
    shows a creditor (its gateway token). Who asked: `operator`, `gateway` or `portal`."""
    settings = get_settings(request)
    presented = credentials.credentials if credentials else None
    if operator_allowed(settings, settings.operator_token, presented):
        return "operator"
    if gateway_allowed(settings, presented):
        return "gateway"
    if settings.portal_token is not None and operator_allowed(settings, settings.portal_token, presented):
        return "portal"
    raise Problem(401, "Unauthorized", "a valid operator token is required", headers={"WWW-Authenticate": "Bearer"})
