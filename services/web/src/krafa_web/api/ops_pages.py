"""The agency's operators' pages: unmatched payments with a manual match (payments-ingest) and the
bounce list (bounce-handler), over those services' operator routes."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from krafa_web import i18n
from krafa_web.api.pages import see_other
from krafa_web.api.staff_pages import clients_of, render_staff, require_user, staff_form, staff_of
from krafa_web.clients import ServiceError

router = APIRouter(include_in_schema=False)


@router.get("/ops")
async def unmatched(request: Request, done: str = "", refused: str = "") -> Response:
    session = await require_user(request, role="operator")
    clients = clients_of(request)
    body = await clients.operator_get(clients.payments, "/v1/payments/unmatched")
    items = body["items"] if isinstance(body, dict) else body
    return render_staff(
        request, "staff/ops_unmatched.html.j2", session, items=items, done=done, refused=refused, money=i18n.home_money
    )


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
