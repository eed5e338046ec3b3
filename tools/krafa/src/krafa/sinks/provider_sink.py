r"""One HTTP server standing in for the SMS provider, the print-and-post provider and the netbank
e-document endpoint.

CLI::

    python -m krafa.sinks.provider_sink --host 127.0.0.1 --port 0 --spool DIR \
        [--fail-rate 0.3] [--fail-seed 0]

Once listening it prints ``READY http <host>:<port>`` on stdout. SIGTERM/SIGINT stop it (exit 0).

Endpoints:

``POST /sms/messages``
    JSON ``{"to": "+354...", "from": "...", "text": "...", "client_ref": "...", "callback_url": "..."}``
    -> 201 ``{"id", "status": "accepted", "segments", "price_minor", "currency", "client_ref"}``.
    With ``callback_url``, a delivery receipt follows as a JSON POST ``{"id", "client_ref",
    "status": "delivered"|"failed", "error"}`` signed ``X-Krafa-Signature: sha256=<hex HMAC-SHA256
    of the body>`` with ``--receipt-secret`` (env ``KRAFA_SINK_RECEIPT_SECRET``).
``POST /twilio/2010-04-01/Accounts/{sid}/Messages.json``
    Twilio's form-encoded ``To``/``From``/``Body`` (and ``StatusCallback``) -> 201 Twilio-shaped
    message resource; errors use Twilio's ``{"code", "message", "more_info", "status"}`` shape.
    With ``StatusCallback``, a form-encoded status callback (``MessageSid``, ``MessageStatus``
    ``delivered``/``undelivered``, ``ErrorCode``) follows, signed ``X-Twilio-Signature`` with the
    auth token of the request's basic auth, as Twilio does.

Numbers starting with an ``--undeliverable`` prefix (env ``KRAFA_SINK_UNDELIVERABLE``, comma
separated, default ``+999``) are accepted and then reported failed in the receipt, the way a
switched-off or unallocated handset shows up in real life.
``POST /print/letters``
    multipart: ``file`` (a PDF), ``client_ref``, ``recipient_name``, ``country`` -> 201
    ``{"id", "status": "queued", "pages", "price_minor", "currency", "client_ref"}``.
``POST /netbank/documents``
    JSON ``{"national_id"?, "customer_no"?, "client_ref", "pdf_base64", "title"}`` (at least one
    of the two identifiers) -> 201
    ``{"id", "status": "delivered", "pages", "price_minor", "currency", "client_ref"}``.
``GET /sms/messages/{id}``, ``GET /print/letters/{id}``, ``GET /netbank/documents/{id}``
    the stored record (request and response), for tests.
``GET /stats``
    ``{"sms": n, "print": n, "netbank": n, "replayed": {...}, "injected_failures": n}``.
``GET /healthz``
    ``{"status": "ok"}``.

Idempotency: a repeated ``client_ref`` on the same channel gets the original response again
(same status and body, plus ``Idempotent-Replayed: true``) and is not stored twice, the way real
providers dedupe on a client reference. Remembered across restarts (rebuilt from the spool).

Errors are RFC 9457 ``application/problem+json`` (except under ``/twilio``).

Failure injection: ``--fail-rate R`` (or env ``KRAFA_SINK_FAIL_RATE``) makes a fraction R of the
POSTs to the three channels answer 503 with ``Retry-After: 1`` before anything is stored, i.e. a
transient failure the caller must retry. The draws come from ``random.Random(--fail-seed)`` (env
``KRAFA_SINK_FAIL_SEED``, default 0), one per channel POST in arrival order, so a given seed and
request sequence always fails the same requests. GETs, /stats and /healthz never fail.

Spool layout: ``DIR/sms/index.jsonl``; ``DIR/print/<client_ref>.pdf`` + ``DIR/print/index.jsonl``;
``DIR/netbank/<client_ref>.pdf`` + ``DIR/netbank/index.jsonl``. Index lines are
``{"id", "client_ref", "received_at", "fingerprint", "request", "response"}``.

Prices are in ISK, whose ISO 4217 minor unit exponent is 0, so ``price_minor`` is whole krónur.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import json
import logging
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import uvicorn
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from krafa_kit.server import Server
from pydantic import BaseModel, ConfigDict, Field
from uvicorn.config import LOGGING_CONFIG

log = logging.getLogger("krafa.sinks.provider_sink")

CURRENCY = "ISK"
SMS_PRICE_PER_SEGMENT = 12
LETTER_PRICE_BASE = 245
LETTER_PRICE_PER_EXTRA_PAGE = 35
NETBANK_PRICE = 45
MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_SMS_CHARS = 1600  # Twilio's limit; longer texts are a caller bug, not a provider feature

E164 = r"^\+[1-9][0-9]{6,14}$"
# Alphanumeric start and no "/" keeps a client_ref safe to use as a file name.
CLIENT_REF = r"^[A-Za-z0-9][A-Za-z0-9._:+=@-]{0,127}$"
KENNITALA = r"^[0-9]{6}-?[0-9]{4}$"
COUNTRY = r"^[A-Z]{2}$"
PROBLEM_BASE = "urn:krafa:sink:problem:"
PROBLEM_JSON = "application/problem+json"

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z0-9])")
_PAGES_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b")


def sms_segments(text: str) -> int:
    """Segments the way carriers bill them: GSM 03.38 7-bit if possible, else UCS-2."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    # Icelandic þ, ð, á, í, ó, ú, ý are not in GSM 03.38, so most real notices land here.
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def count_pdf_pages(data: bytes) -> int:
    """A good-enough page count without a PDF library: page objects, else the page tree's Count."""
    pages = len(_PAGE_OBJECT.findall(data))
    if pages:
        return pages
    counts = [int(a or b) for a, b in _PAGES_COUNT.findall(data)]
    # Page objects hidden in compressed object streams leave only the root count visible.
    return max(counts) if counts else 1


