"""`krafa webhooks given-up` and `krafa webhooks recover` against a real claims-api (real PostgreSQL
and broker): a creditor's real HTTP endpoint answers 500 until claims-api gives its deliveries up;
the operator lists them with the local stack's token, sends one again, then the rest; a refusal
(a delivery not given up) is claims-api's problem detail in one line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from krafa.cli import main
from krafa_claims_api import service
from krafa_claims_api.api.schemas import CreditorIn
from krafa_claims_api.app import MIGRATIONS, SCHEMA, create_app
from krafa_claims_api.settings import Settings
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import eventually, serving
from pydantic import SecretStr

pytestmark = pytest.mark.integration

TOKEN = "the local stack's operator token"  # noqa: S105 (a test value)


@pytest.fixture
def migrated_schema() -> tuple[str, Path]:
    return SCHEMA, MIGRATIONS


@pytest.fixture
async def claims_api(database_url: str, broker: EmbeddedBroker) -> AsyncIterator[tuple[FastAPI, str]]:
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap=broker.bootstrap,
        webhook_allow_private=True,
        consume=False,
        operator_token=SecretStr(TOKEN),
    )
    app = create_app(settings, None)
    async with serving(app) as base:
        yield app, base


async def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI in a thread: its blocking HTTP calls must not stall the loop claims-api serves on
    (signal handlers can only be set from the main thread, and nothing here needs them)."""

    def call() -> int:
        try:
            main(argv)
        except SystemExit as exited:
            return int(exited.code or 0)
        return 0

    code = await asyncio.to_thread(call)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def claim(invoice: str) -> dict[str, Any]:
    return {
        "invoice_no": invoice,
        "amount_minor": 10_000,
        "currency": "ISK",
        "due_date": "2026-02-01",
        "debtor": {"customer_no": f"C-{invoice}", "name": "Jón Jónsson", "country": "IS", "email": "jon@example.is"},
    }


async def test_an_operator_lists_given_up_deliveries_and_sends_them_again(
    claims_api: tuple[FastAPI, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, base = claims_api
    monkeypatch.setattr("krafa.cli.stop_on_signals", lambda: None)
    monkeypatch.delenv("KRAFA_OPERATOR_TOKEN", raising=False)
    monkeypatch.delenv("KRAFA_CLAIMS_API_URL", raising=False)
    monkeypatch.setenv("KRAFA_HOME", str(tmp_path))
    port = int(base.rsplit(":", 1)[1])
    (tmp_path / "state.json").write_text(json.dumps({"admin_token": TOKEN, "ports": {"claims-api": port}}))
    stack = ["--stack", str(tmp_path)]
    worker = app.state.webhook_worker
    worker.poll_interval_s = 0.05
    worker.retry_delays_s = (0.1,)  # two attempts, then given up
    async with app.state.runtime.db.uow() as uow:
        _, key = await service.create_creditor(uow, CreditorIn(name="Fram hf."))
        await uow.commit()

    status = 500
    received: list[str] = []
    erp = FastAPI()

    @erp.post("/hook")
    async def hook(request: Request) -> Response:
        received.append(request.headers["webhook-id"])
        return Response(status_code=status)

    async with (
        serving(erp) as erp_base,
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key.token}"}, timeout=30) as fram,
    ):
        endpoint = (await fram.post("/v1/webhooks", json={"url": f"{erp_base}/hook"})).json()["id"]
        for invoice in ("INV-1", "INV-2"):
            created = (await fram.post("/v1/claims", json=claim(invoice))).json()
            disputed = await fram.post(f"/v1/claims/{created['id']}/dispute", json={"reason": "never ordered"})
            assert disputed.status_code == 200, disputed.text

        async def given_up() -> list[dict[str, Any]] | None:
            code, out, err = await cli(["webhooks", "given-up", *stack, "--json"], capsys)
            assert code == 0, err
            listed: dict[str, Any] = json.loads(out)
            return listed["items"] if listed["total"] == 2 else None

        items = await eventually(given_up, timeout=30)
        assert {i["endpoint_id"] for i in items} == {endpoint} and {i["attempts"] for i in items} == {2}

        code, out, err = await cli(["webhooks", "given-up", *stack, "--limit", "1"], capsys)
        assert code == 0, err
        assert out.splitlines()[0] == "2 given-up deliveries (the newest 1 shown; --limit for more)"
        assert "Fram hf." in out and "last 500" in out and f"endpoint {endpoint}" in out

        status = 204
        first, second = items
        code, out, err = await cli(["webhooks", "recover", endpoint, "--delivery", first["id"], *stack], capsys)
        assert (code, out.strip()) == (0, "1 delivery queued again, each with a fresh retry schedule"), err
        await eventually(lambda: first["message_id"] in received, timeout=30)

        # Sent: no longer given up, so claims-api refuses it again, in one line with its reason.
        code, out, err = await cli(["webhooks", "recover", endpoint, "--delivery", first["id"], *stack], capsys)
        assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert "409 the delivery was not given up" in err

        # Without --url or --stack both commands find the running local stack in $KRAFA_HOME, and its token.
        code, out, err = await cli(["webhooks", "recover", endpoint, "--all", "--json"], capsys)
        assert (code, json.loads(out)) == (0, {"requeued": 1}), err
        await eventually(lambda: second["message_id"] in received, timeout=30)
        code, out, err = await cli(["webhooks", "given-up"], capsys)
        assert (code, out.strip()) == (0, "0 given-up deliveries"), err

        # A wrong token is refused with the hint where the right one comes from.
        code, _, err = await cli(["webhooks", "given-up", "--url", base, "--token", "wrong"], capsys)
        assert code == 1 and "401" in err and "KRAFA_OPERATOR_TOKEN" in err
