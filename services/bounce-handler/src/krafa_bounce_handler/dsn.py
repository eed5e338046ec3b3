"""Classify inbound mail as a delivery failure (bounce) or not, recipient by recipient.

flufl.bounce finds the failed addresses (RFC 3464 and many non-standard MTA formats) and splits them
into temporary and permanent failures, but it exposes no status codes. Our own reading of the
RFC 3464 ``message/delivery-status`` fields adds the per-recipient Status/Action/Diagnostic-Code.
The input is untrusted mail, so :func:`classify` never raises.
"""

from __future__ import annotations

import email
import email.policy
import html
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Literal

from flufl.bounce import all_failures

__all__ = ["BounceReport", "BouncedRecipient", "classify"]

log = logging.getLogger(__name__)

Kind = Literal["hard", "soft"]
ReportKind = Literal["hard", "soft", "mixed", "none"]

REASON_MAX = 300
# Catch-all reason for an unexpected internal error; tests assert garbage never ends up here.
CLASSIFIER_ERROR = "classifier error"

# Enough to walk any real report; bounds the work a hostile, deeply nested message can cause.
_MAX_PARTS = 500
# The lines after an address in a text bounce that may still describe that address.
_TEXT_WINDOW = 5

_ADDR_CHARS = r"[\w.!#$%&'*+/=?^`{|}~-]"
# The lookbehind lets a match start only where a local part can start: without it a long run of
# word characters costs quadratic time.
_ADDR_RE = re.compile("(?<!" + _ADDR_CHARS + ")" + _ADDR_CHARS + r"+@(?:[\w-]+\.)+[\w-]+")
# RFC 3463 enhanced status code. The guards keep IP addresses (10.5.1.1) and versions (v4.2.2) out.
_ENHANCED = r"[245]\.\d{1,3}\.\d{1,3}(?!\w|\.\d)"
_STATUS_FIELD_RE = re.compile(r"^\s*(" + _ENHANCED + ")")
_FAILURE_CODE_IN_TEXT_RE = re.compile(r"(?<![\w.])([45]\.\d{1,3}\.\d{1,3})(?!\w|\.\d)")
_REPLY_CODE_RE = re.compile(r"(?<![\w.])([45])\d\d(?![\w.])")
_DIAG_TYPE_RE = re.compile(r"^\s*[\w.-]+\s*;\s*")
_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
_BLANK_LINES_RE = re.compile(r"\n[ \t]*\n")
_TAG_RE = re.compile(r"<[^<>]*>")

# Where a text bounce starts quoting the returned message; text after it is the sender's own
# content, so codes and phrases there say nothing about the delivery.
_RETURNED_COPY_RE = re.compile(
    r"^[ \t>]*-{2,}[ \t]*(?:original|returned|undelivered|forwarded)[ \t]+message"
    r"|below this line is a copy of the message"
    r"|this is a copy of the message"
    r"|^[ \t-]*original message follows"
    r"|lines of your original message follow"
    r"|^[ \t-]*unsent message below"
    r"|^[ \t-]*(?:mensaje|mensagem) original"
    r"|^[ \t]*original message headers"
    r"|^[ \t-]*ursprüngliche nachricht",
    re.IGNORECASE | re.MULTILINE,
)
_MAIL_SYSTEM_SENDER_RE = re.compile(
    r"mailer[-_. ]?daemon|mail[-_. ]?daemon|postmaster|mail delivery (?:system|subsystem|service)"
    r"|mail administrator|internet mail delivery|\bmdaemon\b",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|not (?:been )?delivered|could not be delivered"
    r"|delivery (?:status|fail|notif|problem|report|warning|delay)|returned mail|mail delivery"
    r"|failure notice|delivery failure|failed mail|non-?delivery|mail system error|delayed mail"
    r"|returned to sender|unzustellbar|nicht zustellbar|kan ikke leveres|ikke levert"
    r"|kunne ikke leveres|onbestelbaar",
    re.IGNORECASE,
)
_AUTO_REPLY_SUBJECT_RE = re.compile(
    r"automatic reply|auto(?:matic)?[- ]?(?:reply|response|respond|antwort)|\bauto:"
    r"|out of (?:the )?office|^\s*(?:re:\s*)?vacation\b|\bon vacation\b|automatisk svar|fravær"
    r"|frånvaro|abwesenheit|r[ée]ponse automatique|respuesta autom[aá]tica|risposta automatica"
    r"|automatisch antwoord",
    re.IGNORECASE,
)
# Challenge-response filters hold the message until the sender proves to be a person; the address
# works, so these must not count as failures even when they are shaped like a DSN.
_CHALLENGE_RE = re.compile(
    r"\bwait-?listed\b|\bguest ?list\b|challenge[- /]?response|\bboxbe\b|spam ?arrest"
    r"|\bmailblocks\b|sender not pre-?approved|sender (?:verification|confirmation) request"
    r"|(?:verify|confirm|prove) (?:that )?you are (?:a )?(?:human|real person|not a robot)",
    re.IGNORECASE,
)
_DSN_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_REPORT_PARTS = _DSN_PARTS | {"message/disposition-notification"}
_AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")