def _utcnow_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fingerprint(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ProblemError(Exception):
    """Raised by handlers; rendered as RFC 9457 problem+json."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


class _TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _problem(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


class _Channel:
    """One provider channel's store: an index.jsonl plus the client_ref -> response memory."""

    def __init__(self, root: Path, name: str, id_prefix: str) -> None:
        self.name = name
        self.id_prefix = id_prefix
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index = self.dir / "index.jsonl"
        self.lock = threading.Lock()
        self.by_ref: dict[str, dict[str, Any]] = {}
        self.by_id: dict[str, dict[str, Any]] = {}
        self.stored = 0
        self.replayed = 0
        self._load()

    def _load(self) -> None:
        if not self.index.exists():
            return
        for line in self.index.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # torn last line from a killed process
            if isinstance(rec, dict):
                self._remember(rec)

    def _remember(self, rec: dict[str, Any]) -> None:
        self.stored += 1
        self.by_id[str(rec["id"])] = rec
        ref = rec.get("client_ref")
        if ref:
            self.by_ref[str(ref)] = rec

    def new_id(self) -> str:
        return f"{self.id_prefix}_{uuid.uuid4().hex}"

    def replay(self, client_ref: str | None, fingerprint: str) -> JSONResponse | None:
        """The earlier response for this client_ref, if any. Call with ``lock`` held."""
        if not client_ref or client_ref not in self.by_ref:
            return None
        rec = self.by_ref[client_ref]
        self.replayed += 1
        if rec.get("fingerprint") != fingerprint:
            # Same reference, different content: almost certainly a caller bug worth seeing.
            log.warning("%s: client_ref of %s reused with a different payload", self.name, rec["id"])
        log.info("%s: replayed %s", self.name, rec["id"])
        return JSONResponse(copy.deepcopy(rec["response"]), status_code=201, headers={"Idempotent-Replayed": "true"})

    def record(
        self,
        msg_id: str,
        client_ref: str | None,
        fingerprint: str,
        request: dict[str, Any],
        response: dict[str, Any],
    ) -> None:
        """Append to the index and remember. Call with ``lock`` held."""
        rec = {
            "id": msg_id,
            "client_ref": client_ref,
            "received_at": _utcnow_iso(),
            "fingerprint": fingerprint,
            "request": request,
            "response": response,
        }
        with self.index.open("ab") as fh:
            fh.write((json.dumps(rec, ensure_ascii=False) + "\n").encode())
            fh.flush()
        self._remember(rec)


class _FailureInjector:
    def __init__(self, rate: float, seed: int) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fail rate must be within [0, 1]")
        self.rate = rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected = 0

    def should_fail(self) -> bool:
        if self.rate <= 0.0:
            return False
        with self._lock:
            fail = self._rng.random() < self.rate
            if fail:
                self.injected += 1
            return fail


class SmsIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    to: Annotated[str, Field(pattern=E164)]
    sender: Annotated[str | None, Field(alias="from", min_length=1, max_length=16)] = None
    text: Annotated[str, Field(min_length=1, max_length=MAX_SMS_CHARS)]
    client_ref: Annotated[str | None, Field(pattern=CLIENT_REF)] = None
    callback_url: Annotated[str | None, Field(pattern=r"^https?://", max_length=2000)] = None


class NetbankIn(BaseModel):
    national_id: Annotated[str | None, Field(pattern=KENNITALA)] = None
    customer_no: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    client_ref: Annotated[str, Field(pattern=CLIENT_REF)]
    pdf_base64: Annotated[str, Field(min_length=1)]
    title: Annotated[str, Field(min_length=1, max_length=200)]


def _require_pdf(data: bytes, what: str) -> None:
    if not data.startswith(b"%PDF-"):
        raise ProblemError(
            422, "not-a-pdf", "Document is not a PDF", f"The {what} must be a PDF document (starting with %PDF-)."
        )
    if len(data) > MAX_PDF_BYTES:
        raise ProblemError(413, "too-large", "Document too large", f"The {what} exceeds {MAX_PDF_BYTES} bytes.")


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by the sorted POST parameters."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _basic_auth_password(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


class _ReceiptSender:
    """Posts delivery receipts from a background thread, a moment after the send was answered
    (as real providers do), retrying a few times while the receiver is unreachable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        threading.Thread(target=self._deliver, args=(url, body, headers), daemon=True).start()

    def _deliver(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        for attempt in range(5):
            time.sleep(0.1 * (attempt + 1))
            try:
                response = httpx.post(url, content=body, headers=headers, timeout=10)
            except httpx.HTTPError:
                continue
            if response.status_code < 500:
                with self._lock:
                    self.sent += 1
                log.info("receipt posted: %s", response.status_code)
                return
        log.warning("receipt could not be posted to %s", url)


def create_app(
    spool: Path,
    fail_rate: float = 0.0,
    fail_seed: int = 0,
    receipt_secret: str | None = None,
    undeliverable: Sequence[str] = ("+999",),
) -> FastAPI:
    """The provider sink as an ASGI app writing under ``spool`` (see the module docstring)."""
    spool = Path(spool)
    receipts = _ReceiptSender()
    sms = _Channel(spool, "sms", "sms")
    letters = _Channel(spool, "print", "ltr")
    netbank = _Channel(spool, "netbank", "doc")
    injector = _FailureInjector(fail_rate, fail_seed)

    app = FastAPI(title="Krafa provider sink", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ProblemError)
    async def _on_problem(request: Request, exc: ProblemError) -> Response:
        if request.url.path.startswith("/twilio/"):
            return _twilio_error(exc.status, 20000 + exc.status, exc.title)
        return _problem(request, exc.status, exc.slug, exc.title, exc.detail, exc.headers, exc.extra)

    @app.exception_handler(_TwilioError)
    async def _on_twilio(request: Request, exc: _TwilioError) -> Response:
        return _twilio_error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, exc: RequestValidationError) -> Response:
        # Echoing "input" back could return a whole base64 PDF; location and reason suffice.
        errors = [
            {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
            for err in exc.errors()
        ]
        return _problem(
            request,
            422,
            "validation",
            "Request validation failed",
            f"{len(errors)} invalid field(s).",
            extra={"errors": errors},
        )

    def maybe_fail() -> None:
        if injector.should_fail():
            log.info("injected transient failure #%d", injector.injected)
            raise ProblemError(
                503,
                "injected-failure",
                "Service temporarily unavailable",
                "Injected transient failure; retry later.",
                headers={"Retry-After": "1"},
            )

    inject = [Depends(maybe_fail)]

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        channels = (sms, letters, netbank)
        return {
            **{ch.name: ch.stored for ch in channels},
            "replayed": {ch.name: ch.replayed for ch in channels},
            "injected_failures": injector.injected,
        }

    @app.post("/sms/messages", status_code=201, dependencies=inject)
    def send_sms(body: SmsIn) -> Response:
        fp = _fingerprint(body.to, body.sender or "", body.text)
        with sms.lock:
            replay = sms.replay(body.client_ref, fp)
            if replay is not None:
                return replay
            msg_id = sms.new_id()
            segments = sms_segments(body.text)
            response = {
                "id": msg_id,
                "status": "accepted",
                "segments": segments,
                "price_minor": segments * SMS_PRICE_PER_SEGMENT,
                "currency": CURRENCY,
                "client_ref": body.client_ref,
            }
            request = {"api": "generic", "to": body.to, "from": body.sender, "text": body.text}
            sms.record(msg_id, body.client_ref, fp, request, response)
        log.info("sms: accepted %s segments=%d", msg_id, segments)
        if body.callback_url:
            failed = body.to.startswith(tuple(undeliverable))
            receipt = {
                "id": msg_id,
                "client_ref": body.client_ref,
                "status": "failed" if failed else "delivered",
                "error": "handset unreachable" if failed else None,
            }
            raw = json.dumps(receipt).encode()
            headers = {"Content-Type": "application/json"}
            if receipt_secret:
                digest = hmac.new(receipt_secret.encode(), raw, hashlib.sha256).hexdigest()
                headers["X-Krafa-Signature"] = f"sha256={digest}"
            receipts.post(body.callback_url, raw, headers)
        return JSONResponse(response, status_code=201)

    @app.post("/twilio/2010-04-01/Accounts/{account_sid}/Messages.json", status_code=201, dependencies=inject)
    def twilio_send(
        account_sid: str,
        request: Request,
        to: Annotated[str | None, Form(alias="To")] = None,
        from_: Annotated[str | None, Form(alias="From")] = None,
        body: Annotated[str | None, Form(alias="Body")] = None,
        status_callback: Annotated[str | None, Form(alias="StatusCallback")] = None,
    ) -> Response:
        if not to:
            raise _TwilioError(400, 21604, "A 'To' phone number is required.")
        if not re.fullmatch(E164, to):
            raise _TwilioError(400, 21211, "The 'To' number is not a valid phone number.")
        if not from_:
            raise _TwilioError(400, 21603, "A 'From' phone number is required.")
        if not body:
            raise _TwilioError(400, 21602, "Message body is required.")
        if len(body) > MAX_SMS_CHARS:
            raise _TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        segments = sms_segments(body)
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=True)
        response: dict[str, Any] = {
            "sid": sid,
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        }
        record = {"api": "twilio", "to": to, "from": from_, "text": body}
        with sms.lock:
            # Twilio has no client reference, so nothing to dedupe on.
            sms.record(sid, None, _fingerprint(to, from_, body), record, response)
        log.info("sms: accepted %s (twilio) segments=%d", sid, segments)
        if status_callback:
            failed = to.startswith(tuple(undeliverable))
            params = {
                "AccountSid": account_sid,
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": "undelivered" if failed else "delivered",
                "To": to,
                "From": from_,
                "ApiVersion": "2010-04-01",
            }
            if failed:
                params["ErrorCode"] = "30003"  # Twilio: unreachable destination handset
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            token = _basic_auth_password(request.headers.get("Authorization"))
            if token:
                headers["X-Twilio-Signature"] = twilio_signature(token, status_callback, params)
            receipts.post(status_callback, urlencode(params).encode(), headers)
        return JSONResponse(response, status_code=201)

    @app.post("/print/letters", status_code=201, dependencies=inject)
    def print_letter(
        file: Annotated[UploadFile, File()],
        client_ref: Annotated[str, Form(pattern=CLIENT_REF)],
        recipient_name: Annotated[str, Form(min_length=1, max_length=200)],
        country: Annotated[str, Form(pattern=COUNTRY)],
    ) -> Response:
        data = file.file.read(MAX_PDF_BYTES + 1)
        _require_pdf(data, "uploaded file")
        fp = _fingerprint(data, recipient_name, country)
        with letters.lock:
            replay = letters.replay(client_ref, fp)
            if replay is not None:
                return replay
            letter_id = letters.new_id()
            pages = count_pdf_pages(data)
            _atomic_write(letters.dir / f"{client_ref}.pdf", data)
            response = {
                "id": letter_id,
                "status": "queued",
                "pages": pages,
                "price_minor": LETTER_PRICE_BASE + LETTER_PRICE_PER_EXTRA_PAGE * (pages - 1),
                "currency": CURRENCY,
                "client_ref": client_ref,
            }
            request = {
                "file": f"print/{client_ref}.pdf",
                "bytes": len(data),
                "recipient_name": recipient_name,
                "country": country,
            }
            letters.record(letter_id, client_ref, fp, request, response)
        log.info("print: queued %s pages=%d", letter_id, pages)
        return JSONResponse(response, status_code=201)

    @app.post("/netbank/documents", status_code=201, dependencies=inject)
    def netbank_document(body: NetbankIn) -> Response:
        try:
            data = base64.b64decode(body.pdf_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProblemError(
                422, "bad-base64", "pdf_base64 is not valid base64", "The pdf_base64 field could not be decoded."
            ) from exc
        _require_pdf(data, "decoded pdf_base64")
        if not body.national_id and not body.customer_no:
            raise ProblemError(422, "no-recipient", "No recipient", "A document needs a national_id or a customer_no.")
        national_id = (body.national_id or "").replace("-", "")
        fp = _fingerprint(data, national_id, body.customer_no or "", body.title)
        with netbank.lock:
            replay = netbank.replay(body.client_ref, fp)
            if replay is not None:
                return replay
            doc_id = netbank.new_id()
            pages = count_pdf_pages(data)
            _atomic_write(netbank.dir / f"{body.client_ref}.pdf", data)
            response = {
                "id": doc_id,
                "status": "delivered",
                "pages": pages,
                "price_minor": NETBANK_PRICE,
                "currency": CURRENCY,
                "client_ref": body.client_ref,
            }
            request = {
                "file": f"netbank/{body.client_ref}.pdf",
                "bytes": len(data),
                "national_id": national_id or None,
                "customer_no": body.customer_no,
                "title": body.title,
            }
            netbank.record(doc_id, body.client_ref, fp, request, response)
        log.info("netbank: delivered %s pages=%d", doc_id, pages)
        return JSONResponse(response, status_code=201)

    def _lookup(channel: _Channel, request: Request, item_id: str) -> Response:
        with channel.lock:
            rec = channel.by_id.get(item_id)
        if rec is None:
            return _problem(request, 404, "not-found", "Not found", f"No {channel.name} item with that id.")
        return JSONResponse(rec)

    @app.get("/sms/messages/{item_id}")
    def get_sms(item_id: str, request: Request) -> Response:
        return _lookup(sms, request, item_id)

    @app.get("/print/letters/{item_id}")
    def get_letter(item_id: str, request: Request) -> Response:
        return _lookup(letters, request, item_id)

    @app.get("/netbank/documents/{item_id}")
    def get_document(item_id: str, request: Request) -> Response:
        return _lookup(netbank, request, item_id)

    return app


# --- CLI ---------------------------------------------------------------------------------------


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m krafa.sinks.provider_sink",
        description="HTTP stand-in for the SMS, print-and-post and netbank providers.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (see READY line)")
    p.add_argument("--spool", type=Path, required=True)
    p.add_argument(
        "--fail-rate",
        type=float,
        default=_env_float("KRAFA_SINK_FAIL_RATE", 0.0),
        help="fraction of channel POSTs answered 503 (env KRAFA_SINK_FAIL_RATE)",
    )
    p.add_argument(
        "--fail-seed",
        type=int,
        default=_env_int("KRAFA_SINK_FAIL_SEED", 0),
        help="seed for the failure draws (env KRAFA_SINK_FAIL_SEED)",
    )
    p.add_argument(
        "--receipt-secret",
        default=os.environ.get("KRAFA_SINK_RECEIPT_SECRET"),
        help="HMAC-SHA256 key signing generic SMS receipts (env KRAFA_SINK_RECEIPT_SECRET)",
    )
    p.add_argument(
        "--undeliverable",
        default=os.environ.get("KRAFA_SINK_UNDELIVERABLE", "+999"),
        help="comma-separated number prefixes whose SMS are reported failed (env KRAFA_SINK_UNDELIVERABLE)",
    )
    p.add_argument("--log-level", default=os.environ.get("KRAFA_LOG_LEVEL", "INFO"))
    return p


def _log_config(level: str) -> dict[str, Any]:
    cfg = copy.deepcopy(LOGGING_CONFIG)
    # uvicorn sends access lines to stdout by default; stdout belongs to the READY protocol.
    for handler in cfg["handlers"].values():
        handler["stream"] = "ext://sys.stderr"
    cfg["loggers"]["krafa"] = {"handlers": ["default"], "level": level, "propagate": False}
    return cfg


def _format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _AnnouncingServer(Server):
    """Prints the READY line once uvicorn is really accepting connections (a kit server: it ticks
    once a second while idle)."""

    def __init__(self, config: uvicorn.Config, ready_line: str) -> None:
        super().__init__(config)
        self._ready_line = ready_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self._ready_line, flush=True)


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Placeholder handler; see ``main``."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    level = str(args.log_level).upper()
    app = create_app(
        args.spool,
        fail_rate=args.fail_rate,
        fail_seed=args.fail_seed,
        receipt_secret=args.receipt_secret,
        undeliverable=tuple(p.strip() for p in str(args.undeliverable).split(",") if p.strip()),
    )

    # Bind ourselves and hand uvicorn the socket: the port is known before the READY line and
    # nobody can grab it between choosing and listening.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))

    config = uvicorn.Config(
        app, log_config=_log_config(level), log_level=level.lower(), lifespan="off", timeout_graceful_shutdown=5
    )
    ready = f"READY http {_format_hostport(args.host, sock.getsockname()[1])}"
    server = _AnnouncingServer(config, ready)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal against the
    # handler that was installed before it started; with the default handler that kills us with
    # -15. A no-op handler here turns the graceful shutdown into a plain exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _ignore_signal)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
