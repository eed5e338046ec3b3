r"""An SMTP server standing in for the debtors' mail servers.

Every accepted message lands in a Maildir-like spool (``new/`` plus an ``index.jsonl``). Recipients
in a bounce domain, or whose local part starts with ``bounce-``, are accepted and then bounced
asynchronously with a real RFC 3464 DSN sent to the envelope sender (the VERP return path), which
is how a real receiving MTA behaves once the message has left the sender's hands.

CLI::

    python -m krafa.sinks.smtp_catcher --host 127.0.0.1 --port 0 --spool DIR \
        [--bounce-domains invalid.example,...] [--bounce-to HOST:PORT] [--hostname NAME] \
        [--faults-file FILE]

Fault mode (for chaos runs): ``--faults-file`` names a JSON file ``{"refuse_rate": 0.3,
"drop_rate": 0.1}``, re-read whenever it changes. While it asks for faults, that share of
messages is refused with a transient ``451`` at the end of DATA (nothing stored) and that share
has its connection cut before the reply (nothing stored either), so a correct client retries and
nothing is lost or doubled. Every injected fault is appended to ``DIR/faults.jsonl``.

Once listening it prints ``READY smtp <host>:<port>`` on stdout. SIGTERM/SIGINT stop it (exit 0).

Spool layout::

    DIR/tmp/                     half-written files (never read these)
    DIR/new/<ts>-<uuid>.eml      raw message with X-Krafa-Envelope-From/-To prepended
    DIR/index.jsonl              {"file", "mail_from", "rcpt_tos", "message_id", "subject",
                                  "received_at", "bounced"} per message
    DIR/dsn/<ts>-<uuid>.eml      every DSN generated, same envelope header convention
    DIR/dsn/index.jsonl          {"file", "return_path", "failed_rcpts", "original_file",
                                  "original_message_id", "created_at"} per DSN
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.policy
import email.utils
import json
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("krafa.sinks.smtp_catcher")

ENVELOPE_FROM_HEADER = "X-Krafa-Envelope-From"
ENVELOPE_TO_HEADER = "X-Krafa-Envelope-To"
BOUNCE_LOCALPART_PREFIX = "bounce-"
DSN_STATUS = "5.1.1"

# Roughly what a real MTA does before giving up on a DSN: a few minutes of retries with backoff.
DEFAULT_DSN_RETRY_FOR = 300.0
DEFAULT_DSN_RETRY_INITIAL = 0.5
DSN_RETRY_MAX_DELAY = 15.0
# Bound memory if the bounce receiver is down while a test floods us; the DSN is still on disk.
MAX_PENDING_DSNS = 1000

_CRLF = b"\r\n"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _spool_name(ts: datetime) -> str:
    # Lexicographic order == arrival order, which is what people listing new/ expect.
    return f"{ts.strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex}.eml"


def _one_line(value: str) -> str:
    """Collapse folding so header values from the wire cannot break the lines we write."""
    return " ".join(value.split())


def _header_text(headers: Message, name: str) -> str | None:
    try:
        value = headers.get(name)
    except Exception:  # a malformed header must not lose the message
        return None
    if value is None:
        return None
    # Undo the parser's surrogateescape so raw UTF-8 (SMTPUTF8) headers read as text.
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _one_line(text)


def _split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    if not local:
        return address, ""
    return local, domain


def _header_block(raw: bytes) -> bytes:
    """The header section of a raw message, CRLF-terminated, without the blank separator line."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx != -1:
            block = raw[:idx]
            break
    else:
        block = raw
    lines = block.replace(b"\r\n", b"\n").split(b"\n")
    return _CRLF.join(lines) + _CRLF


def _line_ending(raw: bytes) -> bytes:
    first = raw.find(b"\n")
    if first > 0 and raw[first - 1 : first] == b"\r":
        return _CRLF
    return b"\n" if first != -1 else _CRLF


