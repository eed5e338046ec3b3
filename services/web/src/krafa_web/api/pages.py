"""The debtor portal's pages. Every GET renders HTML; every form posts, is checked for its CSRF
token and Origin, and answers with a redirect (POST → 303 → GET) or the same page with what was
wrong. Claims, money and actions come from the owning services through `Clients`; the web keeps
only links, logins and sessions (`Portal`)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from krafa_kit.http import TokenBucketLimiter
from starlette.exceptions import HTTPException as StarletteHTTPException

from krafa_web import domain, i18n
from krafa_web.clients import Clients, ServiceError
from krafa_web.domain import Principal
from krafa_web.identity import IdentityError, OidcClient
from krafa_web.service import LoginRefused, Portal, Session
from krafa_web.settings import Settings

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
TERMS_VERSION = "portal-2026-12"
STAFF_PATHS = ("/staff", "/creditor", "/agent", "/ops")
HTML_PATHS_EXCLUDED = ("/v1/", "/healthz", "/readyz", "/metrics", "/static/", "/openapi.json", "/docs")

env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)

router = APIRouter(include_in_schema=False)


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


@dataclass(frozen=True, slots=True)
class Cookies:
    session: str
    login: str
    csrf: str
    language: str

    @classmethod
    def for_settings(cls, settings: Settings) -> Cookies:
        # `__Host-`: Secure, Path=/, no Domain — a sibling subdomain cannot plant or read it.
        prefix = "__Host-" if settings.cookie_secure else ""
        return cls(f"{prefix}krafa", f"{prefix}krafa_login", f"{prefix}krafa_csrf", "krafa_lang")


@dataclass
class Page:
    """What every template gets: the language and its formats, the session, the CSRF token."""

    request: Request
    language: str
    session: Session | None
    csrf: str
    formats: i18n.Formats
    values: dict[str, Any] = field(default_factory=dict)
    new_csrf_cookie: str | None = None


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def _clients(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


def _cookies(request: Request) -> Cookies:
    return Cookies.for_settings(_settings(request))


def language_of(request: Request, preferred: str | None = None) -> str:
    """The language chosen on the page (cookie), else the debtor's from the creditor's record,
    else the browser's, else English."""
    return (
        i18n.normalise(request.cookies.get(_cookies(request).language))
        or i18n.normalise(preferred)
        or i18n.from_accept_language(request.headers.get("accept-language"))
        or i18n.FALLBACK
    )


async def page(request: Request, *, preferred_language: str | None = None, zone: str = "UTC") -> Page:
    session = await _portal(request).session(request.cookies.get(_cookies(request).session))
    if session is not None and preferred_language is None:
        preferred_language = await _debtor_language(request, session)
    language = language_of(request, preferred_language)
    csrf = session.csrf if session else request.cookies.get(_cookies(request).csrf) or ""
    result = Page(request, language, session, csrf, i18n.formats(language, zone))
    if session is None and not csrf:
        result.csrf = result.new_csrf_cookie = domain.new_secret()
    return result


async def _debtor_language(request: Request, session: Session) -> str | None:
    cached = request.scope.setdefault("krafa_debtor", {})
    principal = session.principals[0]
    if principal not in cached:
        try:
            cached[principal] = await _clients(request).debtor(principal)
        except ServiceError:
            return None
    language: str = cached[principal]["debtor"]["language"]
    return language


def render(p: Page, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    gettext, ngettext = i18n.gettext_for(p.language), i18n.ngettext_for(p.language)
    settings = _settings(p.request)
    context = {
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext,
        "lang": p.language,
        "languages": i18n.NAMES,
        "session": p.session,
        "csrf": p.csrf,
        "f": p.formats,
        "path": p.request.url.path,
        "eid_name": settings.oidc_name if p.request.app.state.oidc is not None else None,
        **p.values,
        **values,
    }
    html = env.get_template(template).render(context)
    response = HTMLResponse(html, status_code=status_code)
    if p.new_csrf_cookie:
        _set_cookie(p.request, response, _cookies(p.request).csrf, p.new_csrf_cookie, max_age=3600)
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=_settings(request).cookie_secure,
        httponly=True,
        samesite="lax",
    )


