"""`python -m krafa_bounce_handler`: run the service (HTTP and the inbound SMTP endpoint)."""

from krafa_kit.http import run_service

from krafa_bounce_handler.app import create_app
from krafa_bounce_handler.settings import Settings


def main() -> None:
    run_service(create_app, Settings)


if __name__ == "__main__":
    main()
