"""Dependencies of the routes: the runtime's database and clock, and the calling creditor."""

from __future__ import annotations

import hmac
import math
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from krafa_kit.clock import Clock
from krafa_kit.db import Database
from krafa_kit.deps import get_clock, get_db
from krafa_kit.http import PROBLEM_BASE, Problem, TokenBucketLimiter, operator_allowed

from krafa_claims_api import domain, service
from krafa_claims_api.settings import Settings

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")

UNAUTHORIZED = Problem(401, "Unauthorized", "a valid API key is required", headers={"WWW-Authenticate": "Bearer"})


# Wrong API keys per client address: each costs a lookup, and guessing must stay slow. Requests
# with a valid key are limited per key before they get here (krafa_kit.http.RateLimit).
FAILED_AUTH_PER_S = 10.0
FAILED_AUTH_BURST = 100


def _failed_auth(request: Request) -> TokenBucketLimiter:
    limiter: TokenBucketLimiter | None = getattr(request.app.state, "failed_auth", None)
    if limiter is None:
        limiter = request.app.state.failed_auth = TokenBucketLimiter(FAILED_AUTH_PER_S, FAILED_AUTH_BURST)
    return limiter


async def get_caller(
    request: Request,
    db: Annotated[Database, Depends(get_db)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> service.Caller:
    if credentials is not None:
        caller = await service.authenticate(db, credentials.credentials)
        if caller is not None:
            return _clocked(request, caller)
    on_behalf = _on_behalf_of(request, credentials)
    if on_behalf is not None:
        return _clocked(request, await service.with_sandbox(db, on_behalf))
    if credentials is None:
        raise UNAUTHORIZED
    wait = _failed_auth(request).take(request.client.host if request.client else "unknown")
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise Problem(
            429,
            "Too Many Requests",
            f"too many requests with invalid API keys from this address; retry after {retry_after} s",
            type_=PROBLEM_BASE + "rate-limited",
            headers={"Retry-After": str(retry_after)},
        )
    raise UNAUTHORIZED


def _clocked(request: Request, caller: service.Caller) -> service.Caller:
    # The request's clock (CurrentClock) runs on the caller's: a sandbox's is ahead of the service's.
    request.state.clock_offset = caller.clock_offset
    return caller


class RequestClock:
    """The clock of the creditor calling: the service's, plus a sandbox's offset once the caller
    is known. Read when the route runs, after its dependencies named the caller; a route with no
    caller (admin, portal) runs on the service's clock."""

    def __init__(self, base: Clock, request: Request) -> None:
        self.base = base
        self.request = request

    def now(self) -> datetime:
        offset: timedelta = getattr(self.request.state, "clock_offset", timedelta(0))
        return self.base.now() + offset

    def wall_seconds(self, simulated: timedelta) -> float:
        return self.base.wall_seconds(simulated)


def get_request_clock(request: Request, clock: Annotated[Clock, Depends(get_clock)]) -> Clock:
    return RequestClock(clock, request)


def _on_behalf_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> service.Caller | None:
    """The creditor web acting for a logged-in creditor user: the portal token, the creditor in
    `X-Krafa-Creditor` and the user's role's scopes in `X-Krafa-Scopes`. The web decides who may
    do what; this only keeps every route scoped to that one creditor, like an API key."""
    creditor = request.headers.get("x-krafa-creditor")
    if not creditor:
        return None
    settings: Settings = request.app.state.settings
    if not operator_allowed(settings, settings.portal_token, credentials.credentials if credentials else None):
        return None
    try:
        creditor_id = UUID(creditor)
    except ValueError:
        return None
    asked = {s.strip() for s in request.headers.get("x-krafa-scopes", "read").split(",")}
    # The web names its user for the record of changes (who changed the sender identity).
    actor = "creditor web: " + (request.headers.get("x-krafa-actor", "").strip()[:200] or "unnamed user")
    return service.Caller(creditor_id=creditor_id, scopes=frozenset(asked & set(domain.SCOPES)), actor=actor)


def require(scope: str):  # type: ignore[no-untyped-def]
    async def check(caller: Annotated[service.Caller, Depends(get_caller)]) -> service.Caller:
        if scope not in caller.scopes:
            raise Problem(403, "Forbidden", f"the API key lacks the {scope!r} scope")
        return caller

    return check


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    settings: Settings = request.app.state.settings
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    if token is None or credentials is None or not hmac.compare_digest(credentials.credentials, token):
        raise UNAUTHORIZED


DB = Annotated[Database, Depends(get_db)]
CurrentClock = Annotated[Clock, Depends(get_request_clock)]
Reader = Annotated[service.Caller, Depends(require("read"))]
ClaimsWriter = Annotated[service.Caller, Depends(require("claims:write"))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes a POST safe to retry: the same key with the same request returns the first "
        "response without repeating the effect; with a different request it answers 422 "
        "idempotency-key-reused. Scoped per creditor; kept for 24 hours.",
        examples=["0b6c2f0e-6a3e-4f57-9a0e-2a8f7f0c1d11"],
    ),
]
