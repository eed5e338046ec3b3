"""The zygote starts a server as `python -m` would: its arguments, exactly its environment, its
log, its command line, its exit code — and nothing it forked outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from krafa.zygote import Zygote

PROBE = """
import os, sys, time
print("argv", sys.argv[1:], "name", __name__)
print("env", os.environ.get("PROBE_VALUE"), "inherited", "PROBE_PARENT_ONLY" in os.environ)
sys.stdout.flush()
if sys.argv[1] == "sleep":
    time.sleep(60)
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture
def zygote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zygote]:
    (tmp_path / "zygote_probe.py").write_text(PROBE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("PROBE_PARENT_ONLY", "1")
    instance = Zygote(["json"])  # the probe is imported by each child: its body is its run
    try:
        yield instance
    finally:
        instance.stop()


def _ran(log: Path) -> bool:
    return log.exists() and "env" in log.read_text()


def _wait_for(check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_a_child_runs_as_python_dash_m_with_its_own_arguments_environment_and_exit_code(
    zygote: Zygote, tmp_path: Path
) -> None:
    log = tmp_path / "probe.log"
    child = zygote.fork("zygote_probe", ["exit", "3"], {"PROBE_VALUE": "42"}, log)
    assert child.wait(20) == 3 and child.poll() == 3
    assert log.read_text().splitlines() == [
        "argv ['exit', '3'] name __main__",
        "env 42 inherited False",  # exactly the environment given, nothing of the zygote's
    ]


def test_a_signal_ends_a_child_as_it_would_a_process_of_its_own(zygote: Zygote, tmp_path: Path) -> None:
    log = tmp_path / "probe.log"
    child = zygote.fork("zygote_probe", ["sleep", "0"], {}, log)
    _wait_for(lambda: _ran(log))
    process = psutil.Process(child.pid)
    assert " ".join(process.cmdline()).endswith("-m zygote_probe sleep 0")  # ps shows what runs
    assert process.ppid() == zygote.process.pid and os.getsid(child.pid) == child.pid  # own session
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(0.1)
    os.kill(child.pid, signal.SIGTERM)
    assert child.wait(20) == -signal.SIGTERM


def test_nothing_forked_outlives_the_zygote(zygote: Zygote, tmp_path: Path) -> None:
    children = [zygote.fork("zygote_probe", ["sleep", "0"], {}, tmp_path / f"{n}.log") for n in range(2)]
    _wait_for(lambda: all(_ran(tmp_path / f"{n}.log") for n in range(2)))
    os.kill(zygote.process.pid, signal.SIGKILL)  # no clean-up: the parent-death signal does it
    for child in children:
        assert child.wait(20) == -signal.SIGTERM
        assert not psutil.pid_exists(child.pid) or psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(RuntimeError, match="zygote is gone"):
        zygote.fork("zygote_probe", ["exit", "0"], {}, tmp_path / "late.log")
