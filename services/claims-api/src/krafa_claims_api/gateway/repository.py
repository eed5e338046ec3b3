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
