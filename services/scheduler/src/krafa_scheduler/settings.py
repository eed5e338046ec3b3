from krafa_kit.settings import ServiceSettings
from pydantic import SecretStr


class Settings(ServiceSettings):
    service_name: str = "scheduler"
    http_port: int = 8001
    sweep_batch_size: int = 1000
    sweep_idle_wall_s: float = 0.1
    operator_token: SecretStr | None = None
