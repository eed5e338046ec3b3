"""Structured logs: one JSON object per line, with whatever `extra={...}` fields the caller
passes (event id, claim id, correlation id). Never personal data: callers log ids, not names,
email addresses or phone numbers. As a second line of defence every line is redacted on its way
out: email addresses, phone numbers and national ids (Iceland, Norway, Estonia) are replaced,
including those inside exception texts and third-party libraries' messages. Names cannot be
recognised by a pattern; callers must never log them."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from krafa_kit import tracing

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# uvicorn repeats its message with ANSI colour codes in `color_message`: noise in a JSON line.
_DROPPED = frozenset({"color_message"})
# Libraries that log their internals at INFO (fontTools reports every glyph subset fpdf2 makes).
QUIET_LOGGERS = ("aiokafka", "uvicorn.access", "mail.log", "fontTools")

_REDACTIONS = (
    (re.compile(r"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "<email>"),
    # E.164 and the common spaced forms (+354 555 1234); at least 7 digits after the country code.
    (re.compile(r"(?<![\w+])\+[1-9](?:[ -]?\d){6,14}\b"), "<phone>"),
    # Icelandic kennitala (DDMMYY-NNNN, with or without the dash); Norwegian fødselsnummer and
    # Estonian isikukood (11 digits). Standalone digit runs only, so ids and UUIDs stay intact.
    (re.compile(r"(?<![\w-])(?:\d{6}-?\d{4}|\d{11})(?![\w-])"), "<national-id>"),
)


def redact(text: str) -> str:
    """`text` with email addresses, phone numbers and national ids replaced."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Wraps another formatter and redacts what it produces."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(tracing.log_fields())  # request id, trace id: the line's place in a claim's trace
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json", *, redacted: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = (
        JsonFormatter(service)
        if fmt == "json"
        else logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    )
    handler.setFormatter(RedactingFormatter(formatter) if redacted else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
