"""The CLI in the house style: an expected failure (a wrong argument or file, a database or a
service that is down, a refused token) is one line on stderr and an exit code, never a traceback;
every option has help; write commands name their database; the operator token comes from the
option, the environment or the local stack's state."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from krafa.cli import build_parser, main
from krafa_kit.embedded import free_port
from krafa_kit.testing import shared_dir

BANK_FILE = shared_dir() / "corpus/bank/ch_postfinance_test_camt054_v04.xml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield prefix
        return
    for name, child in subparsers[0].choices.items():
        yield from leaf_commands(child, (*prefix, name))


RECOVERED = "9b1f0c3e-5d52-4f7e-9c1a-2b8f6c1e4a10"  # a delivery's id

# A wrong argument for every command: (argv, exit code, what the one line says).
WRONG: list[tuple[list[str], int, str]] = [
    (["run", "--claims", "many"], 2, "invalid int value"),
    (["demo", "--broker", "rabbit"], 2, "invalid choice"),
    (["creditors", "create", "--name", "X"], 2, "which database?"),
    (["payments", "import", "/no/such/file.xml"], 2, "/no/such/file.xml: No such file or directory"),
    (["payments", "parse", "/no/such/file.xml"], 2, "/no/such/file.xml: No such file or directory"),
    (["bank", "claims"], 2, "--kennitala"),
    (["bank", "pay", "--kennitala", "1", "--amount", "all"], 2, "invalid int value"),
    (["bounces", "parse", "/no/such/message.eml"], 2, "/no/such/message.eml: No such file or directory"),
    (["outbox", "replay", "--since", "yesterday"], 2, "is not an ISO 8601 time"),
    (["outbox", "replay", "--since", "2026-03-02T06:00:00Z"], 2, "which database?"),
    (["chaos", "--repeat", "twice"], 2, "invalid int value"),
    (["screenshots", "a", "b"], 2, "unrecognized arguments"),
    (["samples"], 2, "required: dir"),
    (["plan", "--country", "IS", "--amount", "x", "--currency", "ISK", "--due", "2026-03-02"], 2, "not a number"),
    (["rates", "check", "--today", "someday"], 2, "is not a date"),
    (["service", "mailer"], 2, "invalid choice"),
    (["dlq", "list"], 2, "which broker?"),
    (["dlq", "list", "--topic", "krafa.nope", "--bootstrap", "127.0.0.1:9"], 2, "is not a Krafa topic"),
    (["dlq", "replay", "--bootstrap", "127.0.0.1:9"], 2, "which records?"),
    (["dlq", "replay", "--topic", "krafa.claims", "--since", "last week"], 2, "is not an ISO 8601 time"),
    (["creditors", "create", "--name", "X", "--stack", "/no/such/stack"], 2, "no local stack in /no/such/stack"),
    (["dashboards", "render", "--last", "a while"], 2, "is not a duration"),
    (["webhooks", "given-up"], 2, "which claims-api?"),
    (["webhooks", "given-up", "--url", "http://127.0.0.1:9", "--since", "lately"], 2, "is not an ISO 8601 time"),
    (["webhooks", "recover", "not-an-id", "--all"], 2, "is not a UUID"),
    (["webhooks", "recover", "5c2d7e4a-1f3b-4c6d-8e9f-0a1b2c3d4e5f"], 2, "one of the arguments --delivery --all"),
    (["webhooks", "recover", "5c2d7e4a-1f3b-4c6d-8e9f-0a1b2c3d4e5f", "--all"], 2, "which claims-api?"),
    (
        [
            "webhooks",
            "recover",
            "5c2d7e4a-1f3b-4c6d-8e9f-0a1b2c3d4e5f",
            "--delivery",
            RECOVERED,
            "--since",
            "2026-03-02",
        ],
        2,
        "--since goes with --all",
    ),
]


def down_cases() -> list[tuple[list[str], str]]:
    """Every command that talks to a database or a service, aimed at a port nobody listens on."""
    port = free_port()
    url, database = f"http://127.0.0.1:{port}", f"postgresql://postgres:secret@127.0.0.1:{port}/krafa"
    return [
        (["creditors", "create", "--name", "X", "--database-url", database], "cannot reach the database at"),
        (["payments", "import", str(BANK_FILE), "--url", url, "--quiet"], f"cannot reach {url}/v1/payments/files"),
        (["bank", "claims", "--kennitala", "0101302989", "--url", url], f"cannot reach {url}/netbank"),
        (["bank", "pay", "--kennitala", "0101302989", "--url", url], f"cannot reach {url}/netbank"),
        (["outbox", "replay", "--since", "2026-03-02", "--database-url", database], "cannot reach the database at"),
        (["dlq", "list", "--bootstrap", f"127.0.0.1:{port}"], f"cannot reach the broker at 127.0.0.1:{port}"),
        (["dlq", "replay", "--topic", "krafa.claims", "--bootstrap", f"127.0.0.1:{port}"], "cannot reach the broker"),
        (["dashboards", "render", "--prometheus", url], f"cannot reach {url}/api/v1/status/config"),
        (["webhooks", "given-up", "--url", url], f"cannot reach {url}/v1/operator/webhooks/given-up"),
        (
            ["webhooks", "recover", "5c2d7e4a-1f3b-4c6d-8e9f-0a1b2c3d4e5f", "--all", "--url", url],
            f"cannot reach {url}/v1/operator/webhooks/5c2d7e4a-1f3b-4c6d-8e9f-0a1b2c3d4e5f/recover",
        ),
    ]


def assert_one_line(code: int, out: str, err: str, expected_code: int, says: str) -> None:
    assert "Traceback" not in out + err, err
    assert code == expected_code, (code, err)
    assert says in err, err
    if not err.startswith("usage:"):  # argparse's own errors come with the usage; ours are one line
        assert len(err.strip().splitlines()) == 1, err


def test_every_command_is_tried_with_a_wrong_argument() -> None:
    tried = {
        tuple(part for part in argv if not part.startswith("-"))[: len(leaf)]
        for argv, _, _ in WRONG
        for leaf in leaf_commands(build_parser())
    }
    missing = [leaf for leaf in leaf_commands(build_parser()) if leaf not in tried]
    assert not missing, missing


@pytest.mark.parametrize(("argv", "code", "says"), WRONG, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_wrong_argument_is_one_line_and_an_exit_code(
    argv: list[str], code: int, says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRAFA_DATABASE_URL", raising=False)
    monkeypatch.delenv("KRAFA_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("KRAFA_CLAIMS_API_URL", raising=False)
    assert_one_line(*run(argv, capsys), code, says)


def test_a_command_whose_server_is_down_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRAFA_DATABASE_URL", raising=False)
    for argv, says in down_cases():
        code, out, err = run(argv, capsys)
        assert_one_line(code, out, err, 3, says)
        assert "secret" not in err  # the database URL is named without its password


def test_every_option_has_help_and_there_is_a_version(capsys: pytest.CaptureFixture[str]) -> None:
    def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    undocumented = [
        f"{parser.prog} {action.dest}"
        for parser in parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert not undocumented, undocumented
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("krafa ")


class PaymentsIngest(BaseHTTPRequestHandler):
    """A stand-in for payments-ingest's import route: a real HTTP server that wants one token."""

    token = ""
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        PaymentsIngest.seen.append({"authorization": self.headers.get("Authorization", ""), "path": self.path})
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            status, answer = (
                401,
                {
                    "type": "u",
                    "code": "unauthorized",
                    "title": "Unauthorized",
                    "status": 401,
                    "detail": "a valid operator token is required",
                },
            )
        else:
            status, answer = 201, {"import_id": "i-1", "bytes": len(body)}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


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


