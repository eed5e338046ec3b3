"""Provider webhooks without I/O: signature and credential checks, reading the events, and the
endpoints' answers before the database is involved."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from krafa_bounce_handler import webhooks
from krafa_bounce_handler.app import create_app
from krafa_bounce_handler.domain import SoftBouncePolicy
from krafa_bounce_handler.settings import Settings
from krafa_bounce_handler.webhooks import WebhookRejected
from pydantic import SecretStr

KEY = b"mailgun-signing-key"
DOMAIN = "returns.krafa.localhost"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


def mailgun_signature(key: bytes, timestamp: int, token: str) -> dict[str, str]:
    digest = hmac.new(key, f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": digest}


def a_mailgun_event(*, at: datetime = NOW, token: str = "a" * 50, key: bytes = KEY, **event: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event": "failed",
        "id": "ev-1",
        "severity": "permanent",
        "recipient": "jon@example.is",
        "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist", "enhanced-code": ""},
        "message": {"headers": {"message-id": f"{uuid.UUID(int=7)}@{DOMAIN}"}},
    }
    data.update(event)
    return {"signature": mailgun_signature(key, int(at.timestamp()), token), "event-data": data}


# -- Mailgun signature ----------------------------------------------------------------------------


def test_a_valid_mailgun_signature_verifies_and_yields_its_token() -> None:
    token = webhooks.verify_mailgun(a_mailgun_event(token="t" * 50), KEY, now=NOW, window=WINDOW)
    assert (token.token, token.signed_at) == ("t" * 50, NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sig: sig.update(timestamp=str(int(sig["timestamp"]) + 1)),
        lambda sig: sig.update(token=sig["token"][:-1] + "b"),
        lambda sig: sig.update(signature=sig["signature"][:-1] + ("0" if sig["signature"][-1] != "0" else "1")),
        lambda sig: sig.pop("signature"),
        lambda sig: sig.update(timestamp="soon"),
    ],
    ids=["timestamp", "token", "signature", "missing", "not-a-number"],
)
def test_a_tampered_mailgun_signature_is_refused(tamper: Any) -> None:
    payload = a_mailgun_event()
    tamper(payload["signature"])
    with pytest.raises(WebhookRejected) as rejected:
        webhooks.verify_mailgun(payload, KEY, now=NOW, window=WINDOW)
    assert (rejected.value.outcome, rejected.value.status) == ("bad_signature", 401)


def test_a_mailgun_signature_made_with_another_key_is_refused() -> None:
    with pytest.raises(WebhookRejected, match="mismatch"):
        webhooks.verify_mailgun(a_mailgun_event(key=b"another key"), KEY, now=NOW, window=WINDOW)


def test_mailgun_signs_the_timestamp_and_token_only_not_the_event() -> None:
    """A tampered body with an intact signature verifies: Mailgun's scheme does not cover
    event-data. What stops a captured request from being sent again, altered or not, is the
    single use of its token (the service stores it: test_webhooks_flow.py)."""
    payload = a_mailgun_event()
    payload["event-data"]["severity"] = "temporary"
    assert webhooks.verify_mailgun(payload, KEY, now=NOW, window=WINDOW).token == "a" * 50


@pytest.mark.parametrize("offset", [timedelta(minutes=5, seconds=1), -timedelta(minutes=6), timedelta(days=1)])
def test_a_mailgun_timestamp_outside_the_replay_window_is_refused(offset: timedelta) -> None:
    payload = a_mailgun_event(at=NOW - offset)
    with pytest.raises(WebhookRejected) as rejected:
        webhooks.verify_mailgun(payload, KEY, now=NOW, window=WINDOW)
    assert rejected.value.outcome == "stale"
    # Within the window, the same request passes.
    webhooks.verify_mailgun(payload, KEY, now=NOW - offset + timedelta(minutes=4), window=WINDOW)


# -- Mailgun events -------------------------------------------------------------------------------


def test_a_permanent_mailgun_failure_is_hard_and_names_the_delivery_by_our_message_id() -> None:
    event = webhooks.parse_mailgun(a_mailgun_event(), return_domain=DOMAIN)
    assert (event.kind, event.recipient, event.status, event.delivery_id) == (
        "hard",
        "jon@example.is",
        "5.1.1",
        uuid.UUID(int=7),
    )
    assert event.reason == "5.1.1 The email account does not exist"
    assert event.report().recipients[0].kind == "hard"


def test_a_temporary_mailgun_failure_is_soft_and_a_complaint_is_a_hard_complaint() -> None:
    soft = webhooks.parse_mailgun(a_mailgun_event(severity="temporary"), return_domain=DOMAIN)
    assert soft.kind == "soft"
    complaint = webhooks.parse_mailgun(a_mailgun_event(event="complained"), return_domain=DOMAIN)
    assert (complaint.kind, complaint.reason, complaint.status) == ("complaint", "complaint", None)
    assert complaint.report().recipients[0].kind == "hard"


def test_the_delivery_variable_names_the_delivery_and_other_message_ids_none() -> None:
    delivery_id = uuid.uuid4()
    by_variable = a_mailgun_event(message={})
    by_variable["event-data"]["user-variables"] = {"krafa_delivery_id": str(delivery_id)}
    assert webhooks.parse_mailgun(by_variable, return_domain=DOMAIN).delivery_id == delivery_id
    for message_id in (f"<{delivery_id}@elsewhere.example>", "20260101.123@mg.example", f"<{delivery_id}>"):
        foreign = a_mailgun_event(message={"headers": {"message-id": message_id}})
        assert webhooks.parse_mailgun(foreign, return_domain=DOMAIN).delivery_id is None
    bracketed = a_mailgun_event(message={"headers": {"message-id": f"<{delivery_id}@{DOMAIN.upper()}>"}})
    assert webhooks.parse_mailgun(bracketed, return_domain=DOMAIN).delivery_id == delivery_id


def test_other_mailgun_events_are_no_failure_and_garbage_is_invalid() -> None:
    assert webhooks.parse_mailgun(a_mailgun_event(event="delivered"), return_domain=DOMAIN).kind is None
    with pytest.raises(WebhookRejected) as rejected:
        webhooks.parse_mailgun({"event-data": "x"}, return_domain=DOMAIN)
    assert (rejected.value.outcome, rejected.value.status) == ("invalid", 400)


# -- Postmark -------------------------------------------------------------------------------------


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def test_postmark_basic_credentials_are_checked() -> None:
    webhooks.verify_postmark(basic("krafa:s3cret"), "krafa:s3cret")
    for header in (None, "", basic("krafa:s3cres"), basic("krafa"), "Bearer krafa:s3cret", "Basic !!!"):
        with pytest.raises(WebhookRejected) as rejected:
            webhooks.verify_postmark(header, "krafa:s3cret")
        assert rejected.value.outcome == "bad_signature"


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        ({"RecordType": "Bounce", "Type": "HardBounce"}, "hard"),
        ({"RecordType": "Bounce", "Type": "SoftBounce"}, "soft"),
        ({"RecordType": "Bounce", "Type": "Transient"}, "soft"),
        ({"RecordType": "SpamComplaint", "Type": "SpamComplaint"}, "complaint"),
        ({"RecordType": "Bounce", "Type": "AutoResponder"}, None),
        ({"RecordType": "Delivery"}, None),
    ],
)
def test_postmark_records_map_to_kinds(record: dict[str, Any], kind: str | None) -> None:
    delivery_id = uuid.uuid4()
    payload = {
        "ID": 42,
        "Email": "jon@example.is",
        "MessageID": str(uuid.uuid4()),  # Postmark's own id: never taken for a delivery
        "Metadata": {"krafa_delivery_id": str(delivery_id)},
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
        **record,
    }
    event = webhooks.parse_postmark(payload)
    assert (event.kind, event.delivery_id) == (kind, delivery_id)
    if kind in ("hard", "soft"):
        assert event.status == "5.1.1"
    assert webhooks.parse_postmark({**payload, "Metadata": {}}).delivery_id is None


# -- endpoints, before the database ---------------------------------------------------------------


def client(**settings: object) -> httpx.AsyncClient:
    app = create_app(Settings(return_path_secret=SecretStr("s"), **settings))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_an_unconfigured_webhook_answers_404() -> None:
    async with client() as http:
        for provider in ("mailgun", "postmark"):
            response = await http.post(f"/v1/webhooks/{provider}", json={})
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"


async def test_a_bad_signature_answers_401_problem() -> None:
    async with client(
        mailgun_webhook_signing_key=SecretStr(KEY.decode()), postmark_webhook_credentials=SecretStr("u:p")
    ) as http:
        forged = a_mailgun_event(at=datetime.now(UTC), key=b"guess")
        response = await http.post("/v1/webhooks/mailgun", content=json.dumps(forged))
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "signature mismatch"
        stale = a_mailgun_event(at=datetime.now(UTC) - timedelta(hours=1))
        assert (await http.post("/v1/webhooks/mailgun", json=stale)).json()["detail"] == (
            "timestamp outside the replay window"
        )
        assert (await http.post("/v1/webhooks/mailgun", content=b"not json")).status_code == 400
        response = await http.post("/v1/webhooks/postmark", json={}, headers={"Authorization": basic("u:q")})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")


def test_webhook_secrets_have_no_default_and_the_soft_policy_defaults() -> None:
    settings = Settings(return_path_secret=SecretStr("s"))
    assert settings.mailgun_webhook_signing_key is None
    assert settings.postmark_webhook_credentials is None
    assert settings.webhook_replay_window == timedelta(minutes=5)
    assert settings.soft_bounce_policy == SoftBouncePolicy(3, timedelta(hours=72))
