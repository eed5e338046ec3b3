"""The bounce classifier against the shared real-world corpus, plus focused unit cases."""

from __future__ import annotations

import hashlib
import json
import re
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from krafa_bounce_handler.dsn import (
    CLASSIFIER_ERROR,
    REASON_MAX,
    BouncedRecipient,
    BounceReport,
    classify,
)

# The corpus sits beside the repository, at <repo>/../shared; this file is
# <repo>/services/bounce-handler/tests/unit/test_dsn.py.
SHARED = Path(__file__).resolve().parents[5] / "shared"
BOUNCES = SHARED / "corpus" / "bounces"
MANIFEST = BOUNCES / "manifest.json"
_ENHANCED_STATUS = re.compile(r"\d\.\d{1,3}\.\d{1,3}")


def _corpus_params() -> list[Any]:
    if not MANIFEST.is_file():
        # An empty parametrisation would only be reported as skipped; a missing corpus must fail.
        return [pytest.param(None, id="corpus-missing")]
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]
    return [pytest.param(entry, id=Path(entry["file"]).stem) for entry in entries]


def _require_corpus(entry: dict[str, Any] | None) -> dict[str, Any]:
    if entry is None:
        pytest.fail(
            f"bounce corpus missing: {MANIFEST} not found. The acceptance data must sit at "
            "<repo>/../shared/corpus/bounces (see shared/corpus/README.md)."
        )
    return entry


@pytest.mark.parametrize("entry", _corpus_params())
def test_corpus_message_matches_manifest(entry: dict[str, Any] | None) -> None:
    entry = _require_corpus(entry)
    raw = (SHARED / entry["file"]).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == entry["sha256"], "corpus file differs from manifest"

    report = classify(raw)

    assert report.is_bounce is entry["is_bounce"], report.not_bounce_reason
    assert report.kind == entry["classification"]
    expected = {want["address"].lower(): want for want in entry["expected_failed_recipients"]}
    found = {recipient.address: recipient for recipient in report.recipients}
    assert set(found) == set(expected)
    for address, want in expected.items():
        recipient = found[address]
        assert recipient.kind == want["class"], address
        # The manifest annotates statuses ("5.0.0 (permanent failure)", "5.1.1 (in text)"); only
        # an RFC 3463 code is ours to report, and "553 (non-RFC value)" or null means none.
        code = _ENHANCED_STATUS.match(want["status"] or "")
        assert recipient.status == (code.group(0) if code else None), address
        assert recipient.reason
        assert len(recipient.reason) <= REASON_MAX
    if not report.is_bounce:
        assert report.not_bounce_reason
    json.dumps(report.to_json_dict())


def test_corpus_manifest_covers_every_message() -> None:
    if not MANIFEST.is_file():
        pytest.fail(f"bounce corpus missing: {MANIFEST} not found")
    listed = {Path(entry["file"]).name for entry in json.loads(MANIFEST.read_text(encoding="utf-8"))["files"]}
    assert listed == {path.name for path in BOUNCES.glob("*.eml")}


# -- garbage in, a verdict out -------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   ", b"\r\n\r\n\t"])
def test_empty_input_is_not_a_bounce(raw: bytes) -> None:
    report = classify(raw)
    assert report == BounceReport(is_bounce=False, recipients=(), kind="none", not_bounce_reason="empty input")


@pytest.mark.parametrize(
    "raw",
    [
        bytes(range(256)) * 4,
        b"\x00\xff\xfe" * 1000,
        b"just some words, no header at all",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\n\n--\n--\n",
        b"Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822;\nAction: failed\n",
        b"From: MAILER-DAEMON@\xff\xfe.example\nSubject: =?bogus?Q?x?=\n\n<@>:\n",
    ],
)
def test_garbage_is_not_a_bounce(raw: bytes) -> None:
    report = classify(raw)
    assert report.is_bounce is False
    assert report.recipients == ()
    assert report.not_bounce_reason
    assert report.not_bounce_reason != CLASSIFIER_ERROR


@settings(deadline=None)
@given(st.binary())
def test_any_bytes_give_a_report(raw: bytes) -> None:
    report = classify(raw)
    assert isinstance(report, BounceReport)
    # Reaching the catch-all would mean some input path raises inside the classifier.
    assert report.not_bounce_reason != CLASSIFIER_ERROR
    json.dumps(report.to_json_dict())


_DSN_HEAD = (
    b"From: MAILER-DAEMON@mx.example.net\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
)


@settings(deadline=None)
@given(st.binary(max_size=2000))
def test_any_delivery_status_body_gives_a_report(tail: bytes) -> None:
    report = classify(_DSN_HEAD + tail)
    assert report.not_bounce_reason != CLASSIFIER_ERROR
    assert all(recipient.kind in {"hard", "soft"} for recipient in report.recipients)


# -- synthetic RFC 3464 reports ------------------------------------------------------------------

Rcpt = tuple[str, str, str, str]  # address, Action, Status, Diagnostic-Code text


def _original() -> Message:
    original = MIMEText("Dear customer, the invoice is overdue.")
    original["From"] = "collections@krafa.example"
    original["To"] = "debtor@example.com"
    original["Subject"] = "Payment reminder"
    return original


