"""The agent desk: the call queue in the debtors' daytime windows (the notifier owns the queue
and the windows, and puts an unanswered call back for the afternoon), ordered by priority (a
promise broken, the amount, the age), one click to a case, the
inbound caller's case pushed to the open screen (server-sent events), the outcome recorded
through the notifier (CallOutcomeRecorded: a promise to pay re-plans the claim in claims-api),
notes on the case. An agent sees only the creditors whose queues they serve."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from krafa_web import i18n
from krafa_web.api.pages import see_other
from krafa_web.api.staff_pages import clients_of, render_staff, require_user, staff_form, staff_formats, staff_of
from krafa_web.calls import CallBoard, sse
from krafa_web.clients import AsCreditor, CreditorClient, ServiceError
from krafa_web.domain import Principal
from krafa_web.i18n import N_
from krafa_web.staff.domain import call_priority, call_script
from krafa_web.staff.service import StaffSession

router = APIRouter(include_in_schema=False)

OUTCOMES = {
    "no_answer": N_("No answer"),
    "reached": N_("Reminder given"),
    "promise_to_pay": N_("Promise to pay by a date"),
    "dispute": N_("Dispute"),
}
OPEN = ("open", "held", "disputed")


def _serving(session: StaffSession, creditor_id: UUID) -> None:
    if not session.user.serves_creditor(creditor_id):
        raise StarletteHTTPException(404, "not a case you serve")


@router.get("/agent")
async def queue(request: Request) -> Response:
    session = await require_user(request, role="agent")
    clients = clients_of(request)
    due = await clients.operator_get(clients.notifier, "/v1/calls/due", {"limit": 500})
    tasks = [t for t in due["items"] if session.user.serves_creditor(t["creditor_id"])]
    pairs = list(dict.fromkeys((UUID(t["creditor_id"]), UUID(t["debtor_id"])) for t in tasks))
    owed = await asyncio.gather(*(clients.claims_of(Principal(c, d)) for c, d in pairs), return_exceptions=True)
    promises = await staff_of(request).promises(pairs)
    today = request.app.state.portal.clock.now().date()
    facts: dict[tuple[UUID, UUID], dict[str, Any]] = {}
    for pair, claims in zip(pairs, owed, strict=True):
        open_claims = (
            []
            if isinstance(claims, BaseException)
            else [c["claim"] for c in claims if c["claim"]["status"] == "open" and c["claim"]["balance_minor"] > 0]
        )
        overdue = max(((today - date.fromisoformat(c["due_date"])).days for c in open_claims), default=0)
        promised = promises.get(pair)
        facts[pair] = {
            "balance_minor": sum(c["balance_minor"] for c in open_claims),
            "currency": open_claims[0]["currency"] if open_claims else None,
            "overdue_days": max(overdue, 0),
            "promise_broken": bool(promised and date.fromisoformat(promised) < today and open_claims),
        }
    for task in tasks:
        task.update(facts[(UUID(task["creditor_id"]), UUID(task["debtor_id"]))])
    tasks.sort(
        key=lambda t: call_priority(
            promise_broken=t["promise_broken"], balance_minor=t["balance_minor"], overdue_days=t["overdue_days"]
        ),
        reverse=True,
    )
    return render_staff(request, "staff/agent_queue.html.j2", session, tasks=tasks)


@router.get("/agent/events")
async def events(request: Request) -> Response:
    """Server-sent events: an inbound caller's case, the moment the provider's webhook arrives."""
    session = await require_user(request, role="agent")
    board: CallBoard = request.app.state.calls
    listener = board.listen(session.user.id, session.user.serves)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(listener.queue.get(), timeout=15)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                yield sse("call", message)
        finally:
            board.leave(listener)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


async def _case(request: Request, creditor_id: UUID, debtor_id: UUID) -> dict[str, Any]:
    clients = clients_of(request)
    principal = Principal(creditor_id, debtor_id)
    try:
        record, claims = await asyncio.gather(clients.debtor(principal), clients.claims_of(principal))
    except ServiceError as exc:
        if exc.status == 404:
            raise StarletteHTTPException(404, "no such case") from exc
        raise
    open_claims = [c["claim"] for c in claims if c["claim"]["status"] in OPEN]
    details = await asyncio.gather(*(clients.claim(principal, UUID(c["id"])) for c in open_claims))
    calls = sorted(
        (
            {**item, "invoice_no": d["claim"]["invoice_no"]}
            for d in details
            for item in d["timeline"]["items"]
            if item["kind"] == "call_outcome"
        ),
        key=lambda item: item["at"],
        reverse=True,
    )
    totals: dict[str, int] = {}
    for c in open_claims:
        totals[c["currency"]] = totals.get(c["currency"], 0) + c["balance_minor"]
    return {
        "record": record,
        "claims": [c["claim"] for c in claims],
        "open_claims": open_claims,
        "calls": calls,
        "totals": totals,
        "script": call_script(len(calls)),
    }


@router.get("/agent/cases/{creditor_id}/{debtor_id}")
async def case_page(
    request: Request, creditor_id: UUID, debtor_id: UUID, task: str = "", inbound: int = 0, done: str = ""
) -> Response:
    session = await require_user(request, role="agent")
    _serving(session, creditor_id)
    case = await _case(request, creditor_id, debtor_id)
    notes = await staff_of(request).notes(creditor_id, debtor_id)
    await staff_of(request).record(
        session.user,
        "case.open",
        target=f"debtor:{debtor_id}",
        creditor_id=creditor_id,
        detail={"inbound": bool(inbound)},
    )
    # The page is in the agent's language, its times in the debtor's zone; the script is read out
    # to the debtor, so it is in the debtor's language.
    language = i18n.normalise(case["record"]["debtor"].get("language")) or i18n.FALLBACK
    formats = staff_formats(request, session, case["record"]["debtor"].get("time_zone") or "UTC")
    return render_staff(
        request,
        "staff/agent_case.html.j2",
        session,
        formats=formats,
        creditor_name=case["record"]["creditor"]["name"],
        task=task,
        inbound=bool(inbound),
        done=done,
        outcomes=OUTCOMES,
        notes=notes,
        debtor_language=i18n.NAMES.get(language, language),
        debtor_lang=language,
        say=i18n.gettext_for(language),
        **case,
    )


@router.post("/agent/cases/{creditor_id}/{debtor_id}/outcome")
async def record_outcome(request: Request, creditor_id: UUID, debtor_id: UUID) -> Response:
    session = await require_user(request, role="agent")
    _serving(session, creditor_id)
    form = await staff_form(request, session)
    outcome = form.get("outcome", "")
    if outcome not in OUTCOMES:
        raise StarletteHTTPException(404, "no such outcome")
    promised: date | None = None
    if outcome == "promise_to_pay":
        try:
            promised = date.fromisoformat(form.get("promised_date", ""))
        except ValueError:
            return see_other(f"/agent/cases/{creditor_id}/{debtor_id}?task={form.get('task', '')}&done=need_date")
    note = form.get("note", "").strip() or None
    clients, user = clients_of(request), session.user
    task = form.get("task", "")
    body = {
        "outcome": outcome,
        "agent": user.email,
        "promised_date": promised.isoformat() if promised else None,
        "note": note,
    }
    if task:
        # The notifier owns the queue: a no-answer goes back for the afternoon window there, and
        # the outcome reaches claims-api as CallOutcomeRecorded (a promise re-plans the claim).
        await clients.operator_post(clients.notifier, f"/v1/calls/{UUID(task)}/outcome", body)
    else:
        # An inbound call has no task: the agent acts through the same lifecycle use cases.
        api = CreditorClient(clients, AsCreditor(creditor_id, ("read", "claims:write")))
        case = await _case(request, creditor_id, debtor_id)
        for claim in case["open_claims"]:
            if outcome == "promise_to_pay" and promised is not None and claim["status"] == "open":
                await api.act(UUID(claim["id"]), "defer", {"due_date": promised.isoformat()}, str(uuid.uuid4()))
            elif outcome == "dispute" and claim["status"] in ("open", "held"):
                await api.act(
                    UUID(claim["id"]), "dispute", {"reason": note or "disputed on the phone"}, str(uuid.uuid4())
                )
    if note:
        await staff_of(request).add_note(user, creditor_id, debtor_id, note)
    await staff_of(request).record(
        user,
        f"call.{outcome}",
        target=f"debtor:{debtor_id}",
        creditor_id=creditor_id,
        detail={"task": task or None, "promised_date": body["promised_date"]},
    )
    return see_other(f"/agent/cases/{creditor_id}/{debtor_id}?done={outcome}")


@router.post("/agent/cases/{creditor_id}/{debtor_id}/notes")
async def add_note(request: Request, creditor_id: UUID, debtor_id: UUID) -> Response:
    session = await require_user(request, role="agent")
    _serving(session, creditor_id)
    form = await staff_form(request, session)
    text = form.get("note", "").strip()
    if text:
        await staff_of(request).add_note(session.user, creditor_id, debtor_id, text)
    return see_other(f"/agent/cases/{creditor_id}/{debtor_id}?done=note")
