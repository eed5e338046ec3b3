"""Single sign-on for creditors' staff with their organisation's own OpenID Connect provider: the
login page's "sign in with your organisation" step, the provider's redirect back, and the admin's
settings page for the provider (docs/adr/0009). The rules and the audit are in staff/sso.py."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from krafa_web import domain
from krafa_web.api.pages import rate_limited, see_other
from krafa_web.api.staff_pages import (
    client_address,
    cookies_of,
    creditor_api,
    render_staff,
    require_user,
    set_cookie,
    staff_form,
    staff_language,
)
from krafa_web.clients import AsCreditor, CreditorClient, ServiceError
from krafa_web.i18n import N_, Msg
from krafa_web.settings import Settings
from krafa_web.staff.service import StaffRefused
from krafa_web.staff.sso import SingleSignOn, SsoRefused

router = APIRouter(include_in_schema=False)

SSO_COOKIE = "krafa_staff_sso"

REFUSED = {
    "not_set_up": N_(
        "Single sign-on is not set up for that address. Log in with your password and "
        "authenticator code instead, or ask your administrator to set it up."
    ),
    "unavailable": N_(
        "Your organisation's sign-in service cannot be reached just now. Try again in a moment, "
        "or log in with your password and authenticator code."
    ),
    "expired": N_("This sign-in has expired or was started in another browser. Please start again."),
    "failed": N_("Your organisation's sign-in did not complete, so you are not logged in. Please start again."),
    "cancelled": N_("The sign-in was cancelled at your organisation's sign-in page."),
    "rate": N_("Too many sign-ins from here just now. Wait a minute and try again."),
    "unknown_user": N_(
        "Your organisation's sign-in worked, but %(creditor)s has no Krafa user with the address "
        "%(email)s. Ask an administrator of %(creditor)s to add you on the Users page, then sign in again."
    ),
    "email_unverified": N_(
        "Your organisation's sign-in says the address %(email)s is not verified, so it cannot "
        "open a Krafa account. Ask your administrator."
    ),
    "bound_elsewhere": N_(
        "The Krafa user %(email)s of %(creditor)s signs in with another account of your "
        "organisation. Sign in with that account, or ask your administrator."
    ),
    "no_subject": N_("Your organisation's sign-in did not say who you are. Ask your administrator."),
}

SETTINGS_REFUSED = {
    "sso_issuer": N_(
        "The issuer must be the provider's https:// address (plain http only for a provider on "
        "this machine), without a query."
    ),
    "sso_client_id": N_("Enter the client id your provider gave Krafa."),
    "sso_domains": N_("List the email domains your staff sign in with, like example.com (one or more)."),
    "sso_domain_taken": N_("One of those email domains signs in with another creditor's provider already."),
    "sso_no_key": N_("Krafa cannot store client secrets yet (no sealing key is configured). Ask Krafa's operators."),
    "sso_discovery": N_(
        "Krafa could not read the provider's discovery document "
        "(<issuer>/.well-known/openid-configuration) for that issuer. Check the address."
    ),
    "forbidden": N_("Only an admin can change the sign-in settings."),
}


def sso_of(request: Request) -> SingleSignOn:
    sso: SingleSignOn = request.app.state.sso
    return sso


def _secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.cookie_secure


def _sso_cookie(request: Request) -> str:
    return ("__Host-" if _secure(request) else "") + SSO_COOKIE


@router.post("/staff/login/sso")
async def sso_start(request: Request) -> Response:
    form = await staff_form(request, None)
    email = form.get("email", "").strip()
    next_path = domain.safe_path(form.get("next", ""), "")
    if rate_limited(request):  # each start stores a sign-in in flight: bounded per client address
        return render_staff(
            request, "staff/login.html.j2", None, 429, sso_error=REFUSED["rate"], sso_email=email, next=next_path
        )
    try:
        browser, url = await sso_of(request).start(email, next_path, staff_language(request, None))
    except SsoRefused as refused:
        return render_staff(
            request,
            "staff/login.html.j2",
            None,
            400 if refused.reason == "not_set_up" else 503,
            sso_error=REFUSED[refused.reason],
            sso_email=email,
            next=next_path,
        )
    response = see_other(url)
    set_cookie(request, response, _sso_cookie(request), browser, max_age=600)
    return response


@router.get("/staff/sso/callback")
async def sso_callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    sso = sso_of(request)
    if error or not code:
        reason = "cancelled" if error == "access_denied" else "failed"
        await sso.abandon(state, error or "no code", client_address(request))
        return _refused_page(request, reason, None, None, 400)
    try:
        signed_in = await sso.finish(request.cookies.get(_sso_cookie(request)), state, code, client_address(request))
    except SsoRefused as refused:
        creditor = None
        if refused.creditor_id is not None:
            try:
                profile = await CreditorClient(
                    request.app.state.clients, AsCreditor(refused.creditor_id, ("read",))
                ).profile()
                creditor = str(profile["name"])
            except (ServiceError, httpx.HTTPError):
                creditor = None  # the page explains without the name
        status = 403 if refused.reason in ("unknown_user", "email_unverified", "bound_elsewhere") else 400
        return _refused_page(request, refused.reason, creditor, refused.email, status)
    session = await request.app.state.staff.session(signed_in.token)
    response = see_other(signed_in.next_path or (session.user.home() if session else "/creditor"))
    set_cookie(request, response, cookies_of(request).session, signed_in.token)
    response.delete_cookie(_sso_cookie(request), path="/", secure=_secure(request), httponly=True, samesite="lax")
    return response


def _refused_page(request: Request, reason: str, creditor: str | None, email: str | None, status: int) -> Response:
    message = REFUSED.get(reason, REFUSED["failed"])
    text = Msg(
        message.text,
        {"creditor": creditor or N_("your organisation"), "email": email or N_("you signed in with")}
        if reason in ("unknown_user", "email_unverified", "bound_elsewhere")
        else {},
    )
    return render_staff(request, "staff/sso_refused.html.j2", None, status, text=text, reason=reason)


# -- the admin's settings -----------------------------------------------------------------------------


@router.get("/creditor/sign-in")
async def sso_settings(request: Request, saved: int = 0) -> Response:
    session = await require_user(request, role="creditor")
    user = session.user
    assert user.creditor_id is not None
    if not user.can_manage_users:
        raise StarletteHTTPException(403, "forbidden")
    profile = await creditor_api(request, user).profile()
    current = await sso_of(request).settings_of(user.creditor_id)
    return render_staff(
        request,
        "staff/sso_settings.html.j2",
        session,
        creditor_name=profile["name"],
        current=current,
        saved=bool(saved),
        redirect_uri=sso_of(request).redirect_uri,
        can_seal=sso_of(request).sealer is not None,
        values={},
    )


@router.post("/creditor/sign-in")
async def sso_save(request: Request) -> Response:
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    user = session.user
    assert user.creditor_id is not None
    change = form.get("secret_action", "keep")
    secret: str | None = None
    if change == "replace" or (change == "keep" and form.get("client_secret")):  # a secret typed is meant
        secret = form.get("client_secret", "")
    elif change == "remove":
        secret = ""
    try:
        await sso_of(request).configure(
            user.creditor_id,
            issuer=form.get("issuer", ""),
            client_id=form.get("client_id", ""),
            client_secret=secret,
            domains=form.get("domains", ""),
            enabled=form.get("enabled") == "1",
            required=form.get("required") == "1",
            by=user,
        )
    except StaffRefused as refused:
        profile = await creditor_api(request, user).profile()
        return render_staff(
            request,
            "staff/sso_settings.html.j2",
            session,
            403 if refused.reason == "forbidden" else 422,
            creditor_name=profile["name"],
            current=await sso_of(request).settings_of(user.creditor_id),
            saved=False,
            redirect_uri=sso_of(request).redirect_uri,
            can_seal=sso_of(request).sealer is not None,
            error=SETTINGS_REFUSED.get(refused.reason, Msg(refused.reason)),
            values=form,
        )
    return see_other("/creditor/sign-in?saved=1")
