"""The operators' routes of claims-api (the operator token, KRAFA_OPERATOR_TOKEN): webhook
deliveries given up across every creditor, and sending them again for an endpoint. A creditor
recovers its own with `POST /v1/webhooks/{id}/recover` (api/integrations.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status
from krafa_kit.http import PROBLEM_BASE, Problem, require_operator

from krafa_claims_api import webhook_repository
from krafa_claims_api.api.deps import DB
from krafa_claims_api.api.errors import problems, webhook_endpoint_disabled
from krafa_claims_api.api.schemas import GivenUpDeliveryOut, GivenUpList, OperatorRecoverIn, WebhookRecovered

router = APIRouter(prefix="/v1/operator", tags=["operator"], dependencies=[Depends(require_operator)])


@router.get(
    "/webhooks/given-up",
    response_model=GivenUpList,
    summary="Webhook deliveries given up, across creditors, newest first",
    responses=problems(401, 422),
)
async def list_given_up(
    db: DB,
    creditor_id: Annotated[UUID | None, Query(description="only this creditor's")] = None,
    endpoint_id: Annotated[UUID | None, Query(description="only this endpoint's")] = None,
    since: Annotated[datetime | None, Query(description="only those created at or after this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> GivenUpList:
    """Operator only. Every delivery whose last retry failed (about 27.5 hours of retries), with its
    creditor, endpoint and the endpoint's last answer: what an alert on `gave_up` attempts points at.
    `total` counts them all; `items` holds the newest `limit`."""
    async with db.connection() as conn:
        total, rows = await webhook_repository.given_up(
            conn, creditor_id=creditor_id, endpoint_id=endpoint_id, since=since, limit=limit
        )
    return GivenUpList(total=total, items=[GivenUpDeliveryOut(**dict(r)) for r in rows])


@router.post(
    "/webhooks/{webhook_id}/recover",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookRecovered,
    summary="Send again one or every given-up delivery of an endpoint",
    responses=problems(
        401,
        422,
        _404="no such webhook endpoint, or the delivery is not the endpoint's",
        _409="the endpoint is disabled, or the delivery was not given up",
    ),
)
async def recover(webhook_id: UUID, body: OperatorRecoverIn, db: DB) -> WebhookRecovered:
    """Operator only, for any creditor's endpoint once it answers again: `delivery_id` queues that one
    given-up delivery again; without it every given-up delivery of the endpoint (created at or after
    `since`, if given). Each keeps its `webhook-id` and starts the retry schedule afresh; deliveries
    still being retried are not touched."""
    async with db.uow() as uow:
        state = await webhook_repository.endpoint_state_any(uow.conn, webhook_id)
        if state is None:
            raise Problem(404, "Not Found", "no such webhook endpoint")
        if state == "disabled":
            raise webhook_endpoint_disabled(
                "the endpoint is disabled: its creditor registers the new URL and syncs with `updated_since`"
            )
        if body.delivery_id is not None:
            found = await webhook_repository.delivery_status_any(uow.conn, webhook_id, body.delivery_id)
            if found is None:
                raise Problem(404, "Not Found", "no such delivery of this endpoint")
            if found != "failed":
                raise Problem(
                    409,
                    "Conflict",
                    f"the delivery was not given up (it is {found})",
                    type_=PROBLEM_BASE + "webhook-delivery-not-given-up",
                )
            requeued = await webhook_repository.requeue_one(uow.conn, webhook_id, body.delivery_id)
        else:
            requeued = await webhook_repository.requeue_failed(uow.conn, webhook_id, body.since)
        await uow.commit()
    return WebhookRecovered(requeued=requeued)