@dataclass(frozen=True, slots=True)
class BouncedRecipient:
    address: str  # lower-cased
    kind: Kind
    status: str | None  # RFC 3463 enhanced status code like "5.1.1", when known
    reason: str  # the diagnostic code or the MTA's sentence, trimmed to REASON_MAX characters

    def to_json_dict(self) -> dict[str, object]:
        return {
            "address": self.address,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class BounceReport:
    is_bounce: bool
    recipients: tuple[BouncedRecipient, ...]
    kind: ReportKind  # derived from recipients
    not_bounce_reason: str | None

    def to_json_dict(self) -> dict[str, object]:
        return {
            "is_bounce": self.is_bounce,
            "kind": self.kind,
            "recipients": [recipient.to_json_dict() for recipient in self.recipients],
        }


def classify(raw: bytes) -> BounceReport:
    """Tell whether ``raw`` (a whole RFC 5322 message) reports failed deliveries, and for whom."""
    try:
        return _classify(raw)
    except Exception:
        # The caller feeds untrusted mail: one odd message must not stop the consumer. The log keeps
        # the traceback (no message content) so the gap can be fixed.
        log.warning("bounce classification failed; treated as not a bounce", exc_info=True)
        return _not_bounce(CLASSIFIER_ERROR)


def _classify(raw: bytes) -> BounceReport:
    data = bytes(raw)
    if not data.strip():
        return _not_bounce("empty input")
    # compat32 is the most forgiving parser: it records MIME defects instead of raising.
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
    except RecursionError:
        # The stdlib parser recurses once per nested multipart; real reports nest three deep.
        return _not_bounce("MIME parts nested too deeply")
    if not msg.keys():
        return _not_bounce("not an email message (no header fields)")
    if _is_mdn(msg):
        return _not_bounce("read receipt (MDN)")

    subject = _header(msg, "Subject")
    mail_system = _from_mail_system(msg)
    notice = _notice_text(msg)
    blocks = _structured_recipient_blocks(msg)
    if not blocks and mail_system:
        # A broken MIME boundary can leave the delivery-status fields inside the text part.
        blocks = _recipient_blocks(_field_blocks(notice))

    diagnostics = "\n".join(block.get("diagnostic-code", "") for block in blocks)
    if _CHALLENGE_RE.search("\n".join((subject, _header(msg, "From"), notice, diagnostics))):
        return _not_bounce("challenge-response")
    # Real bounces often carry Auto-Submitted: auto-replied too, so it only counts for a person.
    if not mail_system and _is_auto_reply(msg, subject):
        return _not_bounce("auto-reply")

    failed = _dsn_recipients(blocks)
    if failed:
        return _bounce(failed)
    if blocks and all(_is_success_action(block.get("action", "")) for block in blocks):
        return _not_bounce("delivery notification without failures")
    if not (mail_system or _looks_like_bounce(msg, subject)):
        # flufl's text heuristics are built for a bounce-only mailbox; a person's mail that merely
        # quotes one must not count.
        return _not_bounce("not a delivery report")

    _drop_attached_messages(msg)
    temporary, permanent = _flufl_failures(msg)
    if not (temporary or permanent):
        temporary, permanent = _plain_failures(msg, notice)
    recipients = _text_recipients(temporary, permanent, notice, fallback_reason=subject)
    if recipients:
        return _bounce(recipients)
    return _not_bounce("no failed recipient found")


# -- results -------------------------------------------------------------------------------------


def _bounce(recipients: Iterable[BouncedRecipient]) -> BounceReport:
    found = tuple(recipients)
    kinds = {recipient.kind for recipient in found}
    kind: ReportKind = "mixed" if len(kinds) > 1 else next(iter(kinds), "none")
    return BounceReport(is_bounce=True, recipients=found, kind=kind, not_bounce_reason=None)


def _not_bounce(reason: str) -> BounceReport:
    return BounceReport(is_bounce=False, recipients=(), kind="none", not_bounce_reason=reason)


def _merge(recipients: Iterable[BouncedRecipient]) -> list[BouncedRecipient]:
    # One address can appear in several blocks; the worst verdict wins, order of first appearance.
    merged: dict[str, BouncedRecipient] = {}
    for recipient in recipients:
        seen = merged.get(recipient.address)
        if seen is None or (seen.kind == "soft" and recipient.kind == "hard"):
            merged[recipient.address] = recipient
    return list(merged.values())


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1].rstrip() + "…"


