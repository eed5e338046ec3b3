"""Provider event webhooks (Mailgun, Postmark): authenticate a request and read the one event it
carries as a bounce report for one of our deliveries. Pure, no I/O; the replay check of a
Mailgun token needs the database and is done by the service.

A webhook names the delivery by the `Message-ID` the notifier set (`<delivery-id@return-domain>`)
or by a `krafa_delivery_id` custom variable (Mailgun `user-variables`, Postmark `Metadata`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from krafa_bounce_handler.dsn import REASON_MAX, BouncedRecipient, BounceReport

Provider = Literal["mailgun", "postmark"]
EventKind = Literal["hard", "soft", "complaint"]

DELIVERY_VARIABLE = "krafa_delivery_id"
COMPLAINT_REASON = "complaint"
# Mailgun tokens are 50 hex characters; anything much longer is not one and is not stored.
_MAX_TOKEN = 256
# Unix seconds; eleven digits reach the year 5138, beyond which datetime overflows anyway.
_MAX_TIMESTAMP_DIGITS = 11
_ENHANCED_RE = re.compile(r"(?<![\w.])([245]\.\d{1,3}\.\d{1,3})(?!\w|\.\d)")


class WebhookRejected(Exception):
    """The request is not an authentic, fresh provider request (answered 401), or its body is not
    the provider's format (answered 400). `outcome` is the metric label."""

    def __init__(self, outcome: str, detail: str, *, status: int = 401) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail
        self.status = status


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One provider event, read. `kind` is None for an event that is no failure (delivered,
    opened, an unsubscribe…); `delivery_id` is None when the event names no delivery of ours."""

    provider: Provider
    event: str  # the provider's event name or bounce type, for the audit trail
    event_id: str | None
    kind: EventKind | None
    recipient: str | None
    status: str | None
    reason: str
    delivery_id: UUID | None

    def report(self) -> BounceReport:
        """The event as the classifier's report, so it takes the path of a DSN; a complaint is a
        hard failure with reason "complaint" (the notifier suppresses hard-bounced addresses)."""
        assert self.kind is not None and self.recipient is not None
        recipient = BouncedRecipient(
            address=self.recipient.strip().lower(),
            kind="soft" if self.kind == "soft" else "hard",
            status=self.status,
            reason=self.reason,
        )
        return BounceReport(is_bounce=True, recipients=(recipient,), kind=recipient.kind, not_bounce_reason=None)

    def fingerprint(self, body: bytes) -> bytes:
        """Identifies the event across the provider's retries: a bounce received twice is recorded
        as a duplicate, like the same DSN twice."""
        if self.event_id:
            return hashlib.sha256(f"{self.provider}:{self.event_id}".encode()).digest()
        return hashlib.sha256(body).digest()


def delivery_from_message_id(message_id: object, return_domain: str) -> UUID | None:
    """The delivery of a Message-ID the notifier set, `<delivery-id@return-domain>` (providers
    report it with or without the angle brackets); None for any other."""
    if not isinstance(message_id, str):
        return None
    local, at, domain = message_id.strip().strip("<>").rpartition("@")
    if not at or domain.lower() != return_domain.lower():
        return None
    return _uuid(local)


def delivery_from_variables(variables: object) -> UUID | None:
    if not isinstance(variables, Mapping):
        return None
    return _uuid(variables.get(DELIVERY_VARIABLE))


def _uuid(value: object) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value.strip())
    except ValueError:
        return None


def _reason(*candidates: object) -> str:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return " ".join(candidate.split())[:REASON_MAX]
    return "delivery failed"


def _status(explicit: object, *texts: object) -> str | None:
    for candidate in (explicit, *texts):
        if isinstance(candidate, str):
            match = _ENHANCED_RE.search(candidate)
            if match:
                return match.group(1)
    return None


def _invalid(detail: str) -> WebhookRejected:
    return WebhookRejected("invalid", detail, status=400)


# -- Mailgun ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailgunToken:
    """A verified signature's token, to be used once: the service stores it."""

    token: str
    signed_at: datetime


def verify_mailgun(payload: Mapping[str, Any], signing_key: bytes, *, now: datetime, window: timedelta) -> MailgunToken:
    """Check `signature` = HMAC-SHA256(signing key, timestamp + token) and that the timestamp is
    within `window` of `now`. Mailgun signs these two fields only, not `event-data`: what keeps a
    captured request from being replayed (altered or not) is the single use of its token."""
    signature = payload.get("signature")
    if not isinstance(signature, Mapping):
        raise WebhookRejected("bad_signature", "no signature")
    timestamp, token, digest = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if isinstance(timestamp, int):
        timestamp = str(timestamp)
    if not (isinstance(timestamp, str) and isinstance(token, str) and isinstance(digest, str)):
        raise WebhookRejected("bad_signature", "incomplete signature")
    # ASCII digits only ("²".isdigit() is true, int() refuses it), and few enough for a datetime.
    if not token or len(token) > _MAX_TOKEN or not (timestamp.isascii() and timestamp.isdigit()):
        raise WebhookRejected("bad_signature", "malformed signature")
    if len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise WebhookRejected("stale", "timestamp outside the replay window")
    expected = hmac.new(signing_key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest.strip().lower()):
        raise WebhookRejected("bad_signature", "signature mismatch")
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > window:
        raise WebhookRejected("stale", "timestamp outside the replay window")
    return MailgunToken(token, signed_at)


