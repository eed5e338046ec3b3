"""`python -m krafa_notifier`: run the service against KRAFA_DATABASE_URL and KRAFA_KAFKA_BOOTSTRAP."""

from krafa_kit.http import run_service

from krafa_notifier.app import create_app
from krafa_notifier.settings import Settings


def main() -> None:
    run_service(create_app, Settings)


if __name__ == "__main__":
    main()
