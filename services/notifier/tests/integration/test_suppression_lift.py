"""A bounced address stays suppressed until the debtor proves it reaches them again (the portal's
one-time code, announced as DebtorUpdated's `email_verified_at`); a verification older than the
bounce, or one of another creditor's debtor, lifts nothing. Over the real PostgreSQL schema."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from krafa_events import DebtorSnapshot
from krafa_kit.db import Database
from krafa_notifier import repository, service
from krafa_notifier.app import SCHEMA

pytestmark = pytest.mark.integration

BOUNCED = datetime(2026, 3, 2, 10, tzinfo=UTC)
EMAIL = "Jon@Example.is"


def snapshot(verified_at: datetime | None) -> DebtorSnapshot:
    return DebtorSnapshot(customer_no="C-1", name="Jón", country="IS", email=EMAIL, email_verified_at=verified_at)


async def test_only_a_later_verification_lifts_the_suppression(database_url: str) -> None:
    db = Database(database_url, SCHEMA)
    await db.connect()
    try:
        creditor, other, debtor = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        async with db.uow() as uow:
            for who in (creditor, other):
                await repository.suppress(uow.conn, who, EMAIL, "hard bounce 5.1.1", BOUNCED)
            await uow.commit()

        for verified in (None, BOUNCED - timedelta(minutes=1)):
            async with db.uow() as uow:
                await service.record_debtor(uow, creditor, debtor, snapshot(verified), BOUNCED)
                await uow.commit()
            async with db.connection() as conn:
                assert await repository.suppressed(conn, creditor, EMAIL), verified

        async with db.uow() as uow:
            await service.record_debtor(uow, creditor, debtor, snapshot(BOUNCED + timedelta(days=1)), BOUNCED)
            await uow.commit()
        async with db.connection() as conn:
            assert not await repository.suppressed(conn, creditor, EMAIL)
            assert await repository.suppressed(conn, other, EMAIL)  # another creditor's own bounce stays

        # A new bounce after the verification suppresses it again, and that verification no longer lifts it.
        async with db.uow() as uow:
            await repository.suppress(uow.conn, creditor, EMAIL, "hard bounce 5.1.1", BOUNCED + timedelta(days=2))
            await service.record_debtor(uow, creditor, debtor, snapshot(BOUNCED + timedelta(days=1)), BOUNCED)
            await uow.commit()
        async with db.connection() as conn:
            assert await repository.suppressed(conn, creditor, EMAIL)
    finally:
        await db.close()
