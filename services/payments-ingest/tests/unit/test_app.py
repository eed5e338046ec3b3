"""The composition root: building the app connects to nothing, and it serves the documented
operator API with the service's own name, schema and defaults."""

from __future__ import annotations

import pytest
from krafa_events import ClaimCancelled, ClaimCreated, ClaimPaid
from krafa_events.catalog import (
    ClaimAmended,
    ClaimBalanceChanged,
    ClaimDeferred,
    ClaimEscalated,
    ClaimWrittenOff,
    PersonalDataErasureRequested,
    PersonalDataExportRequested,
)
from krafa_payments_ingest.app import create_app
from krafa_payments_ingest.settings import Settings


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KRAFA_SERVICE_NAME", "KRAFA_HTTP_PORT", "KRAFA_MAX_UPLOAD_BYTES", "KRAFA_OPERATOR_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.service_name == "payments-ingest"
    assert settings.http_port == 8004
    assert settings.max_upload_bytes == 200 * 1024 * 1024
    assert settings.operator_token is None


def test_app_is_built_without_connecting() -> None:
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", kafka_bootstrap="127.0.0.1:1"))
    runtime = app.state.runtime
    assert (runtime.spec.name, runtime.spec.schema) == ("payments-ingest", "payments")
    assert set(runtime.spec.routes) == {
        ClaimCreated,
        ClaimCancelled,
        ClaimPaid,
        # what an Icelandic bank claim follows
        ClaimWrittenOff,
        ClaimBalanceChanged,
        ClaimAmended,
        ClaimDeferred,
        ClaimEscalated,
        # the payer's name and account are personal data: erased and exported here too
        PersonalDataErasureRequested,
        PersonalDataExportRequested,
    }
    assert not runtime.started
    paths = app.openapi()["paths"]
    assert {"/v1/payments/files", "/v1/payments/imports/{import_id}", "/v1/payments/unmatched"} <= set(paths)
    upload = paths["/v1/payments/files"]["post"]["requestBody"]["content"]
    assert {"application/octet-stream", "application/xml", "text/plain", "multipart/form-data"} <= set(upload)
