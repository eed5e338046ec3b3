"""Event-driven wake-ups for the background loops: PostgreSQL LISTEN/NOTIFY instead of tight polls.

A loop that used to look for work every few milliseconds waits on a `Wakeup` instead: set by a
NOTIFY that the writer of the work sends in its transaction (delivered at commit), by the next
known due moment, or by its fallback poll. The NOTIFY is only a hint: a loop always looks in
its tables, so a NOTIFY missed (the listening connection lost, a writer that sends none) costs at
most one fallback interval, never a row.

`Listener` is one PostgreSQL connection per process that LISTENs on every channel its loops
asked for and wakes them; when its connection is lost and made again it wakes every loop once,
since a NOTIFY sent meanwhile is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

# Sent by every outbox relay after a batch is acknowledged by the broker, with the batch's topics
# (comma-separated) as the payload: consumers in the same database that have stopped fetching
# while idle (krafa_kit.consumer) fetch again at once. Channels are per database.
PUBLISHED_CHANNEL = "krafa_published"


def due_channel(schema: str, work: str) -> str:
    """The channel a service's writers NOTIFY when `work` (e.g. "deliveries") may be due now."""
    return f"krafa_due_{schema}_{work}"


def notify_due(work: str) -> str:
    """The SQL call a writer of `work` makes in its transaction (delivered at commit): NOTIFY on
    `due_channel(<the connection's schema>, work)`, which a service's loop listens on through
    `Runtime.wake_on_due`. A statement can carry it, so the hint costs no round trip of its own:
    `WITH added AS (INSERT ... RETURNING 1) SELECT {notify_due("x")} WHERE EXISTS (SELECT FROM added)`."""
    return f"pg_notify('krafa_due_' || current_schema() || '_{work}', '')"


class Wakeup:
    """An asyncio.Event with the wait a polling loop needs: until set, or at most `timeout`.

    `set` may be called from any thread: a loop on a thread of its own (a lane, krafa_kit.runtime)
    is woken by the other loops' events and they by its. From outside the waiting loop's thread
    the event is set in that loop (an asyncio.Event wakes its waiter only from its own loop)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = _running_loop()

    def set(self, *_: object) -> None:
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self._event.set()
            return
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
            loop.call_soon_threadsafe(self._event.set)

    def is_set(self) -> bool:
        return self._event.is_set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """Wait until set or `timeout` seconds pass; True when woken. Clears the wake-up, so one
        that arrives while the caller works wakes its next wait at once instead of being lost."""
        self._loop = asyncio.get_running_loop()
        if not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), max(timeout, 0.0))
        woken = self._event.is_set()
        self._event.clear()
        return woken


PayloadHandler = Callable[[str], None]


class Listener:
    """One LISTEN connection per process, shared by its loops (`on(channel, handler)` before or
    while `run()` runs); reconnects with backoff and then wakes every handler with an empty
    payload, because notifications sent while it was away are lost."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._handlers: dict[str, list[PayloadHandler]] = defaultdict(list)
        self._conn: asyncpg.Connection | None = None
        self._listening: set[str] = set()
        self.connected = asyncio.Event()
        self.connections = 0  # made so far (each after the first is a reconnect)

    def on(self, channel: str, handler: PayloadHandler) -> None:
        self._handlers[channel].append(handler)
        if self._conn is not None and not self._conn.is_closed() and channel not in self._listening:
            asyncio.get_running_loop().create_task(self._listen(self._conn, channel))

    def wake(self, channel: str, handler: Wakeup) -> None:
        """`on(channel, …)` for a Wakeup, whatever the payload."""
        self.on(channel, lambda _payload: handler.set())

    async def _listen(self, conn: asyncpg.Connection, channel: str) -> None:
        self._listening.add(channel)
        await conn.add_listener(channel, self._dispatch)

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        for handler in self._handlers.get(channel, ()):
            handler(payload)

    def _wake_all(self) -> None:
        for handlers in list(self._handlers.values()):
            for handler in handlers:
                handler("")

    async def run(self) -> None:
        backoff = 0.5
        while True:
            lost = asyncio.get_running_loop().create_future()
            try:
                conn = await asyncpg.connect(self.dsn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("wake-up listener cannot connect, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.5
            conn.add_termination_listener(functools.partial(_resolve, lost))
            try:
                self._listening = set()
                # Set first: a channel asked for while these LISTENs go out is listened to by `on`.
                self._conn = conn
                for channel in list(self._handlers):
                    if channel not in self._listening:
                        await self._listen(conn, channel)
                self.connections += 1
                self.connected.set()
                self._wake_all()  # anything notified while this connection was not listening
                await lost
                log.warning("wake-up listener lost its connection, reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("wake-up listener failed, reconnecting", extra={"error": repr(exc)})
            finally:
                self.connected.clear()
                self._conn = None
                with contextlib.suppress(Exception):
                    await conn.close()
            self._wake_all()
            await asyncio.sleep(backoff)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve(future: asyncio.Future[None], *_: object) -> None:
    if not future.done():
        future.set_result(None)
