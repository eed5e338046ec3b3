"""Classic "failure notice" bounces of webmail providers: plain text, no RFC 3464 delivery-status
part, the failed address only in the prose (Yahoo and AOL's qmail notices, Outlook.com, Mail.ru,
Yandex, GMX's Exim, Gmail's old text). Each message in failure_notices/ is shaped after the
provider's real notice; the expected verdict is written here, not taken from the classifier."""

from __future__ import annotations

from pathlib import Path

import pytest
from krafa_bounce_handler.dsn import classify

NOTICES = Path(__file__).parent / "failure_notices"

EXPECTED = {
    "yahoo.eml": ("sigga.jons@yahoo.com", "hard", None),
    "yahoo_quota.eml": ("anna.k@ymail.com", "soft", "4.2.2"),
    "aol.eml": ("olafur.p@aol.com", "hard", "5.1.1"),
    "outlook.eml": ("thorunn.a@outlook.com", "hard", "5.1.10"),
    "mailru.eml": ("ivan.petrov@mail.ru", "hard", None),
    "yandex.eml": ("olga.s@yandex.ru", "hard", "5.7.1"),
    "gmx.eml": ("helga.mag@gmx.de", "hard", None),
    "gmail_old.eml": ("einar.thor1988@gmail.com", "hard", None),
}


def test_every_notice_is_listed() -> None:
    assert {p.name for p in NOTICES.glob("*.eml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_failure_notice_names_the_failed_address(name: str) -> None:
    address, kind, status = EXPECTED[name]
    report = classify((NOTICES / name).read_bytes())
    assert report.is_bounce, report.not_bounce_reason
    [recipient] = report.recipients  # the mailer daemon and our return path are never recipients
    assert (recipient.address, recipient.kind, recipient.status) == (address, kind, status)
    assert recipient.reason


def test_prose_about_a_failed_delivery_from_a_person_is_no_bounce() -> None:
    raw = (
        b"From: Jon <jon@example.is>\r\nTo: bounce+1@returns.krafa.localhost\r\nSubject: Re: reikningur\r\n\r\n"
        b"We could not deliver the parcel to anna@example.is, the address was unknown. Please call.\r\n"
    )
    assert not classify(raw).is_bounce


def test_a_notice_that_names_only_the_mail_system_has_no_recipient() -> None:
    raw = (
        b"Return-Path: <>\r\nFrom: MAILER-DAEMON@yahoo.com\r\nTo: bounce+1@returns.krafa.localhost\r\n"
        b"Subject: Failure Notice\r\n\r\nSorry, we were unable to deliver your message.\r\n"
        b"Contact postmaster@yahoo.com or MAILER-DAEMON@yahoo.com for help.\r\n"
    )
    report = classify(raw)
    assert not report.is_bounce and report.recipients == ()
