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