# -- message helpers -----------------------------------------------------------------------------


def _header(msg: Message, name: str) -> str:
    """The header decoded to text; "" when absent or undecodable."""
    value = msg.get(name)
    if value is None:
        return ""
    text = str(value)
    try:
        # RFC 2047 encoded words (e.g. an ISO-2022-JP "Undeliverable:" subject).
        return str(make_header(decode_header(text)))
    except Exception:  # malformed encoded words: the raw text is still useful
        return text


def _param(msg: Message, name: str) -> str:
    value = msg.get_param(name)
    if value is None:
        return ""
    return str(collapse_rfc2231_value(value)).strip().lower()


def _walk(msg: Message) -> Iterator[Message]:
    """Parts of the report itself, not of messages attached to it (the returned original)."""
    stack = [msg]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part = stack.pop()
        seen += 1
        yield part
        if part.get_content_maintype() == "message":
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(reversed([sub for sub in payload if isinstance(sub, Message)]))


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    for charset in (part.get_content_charset(), "utf-8"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeError):
            continue
    return payload.decode("latin-1")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _notice_text(msg: Message) -> str:
    """The human-readable part of the report, cut where a quoted copy of the original begins."""
    plain: list[str] = []
    markup: list[str] = []
    for part in _walk(msg):
        content_type = part.get_content_type()
        if content_type == "text/plain":
            plain.append(_part_text(part))
        elif content_type == "text/html":
            markup.append(html.unescape(_TAG_RE.sub(" ", _part_text(part))))
    texts = plain or markup
    cut: list[str] = []
    for text in texts:
        text = _normalise_newlines(text)
        match = _RETURNED_COPY_RE.search(text)
        cut.append(text[: match.start()] if match else text)
    return "\n\n".join(cut)


def _is_mdn(msg: Message) -> bool:
    if msg.get_content_type() == "multipart/report":
        report_type = _param(msg, "report-type")
        if report_type:
            return report_type == "disposition-notification"
    types = {part.get_content_type() for part in _walk(msg)}
    return "message/disposition-notification" in types and not types & _DSN_PARTS


def _from_mail_system(msg: Message) -> bool:
    if msg.get_content_type() == "multipart/report" and _param(msg, "report-type") in {
        "delivery-status",
        "global-delivery-status",
    }:
        return True
    if msg.get("X-Failed-Recipients") is not None:
        return True
    return any(_MAIL_SYSTEM_SENDER_RE.search(_header(msg, name)) for name in ("From", "Sender"))


