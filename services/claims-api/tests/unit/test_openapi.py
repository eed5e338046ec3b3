"""The published contract: every route documented, with problem+json errors and request examples."""

from typing import Any

import pytest
from krafa_claims_api.app import create_app
from krafa_claims_api.settings import Settings


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # Building the app connects to nothing; the URLs are never used.
    app = create_app(Settings(database_url="postgresql://unused/unused", kafka_bootstrap="unused:9092"))
    return app.openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        if path.startswith("/v1/")
        for method, op in item.items()
    ]


def test_every_route_has_a_summary_a_response_model_and_problem_responses(spec: dict[str, Any]) -> None:
    paths = {path for path, _, _ in operations(spec)}
    # The lifecycle, ledger, timeline, departments, webhooks and API keys are all published.
    assert {
        "/v1/claims/{claim_id}/amend",
        "/v1/claims/{claim_id}/dispute",
        "/v1/claims/{claim_id}/resolve",
        "/v1/claims/{claim_id}/defer",
        "/v1/claims/{claim_id}/instalments",
        "/v1/claims/{claim_id}/hold",
        "/v1/claims/{claim_id}/release",
        "/v1/claims/{claim_id}/write-off",
        "/v1/claims/{claim_id}/cancel",
        "/v1/claims/{claim_id}/ledger",
        "/v1/claims/{claim_id}/timeline",
        "/v1/departments",
        "/v1/webhooks",
        "/v1/webhooks/{webhook_id}/deliveries",
        "/v1/api-keys",
        "/v1/api-keys/{key_id}",
    } <= paths
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        success = next(code for code in op["responses"] if code.startswith("2"))
        answer = op["responses"][success]["content"]
        if list(answer) != ["application/pdf"]:  # a document (a sent notice) is a PDF
            assert "$ref" in answer["application/json"]["schema"], where
        expected = {"401"}
        if "{" in path or method == "post" or op.get("parameters"):
            expected.add("422")
        if "{claim_id}" in path:
            expected.add("404")
        if method == "post" and path.startswith("/v1/claims"):
            expected.add("409")
        assert expected <= set(op["responses"]), where
        for code in expected:
            content = op["responses"][code]["content"]
            assert list(content) == ["application/problem+json"], (where, code)
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}, where
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "code", "title", "status"} <= set(problem["required"])


# Previews and a policy's plan for a sample claim compute and store nothing (docs/adr/0013): a retry
# is safe without a key.
READ_ONLY_POSTS = frozenset({"/v1/previews", "/v1/previews/sample", "/v1/policies/plan"})


def test_every_post_takes_an_idempotency_key(spec: dict[str, Any]) -> None:
    for path, method, op in operations(spec):
        # Operators' routes are exempt: /v1/operator's recover queues only deliveries given up, so a
        # repeat queues nothing more.
        operators = path.startswith(("/v1/admin", "/v1/operator"))
        if method == "post" and not operators and path not in READ_ONLY_POSTS:
            names = [p["name"] for p in op.get("parameters", [])]
            assert "Idempotency-Key" in names, path


@pytest.mark.parametrize(
    "schema",
    [
        "ClaimIn",
        "BulkClaimsIn",
        "CreditorIn",
        "CancelIn",
        "AgingReport",
        "AmendIn",
        "DisputeIn",
        "ResolveIn",
        "DeferIn",
        "SplitIn",
        "HoldIn",
        "WriteOffIn",
        "LedgerOut",
        "DepartmentIn",
        "WebhookIn",
        "WebhookRecoverIn",
        "ApiKeyIn",
    ],
)
def test_bodies_carry_examples(spec: dict[str, Any], schema: str) -> None:
    assert spec["components"]["schemas"][schema]["examples"]
