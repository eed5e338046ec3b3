"""Stopping servers we started ends within one deadline, however many there are and whatever each
does with its stop signal: each gets its own signal (PostgreSQL's fast shutdown is SIGINT), all at
once; those still running when the one deadline passes are killed, all at once. Servers that wait
for each other while they stop (a Kafka node waiting for a controller that has gone) cannot add
their waits up."""

from __future__ import annotations

import signal
import subprocess

from krafa_kit.embedded import KILL_WAIT_S, stop_together
from krafa_kit.testing import signal_child, signal_children  # noqa: F401 — the `children` fixture


class Watched:
    """A child whose waits are written down (the time each was given)."""

    def __init__(self, process: subprocess.Popen[bytes], waits: list[float]) -> None:
        self.process, self.waits = process, waits

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float | None = None) -> int:
        assert timeout is not None, "a stop never waits without a bound"
        self.waits.append(timeout)
        return self.process.wait(timeout)


def test_each_child_gets_its_own_signal_and_those_that_linger_are_killed(
    children: list[subprocess.Popen[bytes]],
) -> None:
    database = signal_child(children, clean=signal.SIGINT, ignored=signal.SIGTERM)
    server = signal_child(children, clean=signal.SIGTERM)
    stuck = [signal_child(children, ignored=signal.SIGTERM) for _ in range(2)]

    killed = stop_together(
        [(database, signal.SIGINT), (server, signal.SIGTERM), *((s, signal.SIGTERM) for s in stuck)], timeout=1.0
    )

    assert database.returncode == 0  # its own signal, not the others' SIGTERM (which it ignores)
    assert server.returncode == 0
    assert [s.returncode for s in stuck] == [-signal.SIGKILL, -signal.SIGKILL]
    assert killed == stuck


def test_the_children_share_one_deadline_instead_of_one_each(children: list[subprocess.Popen[bytes]]) -> None:
    waits: list[float] = []
    stuck = [Watched(signal_child(children, ignored=signal.SIGTERM), waits) for _ in range(3)]

    killed = stop_together([(s, signal.SIGTERM) for s in stuck], timeout=1.0)

    assert killed == stuck
    # One wait per child before the kill, together no longer than the one timeout (the later ones
    # get what is left of it: the least a wait is given, 0.01 s); then one each after the kill.
    before_kill, after_kill = waits[:3], waits[3:]
    assert sum(before_kill) <= 1.0 + 3 * 0.01
    assert len(after_kill) == 3 and all(w <= KILL_WAIT_S for w in after_kill)


def test_children_already_gone_are_left_alone(children: list[subprocess.Popen[bytes]]) -> None:
    gone = signal_child(children, clean=signal.SIGTERM)
    gone.terminate()
    gone.wait(10)
    assert stop_together([(gone, signal.SIGTERM)], timeout=1.0) == []
    assert gone.returncode == 0