def _looks_like_bounce(msg: Message, subject: str) -> bool:
    # Bounces go to the null reverse-path, so they arrive with an empty Return-Path.
    return bool(_BOUNCE_SUBJECT_RE.search(subject)) or _header(msg, "Return-Path").strip() == "<>"


def _is_auto_reply(msg: Message, subject: str) -> bool:
    if _header(msg, "Auto-Submitted").strip().lower().startswith("auto-replied"):  # RFC 3834
        return True
    for name in _AUTO_REPLY_HEADERS:
        value = msg.get(name)
        if value is not None and str(value).strip().lower() not in {"no", "false", "0"}:
            return True
    for name in ("Precedence", "X-Precedence"):
        if _header(msg, name).strip().lower() in {"auto_reply", "auto-reply"}:
            return True
    return bool(_AUTO_REPLY_SUBJECT_RE.search(subject))


# -- RFC 3464 delivery-status fields -------------------------------------------------------------

_Block = dict[str, str]


def _field_blocks(text: str) -> list[_Block]:
    """Parse blank-line separated groups of "Name: value" fields (continuation lines unfolded)."""
    blocks: list[_Block] = []
    for paragraph in _BLANK_LINES_RE.split(_normalise_newlines(text)):
        fields: _Block = {}
        current: str | None = None
        for line in paragraph.split("\n"):
            if line[:1] in {" ", "\t"}:
                if current is not None:
                    fields[current] += " " + line.strip()
                continue
            match = _FIELD_RE.match(line)
            current = None
            if match:
                name = match.group(1).lower()
                if name not in fields:  # RFC 3464 fields occur once; keep the first
                    fields[name] = match.group(2).strip()
                    current = name
        if fields:
            blocks.append(fields)
    return blocks


def _message_block(block: Message) -> _Block:
    fields: _Block = {}
    for name, value in block.items():
        fields.setdefault(name.lower(), " ".join(str(value).split()))
    return fields


def _recipient_blocks(blocks: Iterable[_Block]) -> list[_Block]:
    return [b for b in blocks if "final-recipient" in b or "original-recipient" in b]


def _structured_recipient_blocks(msg: Message) -> list[_Block]:
    blocks: list[_Block] = []
    for part in _walk(msg):
        if part.get_content_type() not in _DSN_PARTS:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):  # compat32 parses each field group as a header block
            blocks.extend(_message_block(sub) for sub in payload if isinstance(sub, Message))
        else:  # e.g. an encoded or UTF-8 (RFC 6533) part that the parser left as text
            blocks.extend(_field_blocks(_part_text(part)))
    return _recipient_blocks(blocks)


def _address_in(value: str) -> str | None:
    # "rfc822; <user@example.com>": the address type comes first; a source route such as
    # "@relay:user@internal" holds no deliverable address and finds no match.
    _type, separator, rest = value.partition(";")
    match = _ADDR_RE.search(rest if separator else value)
    return match.group(0).lower() if match else None


def _block_address(block: _Block) -> str | None:
    # Original-Recipient is the address we submitted; Final-Recipient may be an internal rewrite.
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        address = _address_in(block.get(name, ""))
        if address:
            return address
    return None


def _is_success_action(action: str) -> bool:
    return action.strip().lower().startswith(("delivered", "relayed", "expanded"))


def _dsn_recipients(blocks: Iterable[_Block]) -> list[BouncedRecipient]:
    found: list[BouncedRecipient] = []
    for block in blocks:
        action = block.get("action", "").strip().lower()
        delayed = action.startswith("delay")
        # "failure" and "error" are non-standard spellings seen in the wild.
        if not (delayed or action.startswith(("fail", "error", "bounce"))):
            continue
        address = _block_address(block)
        if address is None:
            continue
        status_field = block.get("status", "")
        diagnostic = _DIAG_TYPE_RE.sub("", block.get("diagnostic-code", ""), count=1)
        match = _STATUS_FIELD_RE.match(status_field) or _FAILURE_CODE_IN_TEXT_RE.search(diagnostic)
        status = match.group(1) if match else None
        found.append(
            BouncedRecipient(
                address=address,
                kind=_dsn_kind(delayed, status, status_field, diagnostic),
                status=status,
                reason=_trim(diagnostic or status_field or f"Action: {action}"),
            )
        )
    return _merge(found)


