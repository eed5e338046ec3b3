from krafa_kit.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    service_name: str = "claims-api"
    http_port: int = 8000
    admin_token: SecretStr | None = None
    max_bulk_claims: int = 10_000
    webhook_retention_days: int = Field(
        default=90, ge=1, description="days a finished webhook delivery (and its attempts) is kept"
    )
    # How long a duplicate request waits for the first one holding its Idempotency-Key before
    # answering 409 idempotency-key-in-progress.
    idempotency_lock_timeout_ms: int = 3000
    webhook_allow_private: bool = Field(
        default=False,
        description="webhook endpoints may be private, loopback or link-local addresses, over http "
        "(tests and demos with 127.0.0.1 sinks; never in production)",
    )
    webhook_allow_http: bool = Field(default=False, description="webhook endpoints may use http instead of https")
    hold_expiry_poll_s: float = Field(
        default=30.0,
        gt=0,
        description="longest wait (wall seconds) between looks for holds whose `until` passed (the expiry sleeps "
        "until the earliest `until` and wakes when a hold is placed)",
    )
    portal_token: SecretStr | None = Field(
        default=None,
        description="bearer token the web service presents on the portal routes of the other services; unset: "
        "only a loopback `KRAFA_HTTP_HOST` serves them",
    )
    # Creditors' reads of what the notifier and the scheduler own (templates, previews, policies,
    # schedule dry runs): claims-api verifies the API key and asks them (docs/adr/0013).
    notifier_url: str = Field(
        default="http://127.0.0.1:8002",
        description="where the notifier answers (claims-api: creditors' templates and previews; web: the portal "
        "and the agent desk)",
    )
    scheduler_url: str = Field(
        default="http://127.0.0.1:8001",
        description="where the scheduler answers (claims-api: creditors' policies and schedule dry runs; web: the "
        "portal's next steps)",
    )
    operator_token: SecretStr | None = None
    gateway_token: SecretStr | None = Field(
        default=None,
        description="bearer token claims-api presents to the notifier and the scheduler for a creditor's reads and "
        "previews; they take it on those routes only, never on an operator route; unset: not accepted",
    )
    upstream_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="claims-api: longest wait for the notifier or scheduler on a creditor's preview or read "
        "before it answers 503",
    )
