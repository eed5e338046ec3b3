"""What every service needs to erase a debtor's personal data from its own schema.

Each service knows which of its columns hold personal data; this module gives them the common
pieces: the values to look for (`needles`), replacing them in free text (`scrub`), pseudonymised
stand-ins for an address and a phone number, the outbox rows that still carry the debtor's events
(published ones are only kept for replay and go; unpublished ones are scrubbed in place, so the
events still reach their consumers, pseudonymised), and `erased_subjects`, which lets a late
write (a bounce of a reminder sent before the erasure) be pseudonymised when it arrives.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

ERASED = "[erased]"
ERASED_DOMAIN = "erased.invalid"  # RFC 2606: never a deliverable address
MIN_NEEDLE = 3


def pseudonym_email(pseudonym: str) -> str:
    return f"{pseudonym}@{ERASED_DOMAIN}"


def address_hash(address: str) -> str:
    """A suppression that outlives an erasure without the address: the same address, if it is
    ever given again, hashes the same (`sha256:` and the hex digest of its lower case)."""
    return "sha256:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()


def needles(values: Iterable[str | None]) -> list[str]:
    """The strings to remove: each value, and the other ways it is written (a phone number
    without its country code or spacing, a kennitala with its hyphen); longest first, so a
    longer value is replaced before a part of it."""
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        text = " ".join(str(value).split())
        if len(text) < MIN_NEEDLE:
            continue
        found.add(text)
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 7 and len(digits) >= len(text) - 4:
            found.add(digits)
            if text.startswith("+") and len(digits) > 7:
                found.add(digits[-7:])  # the national number as a debtor writes it
                found.add(f"{digits[-7:-4]} {digits[-4:]}")
            if len(digits) == 10:  # kennitala, fødselsnummer-like: DDMMYY-NNNN
                found.add(f"{digits[:6]}-{digits[6:]}")
    return sorted(found, key=lambda n: (-len(n), n))


def scrub(text: str | None, patterns: list[str], replacement: str = ERASED) -> str | None:
    """`text` with every needle replaced, case-insensitively (an address keeps its case in a
    returned message but not in our tables)."""
    if text is None or not patterns:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in patterns), re.IGNORECASE)
    return pattern.sub(replacement, text)


def scrub_json(value: Any, patterns: list[str], replacement: str = ERASED) -> Any:
    """`scrub` over every string (keys kept) of a JSON value."""
    if isinstance(value, str):
        return scrub(value, patterns, replacement)
    if isinstance(value, list):
        return [scrub_json(v, patterns, replacement) for v in value]
    if isinstance(value, dict):
        return {k: scrub_json(v, patterns, replacement) for k, v in value.items()}
    return value


def subject_key(creditor_id: UUID, debtor_id: UUID) -> bytes:
    """The Kafka key (and outbox key) of every event about one debtor."""
    return f"{creditor_id}:{debtor_id}".encode()


async def erase_outbox(
    conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, patterns: list[str], replacement: str = ERASED
) -> int:
    """Published events about the debtor leave the outbox (they were kept only for a replay);
    unpublished ones are scrubbed and still go out. Returns the rows changed."""
    key = subject_key(creditor_id, debtor_id)
    deleted = await conn.execute("DELETE FROM outbox WHERE key = $1 AND published_at IS NOT NULL", key)
    changed = int(deleted.split()[-1])
    if not patterns:
        return changed
    for row in await conn.fetch("SELECT id, value FROM outbox WHERE key = $1 AND published_at IS NULL", key):
        text = bytes(row["value"]).decode("utf-8", errors="replace")
        # JSON escapes nothing our needles contain but quotes and backslashes, which they lack.
        scrubbed = scrub(text, patterns, replacement)
        if scrubbed != text and scrubbed is not None:
            await conn.execute("UPDATE outbox SET value = $2 WHERE id = $1", row["id"], scrubbed.encode())
            changed += 1
    return changed


async def record_erasure(
    conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID, pseudonym: str, at: datetime
) -> None:
    """`at` is the request's time on the service clock (compare event times with it);
    `recorded_at` the database's (compare row times set by the database with it)."""
    await conn.execute(
        "INSERT INTO erased_subjects (creditor_id, debtor_id, pseudonym, erased_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (creditor_id, debtor_id) DO UPDATE SET pseudonym = excluded.pseudonym,"
        " erased_at = excluded.erased_at, recorded_at = now()",
        creditor_id,
        debtor_id,
        pseudonym,
        at,
    )


async def erased(conn: asyncpg.Connection, creditor_id: UUID, debtor_id: UUID) -> tuple[str, datetime] | None:
    """(pseudonym, erased_at) when the debtor's personal data was erased here."""
    row = await conn.fetchrow(
        "SELECT pseudonym, erased_at FROM erased_subjects WHERE creditor_id = $1 AND debtor_id = $2",
        creditor_id,
        debtor_id,
    )
    return None if row is None else (row["pseudonym"], row["erased_at"])


def create_erased_subjects() -> None:
    """The table behind `record_erasure` (call inside a migration's upgrade())."""
    from alembic import op

    op.execute(
        """
        CREATE TABLE erased_subjects (
            creditor_id uuid NOT NULL,
            debtor_id uuid NOT NULL,
            pseudonym text NOT NULL,
            erased_at timestamptz NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (creditor_id, debtor_id)
        )
        """
    )
