"""Opaque keyset cursors for listing claims in (created_at, id) order."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from uuid import UUID


class InvalidCursor(ValueError):
    pass


def encode_cursor(created_at: datetime, claim_id: UUID) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "i": str(claim_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        created_at = datetime.fromisoformat(data["t"])
        claim_id = UUID(data["i"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("the cursor is not one this API issued") from exc
    if created_at.tzinfo is None:
        raise InvalidCursor("the cursor is not one this API issued")
    return created_at, claim_id