def _clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=_settings(request).cookie_secure, httponly=True, samesite="lax")


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


async def form_of(request: Request, p: Page) -> dict[str, str]:
    """The form, after its CSRF token (the session's, or before login the cookie's: double
    submit) and its Origin were checked; a forged post is refused with 403."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin:
        ours = urlsplit(_settings(request).portal_url)
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise StarletteHTTPException(403, "cross-site request")
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    expected = p.session.csrf if p.session else request.cookies.get(_cookies(request).csrf)
    given = values.get("csrf", "")
    if not expected or not given or not hmac.compare_digest(given, expected):
        raise StarletteHTTPException(403, "csrf")
    return values


def require_session(p: Page) -> Session:
    if p.session is None:
        raise Redirect("/?expired=1")
    return p.session


_LIMITERS: dict[int, TokenBucketLimiter] = {}


def rate_limited(request: Request) -> bool:
    """Link openings and code requests per client address (per replica)."""
    per_minute = _settings(request).login_rate_per_minute
    limiter = _LIMITERS.get(per_minute)
    if limiter is None:
        limiter = _LIMITERS[per_minute] = TokenBucketLimiter(per_minute / 60.0, per_minute)
    client = request.client.host if request.client else "?"
    return limiter.take(client) > 0


# -- start, links and login ------------------------------------------------------------------------


@router.get("/")
async def home(request: Request, expired: int = 0, bye: int = 0) -> Response:
    p = await page(request)
    if p.session is not None:
        return see_other("/claims")
    return render(p, "home.html.j2", expired=bool(expired), bye=bool(bye))


@router.get("/language/{code}")
async def switch_language(request: Request, code: str, next: str = "/") -> Response:
    response = see_other(domain.safe_path(next, "/"))
    language = i18n.normalise(code)
    if language:
        response.set_cookie(_cookies(request).language, language, max_age=365 * 86400, path="/", samesite="lax")
    return response


@router.get("/l/{code}")
async def open_link(request: Request, code: str) -> Response:
    """Opening a link only shows this page (mail scanners prefetch links): the debtor then asks
    for a code, or uses e-ID."""
    if rate_limited(request):
        return render(await page(request), "error.html.j2", 429, reason="rate")
    view = await _portal(request).open_link(code)
    p = await page(request, preferred_language=view.language)
    status = 200 if view.state == "ok" else 410 if view.state in ("used", "expired") else 404
    if view.state == "locked":
        status = 423
    return render(p, "link.html.j2", status, view=view, code=code)


@router.post("/l/{code}")
async def send_code(request: Request, code: str) -> Response:
    p = await page(request)
    form = await form_of(request, p)
    if rate_limited(request):
        return render(p, "error.html.j2", 429, reason="rate")
    try:
        token, _ = await _portal(request).send_login_code(code, form.get("contact", ""))
    except LoginRefused as refused:
        view = await _portal(request).open_link(code)
        return render(p, "link.html.j2", 422, view=view, code=code, error=refused.reason)
    except ServiceError:
        view = await _portal(request).open_link(code)
        return render(p, "link.html.j2", 503, view=view, code=code, error="send_failed")
    response = see_other("/login/code")
    _set_cookie(request, response, _cookies(request).login, token, max_age=_settings(request).code_ttl_minutes * 60)
    return response


async def _challenge_page(request: Request) -> tuple[Page, Any]:
    """The page of a login in progress, in the language of the debtor it is for."""
    challenge = await _portal(request).challenge(request.cookies.get(_cookies(request).login))
    language = None
    if challenge is not None and challenge.principal is not None:
        try:
            language = (await _clients(request).debtor(challenge.principal))["debtor"]["language"]
        except ServiceError:
            language = None
    return await page(request, preferred_language=language), challenge


@router.get("/login/code")
async def code_form(request: Request) -> Response:
    p, challenge = await _challenge_page(request)
    if challenge is None:
        return render(p, "error.html.j2", 410, reason="no_challenge")
    return render(p, "code.html.j2", challenge=challenge)


@router.post("/login/code")
async def code_submit(request: Request) -> Response:
    p, _ = await _challenge_page(request)
    form = await form_of(request, p)
    token = request.cookies.get(_cookies(request).login) or ""
    try:
        session_token = await _portal(request).verify_login_code(token, form.get("code", ""))
    except LoginRefused as refused:
        challenge = await _portal(request).challenge(token)
        if challenge is None:
            return render(p, "error.html.j2", 423 if refused.reason == "locked" else 410, reason=refused.reason)
        return render(p, "code.html.j2", 422, challenge=challenge, error=refused.reason)
    response = see_other("/claims")
    _start(request, response, session_token)
    return response


def _start(request: Request, response: Response, session_token: str) -> None:
    cookies = _cookies(request)
    _set_cookie(request, response, cookies.session, session_token)  # a session cookie: gone with the browser
    _clear_cookie(request, response, cookies.login)


@router.post("/logout")
async def logout(request: Request) -> Response:
    p = await page(request)
    await form_of(request, p)
    if p.session is not None:
        await _portal(request).logout(p.session)
    response = see_other("/?bye=1")
    _clear_cookie(request, response, _cookies(request).session)
    return response


# -- e-ID ------------------------------------------------------------------------------------------


def _oidc(request: Request) -> OidcClient:
    oidc: OidcClient | None = request.app.state.oidc
    if oidc is None:
        raise StarletteHTTPException(404, "no e-ID provider is configured")
    return oidc


@router.post("/login/eid")
async def eid_start(request: Request) -> Response:
    """e-ID, from a link (`link` in the form: the person must be that debtor) or on its own."""
    p = await page(request)
    form = await form_of(request, p)
    oidc = _oidc(request)
    link = form.get("link") or None
    try:
        auth = await oidc.authorization(language=p.language)
        token, _ = await _portal(request).start_oidc(
            link_code=link, state=auth.state, nonce=auth.nonce, verifier=auth.verifier
        )
    except LoginRefused as refused:
        return render(p, "error.html.j2", 410, reason=refused.reason)
    except (IdentityError, OSError) as exc:
        log.warning("e-ID provider unavailable", extra={"error": repr(exc)})
        return render(p, "error.html.j2", 503, reason="eid_unavailable")
    response = see_other(auth.url)
    _set_cookie(request, response, _cookies(request).login, token, max_age=600)
    return response


@router.get("/auth/callback")
async def eid_callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    p = await page(request)
    portal = _portal(request)
    challenge = await portal.oidc_challenge(request.cookies.get(_cookies(request).login), state)
    if challenge is None or error or not code:
        return render(p, "error.html.j2", 400, reason="eid_failed")
    try:
        national_id = await _oidc(request).national_id(
            code=code, verifier=challenge["oidc_verifier"], nonce=challenge["oidc_nonce"]
        )
        session_token = await portal.finish_oidc(challenge, national_id)
    except IdentityError as exc:
        log.warning("e-ID login refused", extra={"error": str(exc)})
        return render(p, "error.html.j2", 400, reason="eid_failed")
    except LoginRefused as refused:
        return render(p, "error.html.j2", 403, reason=refused.reason)
    response = see_other("/claims")
    _start(request, response, session_token)
    return response


# -- claims ----------------------------------------------------------------------------------------


async def _records(request: Request, session: Session) -> list[tuple[Principal, dict[str, Any], list[dict[str, Any]]]]:
    clients = _clients(request)

    async def one(principal: Principal) -> tuple[Principal, dict[str, Any], list[dict[str, Any]]]:
        record, claims = await asyncio.gather(clients.debtor(principal), clients.claims_of(principal))
        return principal, record, claims

    return list(await asyncio.gather(*(one(p) for p in session.principals)))


OPEN = ("open", "disputed", "held")


@router.get("/claims")
async def claims_page(request: Request, done: str = "") -> Response:
    p = await page(request)
    session = require_session(p)
    records = await _records(request, session)
    groups = []
    for _, record, claims in records:
        open_claims = [c for c in claims if c["claim"]["status"] in OPEN and c["claim"]["balance_minor"] > 0]
        totals: dict[str, int] = {}
        for c in open_claims:
            totals[c["claim"]["currency"]] = totals.get(c["claim"]["currency"], 0) + c["claim"]["balance_minor"]
        groups.append(
            {
                "creditor": record["creditor"],
                "debtor": record["debtor"],
                "open": open_claims,
                "closed": [c for c in claims if c not in open_claims],
                "totals": totals,
            }
        )
    name = records[0][1]["debtor"]["name"] if records else ""
    zone = records[0][1]["debtor"]["time_zone"] if records else "UTC"
    p.formats = i18n.formats(p.language, zone)
    return render(p, "claims.html.j2", groups=groups, name=name, done=done)


async def find_claim(request: Request, session: Session, claim_id: UUID) -> tuple[Principal, dict[str, Any]]:
    """The claim if one of the session's debtors owns it; any other id is simply not found."""
    for principal in session.principals:
        try:
            return principal, await _clients(request).claim(principal, claim_id)
        except ServiceError as exc:
            if exc.status != 404:
                raise
    raise StarletteHTTPException(404, "no such claim")


