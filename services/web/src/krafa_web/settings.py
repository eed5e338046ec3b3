from krafa_kit.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    service_name: str = "web"
    http_port: int = 8005
    portal_url: str = Field(
        default="http://127.0.0.1:8005",
        description="the debtor portal's public URL: every reminder carries a personal link to it",
    )
    portal_link_secret: SecretStr = Field(
        description="HMAC key of the personal portal links (the notifier and the web share it)"
    )
    portal_link_ttl_days: int = Field(default=60, ge=1, le=365, description="a personal link opens for this long")
    portal_token: SecretStr | None = Field(
        default=None,
        description="bearer token the web service presents on the portal routes of the other services; unset: "
        "only a loopback `KRAFA_HTTP_HOST` serves them",
    )
    operator_token: SecretStr | None = Field(
        default=None,
        description="bearer token the web presents to the operator routes (call queue, unmatched payments, "
        "bounces, dead letters) for agents and operators, and that guards its own staff-user API",
    )
    telephony_auth_token: SecretStr | None = Field(
        default=None,
        description="the telephony provider's auth token that signs its incoming-call webhook "
        "(X-Twilio-Signature); unset: the webhook answers only on a loopback `KRAFA_HTTP_HOST`",
    )
    staff_idle_minutes: int = Field(
        default=30, ge=1, le=480, description="a creditor user's or agent's session ends after this idle time"
    )
    staff_max_minutes: int = Field(default=600, ge=1, le=1440, description="and after this long in any case")
    claims_api_url: str = Field(default="http://127.0.0.1:8000", description="web: where claims-api answers")
    scheduler_url: str = Field(default="http://127.0.0.1:8001", description="web: where the scheduler answers")
    notifier_url: str = Field(default="http://127.0.0.1:8002", description="web: where the notifier answers")
    payments_url: str = Field(default="http://127.0.0.1:8004", description="web: where payments-ingest answers")
    bounce_handler_url: str = Field(
        default="http://127.0.0.1:8003", description="web: where the bounce-handler answers (the bounce list)"
    )
    session_idle_minutes: int = Field(default=15, ge=1, le=240, description="a session ends after this idle time")
    session_max_minutes: int = Field(default=60, ge=1, le=1440, description="and after this long in any case")
    cookie_secure: bool = Field(
        default=True, description="Secure cookies with the `__Host-` prefix (browsers accept them on localhost too)"
    )
    code_ttl_minutes: int = Field(default=10, ge=1, le=60, description="a one-time code is valid this long")
    code_attempts: int = Field(default=5, ge=1, le=20, description="wrong codes allowed per code sent")
    lockout_failures: int = Field(
        default=5, ge=1, le=100, description="wrong codes for one debtor within the lockout window lock them out"
    )
    lockout_minutes: int = Field(default=15, ge=1, le=1440, description="the lockout window, and how long it lasts")
    link_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        le=30,
        description="a link not learnt yet (its ReminderSent still on the way) is waited for this long",
    )
    login_rate_per_minute: int = Field(
        default=20, ge=1, description="link openings and code requests per client address a minute"
    )
    oidc_issuer: str | None = Field(
        default=None, description="e-ID: the OpenID Connect provider's issuer URL; unset: no e-ID login"
    )
    oidc_client_id: str | None = Field(default=None, description="e-ID: the client id registered at the provider")
    oidc_client_secret: SecretStr | None = Field(default=None, description="e-ID: the client secret")
    oidc_scopes: str = Field(default="openid profile", description="e-ID: scopes asked for")
    oidc_national_id_claim: str = Field(
        default="national_id",
        description="e-ID: the ID-token claim holding the national id (kennitala, fødselsnummer…)",
    )
    oidc_name: str = Field(default="e-ID", description="e-ID: the button's name, e.g. `Rafræn skilríki` or `BankID`")
    staff_oidc_keys: SecretStr | None = Field(
        default=None,
        description="Fernet keys (comma-separated, newest first) that encrypt the client secrets of creditors' own "
        "OpenID Connect providers at rest; unset: creditors' single sign-on cannot be set up",
    )
