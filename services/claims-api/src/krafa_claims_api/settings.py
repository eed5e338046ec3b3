from krafa_kit.settings import ServiceSettings
from pydantic import SecretStr


class Settings(ServiceSettings):
    service_name: str = "claims-api"
    http_port: int = 8000
    admin_token: SecretStr | None = None
    max_bulk_claims: int = 10_000
    # How long a duplicate request waits for the first one holding its Idempotency-Key before
    # answering 409 idempotency-key-in-progress.
    idempotency_lock_timeout_ms: int = 3000
