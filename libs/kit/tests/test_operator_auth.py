"""The shared operator check: constant-time token match, and fail closed off loopback."""

from __future__ import annotations

import pytest
from krafa_kit.http import operator_allowed
from krafa_kit.settings import ServiceSettings
from pydantic import SecretStr


def _settings(host: str) -> ServiceSettings:
    return ServiceSettings(service_name="test", http_host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_no_token_is_open_only_on_loopback(host: str) -> None:
    assert operator_allowed(_settings(host), None, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5"])
def test_no_token_fails_closed_on_the_network(host: str) -> None:
    assert not operator_allowed(_settings(host), None, None)
    assert not operator_allowed(_settings(host), None, "anything")


def test_a_configured_token_must_match_everywhere() -> None:
    token = SecretStr("s3cret")
    for host in ("127.0.0.1", "0.0.0.0"):
        assert operator_allowed(_settings(host), token, "s3cret")
        assert not operator_allowed(_settings(host), token, "s3cret ")
        assert not operator_allowed(_settings(host), token, "")
        assert not operator_allowed(_settings(host), token, None)


class _OperatorSettings(ServiceSettings):
    operator_token: SecretStr | None = None


async def test_the_require_operator_dependency_answers_401_problems() -> None:
    import httpx
    from fastapi import Depends, FastAPI
    from krafa_kit.http import install_problem_handlers, require_operator
    from krafa_kit.testing import serving

    app = FastAPI()
    install_problem_handlers(app)
    app.state.settings = _OperatorSettings(service_name="test", http_host="0.0.0.0", operator_token=SecretStr("op"))

    @app.get("/ops", dependencies=[Depends(require_operator)])
    def ops() -> dict[str, bool]:
        return {"ok": True}

    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/ops", headers={"Authorization": "Bearer op"})).json() == {"ok": True}
        for headers in ({}, {"Authorization": "Bearer nope"}):
            refused = await client.get("/ops", headers=headers)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
            assert refused.headers["content-type"] == "application/problem+json"
    scheme = app.openapi()["components"]["securitySchemes"]["HTTPBearer"]
    assert scheme == {"type": "http", "description": "Authorization: Bearer <operator token>", "scheme": "bearer"}


class _PortalSettings(ServiceSettings):
    portal_token: SecretStr | None = None


async def test_the_require_portal_dependency_takes_only_the_portal_token() -> None:
    import httpx
    from fastapi import Depends, FastAPI
    from krafa_kit.http import install_problem_handlers, require_portal
    from krafa_kit.testing import serving

    app = FastAPI()
    install_problem_handlers(app)
    app.state.settings = _PortalSettings(service_name="test", http_host="0.0.0.0", portal_token=SecretStr("web"))

    @app.get("/portal", dependencies=[Depends(require_portal)])
    def portal() -> dict[str, bool]:
        return {"ok": True}

    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/portal", headers={"Authorization": "Bearer web"})).json() == {"ok": True}
        for headers in ({}, {"Authorization": "Bearer op"}):
            refused = await client.get("/portal", headers=headers)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"


class _GatewaySettings(ServiceSettings):
    operator_token: SecretStr | None = None
    gateway_token: SecretStr | None = None


async def test_the_gateway_token_opens_the_creditor_reads_and_no_operator_route() -> None:
    import httpx
    from fastapi import Depends, FastAPI
    from krafa_kit.http import install_problem_handlers, require_operator, require_operator_or_gateway
    from krafa_kit.testing import serving

    app = FastAPI()
    install_problem_handlers(app)
    app.state.settings = _GatewaySettings(
        service_name="test", http_host="0.0.0.0", operator_token=SecretStr("op"), gateway_token=SecretStr("gw")
    )

    @app.get("/read", dependencies=[Depends(require_operator_or_gateway)])
    def read() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/ops", dependencies=[Depends(require_operator)])
    def ops() -> dict[str, bool]:
        return {"ok": True}

    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        for token in ("op", "gw"):
            assert (await client.get("/read", headers={"Authorization": f"Bearer {token}"})).json() == {"ok": True}
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer gw2"}):
            refused = await client.get("/read", headers=headers)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        assert (await client.get("/ops", headers={"Authorization": "Bearer gw"})).status_code == 401
        # Unset, the gateway token opens nothing, not even on a loopback-style fallback.
        app.state.settings = _GatewaySettings(service_name="test", http_host="0.0.0.0", operator_token=SecretStr("op"))
        assert (await client.get("/read", headers={"Authorization": "Bearer gw"})).status_code == 401
        assert (await client.get("/read")).status_code == 401
