"""The order make test's units of work go out to xdist workers (krafa_kit.testing.send_order):
the longest first, so that none is the run's tail."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from krafa_kit.testing import pytest_xdist_make_scheduler, scope_of, send_order

MARKS = {
    "tests/e2e/test_demo_path.py": frozenset({"e2e"}),
    "tests/e2e/test_no_orphans.py": frozenset({"e2e"}),
    "libs/kit/tests/test_kafka_cluster.py": frozenset({"integration", "kafka"}),
    "tests/chaos/test_chaos_short.py": frozenset({"e2e"}),
    "tests/e2e/test_staff_browser.py": frozenset({"e2e"}),
}


def marks_of(file: str) -> frozenset[str]:
    return MARKS.get(file, frozenset())


def test_each_file_is_a_unit_and_the_kafka_half_of_a_whole_stack_module_another() -> None:
    demo = "tests/e2e/test_demo_path.py"
    assert scope_of(f"{demo}::test_every_outcome[embedded]", marks_of) == demo
    assert scope_of(f"{demo}::test_every_outcome[kafka]", marks_of) == f"{demo}[kafka]"
    orphans = "tests/e2e/test_no_orphans.py"
    assert scope_of(f"{orphans}::test_stop[kafka-run-SIGTERM]", marks_of) == f"{orphans}[kafka]"
    assert scope_of(f"{orphans}::test_stop[embedded-run-SIGTERM]", marks_of) == orphans
    # The cluster's own tests: one file, whatever its name says.
    cluster = "libs/kit/tests/test_kafka_cluster.py"
    assert scope_of(f"{cluster}::test_three_nodes", marks_of) == cluster
    assert scope_of("libs/kit/tests/test_worker.py::test_a[1]", marks_of) == "libs/kit/tests/test_worker.py"
    assert scope_of("libs/kit/tests/test_worker.py::test_a[kafka_topic]", marks_of) == "libs/kit/tests/test_worker.py"


def test_whole_stacks_on_kafka_then_on_the_embedded_broker_one_scenario_first_then_the_rest() -> None:
    scopes = {
        "libs/kit/tests/test_worker.py": 3,
        "tests/e2e/test_staff_browser.py": 14,
        "tests/e2e/test_staff_browser.py[kafka]": 14,
        "services/notifier/tests/unit/test_mime.py": 40,
        "tests/chaos/test_chaos_short.py": 1,
        "tests/chaos/test_chaos_short.py[kafka]": 1,
        "libs/kit/tests/test_kafka_cluster.py": 4,
    }
    assert send_order(scopes, marks_of) == [
        "tests/chaos/test_chaos_short.py[kafka]",
        "tests/e2e/test_staff_browser.py[kafka]",
        "tests/chaos/test_chaos_short.py",
        "tests/e2e/test_staff_browser.py",
        "services/notifier/tests/unit/test_mime.py",
        "libs/kit/tests/test_kafka_cluster.py",
        "libs/kit/tests/test_worker.py",
    ]


class _Config:
    """What xdist's LoadScopeScheduling reads of a pytest config: four workers, `--dist loadgroup`."""

    def __init__(self, root: Path) -> None:
        self.rootpath = root
        self.option = SimpleNamespace(tx=["4*popen"], loadscopereorder=False, dist="loadgroup")

    def getvalue(self, name: str) -> Any:
        return getattr(self.option, name)


class _Node:
    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def test_the_session_clusters_units_go_to_two_workers_and_the_chaos_run_with_its_own_to_any(tmp_path: Path) -> None:
    for name in ("tests/e2e/test_a.py", "tests/e2e/test_b.py", "tests/e2e/test_c.py", "tests/chaos/test_chaos.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("pytestmark = pytest.mark.e2e\n")
    collection = [
        "tests/chaos/test_chaos.py::test_run[embedded]",
        "tests/chaos/test_chaos.py::test_run[kafka]",
        *(f"tests/e2e/test_{m}.py::test_{i}[{b}]" for m in "abc" for b in ("embedded", "kafka") for i in range(4)),
        *(f"libs/kit/tests/test_unit_{i}.py::test_x" for i in range(6)),
    ]
    scheduler = pytest_xdist_make_scheduler(_Config(tmp_path), None)  # type: ignore[arg-type]
    nodes = [_Node(f"gw{i}") for i in range(4)]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    # Every node works until the queue is empty, each finishing its tests in order.
    while scheduler.workqueue or any(scheduler._pending_of(scheduler.assigned_work[n]) for n in nodes):
        for node in nodes:
            pending = [i for batch in node.sent for i in batch]
            done = {collection.index(t) for s in scheduler.assigned_work[node].values() for t, ok in s.items() if ok}
            todo = [i for i in pending if i not in done]
            if todo:
                scheduler.mark_test_complete(node, todo[0])
    ran = {node.gateway.id: {collection[i] for batch in node.sent for i in batch} for node in nodes}
    assert sorted(set().union(*ran.values())) == sorted(collection)
    on_cluster = {name for name, ids in ran.items() if any("[kafka]" in t and "chaos" not in t for t in ids)}
    assert len(on_cluster) == 2, ran
    # The longest unit went first: the chaos run on Apache Kafka, to the first worker.
    assert collection.index("tests/chaos/test_chaos.py::test_run[kafka]") == nodes[0].sent[0][0]
