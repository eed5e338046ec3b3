"""Why a webhook attempt failed, as the metrics label it: the operator reads from the reason
whether the creditor's endpoint errors, refuses us, or cannot be reached at all."""

from __future__ import annotations

import httpx
import pytest
from krafa_claims_api.webhooks import UnsafeUrl, failure_reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [(500, "http_5xx"), (503, "http_5xx"), (404, "http_4xx"), (410, "http_4xx"), (301, "http_3xx"), (799, "other")],
)
def test_an_answer_that_is_not_2xx_is_labelled_by_its_class(status: int, reason: str) -> None:
    assert failure_reason(status, None) == reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.ConnectTimeout("connect timed out"), "timeout"),
        (httpx.ConnectError("connection refused"), "connection"),
        (httpx.RemoteProtocolError("server disconnected"), "connection"),
        (UnsafeUrl("the host example.com resolves to 10.0.0.1, a private address"), "refused"),
        (ValueError("bad header"), "other"),
    ],
)
def test_no_answer_is_labelled_by_what_kept_it(error: BaseException, reason: str) -> None:
    assert failure_reason(None, error) == reason
