"""Idempotency-Key for every POST.

The key is claimed with `INSERT ... ON CONFLICT` inside the same transaction as the effect, and
the response is stored in that transaction before it commits. So:

* a committed effect always has its stored response (a crash cannot leave one without the other);
* a failed request (a 4xx problem, a crash) rolls its key back, and a retry runs afresh;
* a concurrent duplicate waits on the first transaction's uncommitted key row; if the first has
  not finished within `idempotency_lock_timeout_ms` it gets 409 `idempotency-key-in-progress`,
  otherwise it replays the stored response;
* the same key with a different request (method, path, canonical JSON body) answers 422
  `idempotency-key-reused`.

Keys are scoped per creditor and expire after 24 hours of wall-clock time: an older row is treated
as absent and is overwritten when its key is used again (and the retention sweeper deletes it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from krafa_kit.clock import Clock
from krafa_kit.db import Database, UnitOfWork
from krafa_kit.http import PROBLEM_BASE, Problem
from pydantic import BaseModel

from krafa_claims_api import repository, service

KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def canonical_json(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_hash(method: str, path: str, body: Any) -> str:
    """sha256 of method, path and the canonical JSON body (key order and spacing do not matter)."""
    material = f"{method.upper()}\n{path}\n{canonical_json(body)}"
    return hashlib.sha256(material.encode()).hexdigest()


def parse_body(raw: bytes) -> Any:
    """The request body as JSON for hashing; an empty body hashes as `null`."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: Any


REUSED = "idempotency-key-reused"
IN_PROGRESS = "idempotency-key-in-progress"


async def claim_key(
    conn: asyncpg.Connection,
    *,
    creditor_id: UUID,
    key: str,
    digest: str,
    lock_timeout_ms: int,
) -> StoredResponse | None:
    """Claim `key` in the caller's open transaction. None: go ahead (and store the response).
    A StoredResponse: replay it. Raises a Problem for a reused key or a duplicate in progress.

    Keys live 24 hours of wall-clock time (the database's clock), whatever clock the service
    runs its collection on: a simulated clock racing through days must not expire a key an ERP
    is about to retry with, nor keep one for a simulated month."""
    try:
        claimed = await repository.claim_idempotency_key(
            conn, creditor_id, key, digest, ttl=KEY_TTL, lock_timeout_ms=lock_timeout_ms
        )
    except asyncpg.ForeignKeyViolationError as exc:
        # A key is kept per creditor; one acted for (the portal's and web's routes name it in
        # the path) that does not exist has nothing to keep it under, nor anything to act on.
        raise Problem(404, "Not Found", "no such creditor") from exc
    except asyncpg.LockNotAvailableError as exc:
        raise Problem(
            409,
            "Conflict",
            "a request with this Idempotency-Key is still being processed; retry later",
            type_=PROBLEM_BASE + IN_PROGRESS,
            headers={"Retry-After": "1"},
        ) from exc
    if claimed:
        return None
    row = await repository.idempotency_key(conn, creditor_id, key)
    assert row is not None  # the conflicting row is committed and live
    if row["request_hash"] != digest:
        raise Problem(
            422,
            "Idempotency-Key reused",
            "this Idempotency-Key was already used with a different request",
            type_=PROBLEM_BASE + REUSED,
        )
    if row["status_code"] is None:  # only possible for a row written outside this protocol
        raise Problem(
            409, "Conflict", "the request with this Idempotency-Key is in progress", type_=PROBLEM_BASE + IN_PROGRESS
        )
    return StoredResponse(row["status_code"], row["response_body"])


@dataclass(frozen=True, slots=True)
class EncodedBody:
    """A response body already encoded as JSON: a bulk answer is built without a model per claim."""

    json: bytes


Result = BaseModel | EncodedBody


async def idempotent(
    request: Request,
    db: Database,
    clock: Clock,
    caller: service.Caller,
    key: str | None,
    status_code: int,
    action: Callable[[UnitOfWork], Awaitable[Result | tuple[int, Result]]],
) -> Response:
    """Run `action` in one unit of work and commit it (the route is the entry point that owns the
    transaction); with an Idempotency-Key, claim the key first and store the response in the same
    transaction. `action` answers with a body, or with (status, body) where the status depends on
    what it did (201 for a debtor created, 200 for one replaced)."""
    async with db.uow() as uow:
        if key is not None:
            digest = request_hash(request.method, request.url.path, parse_body(await request.body()))
            stored = await claim_key(
                uow.conn,
                creditor_id=caller.creditor_id,
                key=key,
                digest=digest,
                lock_timeout_ms=request.app.state.settings.idempotency_lock_timeout_ms,
            )
            if stored is not None:
                return JSONResponse(
                    stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"}
                )
        answer = await action(uow)
        if isinstance(answer, tuple):
            status_code, result = answer
        else:
            result = answer
        if isinstance(result, EncodedBody):
            if key is not None:
                await repository.store_idempotent_response(
                    uow.conn, caller.creditor_id, key, status_code, result.json.decode(), encoded=True
                )
            await uow.commit()
            return Response(result.json, status_code=status_code, media_type="application/json")
        body = result.model_dump(mode="json")
        if key is not None:
            await repository.store_idempotent_response(uow.conn, caller.creditor_id, key, status_code, body)
        await uow.commit()
    return JSONResponse(body, status_code=status_code)
