"""One trace per claim: the W3C trace context of the work in hand, carried from an HTTP request
or a consumed event into every event the work writes to the outbox, and into every log line.

A request continues the caller's `traceparent` (or starts a trace) and gets a request id; a
handler continues the `traceparent` of the event it handles; `child_traceparent()` is what the
outbox stamps on a new event, so the trace started by a claim's POST reaches every event that
follows from it. A unit of work that happens later (a reminder due in ten days) continues the
traceparent stored with its state (`continued(stored)`)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")


@dataclass(frozen=True, slots=True)
class Context:
    trace_id: str
    span_id: str  # this unit of work's span: the parent of the events it writes
    flags: str = "01"
    request_id: str | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


_current: ContextVar[Context | None] = ContextVar("krafa_trace", default=None)


def parse(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, flags) of a valid version-00 traceparent, else None (all-zero ids are invalid)."""
    match = _TRACEPARENT.match(traceparent or "")
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(3)


def current() -> Context | None:
    return _current.get()


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is a sane token, else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return secrets.token_hex(16)


@contextmanager
def continued(traceparent: str | None, *, request_id: str | None = None) -> Iterator[Context]:
    """Run the block as a new span of `traceparent`'s trace (a new trace if it is missing or invalid)."""
    parsed = parse(traceparent)
    trace_id, flags = parsed if parsed else (secrets.token_hex(16), "01")
    context = Context(trace_id, secrets.token_hex(8), flags, request_id)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def child_traceparent(span_id: str | None = None) -> str:
    """The traceparent of an event written now: a child of the current span, or a new trace."""
    context = _current.get()
    span = span_id or secrets.token_hex(8)
    if context is None:
        return f"00-{secrets.token_hex(16)}-{span}-01"
    return f"00-{context.trace_id}-{span}-{context.flags}"


def log_fields() -> dict[str, str]:
    """The ids every log line carries while this context is current."""
    context = _current.get()
    if context is None:
        return {}
    fields = {"trace_id": context.trace_id, "span_id": context.span_id}
    if context.request_id:
        fields["request_id"] = context.request_id
    return fields
