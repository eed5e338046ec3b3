"""Property tests over every parser of untrusted input in the bounce-handler (issue 9, bad input):
any bytes or any JSON give a result or a clear rejection (400/401), never another exception, a
5xx or a hang. The DSN classifier has its own properties in test_dsn.py; here are the provider
webhooks, their signature checks, the operator cursor and the HTTP endpoints end to end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from krafa_bounce_handler import dsn, webhooks
from krafa_bounce_handler.api.routes import decode_cursor
from krafa_bounce_handler.api.webhooks import _json
from krafa_bounce_handler.app import create_app
from krafa_bounce_handler.settings import Settings
from krafa_bounce_handler.webhooks import WebhookEvent, WebhookRejected
from krafa_kit.http import Problem
from pydantic import SecretStr

KEY = b"mailgun-signing-key"
DOMAIN = "returns.krafa.localhost"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)

# Keys the parsers look for, so generated objects reach their deep paths, beside random ones.
_NAMES = [
    "event-data",
    "event",
    "id",
    "severity",
    "recipient",
    "delivery-status",
    "message",
    "headers",
    "message-id",
    "user-variables",
    "krafa_delivery_id",
    "enhanced-code",
    "description",
    "reason",
    "code",
    "signature",
    "timestamp",
    "token",
    "RecordType",
    "Type",
    "Email",
    "Details",
    "Description",
    "ID",
    "Metadata",
    "MessageID",
]
_VALUES = [
    "failed",
    "complained",
    "permanent",
    "temporary",
    "Bounce",
    "HardBounce",
    "SoftBounce",
    "SpamComplaint",
    "jon@example.is",
    "4.2.2",
    f"{UUID(int=7)}@{DOMAIN}",
    f"<{UUID(int=7)}@{DOMAIN}>",
    str(UUID(int=7)),
    "5.1.1 user unknown",
    " ",
]
_KEYS = st.sampled_from(_NAMES) | st.text(max_size=12)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(_VALUES)
)
JSON = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6), max_leaves=30
)


def _check_event(event: WebhookEvent, body: bytes) -> None:
    assert event.delivery_id is None or isinstance(event.delivery_id, UUID)
    assert len(event.reason) <= dsn.REASON_MAX
    assert isinstance(event.fingerprint(body), bytes)
    if event.kind is not None:
        report = event.report()  # what the service records: must be buildable for any failure
        assert report.is_bounce and report.recipients[0].kind in {"hard", "soft"}
        json.dumps(report.to_json_dict())


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_is_a_mailgun_event_or_a_400(data: Any) -> None:
    payload = {"event-data": data} if not isinstance(data, dict) or "event-data" not in data else data
    body = json.dumps(payload).encode()
    try:
        event = webhooks.parse_mailgun(payload, return_domain=DOMAIN)
    except WebhookRejected as exc:
        assert exc.status == 400 and exc.outcome == "invalid"
        return
    _check_event(event, body)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_is_a_postmark_event_or_a_400(data: Any) -> None:
    if not isinstance(data, Mapping):
        data = {"RecordType": "Bounce", "Type": "HardBounce", "Email": data, "Metadata": data, "Details": data}
    try:
        event = webhooks.parse_postmark(data)
    except WebhookRejected as exc:
        assert exc.status == 400 and exc.outcome == "invalid"
        return
    _check_event(event, json.dumps(data).encode())


@given(st.binary(max_size=2048))
def test_any_body_is_a_json_object_or_a_400(body: bytes) -> None:
    try:
        payload = _json(body)
    except WebhookRejected as exc:
        assert exc.status == 400
        return
    assert isinstance(payload, dict)


def _signed(timestamp: str, token: str, key: bytes = KEY) -> dict[str, Any]:
    digest = hmac.new(key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": digest}}


@given(
    timestamp=st.text(max_size=30) | st.integers().map(str) | st.sampled_from(["²", "١٢٣", "9" * 5000, "0" * 20]),
    token=st.text(max_size=300),
)
def test_a_mailgun_signature_over_any_fields_verifies_or_is_refused(timestamp: str, token: str) -> None:
    """Even with a correct HMAC over odd fields (Unicode digits, a 5,000-digit timestamp, a year
    out of range), verification answers 401, never an exception."""
    for payload in (_signed(timestamp, token), _signed(timestamp, token, b"another-key")):
        try:
            verified = webhooks.verify_mailgun(payload, KEY, now=NOW, window=WINDOW)
        except WebhookRejected as exc:
            assert exc.status == 401 and exc.outcome in {"bad_signature", "stale"}
            continue
        assert verified.token == token and abs(verified.signed_at - NOW) <= WINDOW


@given(JSON)
def test_any_signature_object_is_refused_without_the_key(signature: Any) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        webhooks.verify_mailgun({"signature": signature}, KEY, now=NOW, window=WINDOW)
    assert rejected.value.status == 401


@given(st.one_of(st.none(), st.text(max_size=200), st.binary(max_size=100).map(lambda b: "Basic " + b.hex())))
def test_any_authorization_header_is_checked_or_refused(header: str | None) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        webhooks.verify_postmark(header, "user:password")
    assert rejected.value.status == 401


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both checks go through hmac.compare_digest (a plain == leaks how many leading characters
    matched); the timestamp window refuses old and future signatures alike."""
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    stamp = str(int(NOW.timestamp()))
    assert webhooks.verify_mailgun(_signed(stamp, "t" * 50), KEY, now=NOW, window=WINDOW).token == "t" * 50
    with pytest.raises(WebhookRejected):
        webhooks.verify_postmark("Basic " + base64.b64encode(b"user:wrong").decode(), "user:password")
    assert len(calls) == 2
    for offset in (WINDOW + timedelta(seconds=1), -WINDOW - timedelta(seconds=1)):
        moved = str(int((NOW + offset).timestamp()))
        with pytest.raises(WebhookRejected) as rejected:
            webhooks.verify_mailgun(_signed(moved, "t" * 50), KEY, now=NOW, window=WINDOW)
        assert rejected.value.outcome == "stale"


