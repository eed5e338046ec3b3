"""A creditor's reads of what the notifier and the scheduler own, with its own API key
(docs/adr/0013): its templates, previews of its notices, its policies and the schedule dry run of
its claims. Thin: parse, call the use case (krafa_claims_api.gateway.service), shape the answer."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from krafa_kit.errors import Unavailable
from krafa_kit.http import PROBLEM_BASE, Problem
from krafa_kit.http import problems as kit_problems

from krafa_claims_api.api.deps import DB, Reader
from krafa_claims_api.api.errors import problems
from krafa_claims_api.api.gateway_schemas import (
    TEMPLATE_KEY,
    ClaimSchedule,
    CurrentPolicy,
    Language,
    PolicyList,
    PolicyPlan,
    PolicyPlanIn,
    PreviewChannel,
    ReminderPreview,
    ReminderPreviewIn,
    SamplePreviewIn,
    StoredPolicy,
    StoredTemplate,
    TemplateChannel,
    TemplateList,
)
from krafa_claims_api.gateway import service
from krafa_claims_api.gateway.client import Upstreams
from krafa_claims_api.gateway.domain import UPSTREAM_UNAVAILABLE

router = APIRouter(prefix="/v1")
NOTIFIERS, SCHEDULERS = "templates and previews", "policies and schedules"
TAGS = (NOTIFIERS, SCHEDULERS)  # the operations answered from the owners

RETRY_AFTER_S = "5"
UNAVAILABLE_EXAMPLE = {
    "type": PROBLEM_BASE + UPSTREAM_UNAVAILABLE,
    "title": "Service Unavailable",
    "status": 503,
    "detail": "the notifier cannot answer now (not reachable); try again shortly",
}


def answers(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """claims-api's problems, and the 503 of an owner that cannot answer now (with Retry-After)."""
    return {
        **problems(*codes, **described),
        **kit_problems(
            examples={503: UNAVAILABLE_EXAMPLE},
            _503="the notifier or scheduler that owns the answer cannot answer now; retry after `Retry-After` seconds",
        ),
    }


CLAIM_404 = "no such claim of this creditor (another creditor's answers the same), or none known to its owner yet"


def upstreams(request: Request) -> Upstreams:
    found: Upstreams = request.app.state.upstreams
    return found


def _unavailable(exc: Unavailable) -> Problem:
    return Problem(
        503,
        exc.title,
        exc.detail,
        type_=PROBLEM_BASE + (exc.kind or "unavailable"),
        headers={"Retry-After": RETRY_AFTER_S},
    )


