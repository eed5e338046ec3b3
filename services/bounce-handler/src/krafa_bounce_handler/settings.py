from datetime import timedelta

from krafa_kit.settings import ServiceSettings
from pydantic import Field, SecretStr

from krafa_bounce_handler.domain import SoftBouncePolicy


class Settings(ServiceSettings):
    service_name: str = "bounce-handler"
    http_port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    # Mail is accepted for this domain only; the notifier signs its return paths with it.
    return_domain: str = "returns.krafa.localhost"
    # Shared with the notifier: verifies the HMAC in every return path (krafa_events.return_path).
    return_path_secret: SecretStr
    max_message_bytes: int = 10 * 1024 * 1024
    raw_message_retention_days: int = Field(
        default=90, ge=1, description="days a returned message is kept whole (then only its verdict and hash)"
    )
    bounce_delivery_retention_days: int = Field(
        default=180, ge=7, description="days the address of an email delivery is kept to attribute its bounces"
    )
    # The operator API (the bounce list names recipients' addresses): Bearer token. Without one it
    # is open, on a developer's machine only; production sets KRAFA_OPERATOR_TOKEN.
    operator_token: SecretStr | None = Field(
        default=None, description="bearer token of the operator API; None leaves it open (development only)"
    )
    # How long one inbound message may take to classify and commit before the MTA is told to retry.
    smtp_transaction_timeout_s: float = 30.0
    # Provider webhooks. No secret ships with the service: an endpoint answers 404 until its
    # secret is set. Mailgun: the account's webhook signing key.
    mailgun_webhook_signing_key: SecretStr | None = None
    # Postmark: the `user:password` put in the webhook URL (HTTP Basic).
    postmark_webhook_credentials: SecretStr | None = None
    # A Mailgun signature whose timestamp is further than this from now is refused (replays).
    webhook_replay_window_s: float = Field(default=300.0, gt=0)
    # The soft_bounce_max-th soft bounce for one (creditor, address) within the window is hard.
    soft_bounce_max: int = Field(default=3, ge=1)
    soft_bounce_window_hours: float = Field(default=72.0, gt=0)

    @property
    def soft_bounce_policy(self) -> SoftBouncePolicy:
        return SoftBouncePolicy(self.soft_bounce_max, timedelta(hours=self.soft_bounce_window_hours))

    @property
    def webhook_replay_window(self) -> timedelta:
        return timedelta(seconds=self.webhook_replay_window_s)
