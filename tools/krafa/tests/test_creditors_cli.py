"""`krafa creditors create --scope`: the key it prints has exactly the scopes asked for (all by
default) and works against the real database; an unknown scope creates nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
from krafa.cli import main
from krafa_claims_api.app import SCHEMA
from krafa_claims_api.service import Caller, authenticate
from krafa_kit.db import Database

pytestmark = pytest.mark.integration


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


async def caller_for(url: str, token: str) -> tuple[Caller | None, int]:
    db = Database(url, SCHEMA)
    await db.connect(attempts=3)
    try:
        async with db.connection() as conn:
            creditors = int(await conn.fetchval("SELECT count(*) FROM creditors"))
        return await authenticate(db, token), creditors
    finally:
        await db.close()


def test_creditors_create_gives_the_key_the_scopes_asked_for(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["creditors", "create", "--database-url", database_url]
    code, out, _ = run([*base, "--name", "Fram", "--scope", "read", "--scope", "contacts:write"], capsys)
    created = json.loads(out)
    assert code == 0 and created["scopes"] == ["contacts:write", "read"]
    caller, _ = asyncio.run(caller_for(database_url, created["api_key"]))
    assert caller is not None and caller.scopes == {"contacts:write", "read"}
    assert str(caller.creditor_id) == created["creditor_id"]

    code, out, _ = run([*base, "--name", "Valur"], capsys)
    everything = json.loads(out)
    assert code == 0 and everything["scopes"] == ["claims:write", "contacts:write", "read"]
    caller, _ = asyncio.run(caller_for(database_url, everything["api_key"]))
    assert caller is not None and caller.scopes == {"claims:write", "contacts:write", "read"}

    code, out, err = run([*base, "--name", "KR", "--scope", "read", "--scope", "admin"], capsys)
    assert code == 2 and out == "" and "unknown scope admin" in err
    _, creditors = asyncio.run(caller_for(database_url, everything["api_key"]))
    assert creditors == 2


async def contact_consent(url: str, creditor_id: str) -> object:
    db = Database(url, SCHEMA)
    await db.connect(attempts=3)
    try:
        async with db.connection() as conn:
            return await conn.fetchval("SELECT contact_consent FROM creditors WHERE id = $1::uuid", creditor_id)
    finally:
        await db.close()


def test_creditors_create_records_the_contact_consent(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["creditors", "create", "--database-url", database_url, "--name", "Fram"]
    code, out, _ = run([*base, "--terms-version", "2026-01", "--terms-date", "2026-01-01"], capsys)
    consent = asyncio.run(contact_consent(database_url, json.loads(out)["creditor_id"]))
    assert code == 0 and isinstance(consent, dict)
    assert (consent["terms_version"], consent["terms_date"]) == ("2026-01", "2026-01-01")
    code, out, err = run([*base, "--terms-version", "2026-01"], capsys)
    assert code == 2 and out == "" and "go together" in err
    code, out, err = run([*base, "--terms-version", "v", "--terms-date", "someday"], capsys)
    assert code == 2 and out == "" and "terms_date" in err