async def _answer(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await call
    except Unavailable as exc:
        raise _unavailable(exc) from exc


# -- templates and previews (the notifier) --------------------------------------------------------


@router.get(
    "/templates",
    tags=[NOTIFIERS],
    summary="The creditor's own templates",
    response_model=TemplateList,
    responses=answers(401, 403),
)
async def list_templates(request: Request, caller: Reader) -> dict[str, Any]:
    """Every template the creditor has set, by key, channel and language, as stored; a notice without one
    is written in Krafa's own words. Templates are set by Krafa's operators for now."""
    return await _answer(service.templates(upstreams(request), caller))


@router.get(
    "/templates/{key}/{channel}/{language}",
    tags=[NOTIFIERS],
    summary="One of the creditor's own templates",
    response_model=StoredTemplate,
    responses=answers(401, 403, 422, _404="the creditor has no template for this key, channel and language"),
)
async def get_template(
    request: Request,
    key: Annotated[str, PathParam(pattern=TEMPLATE_KEY, examples=["reminder.2"])],
    channel: TemplateChannel,
    language: Language,
    caller: Reader,
) -> dict[str, Any]:
    """The creditor's template for exactly this key (`template` or `template.step`), channel and language."""
    return await _answer(service.template(upstreams(request), caller, key, channel, language))


@router.get(
    "/claims/{claim_id}/preview",
    tags=[NOTIFIERS],
    summary="Render the notice a claim would get at a step, without sending it",
    response_model=ReminderPreview,
    responses=answers(
        401,
        403,
        _404=CLAIM_404,
        _422="validation failed, the creditor's template does not render, or a letter without a postal address",
    ),
)
async def preview_claim(
    request: Request,
    claim_id: UUID,
    caller: Reader,
    db: DB,
    step: Annotated[int, Query(ge=1, le=99, description="the policy step; the tone rises with it")] = 1,
    channel: PreviewChannel = "email",
    language: Annotated[Language | None, Query(description="default: the debtor's, else the creditor's")] = None,
) -> dict[str, Any]:
    """The notice a registered claim would get at a step — with the debtor's name, language and address and
    the creditor's own template if it has one — rendered by the notifier as it would send it: an email's
    subject, text and HTML, an SMS's text with its encoding and segments, or a letter's paragraphs."""
    params: dict[str, Any] = {"step": step, "channel": channel}
    if language is not None:
        params["language"] = language
    return await _answer(service.claim_preview(db, upstreams(request), caller, claim_id, params))


@router.post(
    "/previews",
    tags=[NOTIFIERS],
    summary="Render the notice some of the creditor's claims would get, optionally with an unsaved template",
    response_model=ReminderPreview,
    responses=answers(
        401,
        403,
        _404="a claim that is not this creditor's, or claims of more than one debtor",
        _422="validation failed, the template does not render, or a letter without a postal address",
    ),
)
async def preview_reminder(request: Request, body: ReminderPreviewIn, caller: Reader, db: DB) -> dict[str, Any]:
    """Renders, without sending, the one notice the given claims of one debtor would get together at a
    step, with a fee and interest to show; `body` (and `subject`) try out a template before it is saved. A
    template that does not render answers 422 `invalid-template` with the reason."""
    payload = body.model_dump(mode="json", exclude_none=True)
    return await _answer(service.preview(db, upstreams(request), caller, payload))


@router.post(
    "/previews/sample",
    tags=[NOTIFIERS],
    summary="Render the notice a sample debtor would get, without any claim",
    response_model=ReminderPreview,
    responses=answers(401, 403, _422="validation failed, or the template does not render"),
)
async def preview_sample(request: Request, body: SamplePreviewIn, caller: Reader, db: DB) -> dict[str, Any]:
    """The wording before any claim is registered: a sample debtor with two claims, fees and interest
    (every value set), sent by the creditor (its name, phone and account), rendered with its saved template
    for the step, or with the unsaved `body` given."""
    payload = body.model_dump(mode="json", exclude_none=True)
    return await _answer(service.sample_preview(db, upstreams(request), caller, payload))


@router.get(
    "/claims/{claim_id}/deliveries/{delivery_id}/document",
    tags=[NOTIFIERS],
    summary="A sent notice of the claim as a PDF: what the debtor got",
    response_class=Response,
    responses={
        200: {
            "description": "the notice rendered again from what it said when it was sent, laid out as the letter",
            "content": {"application/pdf": {}},
        },
        **answers(
            401,
            403,
            422,
            _404="no such claim of this creditor, no such delivery in its timeline, or the notice was not sent",
        ),
    },
)
async def get_sent_notice(request: Request, claim_id: UUID, delivery_id: UUID, caller: Reader, db: DB) -> Response:
    """Where a timeline item's `content_link` leads for its content: the notice a delivery of the claim sent
    (email, SMS, letter or netbank document), rendered by the notifier from what it said when it went out, as
    a PDF laid out like the letter. A delivery that never went out (failed, refused) answers 404."""
    try:
        pdf = await service.sent_document(db, upstreams(request), caller, claim_id, delivery_id)
    except Unavailable as exc:
        raise _unavailable(exc) from exc
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="notice-{delivery_id}.pdf"', "Cache-Control": "no-store"},
    )


