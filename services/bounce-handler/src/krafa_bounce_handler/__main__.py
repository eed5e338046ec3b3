"""`python -m krafa_bounce_handler`: run the service (HTTP and the inbound SMTP endpoint)."""

from krafa_kit.http import serve
from krafa_kit.logs import configure_logging

from krafa_bounce_handler.app import create_app
from krafa_bounce_handler.settings import Settings


def main() -> None:
    settings = Settings()  # the secret comes from the environment (KRAFA_RETURN_PATH_SECRET)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