def _with_envelope(raw: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> bytes:
    eol = _line_ending(raw)
    prefix = (
        f"{ENVELOPE_FROM_HEADER}: <{mail_from}>".encode()
        + eol
        + f"{ENVELOPE_TO_HEADER}: {', '.join(f'<{r}>' for r in rcpt_tos)}".encode()
        + eol
    )
    return prefix + raw


def _atomic_write(root: Path, subdir: str, name: str, data: bytes) -> Path:
    """Maildir delivery: write under tmp/, fsync, then rename so readers never see partial files."""
    tmp_path = root / "tmp" / name
    final_path = root / subdir / name
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    os.rename(tmp_path, final_path)
    return final_path


def _append_jsonl(path: Path, record: dict[str, Any], lock: threading.Lock) -> None:
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    with lock, path.open("ab") as fh:
        # One write per line so concurrent appenders (even other processes) do not interleave.
        fh.write(line)
        fh.flush()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            # A torn last line from a killed writer; everything before it is still good.
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


@dataclass(frozen=True)
class CaughtMessage:
    """One message as stored in the spool."""

    file: Path
    mail_from: str
    rcpt_tos: list[str]
    message_id: str | None
    subject: str | None
    received_at: str
    bounced: list[str] = field(default_factory=list)

    def raw(self) -> bytes:
        """The stored bytes: envelope header lines followed by the message exactly as received."""
        return self.file.read_bytes()

    def as_email(self) -> EmailMessage:
        msg = BytesParser(policy=email.policy.default).parsebytes(self.raw())
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass(frozen=True)
class GeneratedDsn:
    """One delivery status notification the catcher generated (delivered or not)."""

    file: Path
    return_path: str
    failed_rcpts: list[str]
    original_file: str
    original_message_id: str | None
    created_at: str

    def raw(self) -> bytes:
        return self.file.read_bytes()

    def as_email(self) -> EmailMessage:
        msg = BytesParser(policy=email.policy.default).parsebytes(self.raw())
        assert isinstance(msg, EmailMessage)
        return msg


def read_spool(spool: Path) -> list[CaughtMessage]:
    """Messages in arrival order, read from ``index.jsonl`` (usable on another process's spool)."""
    out: list[CaughtMessage] = []
    for rec in _read_jsonl(spool / "index.jsonl"):
        out.append(
            CaughtMessage(
                file=spool / str(rec["file"]),
                mail_from=str(rec.get("mail_from", "")),
                rcpt_tos=[str(r) for r in rec.get("rcpt_tos", [])],
                message_id=rec.get("message_id"),
                subject=rec.get("subject"),
                received_at=str(rec.get("received_at", "")),
                bounced=[str(r) for r in rec.get("bounced", [])],
            )
        )
    return out


def read_dsns(spool: Path) -> list[GeneratedDsn]:
    out: list[GeneratedDsn] = []
    for rec in _read_jsonl(spool / "dsn" / "index.jsonl"):
        out.append(
            GeneratedDsn(
                file=spool / str(rec["file"]),
                return_path=str(rec.get("return_path", "")),
                failed_rcpts=[str(r) for r in rec.get("failed_rcpts", [])],
                original_file=str(rec.get("original_file", "")),
                original_message_id=rec.get("original_message_id"),
                created_at=str(rec.get("created_at", "")),
            )
        )
    return out


def build_dsn(
    *,
    reporting_mta: str,
    return_path: str,
    failed_rcpts: Sequence[str],
    original: bytes,
    arrival: datetime,
    original_message_id: str | None,
) -> bytes:
    """An RFC 3464 multipart/report DSN, shaped like Postfix's, as raw CRLF bytes.

    Built by hand rather than with ``email.message`` because the stdlib generator cannot emit a
    message/delivery-status body from text, and byte-exact control keeps the output predictable.
    """
    boundary = f"=_krafa-dsn-{uuid.uuid4().hex}"
    now = _utcnow()
    arrival_date = email.utils.format_datetime(arrival)
    headers = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{return_path}>",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {email.utils.format_datetime(now)}",
        f"Message-ID: <{uuid.uuid4().hex}@{reporting_mta}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f'\tboundary="{boundary}"',
    ]
    if original_message_id:
        headers.append(f"In-Reply-To: {original_message_id}")
        headers.append(f"References: {original_message_id}")

    human = [
        f"This is the mail system at host {reporting_mta}.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. It's attached below.",
        "",
        "                   The mail system",
        "",
    ]
    human += [
        f"<{rcpt}>: host {reporting_mta} said: 550 5.1.1 <{rcpt}>: Recipient address"
        " rejected: User unknown in virtual mailbox table"
        for rcpt in failed_rcpts
    ]

    status_lines = [
        f"Reporting-MTA: dns; {reporting_mta}",
        f"Arrival-Date: {arrival_date}",
    ]
    for rcpt in failed_rcpts:
        status_lines += [
            "",
            # No Original-Recipient (needs ORCPT) and no Remote-MTA: the rejection is our own.
            f"Final-Recipient: rfc822; {rcpt}",
            "Action: failed",
            f"Status: {DSN_STATUS}",
            f"Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User"
            " unknown in virtual mailbox table",
        ]

    original_headers = _header_block(original)
    headers_cte = "7bit" if original_headers.isascii() else "8bit"

    def text(lines: Iterable[str]) -> bytes:
        return _CRLF.join(line.encode() for line in lines) + _CRLF

    delimiter = f"--{boundary}".encode() + _CRLF
    return b"".join(
        [
            text(headers),
            _CRLF,
            b"This is a MIME-encapsulated message." + _CRLF,
            _CRLF,
            delimiter,
            b"Content-Description: Notification" + _CRLF,
            b'Content-Type: text/plain; charset="us-ascii"' + _CRLF,
            _CRLF,
            text(human),
            _CRLF,
            delimiter,
            b"Content-Description: Delivery report" + _CRLF,
            b"Content-Type: message/delivery-status" + _CRLF,
            _CRLF,
            text(status_lines),
            _CRLF,
            delimiter,
            b"Content-Description: Undelivered Message Headers" + _CRLF,
            b"Content-Type: text/rfc822-headers" + _CRLF,
            f"Content-Transfer-Encoding: {headers_cte}".encode() + _CRLF,
            _CRLF,
            original_headers,
            _CRLF,
            f"--{boundary}--".encode() + _CRLF,
        ]
    )


