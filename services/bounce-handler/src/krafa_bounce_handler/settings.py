from krafa_kit.settings import ServiceSettings
from pydantic import SecretStr


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
    # How long one inbound message may take to classify and commit before the MTA is told to retry.
    smtp_transaction_timeout_s: float = 30.0
