from typing import Literal

from krafa_kit.settings import ServiceSettings
from pydantic import SecretStr


class Settings(ServiceSettings):
    service_name: str = "notifier"
    http_port: int = 8002
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
    dispatch_batch_size: int = 200
    dispatch_concurrency: int = 16
    dispatch_idle_wall_s: float = 0.05
