"""The guards every service's HTTP face gets from krafa_kit.http, over a real socket: body size
limits (413), JSON that is not UTF-8 or nests too deeply (400), and the rate limit per API key
(429 with Retry-After), each answered as an RFC 9457 problem document."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from krafa_kit import openapi
from krafa_kit.http import (
    PROBLEM_JSON,
    BodyGuard,
    RateLimit,
    TokenBucketLimiter,
    api_key_id,
    create_app,
    install_guards,
    install_problem_handlers,
    json_too_deep,
)
from krafa_kit.runtime import Runtime, ServiceSpec
from krafa_kit.settings import ServiceSettings
from krafa_kit.testing import serving


def tiny_app(**overrides: Any) -> FastAPI:
    settings = ServiceSettings(
        http_max_body_bytes=16 * 1024,
        http_max_upload_bytes=64 * 1024,
        http_max_json_depth=8,
        http_rate_limit_per_s=1.0,
        http_rate_limit_burst=3,
        **overrides,
    )
    app = FastAPI()
    install_problem_handlers(app)
    install_guards(app, settings)

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return {"keys": sorted(body)}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
async def base() -> AsyncIterator[str]:
    async with serving(tiny_app()) as url:
        yield url


def assert_problem(response: httpx.Response, status: int, type_suffix: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].endswith(type_suffix) and body["detail"]
    assert body["code"] == type_suffix and body["type"].endswith("/" + body["code"])
    return body


async def test_body_limits_json_checks_and_rate_limit_over_a_real_socket(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        # Within every limit: the route sees the body unchanged.
        ok = await client.post("/echo", json={"b": [1, {"c": "Þórsmörk"}], "a": 1})
        assert ok.status_code == 200 and ok.json() == {"keys": ["a", "b"]}

        # Too large by Content-Length: refused before the body is read.
        big = await client.post(
            "/echo", content=b'{"a": "' + b"x" * 20_000 + b'"}', headers={"content-type": "application/json"}
        )
        assert_problem(big, 413, "body-too-large")

        # Too large while streaming (no Content-Length): counted chunk by chunk. Over a socket
        # the server answers 413 and closes while the client still sends, so a client library
        # reports a broken connection; in-process the answer itself can be read.
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"y" * 1024

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=tiny_app()), base_url="http://t") as local:
            streamed = await local.post(
                "/upload", content=chunks(), headers={"content-type": "application/octet-stream"}
            )
        assert_problem(streamed, 413, "body-too-large")
        # An upload may be larger than a JSON body, up to its own limit.
        upload = await client.post("/upload", content=b"z" * 20_000, headers={"content-type": "text/csv"})
        assert upload.status_code == 200 and upload.json() == {"size": 20_000}

        # Invalid UTF-8 and deep nesting: 400 problems, never a 500.
        bad = await client.post("/echo", content=b'{"a": "\xff\xfe"}', headers={"content-type": "application/json"})
        assert "UTF-8" in assert_problem(bad, 400, "invalid-utf8")["detail"]
        deep = b'{"a": ' + b"[" * 50 + b"]" * 50 + b"}"
        assert_problem(
            await client.post("/echo", content=deep, headers={"content-type": "application/json"}), 400, "json-too-deep"
        )
        shallow = b'{"a": ' + b"[" * 6 + b"]" * 6 + b"}"
        assert (
            await client.post("/echo", content=shallow, headers={"content-type": "application/json"})
        ).status_code == 200
        # Deeper than the parser's recursion limit, hidden from the bracket count by strings: still 400.
        hidden = b'{"a": ' + b'["]",' * 1200 + b"1" + b"]" * 1200 + b"}"
        assert (
            await client.post("/echo", content=hidden, headers={"content-type": "application/json"})
        ).status_code == 400
        broken = await client.post("/echo", content=b'{"a": 1', headers={"content-type": "application/json"})
        assert broken.status_code == 422

    # A fresh server, so the buckets are full: burst 3, then 429 for that key only.
    async with serving(tiny_app()) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        alice = {"Authorization": "Bearer alice-key"}
        answers = [await client.get("/thing", headers=alice) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        # Each answer says what is left of the burst of 3 and when it is whole again (1 a second).
        assert [answer.headers["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0"]
        assert {answer.headers["RateLimit-Limit"] for answer in answers} == {"3"}
        assert 1 <= int(answers[-1].headers["RateLimit-Reset"]) <= 3
        limited = await client.get("/thing", headers=alice)
        body = assert_problem(limited, 429, "rate-limited")
        assert limited.headers["RateLimit-Remaining"] == "0" and limited.headers["Request-Id"]
        assert int(limited.headers["Retry-After"]) >= 1 and "retry after" in body["detail"]
        assert "alice-key" not in limited.text
        assert (await client.get("/thing", headers={"Authorization": "Bearer bob-key"})).status_code == 200
        assert (await client.get("/thing")).status_code == 200  # no key: the route decides
        assert (await client.get("/healthz", headers=alice)).status_code == 200  # probes are exempt


def test_the_documented_429_declares_retry_after_and_the_rate_limit_headers() -> None:
    app = tiny_app()
    openapi.install(app, rate_limited=True, servers=[{"url": "/"}])
    document = app.openapi()
    paths, headers = document["paths"], document["components"]["headers"]
    limited = paths["/thing"]["get"]["responses"]["429"]
    assert limited["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}
    assert headers["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    assert set(paths["/thing"]["get"]["responses"]["200"]["headers"]) == {
        "Request-Id",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
    }
    assert "429" not in paths["/healthz"]["get"]["responses"]
    assert limited["content"][PROBLEM_JSON]["example"]["code"] == "rate-limited"


def test_token_bucket_refills_at_its_rate_and_forgets_old_keys() -> None:
    now = [100.0]
    limiter = TokenBucketLimiter(2.0, 2, max_keys=2, clock=lambda: now[0])
    assert [limiter.take("k"), limiter.take("k")] == [0.0, 0.0]
    assert limiter.take("k") == pytest.approx(0.5)  # half a second to the next token
    now[0] += 0.5
    assert limiter.take("k") == 0.0
    assert limiter.take("k") > 0
    now[0] += 10
    assert limiter.take("k") == 0.0 and limiter.take("k") == 0.0  # refilled to the burst, not beyond
    assert limiter.take("k") > 0
    limiter.take("a")
    limiter.take("b")  # "k" is the least recently seen of three: forgotten, so a full bucket again
    assert limiter.take("k") == 0.0
    with pytest.raises(ValueError):
        TokenBucketLimiter(0, 1)


def test_json_depth_is_counted_without_parsing() -> None:
    assert not json_too_deep(b'{"a": [1, 2, {"b": []}]}', 4)  # four levels
    assert json_too_deep(b'{"a": [1, 2, {"b": []}]}', 3)
    assert not json_too_deep(b"[" * 100, 3)  # unbalanced: left to the parser
    assert not json_too_deep(b'{"text": "[[[[[[[[ in a string"}', 3)


def test_a_credential_has_one_bucket_however_its_scheme_is_spelt() -> None:
    assert api_key_id("Bearer k") == api_key_id("bearer  k") == api_key_id(" BEARER k ")
    assert api_key_id("Bearer k") != api_key_id("Bearer k2") and api_key_id("Basic k") != api_key_id("Bearer k")
    assert api_key_id("Bearer k") != hashlib.sha256(b"k").hexdigest()  # the limiter holds a hash, not the key


def test_every_service_app_gets_the_guards(tmp_path: Path) -> None:
    runtime = Runtime(ServiceSpec("kit-test", "kit_test", tmp_path), ServiceSettings())
    middleware = [getattr(m.cls, "__name__", "") for m in create_app(runtime, title="t").user_middleware]
    assert BodyGuard.__name__ in middleware and RateLimit.__name__ in middleware
    off = Runtime(ServiceSpec("kit-test", "kit_test", tmp_path), ServiceSettings(http_rate_limit_per_s=0))
    assert RateLimit.__name__ not in [
        getattr(m.cls, "__name__", "") for m in create_app(off, title="t").user_middleware
    ]


async def test_every_answer_names_its_request_id(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        own = await client.get("/thing", headers={"Request-Id": "erp-batch-7:claim-12"})
        assert own.headers["Request-Id"] == "erp-batch-7:claim-12"  # the caller's id, to match logs by
        fresh = [(await client.get("/thing")).headers["Request-Id"] for _ in range(2)]
        assert fresh[0] != fresh[1] and all(len(request_id) == 32 for request_id in fresh)
        hostile = await client.get("/thing", headers={"Request-Id": "x" * 500})
        assert hostile.headers["Request-Id"] != "x" * 500  # not a sane token: replaced
        too_large = await client.post(
            "/echo", content=b"{" + b" " * 20_000 + b"}", headers={"content-type": "application/json"}
        )
        assert too_large.status_code == 413 and too_large.headers["Request-Id"]
