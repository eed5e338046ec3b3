"""Hostile uploads and bodies over HTTP: XML entity expansion and external entities, archives and
compressed bodies (refused, never unpacked, so a zip bomb cannot expand), deep or non-UTF-8 JSON.
Each is a problem document with a 4xx status, quickly, and nothing is recorded."""

from __future__ import annotations

import gzip
import io
import time
import zipfile

import pytest

from .conftest import PaymentsIngest
from .test_payments_flow import a_credit, a_notification

pytestmark = pytest.mark.integration

ENTITIES = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
BILLION_LAUGHS = f'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY l0 "lol">{ENTITIES}]>'.encode()
XXE = b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


def zip_bomb() -> bytes:
    """A 30 KB zip that would unpack to 32 MiB of zeros (each member in a file of ~1 KB)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for n in range(32):
            archive.writestr(f"statement-{n}.xml", b"\0" * 1024 * 1024)
    return out.getvalue()


def with_prolog(prolog: bytes, body: bytes) -> bytes:
    """The camt file with a DOCTYPE between its XML declaration and the document."""
    declaration, _, rest = body.partition(b"\n")
    return prolog + rest.replace(b"<Document", b"\n<Document", 1) if declaration.startswith(b"<?xml") else body


async def test_hostile_uploads_are_refused_and_nothing_is_applied(operator_api: PaymentsIngest) -> None:
    notification = a_notification(a_credit(1_000, None, "H-1", remittance_text="ENTITY"))
    laughs = with_prolog(BILLION_LAUGHS, notification.replace(b"ENTITY", b"&l9;"))
    xxe = with_prolog(XXE, notification.replace(b"ENTITY", b"&x;"))
    assert b"&l9;" in laughs and b"&x;" in xxe
    bomb = zip_bomb()
    assert len(bomb) < 64 * 1024
    async with operator_api.client() as client:

        async def post(data: bytes, content_type: str, **headers: str) -> tuple[int, dict[str, object]]:
            started = time.perf_counter()
            response = await client.post(
                "/v1/payments/files", content=data, headers={"Content-Type": content_type, **headers}
            )
            assert time.perf_counter() - started < 30, "refusing took too long"  # generous: a hang, not speed
            assert response.headers["content-type"] == "application/problem+json", response.text
            body: dict[str, object] = response.json()
            return response.status_code, body

        # XML entities are never expanded nor fetched: a DOCTYPE refuses the file.
        for document in (laughs, xxe):
            status, problem = await post(document, "application/xml")
            assert status == 422 and "DOCTYPE" in str(problem["reason"]), problem
        # Archives are no bank file format: refused as a media type, or unrecognised when sent raw.
        for media_type in ("application/zip", "application/gzip", "application/x-gzip"):
            status, problem = await post(bomb, media_type)
            assert status == 415, problem
        status, problem = await post(bomb, "application/octet-stream")
        assert status == 422 and "unrecognised bank file" in str(problem["reason"]), problem
        # A compressed body is never decompressed.
        status, problem = await post(gzip.compress(notification), "application/xml", **{"Content-Encoding": "gzip"})
        assert (status, problem["type"]) == (415, "https://docs.krafa.dev/problems/compressed-upload"), problem

        # JSON endpoints: nested too deeply, or not UTF-8.
        deep = b"[" * 100_000 + b"]" * 100_000
        not_utf8 = b'{"id": "\xff\xfe", "amount_minor": 1, "currency": "ISK", "reference": null}'
        for path in ("/v1/payments/notifications", "/v1/card-instalments/failed"):
            for raw in (deep, not_utf8):
                response = await client.post(path, content=raw, headers={"Content-Type": "application/json"})
                assert response.status_code in (400, 422), (path, response.status_code, response.text[:200])
                assert response.headers["content-type"] == "application/problem+json"

    # Still serving, and nothing of it applied.
    async with operator_api.client() as client:
        assert (await client.get("/readyz")).status_code == 200
    for table in ("imports", "payments", "card_instalment_failures", "outbox"):
        assert await operator_api.count(f"SELECT count(*) FROM {table}") == 0, table
