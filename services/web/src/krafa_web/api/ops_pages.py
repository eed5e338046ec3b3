"""The agency's operators' pages (role `operator`; creditors' staff and agents get 403): unmatched
payments with a manual match (payments-ingest), the bounce list (bounce-handler), the dead-letter
records with a confirmed, audited replay (krafa_kit.dlq, as `krafa dlq` does) and the operators'
audit. The operator token stays in the web: the browser only ever holds its staff session."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from krafa_events.topics import Topic
from krafa_kit.dlq import ReplayRefused

from krafa_web.api.pages import see_other
from krafa_web.api.staff_pages import (
    clients_of,
    render_staff,
    require_user,
    staff_form,
    staff_form_values,
    staff_of,
)
from krafa_web.clients import AsCreditor, CreditorClient, ServiceError
from krafa_web.i18n import N_, Msg
from krafa_web.operations import DeadLetterDesk, DeskUnavailable, Filters
from krafa_web.staff.service import StaffSession

router = APIRouter(include_in_schema=False)

BOUNCE_PAGE = 100
TOPICS = tuple(t.value for t in Topic)


@router.get("/ops")
async def unmatched(request: Request, done: str = "", refused: str = "") -> Response:
    session = await require_user(request, role="operator")
    clients = clients_of(request)
    body = await clients.operator_get(clients.payments, "/v1/payments/unmatched")
    items = body["items"] if isinstance(body, dict) else body
    return render_staff(request, "staff/ops_unmatched.html.j2", session, items=items, done=done, refused=refused)


@router.post("/ops/unmatched/{payment_id}/match")
async def match(request: Request, payment_id: UUID) -> Response:
    session = await require_user(request, role="operator")
    form = await staff_form(request, session)
    clients = clients_of(request)
    claim_id = form.get("claim_id", "").strip()
    try:
        await clients.operator_post(
            clients.payments, f"/v1/payments/unmatched/{payment_id}/match", {"claim_id": claim_id}
        )
    except ServiceError as exc:
        await staff_of(request).record(
            session.user,
            "payment.match",
            target=f"payment:{payment_id}",
            outcome="refused",
            detail={"claim_id": claim_id, "why": exc.detail},
        )
        return see_other("/ops?refused=" + ("not_found" if exc.status == 404 else "invalid"))
    await staff_of(request).record(
        session.user, "payment.match", target=f"payment:{payment_id}", detail={"claim_id": claim_id}
    )
    return see_other("/ops?done=matched")


# -- bounces ----------------------------------------------------------------------------------------


async def _creditor_names(request: Request, ids: set[str]) -> dict[str, str]:
    """The creditors' names for the page, each read as that creditor (read scope only)."""
    clients = clients_of(request)

    async def name(creditor_id: str) -> tuple[str, str]:
        try:
            profile = await CreditorClient(clients, AsCreditor(UUID(creditor_id), ("read",))).profile()
            return creditor_id, str(profile.get("name") or creditor_id)
        except (ServiceError, httpx.HTTPError, ValueError):
            return creditor_id, creditor_id

    return dict(await asyncio.gather(*(name(c) for c in sorted(ids))))


@router.get("/ops/bounces")
async def bounces(request: Request, creditor: str = "", kind: str = "", cursor: str = "") -> Response:
    session = await require_user(request, role="operator")
    clients = clients_of(request)
    params: dict[str, Any] = {"limit": BOUNCE_PAGE}
    problem: str | Msg = ""
    if creditor:
        try:
            params["creditor_id"] = str(UUID(creditor))
        except ValueError:
            problem = N_("That is not a creditor id.")
    if kind in ("hard", "soft"):
        params["kind"] = kind
    if cursor:
        params["cursor"] = cursor
    items: list[dict[str, Any]] = []
    next_cursor = None
    if not problem:
        try:
            body = await clients.operator_get(clients.bounces, "/v1/bounces", params)
            items, next_cursor = body["items"], body.get("next_cursor")
        except ServiceError as exc:
            problem = N_("The bounce list did not load: %(why)s", why=exc.detail or str(exc.status))
    # Awaiting-delivery rows are reports that arrived before their ReminderSent: not bounces yet.
    items = [b for b in items if b["state"] != "awaiting_delivery"]
    names = await _creditor_names(
        request,
        {b["creditor_id"] for b in items if b.get("creditor_id")}
        | ({params["creditor_id"]} if "creditor_id" in params else set()),
    )
    return render_staff(
        request,
        "staff/ops_bounces.html.j2",
        session,
        items=items,
        names=names,
        q={"creditor": creditor, "kind": kind},
        next_cursor=next_cursor,
        problem=problem,
    )


# -- dead letters -----------------------------------------------------------------------------------


def _desk(request: Request) -> DeadLetterDesk:
    desk: DeadLetterDesk = request.app.state.dead_letters
    return desk


