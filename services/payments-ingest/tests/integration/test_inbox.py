"""The watched inbox: a bank file dropped into the directory is imported like an upload and
moved to done/, a malformed one to failed/ with the reason beside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from krafa_events.references import rf_from
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import eventually

from .conftest import running
from .test_payments_flow import a_credit, a_notification

pytestmark = pytest.mark.integration


async def test_inbox_imports_new_files_and_sorts_them(
    database_url: str, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = a_notification(a_credit(10_390, rf_from(100_081), "I-1"), a_credit(5_000, None, "I-2"))
    (inbox / "statement.XML").write_bytes(good)
    (inbox / "broken.sta").write_bytes(b":20:REF\n:25:ACC\n:61:garbage\n")
    (inbox / "export.csv").write_bytes(b"a,b\n1,2\n")
    (inbox / "notes.pdf").write_bytes(b"%PDF")
    (inbox / ".partial.xml").write_bytes(good)
    async with running(database_url, broker, consume=False, inbox_dir=inbox, inbox_poll_interval_s=0.1) as service:

        def sorted_out() -> bool:
            return {p.name for p in inbox.iterdir() if p.is_file()} == {"notes.pdf", ".partial.xml"}

        await eventually(sorted_out, timeout=30)
        assert (inbox / "done" / "statement.XML").read_bytes() == good
        assert sorted(p.name for p in (inbox / "failed").iterdir()) == [
            "broken.sta", "broken.sta.error.txt", "export.csv", "export.csv.error.txt",
        ]  # fmt: skip
        assert "line" in (inbox / "failed" / "broken.sta.error.txt").read_text(encoding="utf-8")
        assert "KRAFA_INBOX_CSV_MAPPING" in (inbox / "failed" / "export.csv.error.txt").read_text(encoding="utf-8")
        assert await service.count("SELECT count(*) FROM payments") == 2
        assert await service.count("SELECT count(*) FROM imports WHERE filename = 'statement.XML'") == 1

        # The same file again is a repeat: imported (nothing new) and moved beside the first.
        (inbox / "statement.XML").write_bytes(good)
        await eventually(lambda: (inbox / "done" / "statement.1.XML").exists(), timeout=30)
        assert await service.count("SELECT count(*) FROM payments") == 2
