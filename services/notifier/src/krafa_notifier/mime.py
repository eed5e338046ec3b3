"""The reminder as an email message: multipart/alternative, plain text first, then HTML.

The wire format is the one the legacy `email.mime` classes write under the compat32 policy (for a
message this simple the same as `EmailMessage` with the default policy), but written here
directly: the part headers are constant and folded once, a header is folded by the email package
only when it needs folding or encoding (and remembered), and the bodies go through binascii's
quoted-printable encoder. Through the email package's generator a message cost about five times
as much, most of it re-folding the same headers for every message (tests compare the bytes).

What is deliberately *not* in the headers:

* `Bcc`: blind copies go only into the SMTP envelope (`envelope_recipients`), never into the
  message, or every recipient could read who else got it.
* `Return-Path`: the bounce address is the SMTP envelope sender (MAIL FROM), and the receiving
  server writes `Return-Path` from it on final delivery (RFC 5321 §4.4). A sender-written one is
  ignored at best. Callers pass their VERP return path to the SMTP client as the envelope sender.
* `Sender`: the message is sent in the creditor's name from one From address; there is no
  separate agent to name.

Every header value is checked for CR/LF before it goes in: debtor data and creditor settings must
not be able to inject headers (a name ending in "\\r\\nBcc: ..." would otherwise add a recipient).
"""

from __future__ import annotations

import re
import uuid
from binascii import b2a_qp
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.policy import compat32
from email.utils import format_datetime, formataddr, getaddresses, quote
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from krafa_notifier.content import RenderedEmail

# RFC 5322 line ends, so the bytes are the canonical message (what DKIM signs, what SMTP sends).
_POLICY: Final = compat32.clone(linesep="\r\n")

_NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})
_FIELD_NAME: Final = re.compile(r"[!-9;-~]+")  # RFC 5322 §3.6.8: printable ASCII except ":"
_MESSAGE_ID: Final = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
# Headers this module owns; `headers=` may not set or override them.
_RESERVED: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-language",
        "return-path",
        "reply-to",
        "sender",
    }
)


def build_email(
    rendered: RenderedEmail,
    *,
    sender: str,
    recipient: str,
    message_id: str,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    headers: Mapping[str, str] = _NO_HEADERS,
    date: datetime | None = None,
    reply_to: str | None = None,
) -> bytes:
    """The RFC 5322 message, ready for SMTP DATA.

    `message_id` is used as given (angle brackets added if missing) so a retried send carries the
    same id. `bcc` is accepted so callers can pass one set of arguments here and to
    `envelope_recipients`; it is validated and never written. `date` defaults to now (UTC).
    """
    _mailboxes(bcc)  # same validation as the others, even though they are not written
    fields: list[tuple[str, str]] = [("From", _sender_mailbox(sender)), ("To", _mailbox(recipient))]
    if cc:
        fields.append(("Cc", ", ".join(_mailboxes(cc))))
    if reply_to:
        fields.append(("Reply-To", _mailbox(reply_to)))
    fields.append(("Subject", _text_header(rendered.subject)))
    fields.append(("Date", format_datetime(_aware(date or datetime.now(UTC)))))
    fields.append(("Message-ID", _message_id(message_id)))
    # RFC 3834: tells vacation responders and ticket systems not to answer automatically.
    fields.append(("Auto-Submitted", "auto-generated"))
    fields.append(("Content-Language", _safe(rendered.language)))
    for name, value in headers.items():
        if not _FIELD_NAME.fullmatch(name) or name.lower() in _RESERVED:
            raise ValueError(f"header {name!r} cannot be set by the caller")
        # A caller's value replaces ours (e.g. Auto-Submitted) instead of doubling.
        fields = [field for field in fields if field[0].lower() != name.lower()]
        fields.append((name, _text_header(value)))
    boundary = _boundary().encode("ascii")
    head = "".join([_fold(name, value) for name, value in fields]).encode("ascii")
    # Clients show the last alternative they can render: plain text first, HTML last.
    return b"".join(
        (
            b'Content-Type: multipart/alternative;\r\n boundary="',
            boundary,
            b'"\r\nMIME-Version: 1.0\r\n',
            head,
            b"\r\n--",
            boundary,
            b"\r\n",
            _PART_HEAD["plain"],
            _quoted_printable(rendered.text),
            b"\r\n--",
            boundary,
            b"\r\n",
            _PART_HEAD["html"],
            _quoted_printable(rendered.html),
            b"\r\n--",
            boundary,
            b"--\r\n",
        )
    )


def envelope_recipients(recipient: str, cc: Sequence[str] = (), bcc: Sequence[str] = ()) -> list[str]:
    """Bare addresses for SMTP RCPT TO: the recipient, then cc, then bcc, each address once."""
    seen: set[str] = set()
    out: list[str] = []
    for address in (_addr_spec(a) for a in (recipient, *cc, *bcc)):
        key = address.lower()
        if key not in seen:
            seen.add(key)
            out.append(address)
    return out