@given(st.text(max_size=200) | st.binary(max_size=150).map(lambda b: base64.urlsafe_b64encode(b).decode()))
def test_any_cursor_is_a_position_or_a_400(cursor: str) -> None:
    try:
        moment, bounce_id = decode_cursor(cursor)
    except Problem as problem:
        assert problem.status == 400
        return
    assert isinstance(moment, datetime) and isinstance(bounce_id, UUID)


def _finishes(fn: Any, *args: Any, limit_s: float = 120.0) -> Any:
    """Run fn in a thread and fail if it does not come back: a hang must fail the test, not the
    suite. The limit is far above any real cost; it is no benchmark."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    worker.start()
    worker.join(limit_s)
    assert not worker.is_alive(), f"{fn.__name__} did not finish within {limit_s}s"
    return result[0]


@pytest.mark.parametrize(
    "raw",
    [
        # Deeply nested multiparts, a report naming 20,000 addresses, a very long word run (the
        # address regex once went quadratic on it), a header continued for a megabyte.
        b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(5000)),
        b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered\r\n\r\n"
        + b"".join(b"<user%d@example.com>: 550 5.1.1 unknown\r\n" % i for i in range(20_000)),
        b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered\r\n\r\n" + b"a" * 2_000_000 + b"@",
        b"Subject: x\r\n" + b" continued\r\n" * 100_000 + b"\r\nbody",
    ],
    ids=["nested", "many-recipients", "word-run", "long-header"],
)
def test_hostile_messages_finish_with_a_report(raw: bytes) -> None:
    report = _finishes(dsn.classify, raw)
    assert report.not_bounce_reason != dsn.CLASSIFIER_ERROR


def _client() -> httpx.AsyncClient:
    app = create_app(
        Settings(
            return_path_secret=SecretStr("s"),
            mailgun_webhook_signing_key=SecretStr(KEY.decode()),
            postmark_webhook_credentials=SecretStr("user:password"),
        )
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=4096) | JSON.map(lambda v: json.dumps(v).encode()))
async def test_any_request_body_gets_a_clear_answer_never_a_5xx(body: bytes) -> None:
    async with _client() as http:
        for path, headers in (
            ("/v1/webhooks/mailgun", {}),
            ("/v1/webhooks/postmark", {"Authorization": "Basic " + base64.b64encode(b"user:guess").decode()}),
            ("/v1/bounces/parse", {"Content-Type": "message/rfc822"}),
        ):
            response = await http.post(path, content=body, headers=headers)
            assert response.status_code < 500, (path, response.status_code, response.text[:200])
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
