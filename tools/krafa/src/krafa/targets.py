"""Where an operator command acts, always said explicitly: a write command never falls back to
whatever database happens to listen on a default port. A command takes its target from an
option, from the environment, or from a local stack's state (`--stack DIR`, the directory
`krafa run` keeps its state in), and says which when it cannot find one."""

from __future__ import annotations

import argparse
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
EXIT_USAGE = 2  # a wrong argument or input file
EXIT_UNAVAILABLE = 3  # the database, the broker or a service cannot be reached


class CliError(Exception):
    """An expected failure: one line for the operator and an exit code, never a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LocalStack:
    """What `krafa run` left in its state directory: the ports and the operator token."""

    home: Path
    ports: dict[str, int]
    operator_token: str

    @classmethod
    def load(cls, home: Path) -> LocalStack:
        path = home / "state.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise CliError(f"no local stack in {home} ({path} is missing): start one with `krafa run`", 2) from None
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {path}: {exc}", EXIT_USAGE) from None
        if not state.get("ports"):
            raise CliError(f"{path} names no ports: start the stack once with this version of `krafa run`", 2)
        return cls(home, {str(k): int(v) for k, v in state["ports"].items()}, str(state["admin_token"]))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports['postgres']}/krafa"


def default_home() -> Path:
    return Path(os.environ.get("KRAFA_HOME", Path.cwd() / ".krafa"))


def add_stack_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        nargs="?",
        const=str(default_home()),
        default=None,
        metavar="DIR",
        help="act on the local stack `krafa run` keeps in DIR (default ./.krafa or $KRAFA_HOME): its ports "
        "and its operator token come from DIR/state.json",
    )


def local_stack(args: argparse.Namespace) -> LocalStack | None:
    stack = getattr(args, "stack", None)
    return LocalStack.load(Path(stack)) if stack else None


def database_url(args: argparse.Namespace) -> str:
    """--database-url, else $KRAFA_DATABASE_URL, else --stack's database; never a guess."""
    if getattr(args, "database_url", None):
        return str(args.database_url)
    stack = local_stack(args)
    if stack is not None:
        return stack.database_url
    if os.environ.get("KRAFA_DATABASE_URL"):
        return os.environ["KRAFA_DATABASE_URL"]
    raise CliError(
        "which database? pass --database-url URL, set KRAFA_DATABASE_URL, or --stack for the local stack (`krafa run`)",
        EXIT_USAGE,
    )


def service_url(args: argparse.Namespace, service: str, default_port: int) -> str:
    """--url, else --stack's port for `service`, else the local stack's default port."""
    if getattr(args, "url", None):
        return str(args.url).rstrip("/")
    stack = local_stack(args)
    if stack is not None:
        return stack.url(service)
    return f"http://127.0.0.1:{default_port}"


def write_service_url(args: argparse.Namespace, service: str) -> str:
    """Where a write command (an import, a payment) sends: --url, else --stack's port for `service`,
    else $KRAFA_<SERVICE>_URL, else the local stack `krafa run` keeps in $KRAFA_HOME or ./.krafa —
    each stack only while it runs. Never a default port: another stack may listen there."""
    if getattr(args, "url", None):
        return str(args.url).rstrip("/")
    stack = local_stack(args)
    variable = "KRAFA_" + service.upper().replace("-", "_") + "_URL"
    if stack is None and os.environ.get(variable):
        return os.environ[variable].rstrip("/")
    if stack is None:
        home = default_home()
        if not (home / "state.json").exists():
            raise CliError(
                f"which {service}? pass --url URL, set {variable}, or --stack DIR for a local stack "
                f"(none in {home}: `krafa run`)",
                EXIT_USAGE,
            )
        stack = LocalStack.load(home)
    port = stack.ports.get(service)
    if port is None:
        raise CliError(f"the local stack in {stack.home} has no {service}: pass --url URL", EXIT_USAGE)
    if not _listening(port):
        raise CliError(
            f"the local stack in {stack.home} is not running ({service} does not answer on 127.0.0.1:{port}): "
            "start it with `krafa run`, or pass --url URL",
            EXIT_UNAVAILABLE,
        )
    return stack.url(service)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def operator_token(args: argparse.Namespace, url: str) -> str | None:
    """--token, else $KRAFA_OPERATOR_TOKEN, else the local stack's own when `url` is on this machine
    and a stack's state is there (`krafa run` makes one token for every service's operator API)."""
    if getattr(args, "token", None):
        return str(args.token)
    if os.environ.get("KRAFA_OPERATOR_TOKEN"):
        return os.environ["KRAFA_OPERATOR_TOKEN"]
    stack = local_stack(args)
    if stack is None and urlsplit(url).hostname in LOOPBACK and (default_home() / "state.json").exists():
        try:
            stack = LocalStack.load(default_home())
        except CliError:
            return None
    return stack.operator_token if stack is not None else None


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """A database that cannot be reached, or refuses us, is one line naming it (without its password)."""
    import asyncpg
    import sqlalchemy.exc

    try:
        yield
    except asyncpg.InvalidCatalogNameError as exc:
        raise CliError(f"no such database at {redacted(url)}: {exc}", EXIT_USAGE) from None
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        raise CliError(f"cannot reach the database at {redacted(url)}: {exc}", EXIT_UNAVAILABLE) from None
    except sqlalchemy.exc.OperationalError as exc:  # the migrations' connection
        raise CliError(f"cannot reach the database at {redacted(url)}: {exc.orig}", EXIT_UNAVAILABLE) from None


def redacted(url: str) -> str:
    """A database URL without its password, fit for an error message."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
