"""The creditor web: a creditor's staff follow their claims and act on them. Every read and
action goes to claims-api for the user's own creditor with their role's scopes (a viewer's
requests carry `read` only); every action, done or refused, leaves an audit row."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from krafa_web import charts, domain, i18n
from krafa_web.api.pages import see_other
from krafa_web.api.staff_pages import creditor_api, render_staff, require_user, staff_form, staff_of
from krafa_web.clients import CreditorClient, ServiceError
from krafa_web.staff.service import StaffSession

router = APIRouter(include_in_schema=False)

STATUSES = ("open", "held", "disputed", "paid", "cancelled", "written_off")
ACTIONS = {
    "cancel": "cancel",
    "hold": "hold",
    "release": "release",
    "write-off": "write-off",
}
DONE = {
    "cancel": "The claim is cancelled. No more reminders will be sent.",
    "hold": "The claim is on hold: no reminder or handover happens until it is released.",
    "release": "The hold is lifted; the claim follows its plan again.",
    "write-off": "What was left of the claim is written off.",
    "let_go": "Noted: the claim goes to collection as planned.",
    "special": "The claim is held for special treatment; it will not go to collection until released.",
}
REFUSED = {
    "forbidden": "Your role can look at claims but not change them. Ask an administrator.",
    "illegal": "That cannot be done to the claim in its present state.",
    "invalid": "Please check the form: ",
}


async def _context(request: Request, session: StaffSession) -> tuple[CreditorClient, dict[str, Any], i18n.Formats]:
    api = creditor_api(request, session.user)
    profile = await api.profile()
    language = i18n.normalise(profile.get("default_language")) or "en"
    # Texts are English for now; money and dates read as the creditor's own (42.780 kr.).
    return api, profile, i18n.formats(language, _zone(profile))


def _zone(profile: dict[str, Any]) -> str:
    return {"IS": "Atlantic/Reykjavik", "NO": "Europe/Oslo", "EE": "Europe/Tallinn"}.get(profile["country"], "UTC")


# -- overview --------------------------------------------------------------------------------------


@router.get("/creditor")
async def overview(request: Request) -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    aging, notices = await asyncio.gather(
        api.aging(), staff_of(request).notices(profile["id"], datetime.now(UTC) - timedelta(hours=1))
    )
    currency = profile["currency"]
    report = next((c for c in aging["currencies"] if c["currency"] == currency), None)
    buckets = report["buckets"] if report else []
    names = {"current": "Not yet overdue", "1-30": "1–30 days", "31-60": "31–60 days", "61-90": "61–90 days"}
    chart = charts.bar_chart(
        "Open amount by days overdue",
        [
            charts.Bar(
                names.get(b["bucket"], "Over 90 days"), b["balance_minor"], formats.money(b["balance_minor"], currency)
            )
            for b in buckets
        ],
    )
    pending = [n for n in notices if n["decision"] is None]
    return render_staff(
        request,
        "staff/overview.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        profile=profile,
        report=report,
        buckets=buckets,
        names=names,
        chart=chart,
        pending=len(pending),
    )


# -- claims ----------------------------------------------------------------------------------------


def _minor(value: str, currency: str) -> int | None:
    """An amount typed in major units ("12000", "12,000.50") as minor units; None when blank or unreadable."""
    if not value.strip():
        return None
    try:
        return domain.parse_amount(value, currency, i18n.formats("en").locale)
    except domain.BadAmount:
        return None


@router.get("/creditor/claims")
async def claims_list(request: Request) -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    q = request.query_params
    filters = {
        "status": q.get("status") if q.get("status") in STATUSES else None,
        "department": q.get("department") or None,
        "customer_no": q.get("customer_no") or None,
        "overdue_days_min": q.get("overdue_days_min") if (q.get("overdue_days_min") or "").isdigit() else None,
        "cursor": q.get("cursor") or None,
        "limit": 100,
    }
    page = await api.claims(filters)
    items = page["items"]
    low, high = (
        _minor(q.get("amount_min", ""), profile["currency"]),
        _minor(q.get("amount_max", ""), profile["currency"]),
    )
    if low is not None:
        items = [c for c in items if c["balance_minor"] >= low]
    if high is not None:
        items = [c for c in items if c["balance_minor"] <= high]
    await staff_of(request).record(session.user, "claims.search", detail={k: v for k, v in q.items() if v})
    return render_staff(
        request,
        "staff/claims.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        claims=items,
        next_cursor=page.get("next_cursor"),
        q=dict(q),
        statuses=STATUSES,
        today=datetime.now(UTC).date(),
    )


async def _claim_view(request: Request, session: StaffSession, claim_id: UUID) -> dict[str, Any]:
    api, profile, formats = await _context(request, session)
    try:
        claim = await api.claim(claim_id)
    except ServiceError as exc:
        if exc.status == 404:
            raise StarletteHTTPException(404, "no such claim") from exc
        raise
    ledger, timeline, schedule, audit = await asyncio.gather(
        api.ledger(claim_id),
        api.timeline(claim_id),
        api.schedule(claim_id),
        staff_of(request).audit_log(session.user.creditor_id, target=f"claim:{claim_id}", limit=50),
    )
    items = timeline.get("items", [])
    messages = [i for i in items if i["kind"] in ("reminder_sent", "fallback")]
    payments = [e for e in ledger.get("entries", []) if e["kind"] in ("payment", "reversal")]
    return {
        "formats": formats,
        "creditor_name": profile["name"],
        "profile": profile,
        "claim": claim,
        "ledger": ledger,
        "timeline": list(reversed(items)),
        "messages": list(reversed(messages)),
        "payments": payments,
        "schedule": schedule,
        "audit": audit,
    }


@router.get("/creditor/claims/{claim_id}")
async def claim_page(request: Request, claim_id: UUID, done: str = "", refused: str = "") -> Response:
    session = await require_user(request, role="creditor")
    view = await _claim_view(request, session, claim_id)
    return render_staff(
        request,
        "staff/claim.html.j2",
        session,
        done=DONE.get(done),
        refused=REFUSED.get(refused),
        **view,
    )


@router.post("/creditor/claims/{claim_id}/{action}")
async def claim_action(request: Request, claim_id: UUID, action: str) -> Response:
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    user, staff = session.user, staff_of(request)
    if action not in ACTIONS:
        raise StarletteHTTPException(404, "no such action")
    target = f"claim:{claim_id}"
    if not user.can_act:
        await staff.record(user, f"claim.{action}", target=target, outcome="refused", detail={"why": "role"})
        raise StarletteHTTPException(403, "forbidden")
    body: dict[str, Any] = {}
    reason = form.get("reason", "").strip()
    if reason:
        body["reason"] = reason[:500]
    if action == "hold" and form.get("until"):
        try:
            until = datetime.combine(datetime.fromisoformat(form["until"]).date(), time(12), tzinfo=UTC)
        except ValueError:
            return see_other(f"/creditor/claims/{claim_id}?refused=invalid")
        body["until"] = until.isoformat()
    api = creditor_api(request, user)
    try:
        await api.act(claim_id, ACTIONS[action], body, form.get("key") or str(uuid.uuid4()))
    except ServiceError as exc:
        if exc.status == 404:
            await staff.record(user, f"claim.{action}", target=target, outcome="refused", detail={"why": "not found"})
            raise StarletteHTTPException(404, "no such claim") from exc
        if exc.status in (409, 422):
            await staff.record(user, f"claim.{action}", target=target, outcome="refused", detail={"why": exc.detail})
            return see_other(f"/creditor/claims/{claim_id}?refused=illegal")
        raise
    await staff.record(user, f"claim.{action}", target=target, detail=body)
    return see_other(f"/creditor/claims/{claim_id}?done={action}")


@router.get("/creditor/claims/{claim_id}/documents/{delivery_id}")
async def claim_document(request: Request, claim_id: UUID, delivery_id: UUID) -> Response:
    """A notice as it was sent (the PDF the notifier kept), for the claim's debtor only."""
    session = await require_user(request, role="creditor")
    api = creditor_api(request, session.user)
    claim = await api.claim(claim_id)
    timeline = await api.timeline(claim_id)
    known = {str(i.get("details", {}).get("delivery_id")) for i in timeline.get("items", [])}
    if str(delivery_id) not in known:
        raise StarletteHTTPException(404, "no such notice")
    pdf = await api.document(UUID(claim["debtor_id"]), delivery_id)
    await staff_of(request).record(session.user, "claim.document", target=f"claim:{claim_id}")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="notice-{delivery_id}.pdf"'},
    )


