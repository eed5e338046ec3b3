"""A delivery that crashed is handed back to be tried again even while the database that crashed
it is still away: given up after one failed write, its row stayed `sending` under the live
dispatcher's id (no orphan release takes it back) and the reminder was never sent."""

from __future__ import annotations

from typing import Any

import asyncpg
from krafa_kit.consumer import is_transient
from krafa_notifier.service import Dispatcher


class DatabaseAway:
    def __init__(self, failures: int) -> None:
        self.failures, self.handed_back = failures, 0
        self.waits: list[float] = []

    async def _pause(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def _retry_later(self, row: Any, reason: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        assert reason == "internal error"
        self.handed_back += 1


# The pause is the dispatcher's own method: patching asyncio.sleep for the process made every other
# task on the session's event loop spin without yielding (one such test took 303 s under xdist).
async def test_a_crashed_delivery_is_handed_back_once_the_database_answers() -> None:
    dispatcher = DatabaseAway(failures=4)
    await Dispatcher._hand_back(dispatcher, {"id": "d1"})  # type: ignore[arg-type]
    assert dispatcher.handed_back == 1 and dispatcher.failures == 0
    assert dispatcher.waits == [0.2, 0.4, 0.8, 1.6]  # backing off while it waits


def test_a_connection_left_busy_by_a_lost_server_is_transient() -> None:
    busy = asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress")
    assert is_transient(busy)
    assert not is_transient(asyncpg.InternalClientError("some other client bug"))
