"""No personal data in logs. The full-stack scan runs inside the chaos short run (tests/chaos:
every service's log of a loaded run with crashes and retries is searched for the debtors' names,
emails, phone numbers and national ids); here, the pieces it relies on: the scanner finds what it
must, and the kit's log redaction removes emails, phone numbers and national ids from every
line, including exception texts and `extra` fields, before they leave the process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from krafa.chaos import kennitala, scan_logs
from krafa_kit.logs import configure_logging, redact
from stdnum.is_ import kennitala as stdnum_kennitala


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_service_log_lines_carry_no_personal_data(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    national_id = kennitala(date(1984, 5, 17), 3)
    assert stdnum_kennitala.is_valid(national_id)
    configure_logging("notifier", "INFO", "json")
    log = logging.getLogger("krafa_notifier.test")
    log.info("delivery to sigridur.olafsdottir@example.is refused", extra={"recipient": "jon@example.is"})
    log.warning("sms to +354 555 1234 failed; retry +3546001234", extra={"phone": "+3546001234"})
    try:
        raise ValueError(f"debtor {national_id} / {national_id[:6]}-{national_id[6:]} unknown")
    except ValueError:
        log.exception("lookup failed", extra={"claim_id": "2a225f8d-d054-450f-9007-9812a644b134"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    text = json.dumps(lines, ensure_ascii=False)
    for needle in ("sigridur", "jon@example.is", "555 1234", "3546001234", national_id, national_id[:6] + "-"):
        assert needle not in text, needle
    assert lines[0]["msg"] == "delivery to <email> refused" and lines[0]["recipient"] == "<email>"
    assert "<phone>" in lines[1]["msg"] and "<national-id>" in lines[2]["exc"]
    # Ids that look nothing like personal data stay readable.
    assert lines[2]["claim_id"] == "2a225f8d-d054-450f-9007-9812a644b134"
    assert redact("import 7 entries at 2026-03-02T09:00:00Z on port 8004") == (
        "import 7 entries at 2026-03-02T09:00:00Z on port 8004"
    )


def test_log_scan_finds_each_kind_of_personal_data(tmp_path: Path) -> None:
    (tmp_path / "notifier.log").write_text('{"msg": "sent to felagi12@example.is"}\n')
    (tmp_path / "claims-api.log").write_text('{"msg": "debtor Þórdís Einarsson 4 created"}\n')
    (tmp_path / "scheduler.log").write_text('{"msg": "swept 120 timelines"}\n')
    needles = {"felagi12@example.is", "Þórdís Einarsson 4", "+3546000012", "1201603389"}
    assert scan_logs(tmp_path, needles) == {
        "claims-api.log": ["Þórdís Einarsson 4"],
        "notifier.log": ["felagi12@example.is"],
    }
