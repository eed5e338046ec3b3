"""Write commands name their target (`krafa payments import`, `krafa bank pay`, `krafa webhooks`): --url, --stack,
the environment, or the local stack `krafa run` keeps in $KRAFA_HOME while it runs — never a
default port another stack may be listening on. Without one: one line and an exit code."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from krafa_kit.embedded import free_port

from .test_cli_errors import BANK_FILE, PaymentsIngest, assert_one_line, run

IMPORT = ["payments", "import", str(BANK_FILE), "--quiet"]
PAY = ["bank", "pay", "--kennitala", "0101302989"]
GIVEN_UP = ["webhooks", "given-up"]
RECOVER = ["webhooks", "recover", "5f0c9a53-2a49-4a39-9a43-6f1d2d0b7c11", "--all"]
COMMANDS = [(IMPORT, "payments-ingest"), (PAY, "bank-sink"), (GIVEN_UP, "claims-api"), (RECOVER, "claims-api")]


@pytest.fixture(autouse=True)
def no_targets_in_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KRAFA_OPERATOR_TOKEN", "KRAFA_PAYMENTS_INGEST_URL", "KRAFA_BANK_SINK_URL", "KRAFA_CLAIMS_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KRAFA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def payments_ingest() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PaymentsIngest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def stack_state(home: Path, **ports: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    state = {"return_path_secret": "s", "admin_token": "stack-token", "ports": ports}
    (home / "state.json").write_text(json.dumps(state))


@pytest.mark.parametrize(("argv", "service"), COMMANDS)
def test_without_a_target_or_a_local_stack_a_write_command_asks_which(
    argv: list[str], service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert_one_line(code, out, err, 2, f"which {service}? pass --url URL")
    assert "--stack" in err


def test_import_goes_to_the_running_local_stack_with_its_token(
    payments_ingest: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PaymentsIngest.token = "stack-token"  # noqa: S105 - a test's token
    stack_state(tmp_path / "home", **{"payments-ingest": payments_ingest})
    seen = len(PaymentsIngest.seen)
    code, out, err = run(IMPORT, capsys)
    assert code == 0, err
    assert json.loads(out)["bytes"] == BANK_FILE.stat().st_size
    assert PaymentsIngest.seen[seen:] and PaymentsIngest.seen[-1]["authorization"] == "Bearer stack-token"


@pytest.mark.parametrize(("argv", "service"), COMMANDS)
def test_a_local_stack_that_is_not_running_is_said_so_and_nothing_is_sent_elsewhere(
    argv: list[str], service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # where the stopped stack's service listened: nobody now
    stack_state(tmp_path / "home", **{service: port})
    code, out, err = run(argv, capsys)
    assert_one_line(code, out, err, 3, f"is not running ({service} does not answer on 127.0.0.1:{port})")


def test_the_environment_names_the_target_when_no_stack_is_given(
    payments_ingest: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    PaymentsIngest.token = "env-token"  # noqa: S105 - a test's token
    monkeypatch.setenv("KRAFA_PAYMENTS_INGEST_URL", f"http://127.0.0.1:{payments_ingest}/")
    monkeypatch.setenv("KRAFA_OPERATOR_TOKEN", "env-token")
    code, _, err = run(IMPORT, capsys)
    assert code == 0, err
    assert PaymentsIngest.seen[-1]["authorization"] == "Bearer env-token"
