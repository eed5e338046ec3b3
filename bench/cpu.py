"""CPU per process of a running stack (psutil: user + system seconds), snapshotted before and after
a piece of work so a figure can say where its CPU went: e2e.py divides each process's share by the
claims that went through and prints it as the `e2e_cpu_ms_per_claim` table.

Groups: each service and sink process (with its children), the broker, and PostgreSQL split by
whose connection a backend serves (the backend's client port belongs to a service's socket;
psutil finds the owner), so a millisecond of SQL is charged to the service that asked for it.
Backends that exit between two snapshots are counted through the postmaster's reaped-children
time under `postgres (other)`, with the checkpointer, WAL writer and backends of no service."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil
from krafa.stack import Stack

PG_OTHER = "postgres (other)"
DRIVER = "bench driver"


def _own_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _reaped_seconds(process: psutil.Process) -> float:
    """The CPU of children the process has waited for (gone, so no longer listed)."""
    times = process.cpu_times()
    return float(times.children_user + times.children_system)


@dataclass
class Snapshot:
    # group -> pid -> CPU seconds so far; "reaped" keys a root's waited-for children.
    seconds: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, group: str, key: str, value: float) -> None:
        self.seconds[group][key] = value


def _service_ports(stack: Stack) -> dict[int, str]:
    """Local TCP port -> the stack process (service or sink) whose socket it is."""
    owners: dict[int, str] = {}
    for name, process in stack.processes.items():
        if process.poll() is not None:
            continue
        with contextlib.suppress(psutil.Error):
            for conn in psutil.Process(process.pid).net_connections(kind="tcp"):
                if conn.laddr:
                    owners[conn.laddr.port] = name
    return owners


async def snapshot(stack: Stack, conn: asyncpg.Connection) -> Snapshot:
    snap = Snapshot()
    for name, process in stack.processes.items():
        if process.poll() is not None:
            continue
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(process.pid)
            snap.add(name, f"{name}:reaped", _reaped_seconds(root))
            for p in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    snap.add(name, str(p.pid), _own_seconds(p))
    for pid in stack.broker.pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            snap.add("broker", f"{pid}:reaped", _reaped_seconds(root))
            for p in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    snap.add("broker", str(p.pid), _own_seconds(p))
    if stack.pg.process is not None:
        owners = _service_ports(stack)
        backends = {
            int(row["pid"]): owners.get(int(row["client_port"] or 0), PG_OTHER)
            for row in await conn.fetch("SELECT pid, client_port FROM pg_stat_activity WHERE client_port IS NOT NULL")
        }
        with contextlib.suppress(psutil.Error):
            postmaster = psutil.Process(stack.pg.process.pid)
            snap.add(PG_OTHER, "postgres:reaped", _reaped_seconds(postmaster))
            for p in (postmaster, *postmaster.children(recursive=True)):
                owner = backends.get(p.pid)
                group = f"postgres ({owner})" if owner and owner != PG_OTHER else PG_OTHER
                with contextlib.suppress(psutil.Error):
                    snap.add(group, str(p.pid), _own_seconds(p))
    snap.add(DRIVER, str(os.getpid()), _own_seconds(psutil.Process()))
    return snap


def spent(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per group between two snapshots. A process is charged to the group it is in
    at the end (a backend whose client was not yet known at the start, say). One that exited in
    between shows up in its parent's reaped time with its whole life, so what it had used by the
    first snapshot is taken off there."""
    first: dict[str, float] = {}
    first_group: dict[str, str] = {}
    for group, values in before.seconds.items():
        first.update(values)
        first_group.update(dict.fromkeys(values, group))
    last = {key for values in after.seconds.values() for key in values}
    out: dict[str, float] = defaultdict(float)
    for group, values in after.seconds.items():
        out[group] += sum(max(0.0, value - first.get(key, 0.0)) for key, value in values.items())
    for key, value in first.items():
        if key not in last and not key.endswith(":reaped"):
            group = first_group[key]
            out[PG_OTHER if group.startswith("postgres") else group] -= value
    return dict(out)


# -- profiles ------------------------------------------------------------------------------------


class Profiler:
    """py-spy sampling every Python process of the stack (services and sinks), or the processes
    named `{name: pid}`, from outside while a block runs: `with Profiler(stack, out_dir): ...`.
    Each process's samples go to `<name>.txt` as collapsed stacks ("frame;frame;... count",
    only samples holding the GIL), and `summary.txt` lists per process where its CPU samples
    went, by own time and by inclusive time. Sampling costs each profiled process a little, so
    such a run is not counted."""

    RATE = 250  # samples per second

    def __init__(self, stack: Stack | dict[str, int], out_dir: Path) -> None:
        if isinstance(stack, Stack):
            stack = {name: p.pid for name, p in stack.processes.items() if p.poll() is None}
        self.pids, self.out_dir = stack, out_dir
        self._samplers: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Profiler:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
        for name, pid in self.pids.items():
            args = [py_spy, "record", "--pid", str(pid), "--rate", str(self.RATE), "--format", "raw"]
            # --gil: only samples that hold the GIL, i.e. Python at work, not the event loop
            # waiting in epoll (under uvloop that wait would count as the loop's own time).
            args += ["--nonblocking", "--gil", "--output", str(self.out_dir / f"{name}.txt")]
            self._samplers[name] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches
        return self

    def __exit__(self, *_: object) -> None:
        for sampler in self._samplers.values():
            sampler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for sampler in self._samplers.values():
            try:
                sampler.wait(30)
            except subprocess.TimeoutExpired:
                sampler.kill()
                sampler.wait()
        with open(self.out_dir / "summary.txt", "w") as out:
            for name in sorted(self._samplers):
                path = self.out_dir / f"{name}.txt"
                if path.exists():
                    out.write(summarize(name, path) + "\n")


def _frame(frame: str) -> str:
    """`deliver (krafa_notifier/service.py:380)` -> `deliver (krafa_notifier/service.py)`: a
    function, not a line."""
    function, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if parts else path
    return f"{function} ({short})"


def summarize(name: str, path: Path, top: int = 30) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"== {name}: {total} samples ({total / Profiler.RATE:.1f} CPU s at {Profiler.RATE}/s)"]
    lines.append("  own time:")
    lines += [f"    {100 * c / max(total, 1):5.1f}%  {f}" for f, c in own.most_common(top)]
    lines.append("  inclusive:")
    lines += [f"    {100 * c / max(total, 1):5.1f}%  {f}" for f, c in inclusive.most_common(top)]
    return "\n".join(lines)
