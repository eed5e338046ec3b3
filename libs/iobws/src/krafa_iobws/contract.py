"""Checks HTTP messages against Krafa's description of the IOBWS 3.2 Claims subset, with
openapi-core: path, query and header parameters, the request body by its content type, the
response status, headers and body. The client checks what it sends and receives in tests (an
httpx event hook, `checked_hooks`); the bank sink checks every request it is sent and every answer
it gives."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml  # type: ignore[import-untyped]
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

DOCUMENT = Path(__file__).with_name("claims-3.2-subset.yaml")


class ContractViolation(Exception):
    """A message the description does not allow; `errors` says what, one line each."""

    def __init__(self, what: str, errors: list[str]) -> None:
        super().__init__(f"{what}: " + "; ".join(errors))
        self.what = what
        self.errors = errors


@functools.cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def _json(data: bytes, **_: Any) -> Any:
    return json.loads(data)


@functools.cache
def _openapi() -> OpenAPI:
    # JSON Merge Patch (RFC 7396) bodies are JSON; openapi-core knows only application/json.
    config = Config(extra_media_type_deserializers={"application/merge-patch+json": _json})
    return OpenAPI.from_dict(document(), config=config)


class _Request:
    """openapi-core's request protocol over plain values (it fills in `parameters.path`)."""

    def __init__(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> None:
        self.method_, self.url, self.headers, self.body_ = method, url, headers, body
        query = parse_qs(urlsplit(url).query, keep_blank_values=True)
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=Headers(dict(headers)))

    @property
    def host_url(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path

    @property
    def method(self) -> str:
        return self.method_.lower()

    @property
    def body(self) -> bytes | None:
        return self.body_ or None

    @property
    def content_type(self) -> str:
        return _header(self.headers, "content-type") or "application/octet-stream"


class _Response:
    """openapi-core's response protocol; header names are matched regardless of case."""

    def __init__(self, status_code: int, headers: Mapping[str, str], data: bytes) -> None:
        self.status_code, self.data = status_code, data
        self.headers = Headers(dict(headers))

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type") or "")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _errors(exc: Exception) -> list[str]:
    found: list[str] = []
    seen: set[int] = set()

    def walk(error: BaseException) -> None:
        if id(error) in seen:
            return
        seen.add(id(error))
        nested = [e for e in (getattr(error, "schema_errors", None) or []) if isinstance(e, BaseException)]
        for attr in ("__cause__", "__context__"):
            inner = getattr(error, attr)
            if isinstance(inner, BaseException):
                nested.append(inner)
        message = getattr(error, "message", None) or str(error)
        path = "/".join(str(p) for p in getattr(error, "absolute_path", []) or [])
        found.append(f"{path}: {message}" if path else f"{type(error).__name__}: {message}")
        for inner in nested:
            walk(inner)

    walk(exc)
    return found


def check_request(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> None:
    """Raise ContractViolation when the request is not one the description allows."""
    try:
        _openapi().validate_request(_Request(method, url, headers, body))
    except Exception as exc:  # openapi-core raises a family of errors; all mean "not allowed"
        raise ContractViolation(f"{method.upper()} {urlsplit(url).path}", _errors(exc)) from exc


def check_response(
    method: str,
    url: str,
    request_headers: Mapping[str, str],
    request_body: bytes | None,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
) -> None:
    """Raise ContractViolation when the answer is not one the description allows for the request."""
    try:
        _openapi().validate_response(
            _Request(method, url, request_headers, request_body), _Response(status, headers, body)
        )
    except Exception as exc:
        raise ContractViolation(f"{status} to {method.upper()} {urlsplit(url).path}", _errors(exc)) from exc


def json_body(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Recorder:
    """What `checked_hooks` saw: every request and response, and every violation."""

    exchanges: list[tuple[str, str, int]]
    violations: list[ContractViolation]


def checked_hooks(
    recorder: Recorder | None = None, *, raise_on_violation: bool = True
) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
    """httpx event hooks that check every request before it is sent and every response before the
    caller sees it. Token requests (not part of the claims standard) are passed over."""

    def claims_call(url: httpx.URL) -> bool:
        return url.path.startswith("/v1/")

    async def on_request(request: httpx.Request) -> None:
        if not claims_call(request.url):
            return
        try:
            check_request(request.method, str(request.url), dict(request.headers), request.content)
        except ContractViolation as exc:
            if recorder is not None:
                recorder.violations.append(exc)
            if raise_on_violation:
                raise

    async def on_response(response: httpx.Response) -> None:
        request = response.request
        if not claims_call(request.url):
            return
        await response.aread()
        if recorder is not None:
            recorder.exchanges.append((request.method, request.url.path, response.status_code))
        try:
            check_response(
                request.method,
                str(request.url),
                dict(request.headers),
                request.content,
                response.status_code,
                dict(response.headers),
                response.content,
            )
        except ContractViolation as exc:
            if recorder is not None:
                recorder.violations.append(exc)
            if raise_on_violation:
                raise

    return {"request": [on_request], "response": [on_response]}
