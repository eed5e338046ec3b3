"""API keys per creditor (their SQL): scoped, shown once, stored hashed, revocable."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg

from krafa_claims_api import domain


async def create(
    conn: asyncpg.Connection, creditor_id: UUID, scopes: list[str], name: str | None
) -> tuple[asyncpg.Record, domain.NewApiKey]:
    key = domain.new_api_key()
    row = await conn.fetchrow(
        "INSERT INTO api_keys (id, creditor_id, prefix, secret_hash, scopes, name) VALUES ($1, $2, $3, $4, $5, $6)"
        " RETURNING id, prefix, scopes, name, created_at, revoked_at",
        uuid.uuid4(),
        creditor_id,
        key.prefix,
        key.secret_hash,
        sorted(set(scopes)),
        name,
    )
    assert row is not None
    return row, key


async def list_keys(conn: asyncpg.Connection, creditor_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, prefix, scopes, name, created_at, revoked_at FROM api_keys WHERE creditor_id = $1"
            " ORDER BY created_at, id",
            creditor_id,
        )
    )


async def revoke(conn: asyncpg.Connection, creditor_id: UUID, key_id: UUID) -> asyncpg.Record | None:
    """Revoke a key of the creditor (idempotent); None when it is not the creditor's."""
    return await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND creditor_id = $2"
        " RETURNING id, prefix, scopes, name, created_at, revoked_at",
        key_id,
        creditor_id,
    )


async def creditor_exists(conn: asyncpg.Connection, creditor_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM creditors WHERE id = $1", creditor_id))


async def scopes_of(conn: asyncpg.Connection, creditor_id: UUID, key_id: UUID) -> list[str] | None:
    row = await conn.fetchrow("SELECT scopes FROM api_keys WHERE id = $1 AND creditor_id = $2", key_id, creditor_id)
    return None if row is None else list(row["scopes"])
