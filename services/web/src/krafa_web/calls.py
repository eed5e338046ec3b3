"""Inbound calls: the telephony provider's incoming-call webhook (Twilio Voice's shape: a form
post with CallSid, From, To, signed by X-Twilio-Signature) and the board that pushes the
caller's case to every open agent screen that serves the creditor (server-sent events).

The board lives in the process: with several web replicas, route the provider's webhook and
the agents' event streams to the same replica (sticky by path) or put a broker behind it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL and the POST fields sorted by name."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(auth_token: str, url: str, params: Mapping[str, str], presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(twilio_signature(auth_token, url, params), presented)


@dataclass(eq=False)
class Listener:
    user_id: UUID
    serves: frozenset[UUID]
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=32))


class CallBoard:
    """Open agent screens and the calls pushed to them."""

    def __init__(self) -> None:
        self.listeners: set[Listener] = set()

    def __len__(self) -> int:
        return len(self.listeners)

    def listen(self, user_id: UUID, serves: tuple[UUID, ...]) -> Listener:
        listener = Listener(user_id, frozenset(serves))
        self.listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def push(self, creditor_id: UUID, payload: dict[str, Any]) -> int:
        """To every open screen of an agent serving the creditor; how many got it."""
        message = json.dumps(payload)
        sent = 0
        for listener in list(self.listeners):
            if creditor_id in listener.serves:
                try:
                    listener.queue.put_nowait(message)
                    sent += 1
                except asyncio.QueueFull:
                    pass  # a stalled screen: it reloads the queue on reconnect
        return sent


def sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


__all__ = ["CallBoard", "Listener", "signature_valid", "sse", "twilio_signature"]
