"""camt_100k_s: seconds for `import_file` (parse + match + commit, one transaction) of a camt.053
with 100,000 credit entries into a fresh payments schema on a durable EmbeddedPostgres (fsync on,
like production), with 100,000 claims indexed in `claim_index` first so every entry matches.

Component: `parse_bank_file` alone (lxml) on the same bytes, in the same process; the ratio is
import seconds / parse seconds. Setup (schema, COPY of the claim index, file generation) is not
timed."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime

import asyncpg
from krafa_kit.db import Database
from krafa_kit.embedded import EmbeddedPostgres
from krafa_kit.migrations import migrate_async
from krafa_payments_ingest.app import MIGRATIONS, SCHEMA
from krafa_payments_ingest.parsers import parse_bank_file
from krafa_payments_ingest.parsers.generate import GeneratedCredit, camt053
from krafa_payments_ingest.service import import_file

from bench.common import Figure, Options, say, temp_dir, timed

KEY = "camt_100k_s"
NOW = datetime(2026, 3, 5, 10, tzinfo=UTC)
BOOKED = date(2026, 3, 4)
CURRENCY = "EUR"


def _reference(i: int) -> str:
    return f"{1_000_000_000 + i}"


def statement(n: int) -> bytes:
    entries = [
        GeneratedCredit(
            amount_minor=1_000 + i % 50_000,
            currency=CURRENCY,
            reference=_reference(i),
            booking_date=BOOKED,
            bank_ref=f"BANKREF{i:010d}",
            debtor_name=f"Debtor {i}",
        )
        for i in range(n)
    ]
    return camt053(entries, account_iban="EE382200221020145685", msg_id="BENCH-STMT-1", created=NOW)


async def _fresh_schema(dsn: str, n: int) -> None:
    """Drop and re-migrate the payments schema, then COPY `n` open claims into its index."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    finally:
        await conn.close()
    await migrate_async(dsn, SCHEMA, MIGRATIONS)
    creditor, debtor = uuid.uuid4(), uuid.uuid4()
    rows = [
        (uuid.uuid4(), creditor, debtor, _reference(i), f"INV-{i:07d}", CURRENCY, 1_000 + i % 50_000, NOW, NOW)
        for i in range(n)
    ]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "claim_index",
            schema_name=SCHEMA,
            records=rows,
            columns=[
                "claim_id",
                "creditor_id",
                "debtor_id",
                "reference",
                "invoice_no",
                "currency",
                "amount_owed_minor",
                "created_at",
                "indexed_at",
            ],
        )
        await conn.execute(f'ANALYZE "{SCHEMA}".claim_index')
    finally:
        await conn.close()


async def _import(dsn: str, data: bytes, n: int) -> float:
    db = Database(dsn, SCHEMA)
    await db.connect()
    try:
        started = time.perf_counter()
        result = await import_file(db, data, "bench-camt053.xml", NOW)
        seconds = time.perf_counter() - started
    finally:
        await db.close()
    if result.matched != n:
        raise RuntimeError(f"expected {n} matched entries, got {result}")
    return seconds


def run(opts: Options) -> Figure:
    n = opts.size(100_000, 10_000)
    data = statement(n)
    say(f"{KEY}: camt.053 with {n} entries, {len(data) / 2**20:.1f} MiB")
    values, component = [], []
    with temp_dir("camt") as home:
        pg = EmbeddedPostgres(home / "data", durable=True)
        try:
            pg.start()
            for i in range(opts.runs):
                asyncio.run(_fresh_schema(pg.dsn, n))
                values.append(asyncio.run(_import(pg.dsn, data, n)))
                component.append(timed(lambda: parse_bank_file(data)))
                say(f"{KEY} run {i + 1}: import {values[-1]:.2f} s, parse_bank_file alone {component[-1]:.2f} s")
        finally:
            pg.stop()
    return Figure(KEY, "s", n, values, component, "parse_bank_file alone (lxml), seconds")
