"""Krafa's description of the IOBWS Claims subset against the standard's own OpenAPI document.

The standard's document is not part of this repository. Point KRAFA_IOBWS_CLAIMS_DOC at a copy of
`Deliverables/IOBWS-Claims3.2.yaml` from the standard's public repository to run these checks;
without it they are skipped (the contract tests in test_contract.py always run against our own
description). What is compared, for every operation, parameter, schema and response we describe:
the same operation id, parameters, body media type and response codes; every schema field we keep
exists in the standard with the same type, format, pattern, bounds, enum values and nullability;
the same required fields; and the standard's own examples pass our description.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from krafa_iobws import contract

STANDARD_ENV = "KRAFA_IOBWS_CLAIMS_DOC"
COMPARED = (
    "type",
    "format",
    "pattern",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "nullable",
    "additionalProperties",
)


@pytest.fixture(scope="module")
def standard() -> dict[str, Any]:
    path = os.environ.get(STANDARD_ENV)
    if not path:
        pytest.skip(f"{STANDARD_ENV} is unset: no copy of the standard's IOBWS-Claims3.2.yaml to compare with")
    loaded: dict[str, Any] = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    return contract.document()


def _ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _compare_schema(mine: dict[str, Any], theirs: dict[str, Any], where: str, problems: list[str]) -> None:
    if _ref_name(mine) or _ref_name(theirs):
        if _ref_name(mine) != _ref_name(theirs):
            problems.append(f"{where}: refers to {_ref_name(mine)}, the standard to {_ref_name(theirs)}")
        return
    for keyword in COMPARED:
        if mine.get(keyword) != theirs.get(keyword):
            problems.append(f"{where}: {keyword} {mine.get(keyword)!r}, the standard {theirs.get(keyword)!r}")
    if sorted(mine.get("required", [])) != sorted(theirs.get("required", [])):
        problems.append(f"{where}: required {mine.get('required')}, the standard {theirs.get('required')}")
    for name, prop in (mine.get("properties") or {}).items():
        other = (theirs.get("properties") or {}).get(name)
        if other is None:
            problems.append(f"{where}.{name}: not in the standard")
        else:
            _compare_schema(prop, other, f"{where}.{name}", problems)
    if "items" in mine or "items" in theirs:
        _compare_schema(mine.get("items", {}), theirs.get("items", {}), f"{where}[]", problems)


def test_it_describes_the_same_version(ours: dict[str, Any], standard: dict[str, Any]) -> None:
    assert ours["info"]["version"] == standard["info"]["version"] == "3.2"


def test_every_schema_field_is_the_standards(ours: dict[str, Any], standard: dict[str, Any]) -> None:
    problems: list[str] = []
    theirs = standard["components"]["schemas"]
    for name, schema in ours["components"]["schemas"].items():
        if name not in theirs:
            problems.append(f"{name}: no such schema in the standard")
            continue
        _compare_schema(schema, theirs[name], name, problems)
    assert not problems, "\n".join(problems)


def test_every_operation_and_parameter_is_the_standards(ours: dict[str, Any], standard: dict[str, Any]) -> None:
    problems: list[str] = []
    params, their_params = ours["components"]["parameters"], standard["components"]["parameters"]
    for name, param in params.items():
        other = their_params.get(name)
        if other is None:
            problems.append(f"parameter {name}: not in the standard")
            continue
        for key in ("name", "in", "required"):
            if param.get(key) != other.get(key, False if key == "required" else None):
                problems.append(f"parameter {name}: {key} {param.get(key)!r}, the standard {other.get(key)!r}")
        _compare_schema(param["schema"], other["schema"], f"parameter {name}", problems)
    for path, methods in ours["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            other = standard["paths"].get(path, {}).get(method)
            if other is None:
                problems.append(f"{where}: not in the standard")
                continue
            if operation["operationId"] != other["operationId"]:
                problems.append(f"{where}: operationId {operation['operationId']}, the standard {other['operationId']}")
            mine_params = [_ref_name(p) for p in operation.get("parameters", [])]
            their_ops = [_ref_name(p) for p in other.get("parameters", [])]
            if missing := [p for p in mine_params if p not in their_ops]:
                problems.append(f"{where}: parameters {missing} are not the standard's")
            required_there = [p for p in their_ops if p and their_params[p].get("required")]
            if missing := [p for p in required_there if p not in mine_params]:
                problems.append(f"{where}: the standard requires {missing}")
            if _ref_name(operation.get("requestBody", {})) != _ref_name(other.get("requestBody", {})):
                problems.append(f"{where}: another request body than the standard's")
            for code, response in operation["responses"].items():
                if code not in other["responses"]:
                    extra = ours["components"]["responses"][_ref_name(response) or ""]
                    if not extra.get("x-krafa-not-in-standard"):
                        problems.append(f"{where}: answer {code} is not the standard's")
                elif _ref_name(response) != _ref_name(other["responses"][code]):
                    problems.append(f"{where}: answer {code} differs from the standard's")
    assert not problems, "\n".join(problems)


def test_every_response_and_body_is_the_standards(ours: dict[str, Any], standard: dict[str, Any]) -> None:
    problems: list[str] = []
    for kind in ("requestBodies", "responses"):
        for name, item in ours["components"][kind].items():
            if item.get("x-krafa-not-in-standard"):
                continue
            other = standard["components"][kind].get(name)
            if other is None:
                problems.append(f"{kind} {name}: not in the standard")
                continue
            for media, content in (item.get("content") or {}).items():
                their = (other.get("content") or {}).get(media)
                if their is None:
                    problems.append(f"{kind} {name}: {media} is not the standard's")
                elif _ref_name(content["schema"]) != _ref_name(their["schema"]):
                    problems.append(f"{kind} {name} {media}: another schema than the standard's")
            for header in item.get("headers") or {}:
                if header not in (other.get("headers") or {}):
                    problems.append(f"{kind} {name}: header {header} is not the standard's")
    assert not problems, "\n".join(problems)


def test_the_standards_examples_pass_our_description(standard: dict[str, Any]) -> None:
    examples = standard["components"]["examples"]
    request_id = {"X-Request-ID": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721", "Content-Type": "application/json"}
    base = "https://claims.example.com"
    create = contract.json_body(examples["createClaims-201_Example"]["value"])
    contract.check_request("POST", base + "/v1/claims", {**request_id, "Authorization": "Bearer t"}, create)
    claim = contract.json_body(examples["getClaim-200_Example"]["value"])
    url = base + "/v1/claims/0208715009000166123456+20220131"
    contract.check_response("GET", url, request_id, None, 200, request_id, claim)
    payments = contract.json_body(examples["getClaimPayments-200_Example"]["value"])
    url = base + "/v1/claims/transactions?claimantId=0208715009&dateFrom=2022-01-01&dateTo=2022-03-01"
    contract.check_response("GET", url, request_id, None, 200, request_id, payments)
