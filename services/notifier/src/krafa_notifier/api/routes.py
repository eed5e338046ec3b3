"""The notifier's HTTP API: SMS delivery receipts from providers (signed), the agents' call queue,
creditors' own templates and previews.

Receipts are authenticated by the provider's signature. Everything else needs the operator token
(`Authorization: Bearer`, KRAFA_OPERATOR_TOKEN); creditor-scoped routes also name the creditor in
`X-Krafa-Creditor-Id`. Creditors never call the notifier: claims-api's creditor routes
(docs/adr/0013) verify the creditor's API key, set the header to that creditor and present the
gateway token (KRAFA_GATEWAY_TOKEN), which only the creditor reads and previews take; another
creditor's claims answer 404.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as PathParam
from krafa_events import Channel
from krafa_events.catalog import CreditorSnapshot, Instalment
from krafa_kit.clock import Clock
from krafa_kit.db import Database
from krafa_kit.deps import get_clock, get_db, settings_dependency
from krafa_kit.http import PROBLEM_BASE, Problem, problems, require_operator, require_operator_or_gateway
from pydantic import BaseModel, Field, model_validator

from krafa_notifier import call_queue, calls, content, domain, repository, service, sms
from krafa_notifier.api.schemas import (
    CallsDueOut,
    CallTaskOut,
    CostsOut,
    LookupOut,
    OutcomeOut,
    PreviewOut,
    StoredTemplateOut,
    TemplateOut,
    TemplatesOut,
)
from krafa_notifier.settings import Settings

TEMPLATE_CHANNELS = ("email", "sms", "letter")
LANGUAGES = tuple(content.LOCALES)


get_settings = settings_dependency(Settings)


def get_renderer(request: Request) -> content.ReminderRenderer:
    renderer: content.ReminderRenderer = request.app.state.renderer
    return renderer


DbDep = Annotated[Database, Depends(get_db)]
ClockDep = Annotated[Clock, Depends(get_clock)]
CreditorDep = Annotated[
    uuid.UUID,
    Header(
        alias="X-Krafa-Creditor-Id",
        description="the creditor acting, as claims-api sets it from the API key it verified",
    ),
]
RendererDep = Annotated[content.ReminderRenderer, Depends(get_renderer)]


# -- receipts -------------------------------------------------------------------------------

receipts = APIRouter(tags=["receipts"])


@receipts.post(
    "/v1/receipts/sms/{provider}",
    status_code=204,
    summary="An SMS provider's delivery receipt (signed)",
    responses=problems(
        _403="the provider's signature does not match (or is missing)",
        _404="no such provider, or its receipts are not configured",
        _422="a malformed provider, or the receipt names no message",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "`generic`: JSON `{id, status, error}` signed in X-Krafa-Signature; `twilio`: the "
            "status callback form signed in X-Twilio-Signature",
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {"id": "msg-1", "status": "delivered"},
                },
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object"},
                    "example": {"MessageSid": "SM0123456789abcdef0123456789abcdef", "MessageStatus": "delivered"},
                },
            },
        }
    },
)
async def sms_receipt(
    provider: str,
    request: Request,
    db: DbDep,
    clock: ClockDep,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    """Called by the SMS provider with a delivery receipt, signed with the shared secret; the delivery is
    marked delivered or failed (and an undeliverable number falls back to another channel)."""
    if provider == "twilio":
        if settings.twilio_auth_token is None:
            raise Problem(404, "Not Found", "Twilio receipts are not configured")
        params = {k: str(v) for k, v in (await request.form()).items()}
        # Twilio signs the URL it called: ours as the public sees it, not as the proxy forwards it.
        url = f"{settings.public_url.rstrip('/')}{request.url.path}" if settings.public_url else str(request.url)
        if request.url.query and settings.public_url:
            url += f"?{request.url.query}"
        expected = sms.twilio_signature(settings.twilio_auth_token.get_secret_value(), url, params)
        if not sms.signature_valid(expected, request.headers.get("X-Twilio-Signature")):
            raise Problem(403, "Forbidden", "the X-Twilio-Signature does not match", type_=PROBLEM_BASE + "signature")
        try:
            receipt = sms.parse_twilio_receipt(params)
        except ValueError as exc:
            raise Problem(422, "Unprocessable Content", str(exc)) from exc
    elif provider == "generic":
        if settings.sms_receipt_secret is None:
            raise Problem(404, "Not Found", "generic receipts are not configured")
        body = await request.body()
        expected = sms.generic_signature(settings.sms_receipt_secret.get_secret_value(), body)
        if not sms.signature_valid(expected, request.headers.get("X-Krafa-Signature")):
            raise Problem(403, "Forbidden", "the X-Krafa-Signature does not match", type_=PROBLEM_BASE + "signature")
        try:
            data = json.loads(body)
            receipt = sms.parse_generic_receipt(data if isinstance(data, dict) else {})
        except ValueError as exc:
            raise Problem(422, "Unprocessable Content", str(exc)) from exc
    else:
        raise Problem(404, "Not Found", "no such SMS provider")
    await service.record_receipt(db, clock, provider, receipt)
    return Response(status_code=204)


# -- call queue -----------------------------------------------------------------------------

agents = APIRouter(tags=["calls"], dependencies=[Depends(require_operator)])


class ClaimNext(BaseModel):
    agent: str = Field(min_length=1, max_length=100)


class OutcomeIn(BaseModel):
    outcome: call_queue.Outcome
    agent: str | None = Field(default=None, max_length=100)
    promised_date: date | None = None
    instalments: tuple[Instalment, ...] = ()
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeIn:
        if self.outcome in {"promise_to_pay", "deferral"} and self.promised_date is None:
            raise ValueError(f"{self.outcome} needs promised_date")
        if self.outcome == "instalments" and len(self.instalments) < 2:
            raise ValueError("instalments needs at least two instalments")
        return self


@agents.get(
    "/v1/calls/due",
    summary="Calls due now, in each debtor's calling window",
    responses=problems(401, 422),
    response_model=CallsDueOut,
)
async def calls_due(db: DbDep, clock: ClockDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """Operator only (agents' desk). Phone-call tasks due now, only those whose debtor is inside their local
    calling window."""
    return {"items": await call_queue.due(db, clock.now(), limit)}


@agents.post(
    "/v1/calls/next",
    summary="Claim the next due call (two agents never get the same one)",
    responses={
        200: {"description": "the call, now claimed by this agent", "model": CallTaskOut},
        204: {"description": "no call is due"},
        **problems(401, 422),
    },
)
async def claim_next_call(body: ClaimNext, db: DbDep, clock: ClockDep) -> Response:
    """Operator only (agents' desk). Gives the agent the next due call and locks it to them, so two agents
    never call the same debtor; 204 when nothing is due."""
    task = await call_queue.claim_next(db, clock.now(), body.agent)
    if task is None:
        return Response(status_code=204)
    return Response(json.dumps(task), media_type="application/json")


@agents.post(
    "/v1/calls/{task_id}/outcome",
    summary="Record what came of a call",
    responses=problems(401, 422, _404="no such call task", _409="the call is not claimed, or already done"),
    response_model=OutcomeOut,
)
async def record_call_outcome(task_id: uuid.UUID, body: OutcomeIn, db: DbDep, clock: ClockDep) -> dict[str, Any]:
    """Operator only (agents' desk). Records what came of a call (reached, a promise to pay with its date or
    instalments, no answer, ...); 409 if the task is not the agent's open call."""
    try:
        recorded = await call_queue.record_outcome(
            db,
            clock.now(),
            task_id,
            outcome=body.outcome,
            agent=body.agent,
            promised_date=body.promised_date,
            instalments=body.instalments,
            note=body.note,
        )
    except call_queue.CallTaskConflict as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    if recorded is None:
        raise Problem(404, "Not Found", "no such call task")
    return {
        "task_id": str(task_id),
        "status": recorded.status,
        "next_window_opens_at": recorded.next_window_opens_at.isoformat() if recorded.next_window_opens_at else None,
    }


@agents.get(
    "/v1/calls/lookup",
    summary="An inbound caller's open cases, by phone number",
    responses=problems(401, _422="not a phone number"),
    response_model=LookupOut,
)
async def lookup_caller(db: DbDep, phone: Annotated[str, Query(min_length=3, max_length=32)]) -> dict[str, Any]:
    """Operator only (agents' desk). A debtor calling in: their open cases found by phone number."""
    try:
        e164 = calls.normalise_phone(phone)
    except ValueError as exc:
        raise Problem(422, "Unprocessable Content", "not a phone number") from exc
    return {"phone": e164, "cases": await call_queue.lookup(db, e164)}


# -- templates and previews ---------------------------------------------------------------

# Template writes and provider costs are the operators'; the reads and previews claims-api serves a
# creditor (docs/adr/0013) also take its narrower gateway token.
creditors = APIRouter(tags=["templates"], dependencies=[Depends(require_operator)])
creditor_reads = APIRouter(tags=["templates"], dependencies=[Depends(require_operator_or_gateway)])

TemplateChannel = Literal["email", "sms", "letter"]
# A template's key: the notice template, or `template.step` for one step of it.
TEMPLATE_KEY = r"^[a-z0-9_-]{1,40}(\.[0-9]{1,2})?$"
Language = Literal["is", "nb", "et", "en"]


class TemplateIn(BaseModel):
    body: str = Field(min_length=1, max_length=content.MAX_TEMPLATE_CHARS)
    subject: str | None = Field(default=None, max_length=500)


def _sample(language: str, step: int) -> content.ReminderContent:
    """What a template is checked against: two claims with fees and interest, every field set."""
    lines = (
        content.ClaimLine("INV-1001", "Membership 2026", date(2026, 3, 2), 10_000, "ISK", 390, 125, "RF18539007547034"),
        content.ClaimLine("INV-1002", None, date(2026, 4, 2), 4_500, "ISK", 0, 0, "RF18539007547034"),
    )
    return content.ReminderContent(
        creditor_name="Sample Creditor",
        creditor_contact_phone="+354 555 1234",
        creditor_account="0133-26-012345",
        payment_link="https://pay.example/RF18539007547034",
        debtor_name="Sample Debtor",
        language=language,
        step=step,
        tone="friendly" if step <= 1 else "firm" if step == 2 else "final",
        claims=lines,
        address=content.PostalAddress("Sample Debtor", ("Laugavegur 1",), "101", "Reykjavík", "IS"),
        sent_on=date(2026, 3, 20),
        pay_by=date(2026, 4, 3),
    )


def _template_problem(exc: content.TemplateInvalid) -> Problem:
    return Problem(422, "Invalid template", str(exc)[:500], type_=PROBLEM_BASE + "invalid-template")


@creditors.put(
    "/v1/templates/{key}/{channel}/{language}",
    summary="Set the creditor's own template for a key (or key.step), channel and language",
    status_code=200,
    responses={
        201: {"description": "the first template for this key, channel and language"},
        **problems(401, _422="the template does not render (syntax, unknown value, sandbox)"),
    },
    response_model=TemplateOut,
)
async def put_template(
    key: Annotated[str, PathParam(pattern=TEMPLATE_KEY)],
    channel: TemplateChannel,
    language: Language,
    body: TemplateIn,
    creditor_id: CreditorDep,
    db: DbDep,
    renderer: RendererDep,
    response: Response,
) -> dict[str, Any]:
    """Operator only. Stores the creditor's own wording of a notice for a channel and language; it is checked
    by rendering it before it is saved, and a template that does not render answers 422."""
    step = int(key.rpartition(".")[2]) if "." in key else 1
    override = content.TemplateOverride(body=body.body, subject=body.subject if channel == "email" else None)
    try:
        rendered = renderer.check_override(override, _sample(language, max(step, 1)))
    except content.TemplateInvalid as exc:
        raise _template_problem(exc) from exc
    async with db.connection() as conn:
        created = await repository.put_template(conn, creditor_id, key, channel, language, override.subject, body.body)
    response.status_code = 201 if created else 200
    return {"key": key, "channel": channel, "language": language, "sample": rendered}


def _stored(row: Any) -> dict[str, Any]:
    return {**dict(row), "updated_at": row["updated_at"].isoformat()}


@creditor_reads.get(
    "/v1/templates",
    summary="The creditor's own templates",
    responses=problems(401, 422),
    response_model=TemplatesOut,
)
async def list_templates(creditor_id: CreditorDep, db: DbDep) -> dict[str, Any]:
    """Operator or gateway (claims-api serves it to the creditor as `GET /v1/templates`). Every template the
    creditor has set, by key, channel and language; notices without one use Krafa's wording."""
    async with db.connection() as conn:
        rows = await repository.templates(conn, creditor_id)
    return {"items": [_stored(r) for r in rows]}


@creditor_reads.get(
    "/v1/templates/{key}/{channel}/{language}",
    summary="One of the creditor's own templates",
    responses=problems(401, 422, _404="the creditor has no template for this key, channel and language"),
    response_model=StoredTemplateOut,
)
async def get_template(
    key: Annotated[str, PathParam(pattern=TEMPLATE_KEY)],
    channel: TemplateChannel,
    language: Language,
    creditor_id: CreditorDep,
    db: DbDep,
) -> dict[str, Any]:
    """Operator or gateway (claims-api serves it to the creditor). The creditor's template for exactly this key,
    channel and language, as stored."""
    async with db.connection() as conn:
        row = await repository.stored_template(conn, creditor_id, key, channel, language)
    if row is None:
        raise Problem(404, "Not Found", "no template of this creditor for this key, channel and language")
    return _stored(row)


class PreviewIn(BaseModel):
    claim_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    # Bounded like the template keys (`key.step`, two digits) and every amount here.
    step: int = Field(default=1, ge=1, le=99)
    channel: Literal["email", "sms", "letter", "netbank"] = "email"
    language: Language | None = None
    template: str = Field(default="reminder", pattern=r"^[a-z0-9_-]{1,40}$")
    tone: content.Tone | None = None
    fee_minor: int = Field(default=0, ge=0, le=10**15)
    interest_minor: int = Field(default=0, ge=0, le=10**15)
    pay_by: date | None = None
    # An unsaved template to try out; without it, the creditor's saved one or ours.
    body: str | None = Field(default=None, max_length=content.MAX_TEMPLATE_CHARS)
    subject: str | None = Field(default=None, max_length=500)


PREVIEW_PROBLEMS = problems(
    401,
    _404="no such claim of this creditor, or the claims are not one debtor's",
    _422="validation failed, the template does not render, or a letter without a postal address",
)


@creditor_reads.post(
    "/v1/preview",
    summary="Render a reminder for claims without sending it",
    responses=PREVIEW_PROBLEMS,
    response_model=PreviewOut,
)
async def preview(
    body: PreviewIn, creditor_id: CreditorDep, db: DbDep, clock: ClockDep, renderer: RendererDep
) -> dict[str, Any]:
    """Operator or gateway. Renders the notice hypothetical claims would get (subject, text, HTML, SMS segments)
    without sending anything."""
    return await _preview(body, creditor_id, db, clock, renderer)


@creditor_reads.get(
    "/v1/claims/{claim_id}/preview",
    summary="Render a claim's reminder without sending it",
    responses=PREVIEW_PROBLEMS,
    response_model=PreviewOut,
)
async def claim_preview(
    claim_id: uuid.UUID,
    creditor_id: CreditorDep,
    db: DbDep,
    clock: ClockDep,
    renderer: RendererDep,
    step: Annotated[int, Query(ge=1, le=99)] = 1,
    channel: Literal["email", "sms", "letter", "netbank"] = "email",
    language: Language | None = None,
) -> dict[str, Any]:
    """Operator or gateway. Renders the notice a registered claim would get at a step, with the debtor's language
    and channel, without sending it."""
    return await _preview(
        PreviewIn(claim_ids=[claim_id], step=step, channel=channel, language=language), creditor_id, db, clock, renderer
    )


class SamplePreviewIn(BaseModel):
    language: Language
    # The creditor as claims-api knows it (its own record, never the caller's words); without it the
    # sample names a sample creditor.
    creditor: CreditorSnapshot | None = None
    step: int = Field(default=1, ge=1, le=99)
    channel: Literal["email", "sms", "letter", "netbank"] = "email"
    template: str = Field(default="reminder", pattern=r"^[a-z0-9_-]{1,40}$")
    # An unsaved template to try out; without it, the creditor's saved one or ours.
    body: str | None = Field(default=None, max_length=content.MAX_TEMPLATE_CHARS)
    subject: str | None = Field(default=None, max_length=500)


@creditor_reads.post(
    "/v1/preview/sample",
    summary="Render a reminder for a sample debtor with two claims, without sending it",
    responses=problems(401, _422="validation failed, or the template does not render"),
    response_model=PreviewOut,
)
async def sample_preview(
    body: SamplePreviewIn, creditor_id: CreditorDep, db: DbDep, renderer: RendererDep
) -> dict[str, Any]:
    """Operator or gateway (claims-api serves it to the creditor, with the creditor's own name, phone and account
    from its record). Renders the notice a sample debtor with two claims, fees and interest would get at a
    step, with the creditor's saved template (or the unsaved `body` given) — the wording before any claim is
    registered."""
    reminder = _sample(body.language, body.step)
    if body.creditor is not None:
        reminder = domain.sent_by(reminder, body.creditor.model_dump(mode="json"))
    async with db.connection() as conn:
        return await _render_preview(conn, creditor_id, body, reminder, renderer)


async def _preview(
    body: PreviewIn, creditor_id: uuid.UUID, db: Database, clock: Clock, renderer: content.ReminderRenderer
) -> dict[str, Any]:
    async with db.connection() as conn:
        claims = await repository.claims_for(conn, body.claim_ids)
        # Another creditor's claim is as unknown as a claim that does not exist.
        claims = [c for c in claims if c["creditor_id"] == creditor_id]
        if len(claims) < len(set(body.claim_ids)) or len({c["debtor_id"] for c in claims}) > 1:
            raise Problem(404, "Not Found", "no such claim (or the claims are not one debtor's)")
        debtor = await repository.debtor(conn, creditor_id, claims[0]["debtor_id"]) or claims[0]["debtor"]
        tone = body.tone or ("friendly" if body.step <= 1 else "firm" if body.step == 2 else "final")
        reminder = domain.reminder_content(
            claims,
            claims[0]["creditor"],
            debtor,
            step=body.step,
            tone=tone,
            fee_minor=body.fee_minor,
            interest_minor=body.interest_minor,
            pay_by=body.pay_by,
            sent_on=clock.now().date(),
            language=body.language,
        )
        return await _render_preview(conn, creditor_id, body, reminder, renderer)


async def _render_preview(
    conn: Any,
    creditor_id: uuid.UUID,
    body: PreviewIn | SamplePreviewIn,
    reminder: content.ReminderContent,
    renderer: content.ReminderRenderer,
) -> dict[str, Any]:
    """A preview rendered with the unsaved template the body gives, else the creditor's saved one
    for this step (or the template key alone), else the default."""
    override: content.TemplateOverride | None = None
    if body.body is not None:
        override = content.TemplateOverride(body=body.body, subject=body.subject)
    else:
        found = await repository.template(
            conn,
            creditor_id,
            [f"{body.template}.{body.step}", body.template],
            "letter" if body.channel == "netbank" else body.channel,
            renderer.language_of(reminder),
        )
        if found is not None:
            override = content.TemplateOverride(body=found["body"], subject=found["subject"])
    try:
        return _rendered(renderer, reminder, override, Channel(body.channel))
    except content.TemplateInvalid as exc:
        raise _template_problem(exc) from exc


def _rendered(
    renderer: content.ReminderRenderer,
    reminder: content.ReminderContent,
    override: content.TemplateOverride | None,
    channel: Channel,
) -> dict[str, Any]:
    language = renderer.language_of(reminder)
    if channel == Channel.EMAIL:
        email = renderer.email(reminder, override)
        return {
            "channel": "email",
            "language": language,
            "subject": email.subject,
            "text": email.text,
            "html": email.html,
        }
    if channel == Channel.SMS:
        text = renderer.sms(reminder, override)
        count = sms.count_segments(text)
        return {
            "channel": "sms",
            "language": language,
            "text": text,
            "encoding": count.encoding,
            "segments": count.segments,
        }
    if reminder.address is None:
        raise Problem(422, "Unprocessable Content", "the debtor has no postal address for a letter")
    letter = renderer.letter_text(reminder, override)
    return {
        "channel": channel.value,
        "language": language,
        "heading": letter.heading,
        "paragraphs": [letter.greeting, *letter.intro, *letter.closing],
        "totals": list(letter.totals),
        "address": list(letter.address_lines),
    }


@creditor_reads.get(
    "/v1/deliveries/{delivery_id}/document",
    summary="A sent notice as a PDF, for the creditor that sent it",
    responses={
        200: {
            "description": "the notice as the debtor got it, laid out as the letter",
            "content": {"application/pdf": {}},
        },
        **problems(401, 422, _404="no notice of this creditor was sent with this delivery"),
    },
    response_class=Response,
)
async def sent_document(delivery_id: uuid.UUID, creditor_id: CreditorDep, db: DbDep, renderer: RendererDep) -> Response:
    """Operator or gateway (claims-api serves it to the creditor from a claim's timeline). A sent notice rendered
    again from what it said when it was sent, laid out as the letter; 404 for another creditor's."""
    async with db.connection() as conn:
        row = await repository.sent_content(conn, delivery_id)
    if row is None or row["creditor_id"] != creditor_id or row["content"] is None:
        raise Problem(404, "Not Found", "no such notice")
    pdf = await asyncio.to_thread(service.sent_notice_pdf, row["content"], renderer)
    return Response(pdf, media_type="application/pdf", headers={"Cache-Control": "no-store"})


@creditors.get(
    "/v1/costs",
    summary="What the providers charged for the creditor's messages, for reconciliation",
    responses=problems(401, _422="validation failed, or a time without a time zone"),
    response_model=CostsOut,
)
async def costs(
    creditor_id: CreditorDep,
    db: DbDep,
    since: Annotated[datetime, Query(description="sent at or after (ISO 8601)")],
    until: Annotated[datetime, Query(description="sent before (ISO 8601)")],
) -> dict[str, Any]:
    """Operator only. What the providers charged for the creditor's messages in a period, per channel and
    provider, to reconcile with their invoices."""
    if since.tzinfo is None or until.tzinfo is None:
        raise Problem(422, "Unprocessable Content", "since and until need a time zone")
    async with db.connection() as conn:
        rows = await repository.costs(conn, creditor_id, since, until)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "items": [
            {
                "channel": r["channel"],
                "currency": r["cost_currency"],
                "messages": r["messages"],
                "segments": r["segments"],
                "cost_minor": r["cost_minor"],
            }
            for r in rows
        ],
    }
