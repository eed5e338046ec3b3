"""The order make test's units of work go out to xdist workers (krafa_kit.testing.send_order):
the longest first, so that none is the run's tail."""

from __future__ import annotations

from krafa_kit.testing import scope_of, send_order

MARKS = {
    "tests/e2e/test_demo_path.py": frozenset({"e2e", "kafka"}),
    "libs/kit/tests/test_kafka_cluster.py": frozenset({"integration", "kafka"}),
    "tests/chaos/test_chaos_short.py": frozenset({"e2e"}),
    "tests/e2e/test_staff_browser.py": frozenset({"e2e"}),
}


def marks_of(file: str) -> frozenset[str]:
    return MARKS.get(file, frozenset())


def test_the_kafka_modules_are_one_unit_and_every_other_file_its_own() -> None:
    assert scope_of("tests/e2e/test_demo_path.py::test_every_outcome", marks_of) == "@kafka"
    assert scope_of("libs/kit/tests/test_kafka_cluster.py::test_three_nodes", marks_of) == "@kafka"
    assert scope_of("tests/chaos/test_chaos_short.py::test_run", marks_of) == "tests/chaos/test_chaos_short.py"
    assert scope_of("libs/kit/tests/test_worker.py::test_a[1]", marks_of) == "libs/kit/tests/test_worker.py"


def test_kafka_then_the_whole_stacks_one_scenario_first_then_the_rest_most_tests_first() -> None:
    scopes = {
        "libs/kit/tests/test_worker.py": 3,
        "tests/e2e/test_staff_browser.py": 14,
        "services/notifier/tests/unit/test_mime.py": 40,
        "tests/chaos/test_chaos_short.py": 1,
        "@kafka": 8,
    }
    assert send_order(scopes, marks_of) == [
        "@kafka",
        "tests/chaos/test_chaos_short.py",
        "tests/e2e/test_staff_browser.py",
        "services/notifier/tests/unit/test_mime.py",
        "libs/kit/tests/test_worker.py",
    ]
