"""Who may call the scheduler's routes: operators (the kit's operator token), and for a claim's
schedule the debtor portal with its own token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from krafa_kit.deps import settings_dependency
from krafa_kit.http import OPERATOR_BEARER, Problem, operator_allowed, require_operator

from krafa_scheduler.settings import Settings

get_settings = settings_dependency(Settings)

# Policies change what debtors receive, timelines and dry runs show debtor data: behind the
# operator token (no token: loopback listeners only).
operator = require_operator


def operator_or_portal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(OPERATOR_BEARER)]
) -> None:
    """The debtor portal shows a debtor what happens next (the web asks with its own token)."""
    settings = get_settings(request)
    presented = credentials.credentials if credentials else None
    if not operator_allowed(settings, settings.operator_token, presented) and not (
        settings.portal_token is not None and operator_allowed(settings, settings.portal_token, presented)
    ):
        raise Problem(401, "Unauthorized", "a valid operator token is required", headers={"WWW-Authenticate": "Bearer"})