async def _claim_page(
    request: Request, claim_id: UUID, template: str, status_code: int = 200, **values: Any
) -> Response:
    p = await page(request)
    session = require_session(p)
    principal, detail = await find_claim(request, session, claim_id)
    clients = _clients(request)
    record, schedule = await asyncio.gather(clients.debtor(principal), clients.schedule(principal, claim_id))
    p.formats = i18n.formats(p.language, record["debtor"]["time_zone"])
    claim = detail["claim"]
    return render(
        p,
        template,
        status_code,
        detail=detail,
        claim=claim,
        record=record,
        creditor=record["creditor"],
        next_steps=_next_steps(schedule),
        documents=_documents(detail),
        actions=_actions(claim, detail),
        today=_today(request),
        **values,
    )


def _today(request: Request) -> date:
    return _portal(request).clock.now().date()


def _next_steps(schedule: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not schedule or schedule.get("status") != "active":
        return []
    return [s for s in schedule.get("steps", []) if s.get("kind") in ("reminder", "call", "handover", "claim_watch")][
        :3
    ]


def _documents(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The notices sent, newest first, each with the channel and (where kept) its document."""
    items = [i for i in detail["timeline"]["items"] if i["kind"] in ("reminder_sent", "fallback")]
    return list(reversed(items))


def _actions(claim: dict[str, Any], detail: dict[str, Any]) -> dict[str, bool]:
    status, balance = claim["status"], claim["balance_minor"]
    pending = any(r["status"] == "pending" for r in detail.get("requests", []))
    return {
        "pay": status in OPEN and balance > 0,
        "object": status in ("open", "held"),
        "arrange": status in ("open", "held") and balance > 0 and not pending,
    }


@router.get("/claims/{claim_id}")
async def claim_page(request: Request, claim_id: UUID, done: str = "") -> Response:
    return await _claim_page(request, claim_id, "claim.html.j2", done=done)


# -- pay by card -----------------------------------------------------------------------------------


@router.get("/claims/{claim_id}/pay")
async def pay_form(request: Request, claim_id: UUID) -> Response:
    return await _claim_page(request, claim_id, "pay.html.j2")


@router.post("/claims/{claim_id}/pay")
async def pay_submit(request: Request, claim_id: UUID) -> Response:
    p = await page(request)
    form = await form_of(request, p)
    session = require_session(p)
    principal, detail = await find_claim(request, session, claim_id)
    claim, ledger = detail["claim"], detail["ledger"]
    balance, currency = ledger["balance_minor"], claim["currency"]
    if claim["status"] not in OPEN or balance <= 0:
        return see_other(f"/claims/{claim_id}")
    stated: int | None = None
    if form.get("whole", "") == "whole":
        # All that is due, as this ledger states it: paid, it settles the claim even when a
        # step's charge reaches the ledger before the money does.
        amount, stated = balance, len(ledger["entries"])
    else:
        try:
            amount = domain.parse_amount(form.get("amount", ""), currency, p.formats.locale)
        except domain.BadAmount:
            return await _claim_page(request, claim_id, "pay.html.j2", 422, error="amount", typed=form.get("amount"))
        if amount > balance:
            return await _claim_page(request, claim_id, "pay.html.j2", 422, error="too_much", typed=form.get("amount"))
    base = _settings(request).portal_url.rstrip("/")
    record = await _clients(request).debtor(principal)
    try:
        checkout = await _clients(request).checkout(
            {
                "creditor_id": str(principal.creditor_id),
                "debtor_id": str(principal.debtor_id),
                "claim_id": str(claim_id),
                "amount_minor": amount,
                "currency": currency,
                "description": f"{record['creditor']['name']} {claim['invoice_no']}",
                "language": p.language,
                "success_url": f"{base}/claims/{claim_id}/paid?checkout={{CHECKOUT_SESSION_ID}}",
                "cancel_url": f"{base}/claims/{claim_id}?done=pay_cancelled",
                **({"stated_entries": stated} if stated else {}),
            }
        )
    except (ServiceError, httpx.HTTPError) as exc:
        # The debtor may try again (the checkout is idempotent per claim, amount and minute); the
        # operator needs to know why it did not start.
        log.warning("card checkout not started", extra={"claim_id": str(claim_id), "error": repr(exc)})
        return await _claim_page(request, claim_id, "pay.html.j2", 503, error="psp")
    return see_other(checkout["url"])


@router.get("/claims/{claim_id}/paid")
async def paid_page(request: Request, claim_id: UUID, checkout: str = "") -> Response:
    """Back from the provider: wait a few seconds for the payment to reach the claim's ledger
    (webhook → payments-ingest → PaymentReceived → claims-api), then show it."""
    p = await page(request)
    session = require_session(p)
    state = "unknown"
    if checkout:
        for _ in range(40):
            try:
                status = await _clients(request).checkout_status(checkout)
            except ServiceError:
                break
            state = status.get("status", "unknown")
            if state != "paid":
                break
            _, detail = await find_claim(request, session, claim_id)
            if any(
                e["kind"] == "payment" and (e["details"] or {}).get("bank_ref") == checkout
                for e in detail["ledger"]["entries"]
            ):
                state = "booked"
                break
            await asyncio.sleep(0.25)
    return await _claim_page(request, claim_id, "paid.html.j2", payment=state, request_checkout=checkout)


# -- object ------------------------------------------------------------------------------------------


@router.get("/claims/{claim_id}/object")
async def object_form(request: Request, claim_id: UUID) -> Response:
    return await _claim_page(request, claim_id, "object.html.j2")


@router.post("/claims/{claim_id}/object")
async def object_submit(request: Request, claim_id: UUID) -> Response:
    p = await page(request)
    form = await form_of(request, p)
    session = require_session(p)
    reason = form.get("reason", "").strip()
    if not reason:
        return await _claim_page(request, claim_id, "object.html.j2", 422, error="reason")
    principal, _ = await find_claim(request, session, claim_id)
    try:
        await _clients(request).dispute(principal, claim_id, reason[:500])
    except ServiceError as exc:
        return await _claim_page(request, claim_id, "object.html.j2", 409, error="state", detail_text=exc.detail)
    return see_other(f"/claims/{claim_id}?done=objected")


# -- more time ---------------------------------------------------------------------------------------


@router.get("/claims/{claim_id}/arrange")
async def arrange_form(request: Request, claim_id: UUID) -> Response:
    return await _claim_page(request, claim_id, "arrange.html.j2")


@router.post("/claims/{claim_id}/arrange")
async def arrange_submit(request: Request, claim_id: UUID) -> Response:
    p = await page(request)
    form = await form_of(request, p)
    session = require_session(p)
    principal, _ = await find_claim(request, session, claim_id)
    kind = form.get("kind", "")
    body: dict[str, Any] = {"kind": kind, "note": form.get("note", "").strip()[:500] or None}
    if kind == "deferral":
        try:
            body["due_date"] = date.fromisoformat(form.get("due_date", "")).isoformat()
        except ValueError:
            return await _claim_page(request, claim_id, "arrange.html.j2", 422, error="date", form=form)
    elif kind == "instalments":
        try:
            body["count"] = int(form.get("count", ""))
        except ValueError:
            return await _claim_page(request, claim_id, "arrange.html.j2", 422, error="count", form=form)
    else:
        return await _claim_page(request, claim_id, "arrange.html.j2", 422, error="kind", form=form)
    try:
        result = await _clients(request).arrange(principal, claim_id, body)
    except ServiceError as exc:
        return await _claim_page(
            request, claim_id, "arrange.html.j2", 422, error="refused", detail_text=exc.detail, form=form
        )
    return see_other(f"/claims/{claim_id}?done={result['outcome']}_{kind}")


# -- notices as sent ---------------------------------------------------------------------------------


@router.get("/claims/{claim_id}/documents/{delivery_id}")
async def document(request: Request, claim_id: UUID, delivery_id: UUID) -> Response:
    p = await page(request)
    session = require_session(p)
    principal, detail = await find_claim(request, session, claim_id)
    if not any((i.get("details") or {}).get("delivery_id") == str(delivery_id) for i in detail["timeline"]["items"]):
        raise StarletteHTTPException(404, "no such notice")
    try:
        pdf = await _clients(request).document(principal, delivery_id)
    except ServiceError as exc:
        raise StarletteHTTPException(404, "no such notice") from exc
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="notice-{delivery_id}.pdf"', "Cache-Control": "no-store"},
    )


# -- contact points, digital delivery, export ---------------------------------------------------------


async def _profile(request: Request, status_code: int = 200, **values: Any) -> Response:
    p = await page(request)
    session = require_session(p)
    records = await _records(request, session)
    _, record, _ = records[0]
    verification = await _portal(request).pending_verification(session)
    p.formats = i18n.formats(p.language, record["debtor"]["time_zone"])
    debtor = record["debtor"]
    mine = [cp for cp in debtor["contact_points"] if cp["state"] == "active"]
    netbank = next((cp for cp in mine if cp["kind"] == "netbank"), None)
    digital = [cp for cp in mine if cp["kind"] == "email" and cp["origin"] == "debtor_opt_in"]
    return render(
        p,
        "profile.html.j2",
        status_code,
        records=records,
        record=record,
        debtor=debtor,
        contacts=mine,
        netbank=netbank,
        digital=digital,
        verification=verification,
        **values,
    )


@router.get("/profile")
async def profile(request: Request, done: str = "") -> Response:
    return await _profile(request, done=done)


@router.post("/profile/contact")
async def profile_contact(request: Request) -> Response:
    p = await page(request)
    form = await form_of(request, p)
    session = require_session(p)
    kind = form.get("kind", "")
    value = form.get("value", "").strip()
    if kind not in ("email", "phone") or not value or len(value) > 254:
        return await _profile(request, 422, error="contact_value", typed=value)
    if kind == "email" and ("@" not in value or "." not in value.rpartition("@")[2]):
        return await _profile(request, 422, error="contact_value", typed=value)
    principal = session.principals[0]
    record = await _clients(request).debtor(principal)
    try:
        await _portal(request).start_verification(session, principal, kind, value, record)
    except ServiceError:
        return await _profile(request, 422, error="contact_value", typed=value)
    return see_other("/profile#verify")


@router.post("/profile/verify")
async def profile_verify(request: Request) -> Response:
    p = await page(request)
    form = await form_of(request, p)
    session = require_session(p)
    try:
        await _portal(request).finish_verification(session, form.get("code", ""), TERMS_VERSION)
    except LoginRefused as refused:
        return await _profile(request, 422, verify_error=refused.reason)
    return see_other("/profile?done=contact_added")


@router.post("/profile/netbank")
async def profile_netbank(request: Request) -> Response:
    """Digital delivery to the online bank (docs/domain.md: digital letters), consent recorded with
    its terms version."""
    p = await page(request)
    form = await form_of(request, p)
    session = require_session(p)
    if form.get("consent") != "yes":
        return await _profile(request, 422, error="consent")
    await _clients(request).add_contact(
        session.principals[0],
        {
            "kind": "netbank",
            "consent_source": "debtor portal: documents in the online bank",
            "terms_version": TERMS_VERSION,
        },
    )
    return see_other("/profile?done=netbank_on")


@router.post("/profile/revoke/{contact_id}")
async def profile_revoke(request: Request, contact_id: UUID) -> Response:
    p = await page(request)
    await form_of(request, p)
    session = require_session(p)
    principal = session.principals[0]
    record = await _clients(request).debtor(principal)
    if not any(cp["id"] == str(contact_id) for cp in record["debtor"]["contact_points"]):
        raise StarletteHTTPException(404, "no such contact point")
    await _clients(request).opt_out(principal, contact_id, "consent revoked by the debtor in the portal")
    return see_other("/profile?done=revoked")


@router.get("/profile/export")
async def profile_export(request: Request) -> Response:
    """Everything Krafa holds about the debtor (GDPR Art. 15/20): for each creditor, every service's
    part (claims-api's record with the claims and history, the notifier's deliveries and the address
    each went to, the scheduler's timelines, payments, returned messages), and the portal's own
    login record."""
    p = await page(request)
    session = require_session(p)
    portal, clients = _portal(request), _clients(request)
    exports = []
    for principal in session.principals:
        exports.append(
            {
                "creditor_id": str(principal.creditor_id),
                "record": await clients.export(principal),
                "portal_logins": [
                    {"at": r["at"].isoformat(), "event": r["event"], "detail": r["detail"]}
                    for r in await portal.audit_for(principal)
                ],
            }
        )
    body = json.dumps({"exported_at": portal.clock.now().isoformat(), "records": exports}, ensure_ascii=False, indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="krafa-my-data.json"',
            "Cache-Control": "no-store",
        },
    )


# -- the app-wide pieces -----------------------------------------------------------------------------


def _csp(settings: Settings) -> str:
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self' https: http://127.0.0.1:* http://localhost:*"
        if settings.portal_url.startswith("http://")
        else "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self' https:"
    )


def install_pages(app: FastAPI) -> None:
    """HTML error pages instead of problem documents, security headers on every answer."""
    settings: Settings = app.state.settings
    csp = _csp(settings)

    def html_request(request: Request) -> bool:
        return not request.url.path.startswith(HTML_PATHS_EXCLUDED)

    async def error_page(request: Request, status: int, reason: str) -> Response:
        if request.url.path.startswith(STAFF_PATHS):
            # Staff screens answer in their own layout (imported here: it builds on this module).
            from krafa_web.api.staff_pages import staff_error

            return await staff_error(request, status, reason)
        try:
            p = await page(request)
        except Exception:
            p = Page(request, i18n.FALLBACK, None, "", i18n.formats(i18n.FALLBACK))
        return render(p, "error.html.j2", status, reason=reason)

    @app.exception_handler(Redirect)
    async def on_redirect(request: Request, exc: Redirect) -> Response:
        return see_other(exc.location)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if not html_request(request):
            from krafa_kit.http import problem_response

            return problem_response(request, exc.status_code, "Error", str(exc.detail))
        reason = {403: "forbidden", 404: "not_found", 405: "not_found"}.get(exc.status_code, "error")
        if exc.detail == "csrf":
            reason = "csrf"
        return await error_page(request, exc.status_code, reason)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        return await error_page(request, 404, "not_found")

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("page failed", exc_info=exc)
        if not html_request(request):
            from krafa_kit.http import problem_response

            return problem_response(request, 500, "Internal Server Error", "an unexpected error occurred")
        return await error_page(request, 500, "unavailable")

    @app.exception_handler(ServiceError)
    async def on_service(request: Request, exc: ServiceError) -> Response:
        if exc.status == 404:
            return await error_page(request, 404, "not_found")
        log.warning("a service refused the page", extra={"status": exc.status, "detail": exc.detail})
        return await error_page(request, 503, "unavailable")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if html_request(request):
            response.headers.setdefault("Cache-Control", "no-store")
        if settings.portal_url.startswith("https://"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
