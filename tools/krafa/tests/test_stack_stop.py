"""`krafa run` stops its whole stack within a bounded time of a Ctrl-C or a SIGTERM, on a busy
machine too: the services, the sinks, then PostgreSQL and the broker's nodes, each step all at
once with one deadline, after which whatever is left is killed. A Kafka node whose controlled
shutdown waits for a quorum that has already gone is killed at that deadline (it would wait five
minutes), and PostgreSQL gets its fast shutdown."""

from __future__ import annotations

import logging
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from krafa import stack as stack_module
from krafa.stack import Stack, StackConfig
from krafa_kit.embedded import ChildProcess, Stop
from krafa_kit.testing import signal_child, signal_children  # noqa: F401 — the `children` fixture


def test_a_kafka_stack_stops_in_three_steps_each_with_one_deadline(
    tmp_path: Path,
    children: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = Stack(StackConfig.with_free_ports(tmp_path, broker="kafka"))
    for step in ("STOP_SERVICES_S", "STOP_SINKS_S", "STOP_STORES_S"):
        monkeypatch.setattr(stack_module, step, 1.0)
    steps: list[tuple[list[Stop], float]] = []
    real_stop_together = stack_module.stop_together

    def stop_together(stops: Iterable[Stop], timeout: float) -> list[ChildProcess]:
        stops = list(stops)
        steps.append((stops, timeout))
        return real_stop_together(stops, timeout)

    monkeypatch.setattr(stack_module, "stop_together", stop_together)
    # The servers, played by children that stop as each kind does, or never.
    stack.processes = {
        "claims-api": signal_child(children, clean=signal.SIGTERM),
        "notifier": signal_child(children, ignored=signal.SIGTERM),  # stuck in its shutdown
        "smtp-catcher": signal_child(children, clean=signal.SIGTERM),
    }
    database = stack.pg.process = signal_child(children, clean=signal.SIGINT, ignored=signal.SIGTERM)
    nodes = stack.broker.nodes  # type: ignore[union-attr]
    nodes[0].process = signal_child(children, ignored=signal.SIGTERM)  # waiting for a quorum that has gone
    nodes[1].process = signal_child(children, clean=signal.SIGTERM)
    nodes[2].process = signal_child(children, clean=signal.SIGTERM)

    with caplog.at_level(logging.WARNING, logger="krafa.stack"):
        stack.stop()

    services, sinks, stores = steps
    assert [p for p, _ in services[0]] == [stack.processes["claims-api"], stack.processes["notifier"]]
    assert [p for p, _ in sinks[0]] == [stack.processes["smtp-catcher"]]
    # PostgreSQL (fast shutdown) and every node (a clean stop) under the one deadline.
    assert stores == ([(database, signal.SIGINT), *((n.process, signal.SIGTERM) for n in nodes)], 1.0)
    assert all(child.poll() is not None for child in children), "nothing outlives the stop"
    assert stack.processes["notifier"].returncode == -signal.SIGKILL
    assert nodes[0].process.returncode == -signal.SIGKILL
    assert database.returncode == 0 and stack.processes["claims-api"].returncode == 0
    assert f"notifier, broker (pid {nodes[0].process.pid})" in caplog.text


def test_a_stack_on_a_shared_cluster_leaves_the_cluster_running(
    tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    """The test session's cluster, which later stacks use too."""
    from krafa_kit.kafka_cluster import KafkaCluster

    cluster = KafkaCluster(tmp_path / "kafka")
    node = cluster.nodes[0].process = signal_child(children, clean=signal.SIGTERM)
    stack = Stack(StackConfig.with_free_ports(tmp_path / "stack", broker="kafka", kafka=cluster))
    stack.processes = {"claims-api": signal_child(children, clean=signal.SIGTERM)}
    stack.stop()
    assert stack.processes["claims-api"].returncode == 0
    assert node.poll() is None
