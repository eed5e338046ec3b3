"""claims-api as production runs it: `python -m krafa_claims_api` in its own process (env as
`krafa.stack.Stack.service_env` sets it) over a durable EmbeddedPostgres and an EmbeddedBroker,
so the outbox relay publishes every ClaimCreated while we measure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from krafa_claims_api import service
from krafa_claims_api.api.schemas import CreditorIn
from krafa_kit.db import Database
from krafa_kit.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from krafa_kit.kafka import ensure_topics

from bench.common import subprocess_server, temp_dir

SCHEMA = "claims"


@dataclass(frozen=True, slots=True)
class ClaimsApi:
    base_url: str
    dsn: str
    home: Path
    pid: int  # claims-api's process
    pg_pid: int  # PostgreSQL's postmaster


@contextlib.contextmanager
def claims_api() -> Iterator[ClaimsApi]:
    with temp_dir("claims") as home:
        pg = EmbeddedPostgres(home / "data", durable=True)
        broker = EmbeddedBroker(log_path=home / "broker.log")
        try:
            pg.start()
            broker.start()
            asyncio.run(ensure_topics(broker.bootstrap))
            port = free_port()
            env = dict(os.environ)
            env.update(
                {
                    "KRAFA_DATABASE_URL": pg.dsn,
                    "KRAFA_KAFKA_BOOTSTRAP": broker.bootstrap,
                    "KRAFA_HTTP_PORT": str(port),
                    "KRAFA_LOG_FORMAT": "json",
                    "KRAFA_LOG_LEVEL": "WARNING",
                    "KRAFA_ADMIN_TOKEN": uuid.uuid4().hex,
                    "PYTHONUNBUFFERED": "1",
                }
            )
            args = [sys.executable, "-m", "krafa_claims_api"]
            with subprocess_server(args, env, log=home / "claims-api.log") as process:
                base = f"http://127.0.0.1:{port}"
                _wait_ready(base, process, home / "claims-api.log")
                assert pg.process is not None
                yield ClaimsApi(base, pg.dsn, home, process.pid, pg.process.pid)
        finally:
            broker.stop()
            pg.stop()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"claims-api exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{base}/readyz").status_code == 200:
                    return
            time.sleep(0.2)
    raise TimeoutError(f"claims-api not ready after {timeout}s:\n{log.read_text()[-2000:]}")


async def new_creditor(dsn: str, name: str = "Bench") -> str:
    """A creditor made directly through the service layer; returns its API key."""
    db = Database(dsn, SCHEMA)
    await db.connect()
    try:
        async with db.uow() as uow:
            _, key = await service.create_creditor(
                uow,
                CreditorIn.model_validate(
                    {
                        "name": name,
                        "country": "IS",
                        "currency": "ISK",
                        "contact_consent": {"terms_version": "2026-01", "terms_date": "2026-01-01"},
                    }
                ),
            )
            await uow.commit()
        return str(key.token)
    finally:
        await db.close()


def claim(run: str, i: int) -> dict[str, Any]:
    """One claim with its own debtor (customer_no unique per run)."""
    return {
        "invoice_no": f"INV-{run}-{i:06d}",
        "amount_minor": 10_000 + i % 90_000,
        "currency": "ISK",
        "due_date": "2026-02-01",
        "description": "Árgjald 2026",
        "debtor": {
            "customer_no": f"C-{run}-{i:06d}",
            "name": "Jón Jónsson",
            "kind": "person",
            "country": "IS",
            "language": "is",
            "time_zone": "Atlantic/Reykjavik",
            "email": f"jon{i}@example.is",
            "phone": "+3545551234",
            "address": {
                "lines": [f"Laugavegur {i % 200 + 1}"],
                "postcode": "101",
                "city": "Reykjavík",
                "country": "IS",
            },
        },
    }
