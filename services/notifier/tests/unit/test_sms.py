"""SMS segment counting (GSM 03.38 vs UCS-2), the receipt signatures and their parsing."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from krafa_notifier.sms import (
    count_segments,
    generic_signature,
    parse_generic_receipt,
    parse_twilio_receipt,
    signature_valid,
    twilio_signature,
)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),  # 2 × 153
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension table: two septets each
        ("€" * 81, "GSM-7", 162, 2),
        ("[]{}|^~\\", "GSM-7", 16, 1),
        ("ÆØÅæøåÄÖÑÜäöñüàèéùìòÇ@£$¥§¿¡ΔΦΓΛΩΠΨΣΘΞß", "GSM-7", 39, 1),  # all in the basic table
        ("þ" * 70, "UCS-2", 70, 1),  # Icelandic thorn is not GSM-7
        ("þ" * 71, "UCS-2", 71, 2),
        ("ð" * 134, "UCS-2", 134, 2),  # 2 × 67
        ("ð" * 135, "UCS-2", 135, 3),
        ("õ", "UCS-2", 1, 1),  # Estonian õ neither
        ("😀" * 35, "UCS-2", 70, 1),  # a surrogate pair is two UTF-16 units
        ("😀" * 35 + "a", "UCS-2", 71, 2),
        ("ç", "UCS-2", 1, 1),  # lower-case ç is not in the table (only Ç is)
        ("`", "UCS-2", 1, 1),
    ],
)
def test_segments_follow_gsm_03_38_and_ucs2_limits(text: str, encoding: str, units: int, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == (encoding, units, segments)


def test_twilio_signature_matches_twilios_published_example() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    tampered = twilio_signature("12345", url, {**params, "Digits": "9999"})
    assert not signature_valid(tampered, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_generic_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id":"sms-1","status":"delivered"}'
    expected = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert generic_signature("k", body) == expected
    assert signature_valid(expected, expected)
    assert not signature_valid(expected, None)
    assert not signature_valid(generic_signature("other", body), expected)


def test_receipts_parse_into_final_or_pending_outcomes() -> None:
    assert parse_twilio_receipt({"MessageSid": "SM1", "MessageStatus": "delivered"}).outcome == "delivered"
    failed = parse_twilio_receipt({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert (failed.outcome, failed.reason) == ("failed", "Twilio error 30003")
    assert parse_twilio_receipt({"MessageSid": "SM1", "MessageStatus": "sent"}).outcome == "pending"
    assert parse_generic_receipt({"id": "sms-1", "status": "failed", "error": "x"}).outcome == "failed"
    with pytest.raises(ValueError):
        parse_twilio_receipt({"MessageStatus": "delivered"})
    with pytest.raises(ValueError):
        parse_generic_receipt({"status": "delivered"})