@dataclass(frozen=True)
class FaultMode:
    """Shares of messages the catcher refuses (451, transient) or cuts off (connection dropped)."""

    refuse_rate: float = 0.0
    drop_rate: float = 0.0

    @classmethod
    def from_json(cls, data: object) -> FaultMode:
        if not isinstance(data, dict):
            return cls()

        def rate(name: str) -> float:
            value = data.get(name, 0.0)
            return min(max(float(value), 0.0), 1.0) if isinstance(value, (int, float)) else 0.0

        return cls(refuse_rate=rate("refuse_rate"), drop_rate=rate("drop_rate"))

    @property
    def active(self) -> bool:
        return self.refuse_rate > 0 or self.drop_rate > 0


def write_fault_mode(path: Path, mode: FaultMode) -> None:
    """Switch a running catcher's fault mode (atomically, so it never reads half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"refuse_rate": mode.refuse_rate, "drop_rate": mode.drop_rate}))
    os.replace(tmp, path)


def read_faults(spool: Path) -> list[dict[str, Any]]:
    """The faults a catcher injected: ``{"fault": "refused"|"dropped", "at": ...}`` per message."""
    return _read_jsonl(spool / "faults.jsonl")


@dataclass
class _PendingDsn:
    dsn_id: str
    return_path: str
    raw: bytes
    queued_at: float = field(default_factory=time.monotonic)


class SmtpCatcher:
    """The catcher as an object: ``await start()``, send mail to ``.port``, read ``messages()``.

    It runs on the caller's event loop (no thread), so in-process tests can drive it directly.
    """

    def __init__(
        self,
        spool: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bounce_domains: Iterable[str] = (),
        bounce_to: tuple[str, int] | None = None,
        hostname: str | None = None,
        dsn_retry_for: float = DEFAULT_DSN_RETRY_FOR,
        dsn_retry_initial: float = DEFAULT_DSN_RETRY_INITIAL,
        faults_file: Path | None = None,
        fault_seed: int | None = None,
    ) -> None:
        self.spool = Path(spool)
        self.faults_file = faults_file
        self._faults = FaultMode()
        self._faults_stamp: tuple[int, int, int] | None = None
        self._random = random.Random(fault_seed)  # fault injection, not security
        self._faults_lock = threading.Lock()
        self.host = host
        self._requested_port = port
        self.bounce_domains = frozenset(d.strip().lower() for d in bounce_domains if d.strip())
        self.bounce_to = bounce_to
        self.hostname = hostname or socket.gethostname() or "localhost"
        self.dsn_retry_for = dsn_retry_for
        self.dsn_retry_initial = dsn_retry_initial
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._dsn_tasks: set[asyncio.Task[None]] = set()
        self._index_lock = threading.Lock()
        self._dsn_index_lock = threading.Lock()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SmtpCatcher is not started")
        return self._port

    def messages(self) -> list[CaughtMessage]:
        return read_spool(self.spool)

    def dsns(self) -> list[GeneratedDsn]:
        return read_dsns(self.spool)

    @property
    def pending_dsns(self) -> int:
        return len(self._dsn_tasks)

    def set_faults(self, mode: FaultMode) -> None:
        """Fault mode for in-process use; a ``faults_file`` overrides it when it changes."""
        self._faults = mode

    def fault_mode(self) -> FaultMode:
        if self.faults_file is not None:
            try:
                # The inode too: write_fault_mode replaces the file, and two writes can share an
                # mtime on a coarse filesystem clock.
                info = self.faults_file.stat()
                stamp: tuple[int, int, int] | None = (info.st_mtime_ns, info.st_ino, info.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._faults_stamp:
                self._faults_stamp = stamp
                try:
                    data = json.loads(self.faults_file.read_text()) if stamp is not None else {}
                except (OSError, ValueError):
                    data = {}
                self._faults = FaultMode.from_json(data)
                log.warning("fault mode now %s", self._faults)
        return self._faults

    def _pick_fault(self) -> str | None:
        mode = self.fault_mode()
        if not mode.active:
            return None
        roll = self._random.random()
        if roll < mode.refuse_rate:
            fault = "refused"
        elif roll < mode.refuse_rate + mode.drop_rate:
            fault = "dropped"
        else:
            return None
        _append_jsonl(self.spool / "faults.jsonl", {"fault": fault, "at": _iso(_utcnow())}, self._faults_lock)
        return fault

    def is_bounce_recipient(self, address: str) -> bool:
        local, domain = _split_address(address)
        return domain.lower() in self.bounce_domains or local.lower().startswith(BOUNCE_LOCALPART_PREFIX)

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("SmtpCatcher already started")
        # aiosmtpd logs every MAIL/RCPT address at INFO; addresses are personal data.
        aiosmtpd_log = logging.getLogger("mail.log")
        if aiosmtpd_log.getEffectiveLevel() < logging.WARNING:
            aiosmtpd_log.setLevel(logging.WARNING)
        for sub in ("tmp", "new", "cur", "dsn"):
            (self.spool / sub).mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make_protocol, host=self.host, port=self._requested_port)
        self._port = int(self._server.sockets[0].getsockname()[1])
        log.info(
            "smtp catcher listening on %s:%d (bounce domains: %d, bounce-to: %s)",
            self.host,
            self._port,
            len(self.bounce_domains),
            "set" if self.bounce_to else "unset",
        )

    async def stop(self, dsn_grace: float = 1.0) -> None:
        """Stop listening, drop open sessions, give queued DSNs ``dsn_grace`` seconds to go out."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for proto in list(self._protocols):
            if proto.transport is not None:
                proto.transport.close()
        await server.wait_closed()
        if self._dsn_tasks and dsn_grace > 0:
            await asyncio.wait(set(self._dsn_tasks), timeout=dsn_grace)
        leftover = list(self._dsn_tasks)
        for task in leftover:
            task.cancel()
        if leftover:
            await asyncio.gather(*leftover, return_exceptions=True)
            log.warning("stopped with %d DSN(s) undelivered (copies remain in dsn/)", len(leftover))
        log.info("smtp catcher stopped")

    async def wait_dsns_idle(self) -> None:
        """Return once no DSN is waiting for delivery; wrap in ``asyncio.timeout`` to bound it."""
        while self._dsn_tasks:
            await asyncio.wait(set(self._dsn_tasks))

    async def __aenter__(self) -> SmtpCatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- SMTP side ---------------------------------------------------------------------------

    def _make_protocol(self) -> SMTP:
        proto = SMTP(
            _Handler(self),
            hostname=self.hostname,
            enable_SMTPUTF8=True,
            decode_data=False,
            loop=asyncio.get_running_loop(),
        )
        self._protocols.add(proto)
        return proto

    async def _accept(self, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content if isinstance(envelope.content, bytes) else b""
        # aiosmtpd reports the null reverse-path (MAIL FROM:<>) as "<>"; we store it as "".
        mail_from = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        rcpt_tos = list(envelope.rcpt_tos)
        received = _utcnow()
        bounced = [r for r in rcpt_tos if self.is_bounce_recipient(r)]
        try:
            name, message_id = await asyncio.to_thread(self._store, raw, mail_from, rcpt_tos, received, bounced)
        except OSError:
            log.exception("could not spool message")
            # Transient on purpose: the client keeps the message and retries, like with a real MTA.
            return "451 4.3.0 Local error in processing"
        log.info("accepted message %s rcpts=%d bounced=%d", name, len(rcpt_tos), len(bounced))
        if bounced:
            await self._bounce(raw, name, mail_from, bounced, received, message_id)
        return f"250 2.0.0 Ok: queued as {name.removesuffix('.eml')}"

    def _store(
        self,
        raw: bytes,
        mail_from: str,
        rcpt_tos: list[str],
        received: datetime,
        bounced: list[str],
    ) -> tuple[str, str | None]:
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        message_id = _header_text(headers, "Message-ID")
        subject = _header_text(headers, "Subject")
        name = _spool_name(received)
        _atomic_write(self.spool, "new", name, _with_envelope(raw, mail_from, rcpt_tos))
        record = {
            "file": f"new/{name}",
            "mail_from": mail_from,
            "rcpt_tos": rcpt_tos,
            "message_id": message_id,
            "subject": subject,
            "received_at": _iso(received),
            "bounced": bounced,
        }
        _append_jsonl(self.spool / "index.jsonl", record, self._index_lock)
        return name, message_id

    # --- bounces -----------------------------------------------------------------------------

    async def _bounce(
        self,
        raw: bytes,
        original_name: str,
        return_path: str,
        failed: list[str],
        received: datetime,
        message_id: str | None,
    ) -> None:
        if not return_path:
            # RFC 5321 6.1/6.2: never bounce a message with a null return path (loop prevention).
            log.info("message %s has null return path; no DSN", original_name)
            return
        dsn = build_dsn(
            reporting_mta=self.hostname,
            return_path=return_path,
            failed_rcpts=failed,
            original=raw,
            arrival=received,
            original_message_id=message_id,
        )
        created = _utcnow()
        name = _spool_name(created)
        try:
            await asyncio.to_thread(self._store_dsn, name, dsn, return_path, failed, original_name, message_id, created)
        except OSError:
            log.exception("could not store DSN copy for message %s", original_name)
        dsn_id = name.removesuffix(".eml")
        if self.bounce_to is None:
            log.warning("DSN %s generated but no --bounce-to configured; not sent", dsn_id)
            return
        if len(self._dsn_tasks) >= MAX_PENDING_DSNS:
            log.warning("DSN queue full (%d); DSN %s kept on disk only", MAX_PENDING_DSNS, dsn_id)
            return
        task = asyncio.create_task(
            self._deliver_with_retry(_PendingDsn(dsn_id, return_path, dsn)),
            name=f"dsn-{dsn_id}",
        )
        self._dsn_tasks.add(task)
        task.add_done_callback(self._dsn_tasks.discard)
        log.info("DSN %s queued for message %s (%d failed rcpts)", dsn_id, original_name, len(failed))

    def _store_dsn(
        self,
        name: str,
        dsn: bytes,
        return_path: str,
        failed: list[str],
        original_name: str,
        message_id: str | None,
        created: datetime,
    ) -> None:
        _atomic_write(self.spool, "dsn", name, _with_envelope(dsn, "", [return_path]))
        record = {
            "file": f"dsn/{name}",
            "return_path": return_path,
            "failed_rcpts": failed,
            "original_file": f"new/{original_name}",
            "original_message_id": message_id,
            "created_at": _iso(created),
        }
        _append_jsonl(self.spool / "dsn" / "index.jsonl", record, self._dsn_index_lock)

    async def _deliver_with_retry(self, pending: _PendingDsn) -> None:
        assert self.bounce_to is not None
        host, port = self.bounce_to
        delay = self.dsn_retry_initial
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._send_dsn(host, port, pending)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                codes = [r.code for r in exc.recipients]
                if all(code >= 500 for code in codes):
                    log.warning("DSN %s permanently refused by bounce receiver (codes %s)", pending.dsn_id, codes)
                    return
                reason = f"recipient refused {codes}"
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:
                    log.warning("DSN %s permanently refused by bounce receiver (code %d)", pending.dsn_id, exc.code)
                    return
                reason = f"SMTP {exc.code}"
            except (OSError, aiosmtplib.SMTPException, TimeoutError) as exc:
                # Only the type: exception texts can carry addresses, which stay out of logs.
                reason = type(exc).__name__
            else:
                log.info("DSN %s delivered (attempt %d)", pending.dsn_id, attempt)
                return
            waited = time.monotonic() - pending.queued_at
            if waited + delay > self.dsn_retry_for:
                log.error(
                    "giving up on DSN %s after %d attempts over %.0fs (%s)", pending.dsn_id, attempt, waited, reason
                )
                return
            log.info("DSN %s attempt %d failed (%s); retrying in %.1fs", pending.dsn_id, attempt, reason, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, DSN_RETRY_MAX_DELAY)

    async def _send_dsn(self, host: str, port: int, pending: _PendingDsn) -> None:
        client = aiosmtplib.SMTP(hostname=host, port=port, timeout=30, local_hostname=self.hostname, start_tls=False)
        async with client:
            mail_options: list[str] = []
            if not pending.return_path.isascii():
                mail_options.append("SMTPUTF8")
            if not pending.raw.isascii() and client.supports_extension("8bitmime"):
                mail_options.append("BODY=8BITMIME")
            # aiosmtplib.send() refuses an empty sender, but a DSN must go out as MAIL FROM:<>.
            await client.sendmail("", [pending.return_path], pending.raw, mail_options=mail_options)


class _Handler:
    """aiosmtpd handler hooks; everything interesting lives on the catcher."""

    def __init__(self, catcher: SmtpCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self._catcher._pick_fault()
        if fault == "refused":
            # Transient on purpose: a greylisting or overloaded MTA; the client must retry later.
            return "451 4.7.1 Try again later (fault injection)"
        if fault == "dropped" and isinstance(server.transport, asyncio.Transport):
            # The connection dies after the data arrived and before any reply: the client cannot
            # know, and nothing was stored, so only a retry delivers it.
            server.transport.abort()
            return "421 4.4.2 Connection dropped (fault injection)"
        return await self._catcher._accept(envelope)


# --- CLI ---------------------------------------------------------------------------------------


def _parse_hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m krafa.sinks.smtp_catcher",
        description="SMTP catcher standing in for the debtors' mail servers.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (see READY line)")
    p.add_argument("--spool", type=Path, required=True)
    p.add_argument("--bounce-domains", default="", help="comma-separated recipient domains that bounce with 5.1.1")
    p.add_argument(
        "--bounce-to",
        type=_parse_hostport,
        default=None,
        metavar="HOST:PORT",
        help="SMTP server that receives the DSNs (the bounce handler)",
    )
    p.add_argument("--hostname", default=None, help="name used in greetings and DSNs")
    p.add_argument(
        "--dsn-retry-for", type=float, default=DEFAULT_DSN_RETRY_FOR, help="seconds to keep retrying DSN delivery"
    )
    p.add_argument("--faults-file", type=Path, default=None, help="JSON fault mode, re-read when it changes")
    p.add_argument("--log-level", default=os.environ.get("KRAFA_LOG_LEVEL", "INFO"))
    return p


async def _serve(args: argparse.Namespace) -> None:
    catcher = SmtpCatcher(
        args.spool,
        host=args.host,
        port=args.port,
        bounce_domains=str(args.bounce_domains).split(","),
        bounce_to=args.bounce_to,
        hostname=args.hostname,
        dsn_retry_for=args.dsn_retry_for,
        faults_file=args.faults_file,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await catcher.start()
    print(f"READY smtp {_format_hostport(args.host, catcher.port)}", flush=True)
    try:
        await stop.wait()
    finally:
        await catcher.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    # Logs go to stderr: stdout is reserved for the READY line the supervisor parses.
    logging.basicConfig(
        level=str(args.log_level).upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