@router.get("/ops/dead-letters")
async def dead_letters(
    request: Request, topic: str = "", group: str = "", not_replayed: int = 0, done: str = "", refused: str = ""
) -> Response:
    session = await require_user(request, role="operator")
    desk = _desk(request)
    filters = Filters(topic=topic if topic in TOPICS else "", group=group.strip(), not_replayed=bool(not_replayed))
    problem: str | Msg = ""
    try:
        letters = [desk.describe(d) for d in await desk.letters(filters)]
    except DeskUnavailable:
        letters, problem = [], N_("The broker did not answer. Try again in a moment.")
    return render_staff(
        request,
        "staff/ops_dead_letters.html.j2",
        session,
        letters=letters,
        topics=TOPICS,
        q={"topic": filters.topic, "group": filters.group, "not_replayed": filters.not_replayed},
        done=done,
        refused=refused,
        problem=problem,
    )


REPLAY_REFUSALS = {
    "unknown": N_("That dead letter is not in the dead-letter topics (any more)."),
    "replayed": N_("That record was replayed already. Choose “Replay it once more” to send it again."),
    "past_retention": N_(
        "That record is older than the consumers' inbox retention: a consumer that processed it "
        "may no longer remember it and would apply it twice. Replay it from the command line with "
        "--past-inbox-retention after checking."
    ),
    "none": N_("Choose at least one dead letter to replay."),
}


async def _review(request: Request, session: StaffSession, records: list[str], again: bool) -> Response:
    """The dry run: what a replay of `records` would republish, where, and which it leaves out."""
    desk = _desk(request)
    if not records:
        return see_other("/ops/dead-letters?refused=none")
    try:
        choice = await desk.choose(records, again=again)
    except ReplayRefused as refused:
        return render_staff(
            request,
            "staff/ops_replay.html.j2",
            session,
            409,
            records=records,
            again=again,
            refused=REPLAY_REFUSALS.get(refused.reason, str(refused)),
            refused_reason=refused.reason,
            planned=[],
            skipped=[],
            prefix=desk.prefix,
        )
    except DeskUnavailable:
        return render_staff(request, "staff/error.html.j2", session, 503, text=N_("The broker did not answer."))
    return render_staff(
        request,
        "staff/ops_replay.html.j2",
        session,
        records=records,
        again=again,
        refused="",
        planned=[p.to_json(desk.prefix) | {"reason": p.first.reason} for p in choice.planned],
        skipped=[desk.describe(d) for d in choice.skipped],
        prefix=desk.prefix,
    )


@router.get("/ops/dead-letters/replay")
async def replay_review(request: Request, again: int = 0) -> Response:
    session = await require_user(request, role="operator")
    records = [r.strip() for r in request.query_params.getlist("record") if r.strip()]
    return await _review(request, session, records, bool(again))


@router.post("/ops/dead-letters/replay")
async def replay(request: Request) -> Response:
    session = await require_user(request, role="operator")
    form = await request.form()  # read once: `record` repeats, the CSRF check needs the same form
    values = await staff_form_values(request, session, form)
    records = [str(r).strip() for r in form.getlist("record") if str(r).strip()]
    again = values.get("again") == "1"
    desk = _desk(request)
    staff = staff_of(request)
    try:
        choice = await desk.choose(records, again=again)
    except ReplayRefused as refused:
        await staff.record(
            session.user,
            "dlq.replay",
            target=",".join(records)[:500],
            outcome="refused",
            detail={"records": records, "again": again, "why": refused.reason},
        )
        return see_other(f"/ops/dead-letters?refused={refused.reason}")
    except DeskUnavailable:
        return render_staff(request, "staff/error.html.j2", session, 503, text=N_("The broker did not answer."))
    if not choice.planned:
        await staff.record(
            session.user, "dlq.replay", target=",".join(records)[:500], outcome="refused", detail={"why": "nothing"}
        )
        return see_other("/ops/dead-letters?refused=replayed")
    try:
        done = await desk.replay(choice, by=session.user.email)
    except DeskUnavailable:
        await staff.record(
            session.user,
            "dlq.replay",
            target=",".join(records)[:500],
            outcome="refused",
            detail={"records": records, "why": "broker unavailable"},
        )
        return render_staff(request, "staff/error.html.j2", session, 503, text=N_("The broker did not answer."))
    for item in done:
        await staff.record(
            session.user,
            "dlq.replay",
            target=f"event:{item.planned.first.event_id or item.planned.first.position}",
            detail=item.planned.to_json(desk.prefix, item.to) | {"again": again},
        )
    return see_other(f"/ops/dead-letters?done={len(done)}")


# -- the operators' audit ---------------------------------------------------------------------------


@router.get("/ops/audit")
async def audit(request: Request) -> Response:
    session = await require_user(request, role="operator")
    rows = await staff_of(request).audit_log(None, limit=300)
    return render_staff(request, "staff/audit.html.j2", session, rows=rows, agency=True)