# -- policies and schedules (the scheduler) -------------------------------------------------------


@router.get(
    "/policies",
    tags=[SCHEDULERS],
    summary="Every version of the creditor's reminder policies",
    response_model=PolicyList,
    responses=answers(401, 403),
)
async def list_policies(request: Request, caller: Reader) -> dict[str, Any]:
    """The creditor's own policies, every version, by scope (department, customer class), newest first;
    `current` marks the one new claims of that scope follow. Empty when the creditor follows the country's
    default (`GET /v1/policies/current?jurisdiction=IS` shows it)."""
    return await _answer(service.policies(upstreams(request), caller))


@router.get(
    "/policies/current",
    tags=[SCHEDULERS],
    summary="The policy a new claim would be planned with",
    response_model=CurrentPolicy,
    responses=answers(
        401,
        403,
        422,
        _404="the creditor has no policy for this scope and no `jurisdiction` was given for the default",
    ),
)
async def get_current_policy(
    request: Request,
    caller: Reader,
    department: Annotated[str | None, Query(max_length=100, description="the claim's department")] = None,
    customer_class: Annotated[str | None, Query(max_length=40, description="the debtor's customer class")] = None,
    jurisdiction: Annotated[
        str | None, Query(pattern="^[A-Za-z]{2}$", description="ISO 3166 country: its default when none is set")
    ] = None,
) -> dict[str, Any]:
    """The most specific of the creditor's policies for a department and customer class, else (with
    `jurisdiction`) the country's default policy that a new claim would follow."""
    params = {
        name: value
        for name, value in (
            ("department", department),
            ("customer_class", customer_class),
            ("jurisdiction", jurisdiction),
        )
        if value is not None
    }
    return await _answer(service.current_policy(upstreams(request), caller, params))


@router.get(
    "/policies/{key}/{version}",
    tags=[SCHEDULERS],
    summary="One version of one of the creditor's policies",
    response_model=StoredPolicy,
    responses=answers(401, 403, 422, _404="no such policy version of this creditor"),
)
async def get_policy_version(
    request: Request,
    key: Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", examples=["gentle"])],
    version: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    caller: Reader,
) -> dict[str, Any]:
    """The policy a claim's schedule names as `key@version`, as it was stored."""
    return await _answer(service.policy_version(upstreams(request), caller, key, version))


@router.post(
    "/policies/plan",
    tags=[SCHEDULERS],
    summary="Dry run: a sample claim planned with one of the creditor's policies, step by step",
    response_model=PolicyPlan,
    responses=answers(401, 403, 422, _404="no such policy version of this creditor"),
)
async def plan_sample(request: Request, body: PolicyPlanIn, caller: Reader, db: DB) -> dict[str, Any]:
    """What a claim like this one would get, without registering it: each step with its time (UTC and the
    debtor's local time), notice, channels, fees, late interest and the total the debtor is told. Planned with
    `policy` (`key@version`) when given, else with the policy a new claim of that department and customer class
    would follow: the creditor's own for the most specific scope, else its country's default."""
    payload = body.model_dump(mode="json", exclude_none=True)
    return await _answer(service.plan_sample(db, upstreams(request), caller, payload))


@router.get(
    "/claims/{claim_id}/schedule",
    tags=[SCHEDULERS],
    summary="Dry run: what the debtor receives next and when, with fees and late interest",
    response_model=ClaimSchedule,
    responses=answers(401, 403, _404=CLAIM_404),
)
async def get_claim_schedule(request: Request, claim_id: UUID, caller: Reader, db: DB) -> dict[str, Any]:
    """What happens next to the claim if nothing changes, as the scheduler plans it: each coming step with
    its time (UTC and the debtor's local time), notice, channels, fees, late interest and the total the
    debtor is told. Steps are empty unless the claim's timeline is active (paid, held or stopped claims)."""
    return await _answer(service.schedule(db, upstreams(request), caller, claim_id))
