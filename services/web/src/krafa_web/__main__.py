"""`python -m krafa_web`: the pages for people (the debtor portal) on KRAFA_HTTP_PORT."""

from krafa_kit.http import serve
from krafa_kit.logs import configure_logging

from krafa_web.app import create_app
from krafa_web.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
