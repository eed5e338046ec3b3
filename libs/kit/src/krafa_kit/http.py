"""The HTTP face every service shares: /healthz, /readyz, /metrics, request metrics, RFC 9457
problem details for every error, and the guards in front of every route: a body size limit, JSON
that is valid UTF-8 and not nested too deeply, and a rate limit per API key."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import asyncpg
import uvicorn
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from krafa_kit import errors, metrics, openapi, tracing
from krafa_kit.openapi import PROBLEM_BASE, PROBLEM_JSON, PROBLEM_REF, problem_fields, problem_type
from krafa_kit.runtime import Runtime
from krafa_kit.server import Server
from krafa_kit.settings import ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

__all__ = ["PROBLEM_BASE", "PROBLEM_JSON", "Problem", "create_app", "problem_response", "problems", "serve"]


class Problem(Exception):
    """Raise from a route to answer with an RFC 9457 problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_ or problem_type(status)
        self.extra = extra or {}
        self.headers = headers


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_: str = "about:blank",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "instance": request.url.path}
    if detail:
        body["detail"] = detail
    body.update(extra or {})
    return JSONResponse(problem_fields(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _problem_asgi(
    scope: Scope, status: int, title: str, detail: str, type_: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "instance": scope.get("path", ""), "detail": detail}
    return JSONResponse(problem_fields(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


# An operation anyone may call: OpenAPI's empty security requirement, stated explicitly so a
# route that forgot its credentials stands out to the linter (redocly's security-defined).
PUBLIC: dict[str, Any] = {"security": []}


# -- request bodies --------------------------------------------------------------------------------
# Raw uploads (bank files, messages) stream to the route, which applies its own finer limit;
# everything else is parsed in memory and gets the smaller limit.
UPLOAD_TYPES = frozenset(
    {
        "multipart/form-data",
        "application/octet-stream",
        "application/xml",
        "text/xml",
        "text/plain",
        "text/csv",
        "message/rfc822",
        "application/zip",
    }
)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_PAIR = re.compile(rb"\[\]|\{\}")  # one pass strips one level: removals do not cascade


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether the brackets of `body` nest deeper than `limit`, at C speed: keep only the
    brackets, then strip innermost pairs once per level. Brackets inside strings are counted too
    (legitimate text rarely holds dozens of balanced ones); whatever slips past this is still
    bounded by the JSON parser's recursion limit, which answers 400."""
    brackets = body.translate(None, _NOT_BRACKET)
    for _ in range(limit):
        if not brackets:
            return False
        shorter = _PAIR.sub(b"", brackets)
        if len(shorter) == len(brackets):
            return False  # unbalanced: the parser will say so
        brackets = shorter
    return bool(brackets) and (b"[]" in brackets or b"{}" in brackets)


class _BodyTooLarge(Exception):
    pass


class BodyGuard:
    """ASGI middleware: 413 for a body over the limit (by Content-Length, or counted while it
    streams, so it is never held whole); 400 for JSON that is not UTF-8 or nests too deeply."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = media_type == "application/json" or media_type.endswith("+json")
        limit = self.max_upload_bytes if media_type in UPLOAD_TYPES else self.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        if is_json:
            await self._json(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send, limit)

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            response = _problem_asgi(
                scope,
                400,
                "Invalid UTF-8",
                f"the JSON body is not valid UTF-8 (byte {exc.start})",
                PROBLEM_BASE + "invalid-utf8",
            )
            await response(scope, receive, send)
            return
        if json_too_deep(body, self.max_json_depth):
            response = _problem_asgi(
                scope,
                400,
                "JSON nested too deeply",
                f"the JSON body nests deeper than {self.max_json_depth} levels",
                PROBLEM_BASE + "json-too-deep",
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = _problem_asgi(
            scope,
            413,
            "Content Too Large",
            f"the request body may have at most {limit} bytes",
            PROBLEM_BASE + "body-too-large",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


# -- rate limiting ---------------------------------------------------------------------------------
class TokenBucketLimiter:
    """One token bucket per key: `rate` tokens a second, at most `burst` saved up. In-process
    (each replica limits on its own); the least recently seen keys are forgotten past `max_keys`."""

    def __init__(
        self, rate: float, burst: int, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allowance(self, key: str) -> tuple[int, int]:
        """(requests left now, seconds until the bucket is full again) for `key`, as last taken."""
        tokens, _ = self._buckets.get(key, (self.burst, 0.0))
        return int(tokens), math.ceil((self.burst - tokens) / self.rate)

    def take(self, key: str) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


def api_key_id(authorization: str) -> str:
    """The bucket of a request's credential: the same key however the header spells its scheme and
    spacing ("Bearer k", "bearer  k"), so a re-spelt header gets no fresh bucket. A key has one
    secret, so for every key that authenticates this is its identity. The limiter never holds
    the credential itself, only its hash."""
    scheme, _, credential = authorization.strip().partition(" ")
    token = credential.strip() if credential.strip() else scheme
    kind = scheme.lower() if credential.strip() else ""
    return hashlib.sha256(f"{kind}\n{token}".encode()).hexdigest()


class RateLimit:
    """ASGI middleware: a token bucket per API key (the Authorization header). Every answer to a
    request with a key says how much is left (`RateLimit-Limit`, `-Remaining`, `-Reset`, as the
    IETF httpapi draft names them); over the limit: 429 with Retry-After and a problem document.
    Requests without credentials and the probes are not limited here (the routes refuse the former)."""

    EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, app: ASGIApp, *, limiter: TokenBucketLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in self.EXEMPT:
            authorization = Headers(scope=scope).get("authorization")
            if authorization:
                key = api_key_id(authorization)
                wait = self.limiter.take(key)
                remaining, reset = self.limiter.allowance(key)
                rate_headers = {
                    "RateLimit-Limit": str(int(self.limiter.burst)),
                    "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": str(reset),
                }
                if wait > 0:
                    retry_after = max(1, math.ceil(wait))
                    response = _problem_asgi(
                        scope,
                        429,
                        "Too Many Requests",
                        f"more than {self.limiter.rate:g} requests a second (burst {self.limiter.burst:g}) with "
                        f"this API key; retry after {retry_after} s",
                        PROBLEM_BASE + "rate-limited",
                        headers={"Retry-After": str(retry_after), **rate_headers},
                    )
                    await response(scope, receive, send)
                    return
                await self.app(scope, receive, with_headers(send, rate_headers))
                return
        await self.app(scope, receive, send)


def with_headers(send: Send, headers: dict[str, str]) -> Send:
    """`send` that adds `headers` to the response's start."""
    encoded = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return sending


class RequestContext:
    """ASGI middleware, outermost: every request gets a `Request-Id` (the caller's, if it sent a
    sane one) and runs as a span of the caller's `traceparent` trace (or of a new trace), so its
    log lines and the events it writes carry both ids; the answer names the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = tracing.request_id_from(headers.get("request-id") or headers.get("x-request-id"))
        with tracing.continued(headers.get("traceparent"), request_id=request_id):
            await self.app(scope, receive, with_headers(send, {"Request-Id": request_id}))


def install_guards(app: FastAPI, settings: ServiceSettings) -> None:
    """The body guard and, unless switched off (rate 0), the rate limit per API key."""
    app.add_middleware(
        BodyGuard,
        max_body_bytes=settings.http_max_body_bytes,
        max_upload_bytes=settings.http_max_upload_bytes,
        max_json_depth=settings.http_max_json_depth,
    )
    if settings.http_rate_limit_per_s > 0:
        limiter = TokenBucketLimiter(settings.http_rate_limit_per_s, settings.http_rate_limit_burst)
        app.add_middleware(RateLimit, limiter=limiter)  # runs before the body is read
    app.add_middleware(RequestContext)  # added last: runs first, so even a 413 or 429 has its id


_STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
}


MAX_REPORTED_ERRORS = 20_000


def validation_pointer(loc: Any) -> str:
    """The JSON pointer of a FastAPI error location: into the body without its `body` head."""
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return "/" + "/".join(parts) if parts else ""


# The status of each domain refusal (krafa_kit.errors): the one place a refusal becomes HTTP.
REFUSAL_STATUS: dict[type[errors.Refusal], int] = {
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Invalid: 422,
    errors.TooLarge: 413,
    errors.Unavailable: 503,
}


def refusal_problem(exc: errors.Refusal) -> Problem:
    """The problem document of a domain refusal: its status by class, its type by kind."""
    status = next((code for cls, code in REFUSAL_STATUS.items() if isinstance(exc, cls)), 400)
    return Problem(
        status,
        exc.title,
        exc.detail,
        type_=PROBLEM_BASE + exc.kind if exc.kind else None,
        extra=exc.facts,
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.Refusal)
    async def on_refusal(request: Request, exc: errors.Refusal) -> JSONResponse:
        problem = refusal_problem(exc)
        return problem_response(
            request, problem.status, problem.title, problem.detail, type_=problem.type, extra=problem.extra
        )

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.title, exc.detail, type_=exc.type, extra=exc.extra, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = _STATUS_TITLES.get(exc.status_code, "Error")
        return problem_response(
            request,
            exc.status_code,
            title,
            str(exc.detail) if exc.detail else None,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Every error at once (a bulk of 10,000 claims may have one per claim), each with an
        # RFC 6901 pointer into the body (`/claims/3/amount_minor`), the style the routes' own
        # checks use; a parameter's pointer names where it was (`/query/limit`).
        errors = [
            {
                "pointer": validation_pointer(err.get("loc", ())),
                "field": ".".join(str(part) for part in err.get("loc", ())),
                "detail": err.get("msg", ""),
            }
            for err in exc.errors()[:MAX_REPORTED_ERRORS]
        ]
        return problem_response(
            request,
            422,
            "Validation failed",
            f"{len(exc.errors())} invalid field(s)",
            type_=PROBLEM_BASE + "validation",
            extra={"errors": errors},
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, 500, "Internal Server Error", "an unexpected error occurred")


def servers(settings: ServiceSettings) -> list[dict[str, str]]:
    """The document's `servers`: the host it was fetched from, and this instance's own listener."""
    found = [{"url": "/", "description": "the host this document was fetched from"}]
    if settings.http_host not in ("0.0.0.0", "::"):
        host = f"[{settings.http_host}]" if ":" in settings.http_host else settings.http_host
        found.append({"url": f"http://{host}:{settings.http_port}", "description": "this instance's listener"})
    return found


def create_app(
    runtime: Runtime,
    *,
    title: str,
    description: str = "",
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    service = runtime.spec.name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if on_startup is not None:
            await on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown()
            await runtime.stop()

    # Swagger UI at /docs and ReDoc at /redoc from fastapi-offline's bundled assets: no CDN.
    app = FastAPIOffline(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        static_url="/docs-assets",
    )
    app.state.runtime = runtime
    openapi.install(app, rate_limited=runtime.settings.http_rate_limit_per_s > 0, servers=servers(runtime.settings))
    app.state.settings = runtime.settings  # the operator check and typed settings dependencies read it
    install_problem_handlers(app)
    install_guards(app, runtime.settings)

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(service, request.method, path, str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(service, request.method, path).observe(time.perf_counter() - started)
        return response

    # Probes answer anyone (the kubelet has no credentials): said so, not left unstated.
    @app.get("/healthz", tags=["operations"], summary="Liveness: the process is up", openapi_extra=PUBLIC)
    async def healthz() -> dict[str, str]:
        """Answers 200 while the process runs, whatever its dependencies do: restart it if this fails."""
        return {"status": "ok", "service": service}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: database, broker and consumer",
        responses={503: {"description": "not ready yet: the failing checks are false"}},
        openapi_extra=PUBLIC,
    )
    async def readyz() -> JSONResponse:
        """200 once the database, the broker and the event consumer work; else 503 with the failing
        checks false. Send traffic only to a ready instance."""
        checks = await runtime.ready() if runtime.started else {"started": False}
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        # The metrics name creditors and their volumes: only Prometheus may read them.
        settings = runtime.settings
        if not operator_allowed(settings, settings.metrics_token, bearer_credential(request)):
            return problem_response(
                request,
                401,
                "Unauthorized",
                "a valid metrics token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


# A server keeps an idle connection open longer than any client of ours does (httpx: 5 s, the same
# as uvicorn's default): with equal timers a client could send on a connection in the moment the
# server closes it, and get "server disconnected without sending a response".
SERVER_KEEP_ALIVE_S = 75


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=SERVER_KEEP_ALIVE_S,
    )
    Server(config).run()  # ticks once a second while idle (krafa_kit.server)


# -- problems in the OpenAPI document --------------------------------------------------------------
# What every service declares about its problem answers: `problems(...)` for a route's
# `responses=`; what the guards above answer in front of every route, the shared Problem schema and
# the headers are added to every document by krafa_kit.openapi; `install_text_errors(app)` makes
# text PostgreSQL cannot store a 422, not a 500.

PROBLEM_SCHEMA: dict[str, Any] = dict(PROBLEM_REF)
PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: "the body cannot be read",
    401: "no or a wrong operator token",
    403: "the signature does not match",
    404: "not found",
    409: "the state does not allow it",
    413: "the body is larger than the limit",
    415: "a media type this operation does not take",
    422: "validation failed",
    429: "too many requests with this key: retry after Retry-After seconds",
}


def problem_doc(description: str) -> dict[str, Any]:
    """One OpenAPI response: a problem document with this description."""
    return {"description": description, "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}}}


def problems(
    *codes: int, examples: Mapping[int, Mapping[str, Any]] | None = None, **described: str
) -> dict[int | str, dict[str, Any]]:
    """`responses` for problems of the given statuses; `_404="..."` says more than the default,
    and `examples` gives a status an example document (a client developer sees the shape)."""
    texts = {**PROBLEM_DESCRIPTIONS, **{int(code.lstrip("_")): text for code, text in described.items()}}
    responses: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, *(int(c.lstrip("_")) for c in described)}):
        responses[code] = problem_doc(texts[code])
        if examples is not None and code in examples:
            responses[code]["content"][PROBLEM_JSON]["example"] = dict(examples[code])
    return responses


async def unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL text cannot hold NUL (U+0000): a value carrying one is invalid, not a 500.
    return problem_response(
        request,
        422,
        "Validation failed",
        "a text value contains a character that cannot be stored (U+0000)",
        type_=PROBLEM_BASE + "validation",
        extra={"errors": [{"pointer": "", "field": "", "detail": "contains U+0000"}]},
    )


def install_text_errors(app: FastAPI) -> None:
    app.add_exception_handler(asyncpg.CharacterNotInRepertoireError, unstorable_text)
    app.add_exception_handler(asyncpg.UntranslatableCharacterError, unstorable_text)


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


OPERATOR_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <operator token>")


def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(OPERATOR_BEARER)]
) -> None:
    """FastAPI dependency of the operator routes: the bearer token against the app's
    `settings.operator_token` (app.state.settings), by `operator_allowed`; else a 401 problem."""
    settings = request.app.state.settings
    if not operator_allowed(settings, settings.operator_token, credentials.credentials if credentials else None):
        raise Problem(401, "Unauthorized", "a valid operator token is required", headers={"WWW-Authenticate": "Bearer"})


def bearer_credential(request: Request) -> str | None:
    """The credential of an `Authorization: Bearer` header (any spelling of the scheme)."""
    scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip() or None


def require_portal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(OPERATOR_BEARER)]
) -> None:
    """FastAPI dependency of the routes the web calls on a logged-in debtor's behalf: the bearer
    token against the app's `settings.portal_token`, by `operator_allowed`; else a 401 problem."""
    settings = request.app.state.settings
    token = getattr(settings, "portal_token", None)
    if not operator_allowed(settings, token, credentials.credentials if credentials else None):
        raise Problem(401, "Unauthorized", "the portal token is required", headers={"WWW-Authenticate": "Bearer"})


def require_operator_or_gateway(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(OPERATOR_BEARER)]
) -> None:
    """FastAPI dependency of the creditor-scoped reads claims-api serves for a creditor (docs/adr/0013):
    the operator token, or the narrower gateway token (`settings.gateway_token`) claims-api presents,
    which no operator-only route takes; else a 401 problem."""
    settings = request.app.state.settings
    presented = credentials.credentials if credentials else None
    if gateway_allowed(settings, presented):
        return
    if not operator_allowed(settings, settings.operator_token, presented):
        raise Problem(
            401, "Unauthorized", "a valid operator or gateway token is required", headers={"WWW-Authenticate": "Bearer"}
        )


def gateway_allowed(settings: ServiceSettings, presented: str | None) -> bool:
    """The gateway token, in constant time. Unset, it is taken nowhere (the loopback fallback of
    `operator_allowed` is the operator's, not the gateway's)."""
    token = getattr(settings, "gateway_token", None)
    if token is None or presented is None:
        return False
    return hmac.compare_digest(presented.encode(), token.get_secret_value().encode())


def run_service(create_app: Callable[[SettingsT], FastAPI], settings_type: type[SettingsT]) -> None:
    """`python -m krafa_<service>`: the service's settings from the environment, its logs
    configured, its app served until a signal stops it."""
    from krafa_kit.logs import configure_logging

    settings = settings_type()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    serve(create_app(settings), settings)


def operator_allowed(settings: ServiceSettings, token: Any, presented: str | None) -> bool:
    """The operator check every service shares: the presented bearer token against the configured
    one, in constant time. With no token configured the operator routes answer only on a loopback
    listener (a developer's machine); a service listening on the network fails closed."""
    if token is None:
        return settings.http_host in _LOOPBACK_HOSTS
    expected = token.get_secret_value().encode()
    return presented is not None and hmac.compare_digest(presented.encode(), expected)