def _dsn_kind(delayed: bool, status: str | None, status_field: str, diagnostic: str) -> Kind:
    if delayed:
        return "soft"
    if status is not None:
        # The status class decides: 4.x.x is transient even when the Action says failed.
        return "soft" if status.startswith("4") else "hard"
    # A non-RFC status such as "553 Exceeded maximum inbound message size": use the reply code.
    for text in (status_field, diagnostic):
        match = _REPLY_CODE_RE.search(text)
        if match:
            return "soft" if match.group(1) == "4" else "hard"
    return "hard"


# -- non-standard bounces via flufl.bounce -------------------------------------------------------


def _drop_attached_messages(msg: Message) -> None:
    # flufl's detectors also search attached messages; without them a bounce forwarded by a person
    # would count as a bounce of ours. The report's own delivery-status parts stay.
    for part in _walk(msg):
        attached = part.get_content_maintype() == "message"
        if attached and part.get_content_type() not in _REPORT_PARTS:
            part.set_payload([])


def _flufl_failures(msg: Message) -> tuple[frozenset[str], frozenset[str]]:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:
        # A detector choked on a malformed message; flufl has already logged it.
        return frozenset(), frozenset()
    return _clean_addresses(temporary), _clean_addresses(permanent)


def _clean_addresses(found: Iterable[bytes]) -> frozenset[str]:
    addresses: set[str] = set()
    for raw in found:
        candidate = raw.decode("utf-8", "replace").strip().strip("<>\"'.,;:").lower()
        if _ADDR_RE.fullmatch(candidate):  # heuristics can return fragments; those are unusable
            addresses.add(candidate)
    return frozenset(addresses)


# Classic "failure notice" bounces of webmail providers (Yahoo/AOL, Outlook.com, Mail.ru, Yandex,
# GMX): plain text, no delivery-status part, the failed address in a sentence or on a line of its
# own. flufl's detectors know some of these layouts; for the others, an address named in the
# notice counts when the notice says delivery failed. Addresses of the mail system itself (the
# daemon, the postmaster) and the report's own envelope are never recipients.
_FAILURE_SENTENCE_RE = re.compile(
    r"unable to deliver|could(?: not|n't) (?:be )?deliver|wasn't able to deliver|was not able to deliver"
    r"|delivery (?:has )?failed|failed permanently|delivery to the following recipient"
    r"|(?:was|were|has been|have been) not (?:been )?delivered|could(?: not|n't) be delivered"
    r"|not accepted|(?:mailbox|address|recipient|user)\b[^\n]{0,60}\b(?:unavailable|unknown|not found|does not exist"
    r"|doesn't exist|disabled|rejected)|no such (?:user|mailbox|recipient)|user unknown|recipient not found"
    r"|не (?:было |был |была )?доставлен|недоставлен|не удалось доставить|nicht zugestellt|unzustellbar"
    r"|kunne ikke leveres|ikke levert|non recapitabile|no se pudo entregar",
    re.IGNORECASE,
)
_TEMPORARY_RE = re.compile(
    r"(?<![\w.])4\d\d(?![\w.])|(?<![\w.])4\.\d{1,3}\.\d{1,3}|temporar|try again|over ?quota|quota exceeded"
    r"|mailbox (?:is )?full|will (?:retry|keep trying)|delayed|deferred",
    re.IGNORECASE,
)


