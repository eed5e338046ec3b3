"""The short form of `make chaos`: the embedded stack under a steady load of claims, payments,
cancellations and bounces while every fault is injected once (each service SIGKILLed and
restarted, the broker stopped and then lost and replayed from the outboxes, the SMTP server
refusing and dropping messages, PostgreSQL restarted, poison records), then all of them
together. Every invariant over the whole history must hold, including no personal data in any
service's log."""

from __future__ import annotations

from pathlib import Path

import pytest
from krafa.chaos import ChaosOptions, run_chaos
from krafa.stack import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    report = run_chaos(ChaosOptions(short=True, say=print), keep_logs=tmp_path / "logs")
    print(report.render())
    assert report.ok, report.failed
    survived = {fault.name for fault in report.faults}
    expected = {f"SIGKILL {service}" for service in SERVICES} | {
        "broker unreachable",
        "broker lost, outbox replay",
        "PostgreSQL restart",
        "poison records",
    }
    assert expected <= survived, expected - survived
    assert any(name.startswith("SMTP refuses") for name in survived)
    assert any(name.startswith("together:") for name in survived)
    checks = {check.name for check in report.checks}
    assert {"no claim lost", "no payment lost", "no delivery sent twice", "no personal data in logs"} <= checks
    # The load ran through the faults (how much depends on the machine: no rate is asserted).
    assert report.load["claims"] >= 10 and report.load["payments"] >= 1
    assert {p.name for p in (tmp_path / "logs").glob("*.log")} >= {f"{s}.log" for s in SERVICES}
