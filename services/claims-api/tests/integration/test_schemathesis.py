"""Schemathesis over every operation of the live claims API (real PostgreSQL and broker, served on
a socket, called with a valid API key): no response may be a 5xx, have an undocumented status or
content type, or violate its documented schema. Examples per operation are capped to keep the
run short; hypothesis runs in a worker thread while the app serves on the test's event loop."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from krafa_kit.testing import eventually
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from .conftest import Api, claim_body

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def fuzz(spec: dict[str, Any], base_url: str, headers: dict[str, str]) -> tuple[int, Counter[int], list[str]]:
    """Run every operation; returns (operations run, responses per status, failure reports)."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        # An operation the schema loader cannot read is itself a failure of the published contract.
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)
            statuses[response.status_code] += 1

        try:
            run()
        except BaseException as exc:  # schemathesis raises exception groups; collect all, report at the end
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            failures.append(f"{operation.label}: {exc}"[:3000])
    return operations, statuses, failures


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(api: Api) -> None:
    _, client = await api.creditor("Fram", slip_fee_minor=390, cancellation_fee_minor=290)
    # Some data to find, so reads return real bodies and not only 404s.
    claim = (await client.post("/v1/claims", json=claim_body())).json()
    await client.post(f"/v1/claims/{claim['id']}/dispute", json={"reason": "wrong amount"})
    await client.post("/v1/departments", json={"key": "knattspyrna", "name": "Knattspyrnudeild"})

    # /readyz answers a documented 503 until the consumer has its partitions; fuzz a ready app.
    async def ready() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await eventually(ready, timeout=90)
    spec = (await client.get("/openapi.json")).json()
    headers = {"Authorization": client.headers["Authorization"]}

    operations, statuses, failures = await asyncio.to_thread(fuzz, spec, api.base, headers)

    assert operations >= 40
    # The run reached the handlers (authenticated successes), not only the validation layer.
    assert sum(n for code, n in statuses.items() if 200 <= code < 300) >= operations // 2, statuses
    assert not failures, "\n\n".join(failures)
