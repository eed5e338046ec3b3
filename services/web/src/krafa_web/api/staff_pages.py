"""The staff side's login (password, then a TOTP code) and what every staff page shares: the
session, the CSRF check, rendering in the staff layout and the role checks. Creditors' staff,
agents and operators log in here; each lands on their own home."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from krafa_web import domain, i18n, policies
from krafa_web.api.pages import Cookies, Redirect, env, see_other
from krafa_web.clients import AsCreditor, Clients, CreditorClient
from krafa_web.i18n import N_
from krafa_web.settings import Settings
from krafa_web.staff.domain import StaffUser
from krafa_web.staff.service import Staff, StaffRefused, StaffSession

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class StaffCookies:
    session: str
    csrf: str

    @classmethod
    def for_settings(cls, settings: Settings) -> StaffCookies:
        prefix = "__Host-" if settings.cookie_secure else ""
        return cls(f"{prefix}krafa_staff", f"{prefix}krafa_staff_csrf")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def staff_of(request: Request) -> Staff:
    staff: Staff = request.app.state.staff
    return staff


def clients_of(request: Request) -> Clients:
    clients: Clients = request.app.state.clients
    return clients


def cookies_of(request: Request) -> StaffCookies:
    return StaffCookies.for_settings(_settings(request))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


async def current(request: Request, *, pending: bool = False) -> StaffSession | None:
    return await staff_of(request).session(request.cookies.get(cookies_of(request).session), pending=pending)


async def require_user(request: Request, *, role: str | None = None) -> StaffSession:
    """The logged-in staff member; the login page when there is none; 403 for the wrong kind
    (`creditor` staff, `agent` or `operator`)."""
    session = await current(request)
    if session is None:
        raise Redirect("/staff/login?next=" + request.url.path)
    user = session.user
    allowed = {
        None: True,
        "creditor": user.is_creditor_staff,
        "agent": user.is_agent,
        "operator": user.is_operator,
    }[role]
    if not allowed:
        raise StarletteHTTPException(403, "forbidden")
    return session


def creditor_api(request: Request, user: StaffUser) -> CreditorClient:
    assert user.creditor_id is not None
    return CreditorClient(clients_of(request), AsCreditor(user.creditor_id, user.scopes(), user.email))


def staff_language(request: Request, session: StaffSession | None) -> str:
    """The language of the staff pages: the one the user chose (saved with the user), else the
    one picked on this browser (the cookie the portal's switcher sets too), else the browser's
    Accept-Language, else English."""
    return (
        (i18n.normalise(session.user.language) if session else None)
        or i18n.normalise(request.cookies.get(cookies_of_portal(request).language))
        or i18n.from_accept_language(request.headers.get("accept-language"))
        or i18n.FALLBACK
    )


def staff_formats(request: Request, session: StaffSession | None, zone: str = "UTC") -> i18n.Formats:
    """Money, numbers and dates in the reader's language, times in `zone` (the creditor's)."""
    return i18n.formats(staff_language(request, session), zone)


def render_staff(
    request: Request, template: str, session: StaffSession | None, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """A staff page in the staff layout, in the reader's language (`staff_language`); `formats`
    in values carries the creditor's time zone."""
    language = staff_language(request, session)
    formats = values.pop("formats", None) or i18n.formats(language, "UTC")
    csrf = session.csrf if session else request.cookies.get(cookies_of(request).csrf) or ""
    new_csrf = None
    if session is None and not csrf:
        csrf = new_csrf = domain.new_secret()
    gettext = i18n.gettext_for(language)
    context = {
        "_": gettext,
        "gettext": gettext,
        "step_name": lambda name: policies.step_name(str(name or ""), gettext),
        "ngettext": i18n.ngettext_for(language),
        "lang": language,
        "languages": i18n.NAMES,
        "session": session,
        "user": session.user if session else None,
        "csrf": csrf,
        "f": formats,
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **values,
    }
    response = HTMLResponse(env.get_template(template).render(context), status_code=status_code)
    if new_csrf:
        set_cookie(request, response, cookies_of(request).csrf, new_csrf, max_age=3600)
    return response


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=_settings(request).cookie_secure, httponly=True, samesite="lax"
    )


async def staff_form(request: Request, session: StaffSession | None) -> dict[str, str]:
    """The form after its Origin and CSRF token (the session's; before login the cookie's) were
    checked; a forged post gets 403."""
    return await staff_form_values(request, session, await request.form())


