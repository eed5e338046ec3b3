"""`python -m krafa_payments_ingest`: run the service against KRAFA_DATABASE_URL and KRAFA_KAFKA_BOOTSTRAP."""

from krafa_kit.http import serve
from krafa_kit.logs import configure_logging

from krafa_payments_ingest.app import create_app
from krafa_payments_ingest.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
