"""The `webhooks` section of the OpenAPI document: what Krafa POSTs to a creditor's endpoint for
each event type (krafa_claims_api.webhook_events), signed by the Standard Webhooks scheme."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI
from krafa_kit.openapi import operation_id
from pydantic import BaseModel, ConfigDict, Field, create_model

from krafa_claims_api.webhook_events import DATA

SIGNATURE_HEADERS: list[dict[str, Any]] = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "the message id, the same on every retry: deduplicate on it",
        "schema": {"type": "string"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Unix seconds of this attempt: refuse one far from your clock",
        "schema": {"type": "integer"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "`v1,<base64 HMAC-SHA256 of '{webhook-id}.{webhook-timestamp}.{body}'>`, keyed with the "
        "base64-decoded part of the endpoint's `whsec_` secret",
        "schema": {"type": "string"},
    },
]


def model_name(event_type: str) -> str:
    """`claim.handover_pending` → `ClaimHandoverPendingWebhook`."""
    words = event_type.replace(".", "_").split("_")
    return "".join(word.capitalize() for word in words) + "Webhook"


def envelope(event_type: str) -> type[BaseModel]:
    data = DATA[event_type]
    return create_model(
        model_name(event_type),
        __config__=ConfigDict(extra="forbid", title=model_name(event_type)),
        __doc__=f"The `{event_type}` webhook. {data.__doc__ or ''}".strip(),
        type=(Literal[event_type], Field(description="the event type")),  # type: ignore[arg-type]
        timestamp=(datetime, Field(description="when the event was queued")),
        sandbox=(
            bool,
            Field(
                default=False,
                description="sent for the creditor's sandbox (its claims reach no debtor): an ERP pointing the live "
                "and the sandbox endpoint at one URL tells them apart by it",
            ),
        ),
        data=(data, ...),
    )


def document_webhooks(app: FastAPI) -> None:
    """One webhook operation per event type, its body the envelope around that type's data."""
    for event_type, data in DATA.items():
        body_model = envelope(event_type)

        async def receive(body: Any) -> None:  # documentation only: Krafa calls it, never serves it
            raise NotImplementedError

        receive.__annotations__["body"] = body_model
        app.webhooks.post(
            event_type,
            name="on_" + event_type.replace(".", "_"),
            summary=f"{event_type} webhook",
            description=f"{(data.__doc__ or '').strip()}\n\nRetried with back-off until your endpoint answers 2xx; "
            "the delivery log is at `GET /v1/webhooks/{webhook_id}/deliveries`.",
            responses={200: {"description": "received; any 2xx will do"}},
            openapi_extra={"parameters": SIGNATURE_HEADERS},
            tags=["webhooks"],
            generate_unique_id_function=operation_id,
        )(receive)
