"""A command that starts servers (`krafa run`, `krafa demo`, chaos, bench) stops them on Ctrl-C,
SIGTERM or SIGHUP: the signal becomes a KeyboardInterrupt that unwinds through the command's
`finally` blocks. Python runs the handler wherever the main thread is, inside a finalizer too (a
`__del__`, a generator the garbage collector closes), where the exception is printed and dropped:
the command then carried on as if no signal had come, servers and all, until something killed it.
Each case runs in a process of its own, as the command does."""

from __future__ import annotations

import signal
import subprocess
import sys

PROGRAM = """
import os, signal, sys, threading, time
from krafa_kit.embedded import stop_on_signals

stop_on_signals()


class Closing:
    def __del__(self) -> None:
        time.sleep(2.0)  # a finalizer's clean-up, under way when the signal comes


threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
try:
    if sys.argv[1] == "in-finalizer":
        Closing()  # garbage at once: its __del__ runs here, and the signal comes during it
    began = time.monotonic()
    while time.monotonic() - began < 30:
        time.sleep(0.05)
    print("carried on", flush=True)
except KeyboardInterrupt as stop:
    print(f"stopping: {stop}", flush=True)
    if sys.argv[2:] == ["then-again"]:  # a second signal during the clean-up
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        print("outlived a second signal", flush=True)
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_signal_interrupts_the_main_thread() -> None:
    done = _run("plain")
    assert done.stdout == "stopping: signal SIGTERM\n", done.stderr


def test_a_signal_that_comes_during_a_finalizer_still_interrupts_the_main_thread() -> None:
    done = _run("in-finalizer")
    assert done.stdout == "stopping: signal SIGTERM\n", done.stderr
    assert "Exception ignored" not in done.stderr  # dropped, and raised again: nothing to report


def test_a_second_signal_during_the_clean_up_ends_the_process_at_once() -> None:
    done = _run("plain", "then-again")
    assert done.stdout == "stopping: signal SIGTERM\n", done.stderr
    assert done.returncode == -signal.SIGTERM
