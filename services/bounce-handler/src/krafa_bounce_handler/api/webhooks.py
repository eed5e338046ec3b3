"""Provider event webhooks: authenticate, read the event, hand it to the service. A request that
is not authentic gets 401, one whose provider is not configured 404, both as problem+json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from krafa_kit.http import Problem, problems
from pydantic import BaseModel, Field, SecretStr

from krafa_bounce_handler import metrics, service, webhooks
from krafa_bounce_handler.api.deps import DB, CurrentSettings, RuntimeClock
from krafa_bounce_handler.api.routes import read_body
from krafa_bounce_handler.webhooks import WebhookRejected

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

_PROBLEMS = problems(
    _400="not the provider's format",
    _401="bad signature or credentials, stale timestamp, or a replayed token",
    _404="this provider's webhook is not configured",
    _413="the body is larger than a message may be",
)


def _body(description: str, example: dict[str, Any]) -> dict[str, Any]:
    # The routes read the raw body (the signature covers bytes, not a parsed model): documented here.
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


MAILGUN_EXAMPLE: dict[str, Any] = {
    "signature": {
        "timestamp": "1767225600",
        "token": "c8a1b2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4",
        "signature": "0" * 64,
    },
    "event-data": {
        "event": "failed",
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "severity": "permanent",
        "recipient": "jon@example.is",
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"},
        "message": {"headers": {"message-id": "<0f8fad5b-d9cb-469f-a165-70867728950e@returns.krafa.example>"}},
    },
}
POSTMARK_EXAMPLE: dict[str, Any] = {
    "RecordType": "Bounce",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "Email": "jon@example.is",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
    "Metadata": {"krafa_delivery_id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
}


class WebhookOut(BaseModel):
    outcome: str = Field(description="bounce, ignored (no failure) or unmatched (no delivery of ours)")
    webhook_event_id: UUID
    delivery_id: UUID | None
    kind: str | None = Field(description="hard, soft or complaint, as received")
    bounce_id: UUID | None
    state: str | None = Field(description="emitted, awaiting_delivery or duplicate")


def _secret(provider: str, secret: SecretStr | None) -> str:
    if secret is None or not secret.get_secret_value():
        metrics.WEBHOOKS.labels(provider, "not_configured").inc()
        raise Problem(404, "Not Found", f"the {provider} webhook is not configured")
    return secret.get_secret_value()


def _json(body: bytes) -> Mapping[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookRejected("invalid", "the body is not JSON", status=400) from exc
    if not isinstance(payload, dict):
        raise WebhookRejected("invalid", "the body is not a JSON object", status=400)
    if _has_nul(payload):
        # No provider sends U+0000, and PostgreSQL text cannot hold it: refuse here, not with a 500.
        raise WebhookRejected("invalid", "the body contains U+0000", status=400)
    return payload


def _has_nul(value: object) -> bool:
    # The body guard bounds the nesting, so the recursion is bounded too.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _rejected(provider: str, exc: WebhookRejected, headers: dict[str, str] | None = None) -> Problem:
    metrics.WEBHOOKS.labels(provider, exc.outcome).inc()
    title = "Unauthorized" if exc.status == 401 else "Bad Request"
    return Problem(exc.status, title, exc.detail, headers=headers if exc.status == 401 else None)


def _out(provider: str, result: service.WebhookOutcome) -> WebhookOut:
    metrics.WEBHOOKS.labels(provider, result.outcome).inc()
    return WebhookOut(
        outcome=result.outcome,
        webhook_event_id=result.webhook_event_id,
        delivery_id=result.delivery_id,
        kind=result.received_kind,
        bounce_id=result.bounce_id,
        state=result.state.value if result.state else None,
    )


@router.post(
    "/mailgun",
    response_model=WebhookOut,
    responses=_PROBLEMS,
    summary="Mailgun event webhook (failed, complained); signed with the webhook signing key",
    openapi_extra=_body("a Mailgun webhook: `signature` and `event-data`", MAILGUN_EXAMPLE),
)
async def mailgun(request: Request, db: DB, clock: RuntimeClock, settings: CurrentSettings) -> WebhookOut:
    """Called by Mailgun for failed deliveries and complaints, signed with the webhook signing key; a call
    with a forged or stale signature is refused and records nothing."""
    key = _secret("mailgun", settings.mailgun_webhook_signing_key)
    body = await read_body(request, settings.max_message_bytes)
    try:
        payload = _json(body)
        # Freshness is about the provider's real clock, not the service's (maybe simulated) one.
        token = webhooks.verify_mailgun(
            payload, key.encode(), now=datetime.now(UTC), window=settings.webhook_replay_window
        )
        event = webhooks.parse_mailgun(payload, return_domain=settings.return_domain)
        result = await service.receive_webhook(
            db,
            clock,
            event,
            body,
            token=token,
            replay_window=settings.webhook_replay_window,
            policy=settings.soft_bounce_policy,
        )
    except WebhookRejected as exc:
        raise _rejected("mailgun", exc) from exc
    return _out("mailgun", result)


@router.post(
    "/postmark",
    response_model=WebhookOut,
    responses=_PROBLEMS,
    summary="Postmark bounce and spam complaint webhook; HTTP Basic credentials of the webhook URL",
    openapi_extra=_body("a Postmark bounce or spam complaint record", POSTMARK_EXAMPLE),
)
async def postmark(request: Request, db: DB, clock: RuntimeClock, settings: CurrentSettings) -> WebhookOut:
    """Called by Postmark for bounces and spam complaints, with the HTTP Basic credentials configured in the
    webhook URL; wrong credentials answer 401."""
    credentials = _secret("postmark", settings.postmark_webhook_credentials)
    try:
        webhooks.verify_postmark(request.headers.get("authorization"), credentials)
        body = await read_body(request, settings.max_message_bytes)
        event = webhooks.parse_postmark(_json(body))
        result = await service.receive_webhook(db, clock, event, body, policy=settings.soft_bounce_policy)
    except WebhookRejected as exc:
        raise _rejected("postmark", exc, {"WWW-Authenticate": 'Basic realm="krafa-webhooks"'}) from exc
    return _out("postmark", result)