def test_import_takes_the_local_stacks_token_and_explains_a_refused_one(
    payments_ingest: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRAFA_OPERATOR_TOKEN", raising=False)
    monkeypatch.setenv("KRAFA_HOME", str(tmp_path / "elsewhere"))
    PaymentsIngest.token = "stack-token"  # noqa: S105 - a test's token
    (tmp_path / "state.json").write_text(
        json.dumps(
            {"return_path_secret": "s", "admin_token": "stack-token", "ports": {"payments-ingest": payments_ingest}}
        )
    )
    code, out, err = run(["payments", "import", str(BANK_FILE), "--stack", str(tmp_path), "--quiet"], capsys)
    assert code == 0, err
    assert json.loads(out)["bytes"] == BANK_FILE.stat().st_size  # streamed whole
    assert PaymentsIngest.seen[-1]["authorization"] == "Bearer stack-token"
    assert "filename=" in PaymentsIngest.seen[-1]["path"]

    url = f"http://127.0.0.1:{payments_ingest}"
    code, out, err = run(["payments", "import", str(BANK_FILE), "--url", url, "--token", "wrong", "--quiet"], capsys)
    assert_one_line(code, out, err, 1, "401 a valid operator token is required")
    assert "KRAFA_OPERATOR_TOKEN" in err and "--stack" in err