def parse_mailgun(payload: Mapping[str, Any], *, return_domain: str) -> WebhookEvent:
    data = payload.get("event-data")
    if not isinstance(data, Mapping) or not isinstance(data.get("event"), str):
        raise _invalid("no event-data")
    event: str = data["event"]
    kind: EventKind | None = None
    status: str | None = None
    reason = COMPLAINT_REASON
    if event == "complained":
        kind = "complaint"
    elif event == "failed":
        kind = "hard" if data.get("severity") == "permanent" else "soft"
        delivery = data.get("delivery-status")
        delivery = delivery if isinstance(delivery, Mapping) else {}
        text, description = delivery.get("message"), delivery.get("description")
        status = _status(delivery.get("enhanced-code"), text, description)
        reason = _reason(text, description, data.get("reason"))
    recipient = data.get("recipient")
    if kind is not None and not (isinstance(recipient, str) and recipient.strip()):
        raise _invalid("no recipient")
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, Mapping) else None
    message_id = headers.get("message-id") if isinstance(headers, Mapping) else None
    delivery_id = delivery_from_variables(data.get("user-variables")) or delivery_from_message_id(
        message_id, return_domain
    )
    event_id = data.get("id")
    return WebhookEvent(
        provider="mailgun",
        event=event[:100],
        event_id=str(event_id)[:200] if event_id is not None else None,
        kind=kind,
        recipient=recipient if isinstance(recipient, str) else None,
        status=status,
        reason=reason,
        delivery_id=delivery_id,
    )


# -- Postmark -----------------------------------------------------------------------------------

# Postmark bounce types (https://postmarkapp.com/developer/api/bounce-api#bounce-types) that say
# something about the address; the others (AutoResponder, Subscribe, Unsubscribe, AddressChange,
# ChallengeVerification, OpenRelayTest, SMTPApiError, TemplateRenderingFailed…) are ignored.
POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
POSTMARK_SOFT = frozenset(
    {"SoftBounce", "Transient", "DnsError", "Blocked", "SpamNotification", "VirusNotification", "DMARCPolicy"}
)
POSTMARK_COMPLAINT = frozenset({"SpamComplaint"})


def verify_postmark(authorization: str | None, credentials: str) -> None:
    """HTTP Basic credentials `user:password`, as configured in the webhook's URL, compared in
    constant time. Postmark signs nothing, so this and TLS are all there is."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise WebhookRejected("bad_signature", "no basic credentials")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected("bad_signature", "malformed basic credentials") from exc
    if not hmac.compare_digest(given, credentials.encode()):
        raise WebhookRejected("bad_signature", "wrong credentials")


def parse_postmark(payload: Mapping[str, Any]) -> WebhookEvent:
    record_type = payload.get("RecordType")
    if not isinstance(record_type, str):
        raise _invalid("no RecordType")
    bounce_type = payload.get("Type")
    event = bounce_type if record_type == "Bounce" and isinstance(bounce_type, str) else record_type
    kind: EventKind | None = None
    if record_type == "SpamComplaint" or event in POSTMARK_COMPLAINT:
        kind = "complaint"
    elif record_type == "Bounce" and event in POSTMARK_HARD:
        kind = "hard"
    elif record_type == "Bounce" and event in POSTMARK_SOFT:
        kind = "soft"
    recipient = payload.get("Email")
    if kind is not None and not (isinstance(recipient, str) and recipient.strip()):
        raise _invalid("no Email")
    details, description = payload.get("Details"), payload.get("Description")
    # Postmark's MessageID is its own id, not our Message-ID header: only Metadata names ours.
    event_id = payload.get("ID")
    return WebhookEvent(
        provider="postmark",
        event=event[:100],
        event_id=f"{record_type}:{event_id}" if event_id is not None else None,
        kind=kind,
        recipient=recipient if isinstance(recipient, str) else None,
        status=None if kind == "complaint" else _status(None, details),
        reason=COMPLAINT_REASON if kind == "complaint" else _reason(details, description, event),
        delivery_id=delivery_from_variables(payload.get("Metadata")),
    )
