"""The SQL of a creditor's reads through claims-api: which of the asked claims are the caller's."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg


async def owned_claims(conn: asyncpg.Connection, creditor_id: UUID, claim_ids: Sequence[UUID]) -> set[UUID]:
    rows = await conn.fetch(
        "SELECT id FROM claims WHERE creditor_id = $1 AND id = ANY($2::uuid[])", creditor_id, list(claim_ids)
    )
    return {row["id"] for row in rows}


async def claim_names_delivery(conn: asyncpg.Connection, creditor_id: UUID, claim_id: UUID, delivery_id: UUID) -> bool:
    """Whether the caller's claim's history names the delivery (its timeline's `content_link`)."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM claim_history h JOIN claims c ON c.id = h.claim_id"
        " WHERE c.id = $1 AND c.creditor_id = $2 AND h.details->>'delivery_id' = $3)",
        claim_id,
        creditor_id,
        str(delivery_id),
    )
    return found
