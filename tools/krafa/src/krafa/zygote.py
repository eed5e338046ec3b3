"""Start the stack's Python servers by forking one process that has already imported them.

A service spends most of its start importing its code (FastAPI, pydantic, SQLAlchemy and
Alembic, fpdf2 and fontTools: ~5-7 CPU seconds each on this machine), and a stack starts six
services and five sinks — in tests, a dozen stacks and many restarts. The zygote imports every
module once, then forks a child per server; the child is the same program as
`python -m <module> <args>` (its own session, environment, log file, process title and exit
code), only without the imports. Like gunicorn's `--preload`, it is a way of starting processes,
not a different runtime: production images start each service with `python -m` as before.

The zygote is single-threaded (a fork copies only the calling thread, so nothing may hold a lock
in another one) and reaps its children, telling the starter each exit code on its stdout. It dies
with its starter (the parent-death signal) and takes its children with it; each child also gets
the parent-death signal from the zygote, so nothing is left behind by a SIGKILL either.

KRAFA_STACK_FORK=0 starts every server with `python -m` instead."""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import runpy
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from krafa_kit.embedded import die_with_parent, spawn


def enabled() -> bool:
    return os.environ.get("KRAFA_STACK_FORK", "1") not in ("0", "false", "no")


class ForkedProcess:
    """A server the zygote forked, with the part of `subprocess.Popen` a stack uses: `pid`,
    `args`, `returncode`, `poll()` and `wait(timeout)` (exit codes as Popen reports them: a
    negative number for a signal)."""

    def __init__(self, pid: int, args: list[str]) -> None:
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self._exited = threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def _exit(self, code: int) -> None:
        self.returncode = code
        self._exited.set()


class Zygote:
    """The starter's side: one zygote per process (`shared`), asked over its stdin to fork."""

    def __init__(self, preload: Sequence[str]) -> None:
        self.preload = list(preload)
        self._lock = threading.Lock()
        self._replies: dict[int, Any] = {}
        self._replied = threading.Condition(self._lock)
        self._children: dict[int, ForkedProcess] = {}
        self._early_exits: dict[int, int] = {}
        self._next = 0
        self._gone = False
        self.process = spawn(
            [sys.executable, "-m", "krafa.zygote", *self.preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read, name="krafa-zygote", daemon=True)
        self._reader.start()

    def fork(self, module: str, argv: list[str], env: dict[str, str], log: Path) -> ForkedProcess:
        """`python -m module *argv` with `env`, its stdout and stderr appended to `log`."""
        with self._lock:
            if self._gone:
                raise RuntimeError("the zygote is gone: see the stack's log")
            self._next += 1
            ask = self._next
            request = {"id": ask, "module": module, "argv": argv, "env": env, "log": str(log)}
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            while ask not in self._replies:
                if self._gone or not self._replied.wait(timeout=240):
                    raise RuntimeError(f"the zygote did not start {module}")
            reply = self._replies.pop(ask)
            if "error" in reply:
                raise RuntimeError(f"the zygote could not start {module}: {reply['error']}")
            child = ForkedProcess(int(reply["pid"]), [sys.executable, "-m", module, *argv])
            self._children[child.pid] = child
            if child.pid in self._early_exits:  # it died before the reply was read
                child._exit(self._early_exits.pop(child.pid))
            return child

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if "exit" in message:
                    pid, code = int(message["exit"]), int(message["code"])
                    child = self._children.pop(pid, None)
                    if child is None:
                        self._early_exits[pid] = code
                    else:
                        child._exit(code)
                else:
                    self._replies[int(message["id"])] = message
                    self._replied.notify_all()
        # The zygote is gone, and with it (their parent-death signal) every child it forked.
        with self._lock:
            self._gone = True
            self._replied.notify_all()
            children, self._children = list(self._children.values()), {}
        for child in children:
            _await_gone(child.pid)
            child._exit(-signal.SIGTERM)

    def stop(self) -> None:
        """Close its stdin: it stops its children (SIGTERM, then SIGKILL) and exits."""
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _await_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


_SHARED: Zygote | None = None
_SHARED_LOCK = threading.Lock()


def shared(preload: Sequence[str]) -> Zygote:
    """This process's zygote, started on first use with `preload` imported."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED._gone:
            _SHARED = Zygote(preload)
        return _SHARED


# -- the zygote process ------------------------------------------------------------------------
def _serve(preload: Sequence[str]) -> None:
    import setproctitle

    # First call here, while argv and environ are where setproctitle looks for them: a child
    # that replaced its environment could not set its title any more.
    setproctitle.setproctitle(f"{sys.executable} -m krafa.zygote ({len(preload)} modules preloaded)")
    requests = sys.stdin.buffer
    # Replies on a descriptor of their own: whatever a module prints while it is imported goes to
    # stderr and cannot garble them.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # the child imports it again and fails in its own log
            traceback.print_exc()
        # What it imported stays; the module itself is run afresh as __main__ by each child, as
        # `python -m` runs it (runpy warns about a module it finds already imported).
        sys.modules.pop(module, None)
    gc.collect()
    gc.freeze()  # what the imports made stays shared with the children (no copy on write by gc)

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the starter decides; a terminal's Ctrl-C is its
    children: set[int] = set()
    zygote = os.getpid()

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            _say(replies, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    buffered = b""
    while not stopping:
        try:
            ready, _, _ = select.select([requests, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
            reap()
        if requests in ready:
            chunk = os.read(requests.fileno(), 65536)
            if not chunk:
                break
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request, zygote, keep=(replies.fileno(), wake_r, wake_w))
                children.add(pid)
                _say(replies, {"id": request["id"], "pid": pid})
    # Stopping: every child, SIGTERM then (after 15 s) SIGKILL.
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while children and time.monotonic() < deadline:
            reap()
            time.sleep(0.05)
    reap()


def _say(out: IO[bytes], message: dict[str, Any]) -> None:
    with contextlib.suppress(BrokenPipeError):
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()


def _child(request: dict[str, Any], zygote: int, keep: tuple[int, ...]) -> None:
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        die_with_parent(signal.SIGTERM, zygote)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in (*keep, log, null):
            if fd > 2:  # 0 and 1 were the zygote's pipes: now /dev/null and the log
                with contextlib.suppress(OSError):
                    os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        module, argv = request["module"], list(request["argv"])
        sys.argv = [module, *argv]
        import setproctitle

        setproctitle.setproctitle(" ".join([sys.executable, "-m", module, *argv]))
        gc.unfreeze()
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
        except KeyboardInterrupt:
            code = 128 + signal.SIGINT
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def main() -> None:
    die_with_parent(signal.SIGTERM)
    _serve(sys.argv[1:])


if __name__ == "__main__":
    main()
