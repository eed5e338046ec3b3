"""Every service's OpenAPI document as an integrator's own tools take it: `redocly lint` (its
recommended rules, tests/contract/node/redocly.yaml) finds no error in any of them, and
openapi-typescript turns each into TypeScript that `tsc --strict` accepts, together with an ERP's
use of the claims-api client through openapi-fetch (tests/contract/node/claims_client.ts). The
node tools are pinned in tests/contract/node/package.json and installed by `make browser` into
.cache/npm-openapi (no lock file, nothing generated is committed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.contract.openapi_docs import SERVICES, build_app

ROOT = Path(__file__).resolve().parents[2]
NODE = Path(__file__).resolve().parent / "node"
MODULES = ROOT / ".cache" / "npm-openapi" / "node_modules"
# No telemetry or update check: the tools run offline, as CI's do.
QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1", "CI": "true"}


@pytest.fixture(scope="module")
def modules() -> Path:
    """The pinned node tools, or a skip (outside CI) naming the command that installs them."""
    wanted: dict[str, str] = json.loads((NODE / "package.json").read_text())["devDependencies"]
    stale = [
        name
        for name, version in wanted.items()
        if not (MODULES / name / "package.json").is_file()
        or json.loads((MODULES / name / "package.json").read_text())["version"] != version
    ]
    if stale or shutil.which("node") is None:
        message = f"node tools missing or stale ({', '.join(stale) or 'node'}): run `make browser`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return MODULES


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("openapi")
    found = {}
    for service in SERVICES:
        found[service] = root / f"{service}.json"
        found[service].write_text(json.dumps(build_app(service).openapi()))
    return found


def _run(modules: Path, tool: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(modules / ".bin" / tool), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={**os.environ, **QUIET},
    )


def _lint(modules: Path, *files: Path) -> tuple[int, list[dict[str, Any]]]:
    """redocly lint's exit code and problems (its JSON format prints one report per file)."""
    result = _run(
        modules, "redocly", "lint", "--config", NODE / "redocly.yaml", "--format=json", *files, cwd=files[0].parent
    )
    problems: list[dict[str, Any]] = []
    decoder, text, at = json.JSONDecoder(), result.stdout, 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        report, at = decoder.raw_decode(text, at)
        problems += report["problems"]
    assert problems or result.returncode == 0, result.stderr[-2000:]  # a run that printed nothing failed
    return result.returncode, problems


def _where(problem: dict[str, Any]) -> str:
    location = problem["location"][0]
    return f"{location['source']['ref']} {location.get('pointer')}: {problem['ruleId']} {problem['message']}"


def test_redocly_lint_finds_no_error_in_any_service_document(modules: Path, documents: dict[str, Path]) -> None:
    code, problems = _lint(modules, *documents.values())
    errors = [_where(problem) for problem in problems if problem["severity"] == "error"]
    assert not errors and code == 0, errors
    linted = {problem["location"][0]["source"]["ref"] for problem in problems}
    assert linted <= {path.name for path in documents.values()}


def test_redocly_lint_catches_a_route_without_credentials_and_a_twice_used_operation_id(
    modules: Path, documents: dict[str, Path], tmp_path: Path
) -> None:
    spec = json.loads(documents["scheduler"].read_text())
    operations = [op for item in spec["paths"].values() for op in item.values() if op.get("security")]
    operations[0].pop("security")  # an operator route that forgot its credentials
    operations[1]["operationId"] = operations[2]["operationId"]
    broken = tmp_path / "scheduler.json"
    broken.write_text(json.dumps(spec))
    code, problems = _lint(modules, broken)
    rules = {problem["ruleId"] for problem in problems if problem["severity"] == "error"}
    assert code != 0 and {"security-defined", "operation-operationId-unique"} <= rules, rules


def test_a_typescript_client_of_every_document_type_checks(
    modules: Path, documents: dict[str, Path], tmp_path: Path
) -> None:
    generated = subprocess.run(
        ["node", str(NODE / "gen.mjs"), str(modules), str(tmp_path), *map(str, documents.values())],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **QUIET},
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    shutil.copy(NODE / "claims_client.ts", tmp_path)
    files = [f"{service}.ts" for service in documents] + ["claims_client.ts"]
    assert all((tmp_path / name).stat().st_size for name in files)
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "noUnusedLocals": True,
            "target": "ES2022",
            "module": "ESNext",
            "moduleResolution": "Bundler",
            "lib": ["ES2022", "DOM"],  # openapi-fetch is typed against fetch's Request and Response
            "types": [],
            "skipLibCheck": True,  # the generated files and our use of them are checked, not TS's own libs
            "paths": {"openapi-fetch": [str(modules / "openapi-fetch")]},
        },
        "files": files,
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    # claims_client.ts also holds @ts-expect-error lines: tsc fails if the types ever let those through.
    checked = _run(modules, "tsc", "-p", "tsconfig.json", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-1000:]
