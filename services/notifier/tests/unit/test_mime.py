"""The email bytes: parsed back with the standard library, as a receiving server would."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta, timezone
from email.message import EmailMessage, MIMEPart

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from krafa_notifier.content import (
    ClaimLine,
    ReminderContent,
    ReminderRenderer,
    RenderedEmail,
)
from krafa_notifier.mime import build_email, envelope_recipients, sender_of

SENDER = "Íþróttafélagið Hörður <innheimta@hordur.is>"
RECIPIENT = "Þórður Ægisson <thordur@example.is>"
WHEN = datetime(2024, 4, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def rendered() -> RenderedEmail:
    c = ReminderContent(
        creditor_name="Íþróttafélagið Hörður",
        creditor_contact_phone="+354 555 1234",
        creditor_account="0133-26-012345",
        payment_link="https://pay.example.is/r/1?a=1&b=2",
        debtor_name="Þórður Ægisson <script>",
        language="is",
        step=2,
        tone="firm",
        claims=(
            ClaimLine("1001", "Æfingagjöld", date(2024, 3, 1), 10_000, "ISK", 390, 0, "77"),
            ClaimLine("1002", None, date(2024, 3, 5), 5_000, "ISK", 0, 40, "78"),
        ),
        address=None,
        sent_on=date(2024, 4, 20),
    )
    return ReminderRenderer().email(c)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body(part: MIMEPart) -> str:
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_round_trip(rendered: RenderedEmail) -> None:
    raw = build_email(
        rendered,
        sender=SENDER,
        recipient=RECIPIENT,
        message_id="reminder-42.1@krafa.example",
        cc=["Bókhald <bokhald@hordur.is>"],
        bcc=["audit@krafa.example"],
        headers={"X-Krafa-Delivery-Id": "d-42", "X-Krafa-Note": "Ítrekun"},
        date=WHEN,
    )
    msg = parse(raw)
    assert msg["From"].addresses[0].display_name == "Íþróttafélagið Hörður"
    assert msg["From"].addresses[0].addr_spec == "innheimta@hordur.is"
    assert msg["To"].addresses[0].display_name == "Þórður Ægisson"
    assert msg["Cc"].addresses[0].addr_spec == "bokhald@hordur.is"
    assert msg["Subject"] == rendered.subject
    assert msg["Message-ID"] == "<reminder-42.1@krafa.example>"
    assert msg["Date"].datetime == WHEN
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Content-Language"] == "is"
    assert msg["X-Krafa-Delivery-Id"] == "d-42"
    assert msg["X-Krafa-Note"] == "Ítrekun"
    # Blind copies live in the envelope only; the bounce address is the envelope's too.
    assert msg["Bcc"] is None
    assert b"audit@krafa.example" not in raw
    assert msg["Return-Path"] is None
    assert msg["Sender"] is None

    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"  # last = preferred by clients
    for part in (plain, html):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert body(plain) == rendered.text
    assert body(html) == rendered.html
    assert "Þórður Ægisson <script>" in body(plain)
    assert "&lt;script&gt;" in body(html)
    assert "10.390\xa0kr." in body(plain)


def test_wire_format(rendered: RenderedEmail) -> None:
    raw = build_email(rendered, sender=SENDER, recipient=RECIPIENT, message_id="<a@b.c>")
    assert raw.isascii()  # 7-bit clean: no 8BITMIME needed anywhere on the route
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines)  # CRLF line ends only, no bare LF
    assert max(map(len, lines)) <= 78
    assert b"\r\n\r\n" in raw


def test_parts_that_look_like_boundaries_stay_whole() -> None:
    # The boundary is fixed up front ("=_" + random hex), not searched for in the bodies: text
    # that imitates one must still come back as exactly the two parts it was.
    tricky = "--=_\n--=_0123456789abcdef0123456789abcdef--\n=_ end"
    raw = build_email(
        RenderedEmail(subject="S", text=tricky, html=f"<p>{tricky}</p>", language="en"),
        sender=SENDER,
        recipient=RECIPIENT,
        message_id="<a@b.c>",
    )
    msg = parse(raw)
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert body(parts[0]) == tricky
    assert body(parts[1]) == f"<p>{tricky}</p>"
    assert (msg.get_boundary() or "").startswith("=_")


def test_default_date_is_now(rendered: RenderedEmail) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    msg = parse(build_email(rendered, sender=SENDER, recipient=RECIPIENT, message_id="<a@b.c>"))
    assert before <= msg["Date"].datetime <= datetime.now(UTC)
    local = datetime(2024, 4, 20, 9, 30, tzinfo=timezone(timedelta(hours=-1)))
    msg = parse(build_email(rendered, sender=SENDER, recipient=RECIPIENT, message_id="x@y", date=local))
    assert msg["Date"].datetime == local
    with pytest.raises(ValueError, match="timezone"):
        build_email(
            rendered,
            sender=SENDER,
            recipient=RECIPIENT,
            message_id="x@y",
            date=datetime(2024, 1, 1),
        )


def test_message_id_is_kept_deterministic(rendered: RenderedEmail) -> None:
    a = build_email(rendered, sender=SENDER, recipient=RECIPIENT, message_id="r1@k", date=WHEN)
    b = build_email(rendered, sender=SENDER, recipient=RECIPIENT, message_id="<r1@k>", date=WHEN)
    assert parse(a)["Message-ID"] == parse(b)["Message-ID"] == "<r1@k>"
    for bad in ("no-at-sign", "<a@b> <c@d>", "a b@c"):
        with pytest.raises(ValueError, match="Message-ID"):
            build_email(rendered, sender=SENDER, recipient=RECIPIENT, message_id=bad)


@pytest.mark.parametrize(
    "field",
    [
        {"recipient": "victim@example.is\r\nBcc: spy@evil.example"},
        {"sender": "Nice <a@b.is>\nX-Evil: 1"},
        {"recipient": "a@x.is, b@y.is"},
        {"recipient": "a@x.is <b@y.is>"},
        {"recipient": "not an address"},
        {"recipient": "jón@example.is"},
        {"cc": ["ok@x.is", "bad\r\n@x.is"]},
        {"bcc": ["a@x.is, b@y.is"]},
        {"headers": {"X-Note": "line\r\nBcc: spy@evil.example"}},
        {"headers": {"Bcc": "spy@evil.example"}},
        {"headers": {"Return-Path": "<bounce@x.is>"}},
        {"headers": {"subject": "override"}},
        {"headers": {"Bad Name": "x"}},
    ],
)
def test_header_injection_and_bad_addresses_are_refused(rendered: RenderedEmail, field: dict[str, object]) -> None:
    args: dict[str, object] = {"sender": SENDER, "recipient": RECIPIENT, "message_id": "<a@b.c>"}
    args.update(field)
    with pytest.raises(ValueError):
        build_email(rendered, **args)  # type: ignore[arg-type]


def test_caller_header_replaces_ours(rendered: RenderedEmail) -> None:
    raw = build_email(
        rendered,
        sender=SENDER,
        recipient=RECIPIENT,
        message_id="<a@b.c>",
        headers={"Auto-Submitted": "auto-replied"},
    )
    assert parse(raw).get_all("Auto-Submitted") == ["auto-replied"]


def test_internationalised_domain_is_sent_as_punycode(rendered: RenderedEmail) -> None:
    raw = build_email(rendered, sender=SENDER, recipient="Jón <jon@bókhald.is>", message_id="<a@b.c>")
    assert parse(raw)["To"].addresses[0].addr_spec == "jon@xn--bkhald-bxa.is"
    assert envelope_recipients("jon@bókhald.is") == ["jon@xn--bkhald-bxa.is"]


def test_the_creditors_sending_name_and_reply_to_are_on_the_message(rendered: RenderedEmail) -> None:
    sender = sender_of("innheimta@hordur.is", 'Hörður "innheimta"')
    raw = build_email(
        rendered, sender=sender, recipient=RECIPIENT, message_id="<a@b.c>", reply_to="gjaldkeri@hordur.is"
    )
    msg = parse(raw)
    [author] = msg["From"].addresses
    assert (author.display_name, author.addr_spec) == ('Hörður "innheimta"', "innheimta@hordur.is")
    assert msg["Reply-To"].addresses[0].addr_spec == "gjaldkeri@hordur.is"
    # An address that names itself keeps its own name; a forged line break does not reach a header.
    assert sender_of("Bókhald <b@hordur.is>", "Hörður") == '"Bókhald" <b@hordur.is>'
    assert "\n" not in sender_of("b@hordur.is", "Hörður\r\nBcc: spy@evil.example")
    with pytest.raises(ValueError):
        build_email(rendered, sender=SENDER, recipient=RECIPIENT, message_id="<a@b.c>", reply_to="a@x.is, b@y.is")


def test_envelope_recipients() -> None:
    assert envelope_recipients(
        RECIPIENT,
        cc=["Bókhald <bokhald@hordur.is>", "THORDUR@example.is"],
        bcc=["audit@krafa.example", "bokhald@hordur.is"],
    ) == ["thordur@example.is", "bokhald@hordur.is", "audit@krafa.example"]
    assert envelope_recipients("a@b.is") == ["a@b.is"]
    with pytest.raises(ValueError):
        envelope_recipients("a@b.is", bcc=["x@y.is\r\nRCPT TO:<z@z.is>"])


# -- the same bytes as the email package ---------------------------------------------------------


def _by_the_email_package(
    rendered: RenderedEmail,
    *,
    sender: str,
    recipient: str,
    message_id: str,
    boundary: str,
    cc: list[str],
    headers: dict[str, str],
    when: datetime,
) -> bytes:
    """The message as `email.mime` writes it under compat32 with CRLF line ends, from the same
    header values: what build_email must produce byte for byte."""
    from binascii import b2a_qp
    from email.mime.multipart import MIMEMultipart
    from email.mime.nonmultipart import MIMENonMultipart
    from email.utils import format_datetime, formataddr, getaddresses

    def mailbox(value: str) -> str:
        [(name, address)] = getaddresses([value])
        local, _, domain = address.rpartition("@")
        return formataddr((name, f"{local}@{domain.encode('idna').decode('ascii')}"), charset="utf-8")

    msg = MIMEMultipart("alternative", boundary=boundary)
    msg["From"] = mailbox(sender)
    msg["To"] = mailbox(recipient)
    if cc:
        msg["Cc"] = ", ".join(mailbox(a) for a in cc)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = rendered.language
    for name, value in headers.items():
        del msg[name]
        msg[name] = value
    for text, subtype in ((rendered.text, "plain"), (rendered.html, "html")):
        part = MIMENonMultipart("text", subtype, charset="utf-8")
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
        msg.attach(part)
    return msg.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))


# Header values up to 120 characters: both sides of the 78-character line, ASCII and not.
_PRINTABLE = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85"), max_size=120
)
_BODY = st.text(st.characters(blacklist_categories=("Cs",)), max_size=400)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    subject=_PRINTABLE,
    text=_BODY,
    html=_BODY,
    name=_PRINTABLE.filter(lambda n: not any(c in n for c in '<>@,;:"\\()[]')),
    note=_PRINTABLE,
    cc=st.booleans(),
    override=st.booleans(),
)
def test_the_bytes_are_the_email_packages(
    monkeypatch: pytest.MonkeyPatch, subject: str, text: str, html: str, name: str, note: str, cc: bool, override: bool
) -> None:
    import uuid

    from krafa_notifier import mime

    boundary = "=_" + uuid.uuid4().hex
    monkeypatch.setattr(mime, "_boundary", lambda: boundary)
    rendered = RenderedEmail(subject=subject.strip(), text=text, html=html, language="is")
    sender = f"{name.strip() or 'Fram'} <innheimta@fram.is>"
    headers = {"X-Krafa-Note": note.strip()} | ({"Auto-Submitted": "auto-replied"} if override else {})
    args = {
        "sender": sender,
        "recipient": f"{name} <jón@bücher.example>".replace("jón", "jon"),
        "message_id": f"<{uuid.uuid4()}@krafa.example>",
        "cc": ["Bókhald <bokhald@fram.is>", "b@c.is"] if cc else [],
        "headers": headers,
    }
    assert build_email(rendered, date=WHEN, **args) == _by_the_email_package(  # type: ignore[arg-type]
        rendered, boundary=boundary, when=WHEN, **args
    )


@pytest.mark.parametrize("length", range(74, 84))
@pytest.mark.parametrize("word", ["a", "ab ", "Þ"])
def test_headers_at_the_line_limit_are_the_email_packages(
    monkeypatch: pytest.MonkeyPatch, length: int, word: str
) -> None:
    """`Subject: ...` and `X-Krafa-Note: ...` lines just under, at and over 78 characters."""
    from krafa_notifier import mime

    monkeypatch.setattr(mime, "_boundary", lambda: "=_" + "0" * 32)
    subject = (word * 80)[: length - len("Subject: ")].strip()
    note = (word * 80)[: length - len("X-Krafa-Note: ")].strip()
    rendered = RenderedEmail(subject=subject, text="t\n", html="<p>h</p>", language="en")
    args = {
        "sender": SENDER,
        "recipient": RECIPIENT,
        "message_id": "<a@b.c>",
        "cc": [],
        "headers": {"X-Krafa-Note": note},
    }
    assert build_email(rendered, date=WHEN, **args) == _by_the_email_package(  # type: ignore[arg-type]
        rendered, boundary="=_" + "0" * 32, when=WHEN, **args
    )
