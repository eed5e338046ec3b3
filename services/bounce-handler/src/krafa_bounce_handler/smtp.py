"""The inbound SMTP endpoint that DSNs are sent to, served by aiosmtpd in the service's own
event loop.

Mail is accepted for the return domain only. The answer to DATA is 250 only once the message
and its effects have committed; any failure on the way (the database away, a timeout) answers
451, so the sending MTA keeps the message and retries: nothing is lost, and a message received
twice changes nothing (see service.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import weakref
from collections.abc import Awaitable, Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from krafa_bounce_handler import metrics
from krafa_bounce_handler.domain import InboundMessage

log = logging.getLogger(__name__)
# aiosmtpd logs envelope addresses at INFO and message lines at DEBUG: personal data.
_AIOSMTPD_LOG = logging.getLogger("mail.log")

Receiver = Callable[[InboundMessage], Awaitable[object]]

# A DSN goes to one return path. The raw message is stored once per recipient, so this bounds
# what one transaction can write; an MTA sends the recipients refused with 452 in a new one.
MAX_RECIPIENTS = 10

ACCEPTED = "250 2.0.0 OK: recorded"
TEMPFAIL = "451 4.3.0 Temporary local problem, please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, please try again later"
TOO_BIG = "552 5.3.4 Message too big for system"
NOT_OURS = "550 5.7.1 Relay access denied: this server takes mail for its return addresses only"
TOO_MANY = "452 4.5.3 Too many recipients"


class InboundSmtp:
    """aiosmtpd handler and server lifecycle. `serve()` is a runtime background task: it binds
    (retrying while the port is taken), serves until cancelled, then stops accepting, lets the
    messages in flight finish for up to `grace_s`, and closes the remaining connections."""

    def __init__(
        self,
        receive: Receiver,
        *,
        host: str,
        port: int,
        return_domain: str,
        max_message_bytes: int,
        transaction_timeout_s: float = 30.0,
        grace_s: float = 10.0,
    ) -> None:
        self._receive = receive
        self.host = host
        self.port = port
        self.return_domain = return_domain.lower()
        self.max_message_bytes = max_message_bytes
        self.transaction_timeout_s = transaction_timeout_s
        self.grace_s = grace_s
        self.listening = False
        self._closing = False
        self._protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._listening = asyncio.Event()

    async def wait_listening(self) -> None:
        await self._listening.wait()

    def _protocol(self) -> SMTP:
        protocol = SMTP(
            self,
            hostname=self.return_domain,
            ident="Krafa bounce-handler",
            data_size_limit=self.max_message_bytes,
            enable_SMTPUTF8=True,  # DSNs about internationalised addresses (RFC 6533)
            decode_data=False,
            loop=asyncio.get_running_loop(),
        )
        self._protocols.add(protocol)
        return protocol

    async def serve(self) -> None:
        if _AIOSMTPD_LOG.getEffectiveLevel() < logging.WARNING:
            _AIOSMTPD_LOG.setLevel(logging.WARNING)
        server = await self._bind()
        self.port = server.sockets[0].getsockname()[1]
        self.listening = True
        self._listening.set()
        log.info("smtp listening", extra={"host": self.host, "port": self.port})
        try:
            await asyncio.Event().wait()  # until the runtime cancels this task
        finally:
            await self._shutdown(server)

    async def _bind(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        backoff = 0.5
        while True:
            try:
                return await loop.create_server(self._protocol, self.host, self.port)
            except OSError as exc:
                # Readiness reports smtp=false meanwhile; a port taken by an old process frees up.
                log.warning("smtp port unavailable, retrying", extra={"port": self.port, "error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _shutdown(self, server: asyncio.Server) -> None:
        self.listening = False
        self._closing = True
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.grace_s)
        for protocol in list(self._protocols):
            transport = getattr(protocol, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
        log.info("smtp stopped")

    # -- aiosmtpd hooks --------------------------------------------------------------------------

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        _local, at, domain = address.rpartition("@")
        if not at or domain.lower() != self.return_domain:
            metrics.SMTP_MESSAGES.labels("rejected_recipient").inc()
            return NOT_OURS
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return TOO_MANY
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self.max_message_bytes:  # aiosmtpd counts the wire bytes; this the message
            return TOO_BIG
        if self._closing:
            metrics.SMTP_MESSAGES.labels("shutting_down").inc()
            return SHUTTING_DOWN
        message = InboundMessage(
            raw=bytes(raw),
            # aiosmtpd reports the null reverse path of a DSN as "<>".
            mail_from="" if envelope.mail_from in (None, "<>") else str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
        )
        self._in_flight += 1
        self._idle.clear()
        try:
            await asyncio.wait_for(self._receive(message), self.transaction_timeout_s)
        except Exception as exc:
            # No message text: exception messages can quote addresses. The type and the place
            # where it was raised are enough to tell an outage from a bug.
            log.warning(
                "inbound message not recorded; the sender will retry",
                extra={"error": type(exc).__name__, "raised_at": _raised_at(exc), "bytes": len(raw)},
            )
            metrics.SMTP_MESSAGES.labels("tempfail").inc()
            return TEMPFAIL
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        metrics.SMTP_MESSAGES.labels("accepted").inc()
        return ACCEPTED

    def __repr__(self) -> str:
        return f"InboundSmtp({self.host}:{self.port})"


def _raised_at(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