async def staff_form_values(request: Request, session: StaffSession | None, form: Any) -> dict[str, str]:
    """The check of `staff_form` on a form already read (a file upload keeps its parts)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin:
        ours, theirs = urlsplit(_settings(request).portal_url), urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise StarletteHTTPException(403, "cross-site request")
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    expected = session.csrf if session else request.cookies.get(cookies_of(request).csrf)
    given = values.get("csrf", "")
    if not expected or not given or not hmac.compare_digest(given, expected):
        raise StarletteHTTPException(403, "csrf")
    return values


REASONS = {
    "bad_login": N_("The email address or password is not right."),
    "locked": N_("Too many failed attempts. Logging in is blocked for a while; try again later."),
    "bad_code": N_("That code is not right, or it was used already. Wait for the next code and try again."),
    "no_login": N_("Your login has expired. Please start again."),
    "use_sso": N_("Your organisation signs you in with its own account: use single sign-on below."),
}


STAFF_ERRORS = {
    "forbidden": N_("You cannot do that with your role."),
    "not_found": N_("We could not find that page, or it is not yours to see."),
    "csrf": N_("This form has expired or did not come from this site. Go back, reload the page and try again."),
    "unavailable": N_("A service is not answering just now. Please try again in a moment."),
}


async def staff_error(request: Request, status: int, reason: str) -> HTMLResponse:
    try:
        session = await current(request)
    except Exception:  # the database itself may be what failed
        session = None
    text = STAFF_ERRORS.get(reason, N_("Something went wrong. Please try again."))
    return render_staff(request, "staff/error.html.j2", session, status, text=text)


@router.get("/staff/login")
async def login_form(request: Request, next: str = "", bye: int = 0) -> Response:
    session = await current(request)
    if session is not None:
        return see_other(domain.safe_path(next, session.user.home()))
    return render_staff(request, "staff/login.html.j2", None, next=next, bye=bool(bye))


@router.post("/staff/login")
async def login_submit(request: Request) -> Response:
    form = await staff_form(request, None)
    next_path = domain.safe_path(form.get("next", ""), "")
    try:
        token = await staff_of(request).login_password(
            form.get("email", ""), form.get("password", ""), client_address(request)
        )
    except StaffRefused as refused:
        return render_staff(
            request,
            "staff/login.html.j2",
            None,
            401,
            error=REASONS[refused.reason],
            email=form.get("email", ""),
            next=next_path,
        )
    response = see_other("/staff/login/code" + (f"?next={next_path}" if next_path else ""))
    set_cookie(request, response, cookies_of(request).session, token)
    return response


@router.get("/staff/login/code")
async def code_form(request: Request, next: str = "") -> Response:
    pending = await current(request, pending=True)
    if pending is None:
        return see_other("/staff/login")
    return render_staff(request, "staff/code.html.j2", None, next=next)


@router.post("/staff/login/code")
async def code_submit(request: Request) -> Response:
    form = await staff_form(request, None)
    pending = await current(request, pending=True)
    next_path = domain.safe_path(form.get("next", ""), "")
    try:
        token = await staff_of(request).login_totp(
            request.cookies.get(cookies_of(request).session), form.get("code", ""), client_address(request)
        )
    except StaffRefused as refused:
        if refused.reason in ("no_login", "locked"):
            return render_staff(request, "staff/login.html.j2", None, 401, error=REASONS[refused.reason])
        return render_staff(request, "staff/code.html.j2", None, 401, error=REASONS[refused.reason], next=next_path)
    assert pending is not None
    response = see_other(next_path or pending.user.home())
    set_cookie(request, response, cookies_of(request).session, token)
    return response


@router.post("/staff/logout")
async def logout(request: Request) -> Response:
    session = await current(request)
    await staff_form(request, session)
    if session is not None:
        await staff_of(request).logout(session)
    response = see_other("/staff/login?bye=1")
    response.delete_cookie(
        cookies_of(request).session, path="/", secure=_settings(request).cookie_secure, httponly=True, samesite="lax"
    )
    return response


@router.post("/staff/language")
async def choose_language(request: Request) -> Response:
    """The switcher on every staff page: the choice is kept on this browser (the cookie) and, for
    a logged-in user, saved with the user so it follows them to another browser."""
    session = await current(request)
    form = await staff_form(request, session)
    language = i18n.normalise(form.get("language"))
    response = see_other(domain.safe_path(form.get("next", ""), session.user.home() if session else "/staff/login"))
    if language:
        response.set_cookie(
            cookies_of_portal(request).language, language, max_age=365 * 86400, path="/", samesite="lax"
        )
        if session is not None and session.user.language != language:
            await staff_of(request).set_language(session.user, language)
    return response


def cookies_of_portal(request: Request) -> Cookies:
    return Cookies.for_settings(_settings(request))
