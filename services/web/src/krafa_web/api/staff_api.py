"""The web's machine-facing routes: creating staff users (operator token; the first admin of a
creditor, agents, operators — an admin adds the rest on the Users page), setting up a creditor's
single sign-on (operator token; an admin can on the Sign-in page) and the telephony provider's
incoming-call webhook."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from krafa_kit.http import Problem, operator_allowed, problems, require_operator
from pydantic import BaseModel, Field

from krafa_web.api.staff_pages import clients_of, staff_of
from krafa_web.calls import CallBoard, signature_valid
from krafa_web.clients import ServiceError
from krafa_web.settings import Settings
from krafa_web.staff.service import StaffRefused
from krafa_web.staff.sso import SingleSignOn

router = APIRouter(tags=["staff"])


class StaffUserIn(BaseModel):
    creditor_id: UUID | None = Field(default=None, description="the creditor a viewer, clerk or admin works for")
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["viewer", "clerk", "admin", "agent", "operator"]
    password: str = Field(min_length=12, max_length=200)
    departments: list[str] = Field(default_factory=list, max_length=50)
    serves: list[UUID] = Field(default_factory=list, max_length=500, description="an agent: the creditors served")


class StaffUserOut(BaseModel):
    id: UUID
    totp_secret: str = Field(description="shown once: enrol it in an authenticator app")
    provisioning_uri: str = Field(description="the otpauth:// URI (a QR code of it enrols a phone)")


@router.post(
    "/v1/staff-users",
    status_code=201,
    response_model=StaffUserOut,
    summary="Create a staff user (creditor viewer/clerk/admin, agent or operator) with a TOTP secret",
    description="For the first admin of a creditor, and for the agency's agents (with the creditors whose "
    "queues they serve) and operators; a creditor's admin adds the rest on the Users page. The password is "
    "stored as an argon2id hash; the answer carries the authenticator's TOTP secret and its otpauth:// URI "
    "once. An email address already in use answers 409, a weak password or a role that does not fit "
    "(a creditor role needs `creditor_id`, an agency role must not have one) 422.",
    dependencies=[Depends(require_operator)],
    responses=problems(401, 409, 422),
)
async def create_staff_user(request: Request, body: StaffUserIn) -> StaffUserOut:
    try:
        created = await staff_of(request).add_user(
            creditor_id=body.creditor_id,
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            departments=tuple(body.departments),
            serves=tuple(body.serves),
        )
    except StaffRefused as refused:
        status = 409 if refused.reason == "email_taken" else 422
        raise Problem(status, "Refused", refused.reason) from refused
    return StaffUserOut(id=created.id, totp_secret=created.totp_secret, provisioning_uri=created.provisioning_uri)


class SsoIn(BaseModel):
    issuer: str = Field(min_length=8, max_length=500, description="the provider's issuer URL (https)")
    client_id: str = Field(min_length=1, max_length=255, description="Krafa's client id at the provider")
    client_secret: str | None = Field(
        default=None,
        max_length=2000,
        description="the client secret, sealed at rest (KRAFA_STAFF_OIDC_KEYS); null keeps the stored one, an "
        "empty string removes it (a public client with PKCE only)",
    )
    domains: list[str] = Field(min_length=1, max_length=50, description="the staff's email domains it signs in")
    enabled: bool = True
    required: bool = Field(
        default=False,
        description="its viewers and clerks must sign in at the provider (their passwords stop working); its "
        "admins keep password + TOTP to fix a broken setup",
    )


class SsoOut(BaseModel):
    creditor_id: UUID
    issuer: str
    client_id: str
    has_client_secret: bool
    domains: list[str]
    enabled: bool
    required: bool
    redirect_uri: str = Field(description="register this redirect URI at the provider")


@router.put(
    "/v1/creditors/{creditor_id}/sso",
    response_model=SsoOut,
    summary="Set up a creditor's own OpenID Connect provider for its staff's single sign-on",
    description="Its staff whose addresses are in `domains` then sign in at that provider (authorization code "
    "with PKCE and a nonce) instead of with a password and TOTP code; the ID token's subject, or on the first "
    "sign-in its email address, must be an existing user of that creditor. The issuer's discovery document "
    "must answer. A creditor's admin can do the same on the Sign-in page. Refusals answer 422 with the "
    "reason (`sso_issuer`, `sso_client_id`, `sso_domains`, `sso_domain_taken`, `sso_no_key`, "
    "`sso_discovery`); every change is audited.",
    dependencies=[Depends(require_operator)],
    responses=problems(401, 422),
)
async def put_sso(request: Request, creditor_id: UUID, body: SsoIn) -> SsoOut:
    sso: SingleSignOn = request.app.state.sso
    try:
        saved = await sso.configure(
            creditor_id,
            issuer=body.issuer,
            client_id=body.client_id,
            client_secret=body.client_secret,
            domains=" ".join(body.domains),
            enabled=body.enabled,
            required=body.required,
            by=None,
        )
    except StaffRefused as refused:
        raise Problem(422, "Refused", refused.reason) from refused
    return SsoOut(
        creditor_id=saved.creditor_id,
        issuer=saved.issuer,
        client_id=saved.client_id,
        has_client_secret=saved.has_secret,
        domains=list(saved.domains),
        enabled=saved.enabled,
        required=saved.required,
        redirect_uri=sso.redirect_uri,
    )


def _twiml(say: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Say>{escape(say)}</Say><Enqueue>agents</Enqueue></Response>'
    )
    return Response(body, media_type="application/xml")


@router.post(
    "/v1/telephony/incoming",
    summary="The telephony provider's incoming-call webhook (Twilio Voice shape), answered with TwiML",
    description="A form post with `CallSid`, `From`, `To` and the rest of Twilio Voice's incoming-call "
    "parameters, signed in `X-Twilio-Signature` with `KRAFA_TELEPHONY_AUTH_TOKEN` over this URL and the "
    "fields. The caller's open cases are pushed to the agent screens serving their creditors (server-sent "
    "events); the answer queues the caller for an agent.",
    responses=problems(403),
)
async def incoming_call(request: Request) -> Response:
    """Looks the caller's number up among open cases and pushes each case to the open screens of
    the agents serving its creditor, then queues the caller for an agent."""
    settings: Settings = request.app.state.settings
    form = await request.form()
    params = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    token = settings.telephony_auth_token
    url = settings.portal_url.rstrip("/") + "/v1/telephony/incoming"
    if token is None:
        if not operator_allowed(settings, None, None):
            raise Problem(403, "Forbidden", "no telephony auth token is configured")
    elif not signature_valid(token.get_secret_value(), url, params, request.headers.get("x-twilio-signature")):
        raise Problem(403, "Forbidden", "the request signature does not verify")
    caller = params.get("From", "")
    board: CallBoard = request.app.state.calls
    cases: list[dict[str, Any]] = []
    try:
        found = await clients_of(request).operator_get(
            clients_of(request).notifier, "/v1/calls/lookup", {"phone": caller}
        )
        cases = found["cases"]
    except ServiceError:
        cases = []
    pushed = 0
    seen: set[tuple[str, str]] = set()
    for case in cases:
        key = (case["creditor_id"], case["debtor_id"])
        if key in seen:
            continue
        seen.add(key)
        pushed += board.push(
            UUID(case["creditor_id"]),
            {
                "call_sid": params.get("CallSid", ""),
                "from": caller,
                "debtor_name": case["debtor_name"],
                "creditor_name": case["creditor_name"],
                "url": f"/agent/cases/{case['creditor_id']}/{case['debtor_id']}?inbound=1",
            },
        )
    return _twiml(
        "Thank you for calling. An agent will be with you shortly."
        if pushed or cases
        else "Thank you for calling. Please hold for the next agent."
    )