def _dsn(*recipients: Rcpt, original_recipient: str | None = None) -> MIMEMultipart:
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    report["To"] = "collections@krafa.example"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("Your message could not be delivered to one or more recipients."))
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    blocks: list[Message | str] = [per_message]
    for address, action, status, diagnostic in recipients:
        block = Message()
        if original_recipient is not None:
            block["Original-Recipient"] = f"rfc822; {original_recipient}"
        block["Final-Recipient"] = f"rfc822; {address}"
        block["Action"] = action
        block["Status"] = status
        block["Diagnostic-Code"] = f"smtp; {diagnostic}"
        blocks.append(block)
    delivery_status = MIMEBase("message", "delivery-status")
    delivery_status.set_payload(blocks)
    report.attach(delivery_status)
    report.attach(MIMEMessage(_original()))
    return report


USER_UNKNOWN: Rcpt = ("gone@example.com", "failed", "5.1.1", "550 5.1.1 User unknown")
MAILBOX_FULL: Rcpt = ("full@example.org", "failed", "4.2.2", "452 4.2.2 Mailbox full")


def test_synthetic_dsn_user_unknown_is_hard() -> None:
    report = classify(_dsn(USER_UNKNOWN).as_bytes())
    assert report.is_bounce
    assert report.kind == "hard"
    assert report.recipients == (BouncedRecipient("gone@example.com", "hard", "5.1.1", "550 5.1.1 User unknown"),)


def test_synthetic_dsn_mailbox_full_is_soft_even_when_action_failed() -> None:
    report = classify(_dsn(MAILBOX_FULL).as_bytes())
    assert report.is_bounce
    assert report.kind == "soft"
    assert [(r.address, r.kind, r.status) for r in report.recipients] == [("full@example.org", "soft", "4.2.2")]


def test_synthetic_dsn_with_both_is_mixed() -> None:
    report = classify(_dsn(USER_UNKNOWN, MAILBOX_FULL).as_bytes())
    assert report.kind == "mixed"
    assert {r.address: r.kind for r in report.recipients} == {
        "gone@example.com": "hard",
        "full@example.org": "soft",
    }
    assert report.to_json_dict() == {
        "is_bounce": True,
        "kind": "mixed",
        "recipients": [
            {
                "address": "gone@example.com",
                "kind": "hard",
                "status": "5.1.1",
                "reason": "550 5.1.1 User unknown",
            },
            {
                "address": "full@example.org",
                "kind": "soft",
                "status": "4.2.2",
                "reason": "452 4.2.2 Mailbox full",
            },
        ],
    }


def test_delayed_is_soft_whatever_the_status() -> None:
    report = classify(_dsn(("late@example.com", "delayed", "5.0.0", "timeout")).as_bytes())
    assert [(r.address, r.kind) for r in report.recipients] == [("late@example.com", "soft")]


def test_address_is_lower_cased_and_original_recipient_preferred() -> None:
    rcpt: Rcpt = ("someone@internal-relay", "failed", "5.1.1", "550 5.1.1 unknown")
    report = classify(_dsn(rcpt, original_recipient="John.Doe@Example.COM").as_bytes())
    assert [r.address for r in report.recipients] == ["john.doe@example.com"]


def test_reason_is_trimmed() -> None:
    rcpt: Rcpt = ("gone@example.com", "failed", "5.1.1", "550 5.1.1 " + "very long text " * 100)
    (recipient,) = classify(_dsn(rcpt).as_bytes()).recipients
    assert len(recipient.reason) <= REASON_MAX
    assert recipient.reason.startswith("550 5.1.1 very long text")


def test_successful_delivery_notification_is_not_a_bounce() -> None:
    rcpt: Rcpt = ("fine@example.com", "delivered", "2.0.0", "250 2.0.0 OK")
    report = classify(_dsn(rcpt).as_bytes())
    assert not report.is_bounce
    assert report.not_bounce_reason == "delivery notification without failures"


def test_bounce_with_auto_submitted_header_is_still_a_bounce() -> None:
    # Postfix and Exim mark their bounces "Auto-Submitted: auto-replied" too.
    message = _dsn(USER_UNKNOWN)
    message["Auto-Submitted"] = "auto-replied"
    assert classify(message.as_bytes()).kind == "hard"


def test_out_of_office_reply_is_not_a_bounce() -> None:
    reply = MIMEText("I am out of the office until Monday.")
    reply["From"] = "Debtor <debtor@example.com>"
    reply["To"] = "collections@krafa.example"
    reply["Subject"] = "Re: Payment reminder"
    reply["Auto-Submitted"] = "auto-replied"
    report = classify(reply.as_bytes())
    assert not report.is_bounce
    assert report.not_bounce_reason == "auto-reply"


def test_bounce_forwarded_by_a_person_is_not_a_bounce() -> None:
    forward = MIMEMultipart()
    forward["From"] = "Helpdesk <helpdesk@example.com>"
    forward["To"] = "collections@krafa.example"
    forward["Subject"] = "Fwd: Undelivered Mail Returned to Sender"
    forward.attach(MIMEText("FYI, see the attached bounce."))
    forward.attach(MIMEMessage(_dsn(USER_UNKNOWN)))
    assert not classify(forward.as_bytes()).is_bounce
