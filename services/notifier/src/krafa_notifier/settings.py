from pathlib import Path
from typing import Literal

from krafa_kit.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    service_name: str = "notifier"
    http_port: int = 8002
    delivery_retention_days: int = Field(
        default=2190, ge=30, description="days a finished delivery is kept: the evidence that a notice went out"
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_connections: int = 4
    smtp_timeout_s: float = 30.0
    sender_email: str = "reminders@krafa.localhost"
    return_domain: str = "returns.krafa.localhost"
    return_path_secret: SecretStr
    print_url: str = "http://127.0.0.1:8090"
    print_token: SecretStr | None = None
    sms_provider: Literal["none", "generic", "twilio"] = Field(
        default="none", description="SMS provider API: `generic` JSON, `twilio`, or `none` (channel off)"
    )
    sms_url: str = Field(
        default="http://127.0.0.1:8090", description="SMS provider base URL (Twilio: `https://api.twilio.com`)"
    )
    sms_token: SecretStr | None = Field(default=None, description="bearer token of the generic SMS API")
    sms_sender: str = Field(default="Krafa", description="SMS sender id (alphanumeric) or E.164 number")
    twilio_account_sid: str | None = Field(default=None, description="Twilio account SID (basic auth user)")
    twilio_auth_token: SecretStr | None = Field(
        default=None, description="Twilio auth token: basic auth, and the key of X-Twilio-Signature on receipts"
    )
    sms_quiet_hours: bool = Field(
        default=True, description="send SMS only on weekdays 09–20 in the debtor's zone, never on holidays"
    )
    sms_receipt_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of the generic provider's receipts (X-Krafa-Signature)"
    )
    sms_price_per_segment_minor: int = Field(
        default=12, description="SMS price per segment when the provider does not say (Twilio), minor units"
    )
    sms_price_currency: str = Field(default="ISK", description="currency of that price")
    public_url: str | None = Field(
        default=None, description="the notifier's URL as providers reach it (receipt callbacks, Twilio's signed URL)"
    )
    netbank_url: str | None = Field(
        default=None,
        description="the online bank's e-document endpoint (letters as netbank documents); unset turns it off",
    )
    netbank_token: SecretStr | None = Field(default=None, description="bearer token of the netbank endpoint")
    dkim_selector: str | None = Field(default=None, description="DKIM selector; signing is on with a domain and key")
    dkim_domain: str | None = Field(default=None, description="DKIM signing domain (d=)")
    dkim_private_key: SecretStr | None = Field(default=None, description="DKIM RSA private key, PEM")
    dkim_private_key_file: Path | None = Field(default=None, description="file holding the DKIM private key (PEM)")
    operator_token: SecretStr | None = Field(
        default=None, description="bearer token of the notifier's call-queue, template and preview API"
    )
    gateway_token: SecretStr | None = Field(
        default=None,
        description="bearer token claims-api presents to the notifier and the scheduler for a creditor's reads and "
        "previews; they take it on those routes only, never on an operator route; unset: not accepted",
    )
    dispatch_batch_size: int = 200
    dispatch_concurrency: int = 16
    dispatch_idle_wall_s: float = 0.05
    dispatch_max_idle_wall_s: float = Field(
        default=5.0,
        gt=0,
        description="longest sleep of an idle dispatcher (it sleeps until the next pending delivery may be tried, "
        "and wakes when one is planned or made pending again); also how late an idle dispatcher releases the sends "
        "of a replica that died",
    )
    portal_url: str | None = Field(
        default=None, description="the debtor portal's public URL: every reminder carries a personal link to it"
    )
    portal_link_secret: SecretStr | None = Field(
        default=None, description="HMAC key of the personal portal links (the notifier and the web share it)"
    )
    portal_token: SecretStr | None = Field(
        default=None,
        description="bearer token the web service presents on the portal routes of the other services; unset: "
        "only a loopback `KRAFA_HTTP_HOST` serves them",
    )
