"""Three scheduler processes (`python -m krafa_scheduler`) on one database and one broker fire
a batch of due timers together: every step fires exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from krafa_events import Topic
from krafa_events.catalog import DueDatePassed, ReminderDue
from krafa_kit.embedded import EmbeddedBroker, free_port, spawn
from krafa_kit.testing import TopicReader, eventually

from .conftest import Engine

pytestmark = pytest.mark.integration

SIM_NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday, inside every sending window
DEBTORS, CLAIMS_PER_DEBTOR = 300, 3


@contextmanager
def schedulers(database_url: str, bootstrap: str, logs: Path, n: int) -> Iterator[list[str]]:
    epoch = time.time()
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(n):
            port = free_port()
            env = {
                **os.environ,
                "KRAFA_DATABASE_URL": database_url,
                "KRAFA_KAFKA_BOOTSTRAP": bootstrap,
                "KRAFA_HTTP_PORT": str(port),
                "KRAFA_CLOCK": "simulated",
                "KRAFA_SIM_START": SIM_NOW.isoformat(),
                "KRAFA_SIM_EPOCH": repr(epoch),
                "KRAFA_SIM_SPEED": "1.0",
                # Small batches so that all three replicas take their share of the due rows.
                "KRAFA_SWEEP_BATCH_SIZE": "25",
                "KRAFA_LOG_FORMAT": "text",
                "KRAFA_LOG_LEVEL": "WARNING",
            }
            log = (logs / f"scheduler-{i}.log").open("wb")
            processes.append(spawn([sys.executable, "-m", "krafa_scheduler"], env=env, stdout=log, stderr=log))
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.timeout(600)
async def test_three_scheduler_processes_fire_each_step_once(
    database_url: str, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with schedulers(database_url, broker.bootstrap, tmp_path, 3) as urls:

        async def all_ready() -> bool:
            # Up means migrated and sweeping (the lifespan starts the sweeper before serving).
            async with httpx.AsyncClient(timeout=2) as client:
                for url in urls:
                    try:
                        if (await client.get(url + "/healthz")).status_code != 200:
                            return False
                    except httpx.HTTPError:
                        return False
            return True

        # Three interpreters importing the stack and migrating in turn: slow on a loaded machine.
        await eventually(all_ready, timeout=300)
        # Every timer falls due at once, after all three replicas are sweeping: 900 claims of 300
        # debtors, each debtor's three claims due for the same step (one reminder lists them).
        # The first Icelandic policy: a reminder the day after the due date, so step 1 is due now.
        rows = [
            (uuid.uuid4(), creditor, debtor, "ISK", 10_000, date(2026, 3, 2), date(2026, 3, 12), "IS",
             "Atlantic/Reykjavik", "IS", SIM_NOW - timedelta(hours=1), "is-default", 1)
            for creditor in (uuid.uuid4(),)
            for debtor in (uuid.uuid4() for _ in range(DEBTORS))
            for _ in range(CLAIMS_PER_DEBTOR)
        ]  # fmt: skip
        async with TopicReader(broker.bootstrap, Topic.DUNNING) as dunning:
            conn = await asyncpg.connect(database_url, server_settings={"search_path": "scheduler"})
            try:
                await conn.copy_records_to_table(
                    "timelines",
                    records=rows,
                    columns=["claim_id", "creditor_id", "debtor_id", "currency", "amount_minor", "due_date",
                             "final_due_date", "jurisdiction", "time_zone", "debtor_country", "next_action_at",
                             "policy_key", "policy_version"],
                )  # fmt: skip

                async def swept() -> bool:
                    return bool(await conn.fetchval("SELECT count(*) = 0 FROM timelines WHERE step = 0"))

                await eventually(swept, timeout=120)
                outbox = await conn.fetch("SELECT event_type, headers, value, key FROM outbox ORDER BY id")
            finally:
                await conn.close()
            events = [Engine.decode_row(r) for r in outbox]
            reminders = [e for e in events if isinstance(e, ReminderDue)]
            passed = [e for e in events if isinstance(e, DueDatePassed)]
            # Each claim passed its due date once and was listed in exactly one step-1 reminder.
            assert Counter(e.claim_id for e in passed) == Counter({r[0]: 1 for r in rows})
            listed = Counter(c for r in reminders for c in r.claim_ids)
            assert listed == Counter({r[0]: 1 for r in rows})
            assert {r.step for r in reminders} == {1}
            assert len({r.reminder_id for r in reminders}) == len(reminders)
            # Each debtor got one reminder (all three claims) unless replicas split its claims.
            per_debtor = Counter(r.debtor_id for r in reminders)
            assert all(n <= CLAIMS_PER_DEBTOR for n in per_debtor.values())
            assert sum(1 for r in reminders if len(r.claim_ids) == CLAIMS_PER_DEBTOR) > DEBTORS // 2
            # What the relays published matches what was written: no step twice on the topic.
            await eventually(lambda: len({e.reminder_id for e in dunning.of_type(ReminderDue)}) == len(reminders))
            on_topic = Counter(c for e in {e.reminder_id: e for e in dunning.of_type(ReminderDue)}.values()
                               for c in e.claim_ids)  # fmt: skip
            assert on_topic == listed
