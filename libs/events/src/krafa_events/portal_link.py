"""The debtor's personal portal link in a reminder: the contract between the notifier, which
prints `<portal>/l/<code>` in every message, and the web service, which learns from the
message's ReminderSent which debtor and creditor the code opens for.

The code is an HMAC-SHA256 over the delivery id with a secret both services share, in base32,
16 characters (80 bits): short enough for an SMS and to type from a letter, unguessable, and the
same for a delivery whenever it is rendered (a re-sent message carries the same link)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

CODE_CHARS = 16
PATH = "/l/"


def code(delivery_id: uuid.UUID, secret: bytes) -> str:
    digest = hmac.new(secret, b"portal-link:" + delivery_id.bytes, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:CODE_CHARS]


def url(base_url: str, delivery_id: uuid.UUID, secret: bytes) -> str:
    return base_url.rstrip("/") + PATH + code(delivery_id, secret)


def digest(link_code: str) -> bytes:
    """What the web stores instead of the code itself: a leaked table opens nothing."""
    return hashlib.sha256(link_code.strip().lower().encode()).digest()


def well_formed(link_code: str) -> bool:
    value = link_code.strip().lower()
    return len(value) == CODE_CHARS and all(ch in "abcdefghijklmnopqrstuvwxyz234567" for ch in value)
