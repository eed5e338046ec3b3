"""`python -m krafa_scheduler`: run the service against KRAFA_DATABASE_URL and KRAFA_KAFKA_BOOTSTRAP."""

from krafa_kit.http import run_service

from krafa_scheduler.app import create_app
from krafa_scheduler.settings import Settings


def main() -> None:
    run_service(create_app, Settings)


if __name__ == "__main__":
    main()
