"""`python -m krafa_claims_api`: run the service against KRAFA_DATABASE_URL and KRAFA_KAFKA_BOOTSTRAP."""

from krafa_kit.http import run_service

from krafa_claims_api.app import create_app
from krafa_claims_api.settings import Settings


def main() -> None:
    run_service(create_app, Settings)


if __name__ == "__main__":
    main()
