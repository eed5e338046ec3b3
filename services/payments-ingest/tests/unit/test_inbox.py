"""The pure parts of the watched inbox: which files are taken, when, and where they go."""

from __future__ import annotations

from pathlib import Path

import pytest
from krafa_payments_ingest.inbox import free_name, ready, wanted


@pytest.mark.parametrize(
    ("name", "taken"),
    [("a.xml", True), ("A.XML", True), ("b.sta", True), ("c.txt", True), ("d.csv", True), ("e.pdf", False),
     (".hidden.xml", False), ("f.xml.part", False), ("noext", False)],
)  # fmt: skip
def test_wanted_names(name: str, taken: bool) -> None:
    assert wanted(name) is taken


def test_a_file_is_ready_once_unchanged_over_two_polls() -> None:
    first = {"a.xml": (10, 1), "b.csv": (5, 1)}
    assert ready(first, {}) == []
    second = {"a.xml": (10, 1), "b.csv": (9, 2), "c.txt": (1, 1)}
    assert ready(second, first) == ["a.xml"]
    assert ready({"c.txt": (1, 1), "b.csv": (9, 2)}, second) == ["b.csv", "c.txt"]
    assert ready({"x.pdf": (1, 1)}, {"x.pdf": (1, 1)}) == []


def test_a_taken_name_gets_a_number() -> None:
    directory = Path("/inbox/done")
    assert free_name(directory, "s.xml", []) == directory / "s.xml"
    assert free_name(directory, "s.xml", ["s.xml", "s.1.xml"]) == directory / "s.2.xml"
    assert free_name(directory, "noext", ["noext"]) == directory / "noext.1"