def _plain_failures(msg: Message, notice: str) -> tuple[frozenset[str], frozenset[str]]:
    """Failed addresses of a plain-text failure notice flufl does not know: (temporary, permanent)."""
    if not _FAILURE_SENTENCE_RE.search(notice):
        return frozenset(), frozenset()
    envelope = {
        m.lower()
        for name in ("From", "To", "Sender", "Return-Path", "Reply-To", "Delivered-To")
        for m in _ADDR_RE.findall(_header(msg, name))
    }
    lines = notice.split("\n")
    temporary: set[str] = set()
    permanent: set[str] = set()
    for i, line in enumerate(lines):
        for found in _ADDR_RE.findall(line):
            address = found.lower().strip(".")
            local = address.partition("@")[0]
            if address in envelope or _MAIL_SYSTEM_SENDER_RE.search(local) or local in ("postmaster", "abuse"):
                continue
            window = " ".join(lines[i : i + 1 + _TEXT_WINDOW])
            permanent_code = re.search(r"(?<![\w.])5\d\d(?![\w.])|(?<![\w.])5\.\d", window)
            soft = _TEMPORARY_RE.search(window) is not None and permanent_code is None
            (temporary if soft else permanent).add(address)
    return frozenset(temporary - permanent), frozenset(permanent)


def _text_recipients(
    temporary: frozenset[str], permanent: frozenset[str], notice: str, fallback_reason: str
) -> list[BouncedRecipient]:
    lines = notice.split("\n")
    failed = temporary | permanent
    # Which failed addresses each line names, and where each address occurs: one pass over the
    # text keeps a report listing thousands of addresses linear.
    named: list[frozenset[str]] = []
    occurrences: dict[str, list[int]] = {address: [] for address in failed}
    for i, line in enumerate(lines):
        on_line = frozenset(m.lower() for m in _ADDR_RE.findall(line)) & failed
        named.append(on_line)
        for address in on_line:
            occurrences[address].append(i)
    found: list[tuple[int, BouncedRecipient]] = []
    for address in failed:
        hits = occurrences[address]
        status, reason = _text_evidence(address, hits, lines, named)
        # A warning (flufl "temporary") stays soft; otherwise the status class can downgrade.
        soft = address not in permanent or (status is not None and status.startswith("4"))
        recipient = BouncedRecipient(
            address=address,
            kind="soft" if soft else "hard",
            status=status,
            reason=_trim(reason or fallback_reason or "delivery failed"),
        )
        found.append((hits[0] if hits else len(lines), recipient))
    found.sort(key=lambda item: (item[0], item[1].address))
    return [recipient for _, recipient in found]


def _text_evidence(
    address: str, hits: list[int], lines: list[str], named: list[frozenset[str]]
) -> tuple[str | None, str]:
    """The status code and sentence near an address in a text bounce."""
    # The reply line that names the address ("550 5.1.1 <user@example.com>... User unknown").
    for i in hits:
        match = _FAILURE_CODE_IN_TEXT_RE.search(lines[i])
        if match:
            return match.group(1), lines[i]
    # Otherwise the lines under it, up to a blank line or the next failed address.
    windows = [_window(address, i, lines, named) for i in hits]
    for window in windows:
        match = _FAILURE_CODE_IN_TEXT_RE.search(" ".join(window))
        if match:
            return match.group(1), _describe(window)
    if not hits:
        return None, ""
    described = _describe(windows[0])
    if described:
        return None, described
    # A bare address in a list: the sentences around it say what happened.
    start = hits[0]
    before = next((line for line in reversed(lines[:start]) if line.strip()), "")
    after = next((line for line in lines[start + 1 : start + 3] if line.strip()), "")
    around = [line for line in (before, after) if not _ADDR_RE.search(line)]
    return None, " … ".join(dict.fromkeys(around))


def _window(address: str, start: int, lines: list[str], named: list[frozenset[str]]) -> list[str]:
    window = [lines[start]]
    for j in range(start + 1, min(start + 1 + _TEXT_WINDOW, len(lines))):
        if not lines[j].strip() or named[j] - {address}:
            break
        window.append(lines[j])
    return window


def _describe(window: list[str]) -> str:
    # Drop lines that are nothing but the address itself.
    kept = [line for line in window if _ADDR_RE.sub("", line).strip(" \t<>:\"'()[],;.")]
    return " ".join(kept)
