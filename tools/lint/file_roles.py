"""File roles that hold (docs/adr/0010-entry-points-own-the-transaction.md): SQL only in
repositories, HTTP only in `api/`.

Walks every service's source and reports each query call (`conn.execute`,
`uow.conn.fetch`, `pool.fetchrow`, copies, cursors) outside a repository module: a module named
`repository.py` or `*_repository.py`, one inside a `repository/` package, or a migration. The
modules listed in ALLOWED still hold SQL from before the rule; their count may only go down
(a module that drops to zero must leave the list, so the list cannot hide new debt).

And it reports every import of FastAPI, Starlette, the kit's HTTP edge (krafa_kit.http) or the
service's own `api` package from a module outside `api/`, `app.py` (the composition root) and
`__main__.py`: import-linter's contracts (pyproject.toml) name the roles, this catches a new
module too.

And no service spells an event type as a string literal (`"krafa.claim.paid.v1"`): the class's
`TYPE` (or `family()`, every version) is the one place it is written.

Run: `python tools/lint/file_roles.py` (make lint runs it); exits 1 and names every call out of
place."""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The services' code; the kit's outbox, inbox, consumer and migrations runner are the plumbing
# every repository stands on, not a service's file roles.
SOURCES = sorted(ROOT.glob("services/*/src"))
QUERY_METHODS = frozenset(
    {
        "execute",
        "executemany",
        "fetch",
        "fetchrow",
        "fetchval",
        "cursor",
        "prepare",
        "copy_records_to_table",
        "copy_to_table",
        "copy_from_query",
        "copy_from_table",
    }
)
# What a connection is called here: conn, connection, uow.conn, self.conn, pool, the db's pool.
CONNECTION_NAMES = frozenset({"conn", "connection", "pool", "_pool", "tx_conn"})

# Modules that held SQL before the rule, with how many query calls they may still hold.
ALLOWED: dict[str, int] = {
    # Collection KPIs: read models queried at scrape time.
    "services/claims-api/src/krafa_claims_api/kpi.py": 1,
    "services/notifier/src/krafa_notifier/kpi.py": 1,
    "services/payments-ingest/src/krafa_payments_ingest/kpi.py": 1,
    "services/scheduler/src/krafa_scheduler/kpi.py": 2,
    # Each service's answer to an erasure or export request (landed with the rule; to move).
    "services/bounce-handler/src/krafa_bounce_handler/personal_data.py": 12,
    "services/payments-ingest/src/krafa_payments_ingest/personal_data.py": 10,
    "services/scheduler/src/krafa_scheduler/personal_data.py": 2,
    # Still to move into their repositories.
    "services/notifier/src/krafa_notifier/soft_retry.py": 9,
    "services/payments-ingest/src/krafa_payments_ingest/service.py": 4,
}


def is_repository(path: Path) -> bool:
    parts = path.parts
    return (
        path.name == "repository.py"
        or path.name.endswith("_repository.py")
        or "repository" in parts[:-1]
        or "migrations" in parts
    )


def receiver_is_connection(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name is not None and (name in CONNECTION_NAMES or name.endswith("_conn"))


def query_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
            and receiver_is_connection(node.func.value)
        ):
            lines.append(node.lineno)
    return sorted(lines)


HTTP_MODULES = ("fastapi", "starlette", "krafa_kit.http")
HTTP_ENTRY_POINTS = frozenset({"app.py", "__main__.py"})


def http_imports(path: Path, package: str) -> list[tuple[int, str]]:
    """The imports of HTTP modules (and of the service's `api`) in one module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    forbidden = (*HTTP_MODULES, f"{package}.api")
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append((node.lineno, name))
                break
    return found


def check_http() -> list[str]:
    problems = []
    for source in SOURCES:
        for package_dir in sorted(p for p in source.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
            for path in sorted(package_dir.rglob("*.py")):
                relative = path.relative_to(package_dir)
                if relative.parts[0] in ("api", "migrations") or relative.as_posix() in HTTP_ENTRY_POINTS:
                    continue
                for line, name in http_imports(path, package_dir.name):
                    problems.append(
                        f"{path.relative_to(ROOT).as_posix()}:{line}: imports {name}; HTTP belongs in api/ "
                        "(raise a krafa_kit.errors refusal instead)"
                    )
    return problems


def check() -> list[str]:
    found: Counter[str] = Counter()
    where: dict[str, list[int]] = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            if is_repository(path.relative_to(source)):
                continue
            lines = query_calls(path)
            if lines:
                name = path.relative_to(ROOT).as_posix()
                found[name] = len(lines)
                where[name] = lines
    problems = []
    for name, count in sorted(found.items()):
        allowed = ALLOWED.get(name, 0)
        if count > allowed:
            at = ", ".join(str(n) for n in where[name])
            problems.append(f"{name}: {count} query call(s) outside a repository (lines {at}); move them there")
    for name, allowed in sorted(ALLOWED.items()):
        if found[name] < allowed:
            problems.append(
                f"{name}: holds {found[name]} query call(s) now, not {allowed}: lower (or remove) its line in ALLOWED"
            )
    return problems


EVENT_TYPE = re.compile(r"^krafa\.[a-z_]+\.[a-z_]+\.v[0-9]+$")


def check_event_types() -> list[str]:
    """An event's type is written once, on its class in krafa_events; services say `X.TYPE` (or
    `X.family()` to match every version), so a v2 cannot silently fall out of a comparison."""
    problems = []
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and EVENT_TYPE.match(node.value):
                    problems.append(
                        f"{path.relative_to(ROOT).as_posix()}:{node.lineno}: the literal {node.value!r}; "
                        "use the event class's TYPE"
                    )
    return problems


def main() -> int:
    problems = check() + check_http() + check_event_types()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
