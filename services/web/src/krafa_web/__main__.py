"""`python -m krafa_web`: the pages for people (the debtor portal) on KRAFA_HTTP_PORT."""

from krafa_kit.http import run_service

from krafa_web.app import create_app
from krafa_web.settings import Settings


def main() -> None:
    run_service(create_app, Settings)


if __name__ == "__main__":
    main()
