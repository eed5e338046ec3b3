from krafa_kit.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    service_name: str = "scheduler"
    http_port: int = 8001
    sweep_batch_size: int = 1000
    sweep_idle_wall_s: float = 0.1
    sweep_max_idle_wall_s: float = Field(
        default=30.0,
        gt=0,
        description="longest sleep of an idle sweep (it sleeps until the next step is due; its consumer wakes it "
        "when events have changed timelines, and every new timeline's NOTIFY does too)",
    )
    operator_token: SecretStr | None = None
    gateway_token: SecretStr | None = Field(
        default=None,
        description="bearer token claims-api presents to the notifier and the scheduler for a creditor's reads and "
        "previews; they take it on those routes only, never on an operator route; unset: not accepted",
    )
    portal_token: SecretStr | None = Field(
        default=None,
        description="bearer token the web service presents on the portal routes of the other services; unset: "
        "only a loopback `KRAFA_HTTP_HOST` serves them",
    )
