from pathlib import Path

from krafa_kit.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    service_name: str = "payments-ingest"
    http_port: int = 8004
    # Without a token the operator API is open: acceptable on a developer's machine only.
    # Production must set KRAFA_OPERATOR_TOKEN (see the service README).
    operator_token: SecretStr | None = Field(
        default=None, description="bearer token of the operator API; None leaves it open (development only)"
    )
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0, description="largest bank file accepted")
    inbox_dir: Path | None = Field(
        default=None, description="a directory watched for bank files (see inbox.py); None: no inbox"
    )
    inbox_poll_interval_s: float = Field(default=1.0, gt=0, description="how often the inbox is listed")
    inbox_csv_mapping: str | None = Field(default=None, description="the saved CSV mapping for *.csv in the inbox")
    portal_token: SecretStr | None = Field(
        default=None,
        description="bearer token the web service presents on the portal routes of the other services; unset: "
        "only a loopback `KRAFA_HTTP_HOST` serves them",
    )
    psp_url: str | None = Field(
        default=None, description="card payments: the provider's API (Stripe Checkout's shape); unset: no card payments"
    )
    psp_secret_key: SecretStr | None = Field(default=None, description="card payments: the provider's secret API key")
    psp_webhook_secret: SecretStr | None = Field(
        default=None, description="card payments: the key of the provider's webhook signatures (Stripe-Signature)"
    )
    iobws_url: str | None = Field(
        default=None, description="the claim bank's IOBWS 3.2 Claims API; unset turns bank claims off"
    )
    iobws_token_url: str | None = Field(
        default=None, description="its OAuth2 token endpoint (default: <KRAFA_IOBWS_URL>/oauth2/token)"
    )
    iobws_client_id: str = Field(default="", description="OAuth2 client id at the claim bank")
    iobws_client_secret: SecretStr | None = Field(default=None, description="OAuth2 client secret at the claim bank")
    iobws_scope: str | None = Field(default=None, description="OAuth2 scope to ask for, if the bank wants one")
    iobws_poll_interval_s: float = Field(
        default=2.0, gt=0, description="wall seconds between reads of the bank's payments"
    )
    iobws_sync_idle_s: float = Field(
        default=30.0,
        gt=0,
        description="longest wait (wall seconds) of the claim sync with nothing to send, and of the payments poll "
        "with no claim at the bank that may be paid; both wake at once when the consumer has applied events, the "
        "sync also when its next claim falls due",
    )
    iobws_timeout_s: float = Field(default=10.0, gt=0, description="timeout of one call to the bank")