def _boundary() -> str:
    """A multipart boundary that cannot occur in the parts: both are quoted-printable, where "="
    only starts an escape ("=XX" or a soft line break), so "=_" never appears in them, and no
    search of the bodies for a free one is needed."""
    return "=_" + uuid.uuid4().hex


# A text part's headers: the same for every part of a subtype.
_PART_HEAD: Final = MappingProxyType(
    {
        subtype: (
            f'Content-Type: text/{subtype}; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode("ascii")
        for subtype in ("plain", "html")
    }
)
_LINE_END: Final = re.compile(rb"\r\n|\r|\n")
# The longest "Name: value" that is written as it is (RFC 5322's 78 characters a line).
_MAX_LINE: Final = 78


def _quoted_printable(body: str) -> bytes:
    """A UTF-8 text part's body, quoted-printable: mostly-ASCII prose stays readable on the wire
    and in spam filters' eyes (base64 text parts count as "disguised"), and lines stay under the
    998-octet limit whatever a template produces. binascii's C encoder (the email package's own
    is pure Python), with every line ending CRLF."""
    return _LINE_END.sub(b"\r\n", b2a_qp(body.encode("utf-8"), istext=True))


def _fold(name: str, value: str) -> str:
    """`Name: value` and its line end, as the compat32 policy writes it: as it is when it is ASCII
    and fits on a line, else folded (and RFC 2047 encoded) by the email package."""
    if value.isascii() and len(name) + 2 + len(value) <= _MAX_LINE:
        return f"{name}: {value}\r\n"
    return _fold_slow(name, value)


@lru_cache(maxsize=4096)
def _fold_slow(name: str, value: str) -> str:
    # Remembered: a creditor's From and a batch's subjects recur.
    return str(_POLICY.fold(name, value))


def _safe(value: str) -> str:
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError("header values cannot contain line breaks")
    return value


def _text_header(value: str) -> str:
    # compat32 writes a non-ASCII str as RFC 2047 UTF-8 encoded-words and leaves ASCII as is.
    return _safe(value)


def _parse(value: str) -> tuple[str, str]:
    """(display name, addr-spec) of exactly one mailbox; the domain in IDNA (ASCII) form."""
    pairs = getaddresses([_safe(value)])
    if len(pairs) != 1:
        # "a@x.is, b@y.is" or "a@x.is <b@y.is>": one field must not smuggle in a second address.
        raise ValueError(f"expected one email address: {value!r}")
    name, address = pairs[0]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {value!r}")
    if not local.isascii():
        # An internationalised local part needs SMTPUTF8 end to end; we do not send that.
        raise ValueError(f"non-ASCII mailbox name not supported: {value!r}")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")  # bücher.example -> xn--bcher-kva.example
    return name, f"{local}@{domain}"


def _addr_spec(value: str) -> str:
    return _parse(value)[1]


def _mailbox(value: str) -> str:
    return formataddr(_parse(value), charset="utf-8")


@lru_cache(maxsize=256)
def _sender_mailbox(value: str) -> str:
    """A From address: one per creditor, so parsed and encoded once."""
    return _mailbox(value)


def sender_of(address: str, name: str) -> str:
    """The From mailbox: `address` under the display name `name` (the creditor's sending name),
    unless the address already carries one."""
    shown, addr = _parse(address)
    display = (shown or name).replace("\r", " ").replace("\n", " ").strip()
    # Unencoded on purpose: `build_email` encodes the From header once (RFC 2047 for non-ASCII).
    return f'"{quote(display)}" <{addr}>' if display else addr


def _mailboxes(values: Iterable[str]) -> list[str]:
    return [_mailbox(v) for v in values]


def _message_id(value: str) -> str:
    value = _safe(value).strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    if not _MESSAGE_ID.fullmatch(value):
        raise ValueError(f"not a Message-ID: {value!r}")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("the Date header needs a timezone-aware datetime")
    return value


# Headers a DKIM signature covers (RFC 6376 §5.4.1): those a forwarder must not alter. Absent
# ones are skipped by dkimpy, so Cc is listed even though most reminders have none.
DKIM_HEADERS: Final = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-language",
)


class DkimSigner:
    """Signs a finished message with rsa-sha256, relaxed/relaxed canonicalisation, and puts the
    DKIM-Signature header first. The key is parsed once."""

    def __init__(self, *, selector: str, domain: str, private_key_pem: bytes) -> None:
        import dkim  # type: ignore[import-untyped]  # dkimpy ships no types; loaded only when DKIM is on

        self._sign = dkim.sign
        self.selector, self.domain, self.key = selector.encode(), domain.encode(), private_key_pem

    def __call__(self, message: bytes) -> bytes:
        signature: bytes = self._sign(
            message,
            self.selector,
            self.domain,
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(DKIM_HEADERS),
        )
        return signature.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n") + message
