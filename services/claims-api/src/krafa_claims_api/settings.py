from krafa_kit.settings import ServiceSettings
from pydantic import SecretStr


class Settings(ServiceSettings):
    service_name: str = "claims-api"
    http_port: int = 8000
    admin_token: SecretStr | None = None
    max_bulk_claims: int = 10_000