# -- handover notices ------------------------------------------------------------------------------


@router.get("/creditor/handovers")
async def handovers(request: Request, done: str = "") -> Response:
    session = await require_user(request, role="creditor")
    api, profile, formats = await _context(request, session)
    now = datetime.now(UTC)
    notices = await staff_of(request).notices(profile["id"], now - timedelta(days=2))
    claims = await asyncio.gather(*(api.claim(n["claim_id"]) for n in notices), return_exceptions=True)
    rows = []
    for notice, claim in zip(notices, claims, strict=True):
        if isinstance(claim, BaseException):
            continue
        left = notice["handover_at"] - _service_now(request)
        rows.append({"notice": notice, "claim": claim, "left": left, "past": left.total_seconds() <= 0})
    return render_staff(
        request,
        "staff/handovers.html.j2",
        session,
        formats=formats,
        creditor_name=profile["name"],
        rows=rows,
        done=DONE.get(done),
    )


def _service_now(request: Request) -> datetime:
    """The services' clock (simulated in demos): handover times are on it."""
    now: datetime = request.app.state.portal.clock.now()
    return now


@router.post("/creditor/handovers/{claim_id}")
async def handover_decision(request: Request, claim_id: UUID) -> Response:
    session = await require_user(request, role="creditor")
    form = await staff_form(request, session)
    user, staff = session.user, staff_of(request)
    decision = form.get("decision", "")
    if decision not in ("let_go", "hold", "special"):
        raise StarletteHTTPException(404, "no such decision")
    if not user.can_act:
        await staff.record(user, f"handover.{decision}", target=f"claim:{claim_id}", outcome="refused")
        raise StarletteHTTPException(403, "forbidden")
    if decision in ("hold", "special"):
        api = creditor_api(request, user)
        note = form.get("reason", "").strip()
        reason = "special treatment" + (f": {note}" if note else "") if decision == "special" else "held from handover"
        try:
            await api.act(claim_id, "hold", {"reason": reason[:500]}, form.get("key") or str(uuid.uuid4()))
        except ServiceError as exc:
            if exc.status == 404:
                raise StarletteHTTPException(404, "no such claim") from exc
            if exc.status not in (409, 422):
                raise
    if not await staff.decide_notice(user, claim_id, decision):
        raise StarletteHTTPException(404, "no notice for that claim")
    return see_other(f"/creditor/handovers?done={'hold' if decision == 'hold' else decision}")


# -- audit -----------------------------------------------------------------------------------------


@router.get("/creditor/audit")
async def audit_page(request: Request) -> Response:
    session = await require_user(request, role="creditor")
    _, profile, formats = await _context(request, session)
    rows = await staff_of(request).audit_log(session.user.creditor_id, limit=300)
    return render_staff(
        request, "staff/audit.html.j2", session, formats=formats, creditor_name=profile["name"], rows=rows
    )
