from krafa_claims_api.api import idempotency


def test_request_hash_ignores_key_order_and_spacing() -> None:
    a = idempotency.parse_body(b'{"a": 1, "b": {"y": [1, 2], "x": "\\u00e9"}}')
    b = idempotency.parse_body(b'{"b":{"x":"\xc3\xa9","y":[1,2]},"a":1}')
    assert idempotency.request_hash("POST", "/v1/claims", a) == idempotency.request_hash("post", "/v1/claims", b)


def test_request_hash_depends_on_method_path_and_body() -> None:
    base = idempotency.request_hash("POST", "/v1/claims", {"a": 1})
    assert base != idempotency.request_hash("POST", "/v1/claims/bulk", {"a": 1})
    assert base != idempotency.request_hash("PUT", "/v1/claims", {"a": 1})
    assert base != idempotency.request_hash("POST", "/v1/claims", {"a": 2})
    assert len(base) == 64


def test_empty_body_hashes_as_null() -> None:
    assert idempotency.parse_body(b"") is None
    assert idempotency.parse_body(b"  ") is None
    assert idempotency.request_hash("POST", "/p", idempotency.parse_body(b"")) == idempotency.request_hash(
        "POST", "/p", None
    )
