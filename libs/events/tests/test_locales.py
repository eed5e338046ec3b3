"""A debtor's language and time zone default from their country, never English/UTC by accident."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from krafa_events import locales
from krafa_events.catalog import DebtorSnapshot


@pytest.mark.parametrize(
    ("country", "language", "zone"),
    [
        ("IS", "is", "Atlantic/Reykjavik"),
        ("NO", "nb", "Europe/Oslo"),
        ("EE", "et", "Europe/Tallinn"),
        ("GB", "en", "Europe/London"),
        ("US", "en", "America/New_York"),
        ("RU", "ru", "Europe/Moscow"),
        ("SE", "en", "Europe/Stockholm"),  # no Swedish prose yet: the fallback, but the zone is Sweden's
    ],
)
def test_country_defaults(country: str, language: str, zone: str) -> None:
    assert locales.country_language(country) == language
    assert locales.country_time_zone(country) == zone
    ZoneInfo(locales.country_time_zone(country))  # a real zone


def test_a_country_we_do_not_write_falls_back_to_the_creditors_language() -> None:
    assert locales.country_language("DE", fallback="is") == "is"
    assert locales.country_language("DE", fallback="xx") == "en"


def test_every_country_of_the_zone_table_has_a_loadable_zone() -> None:
    for country in ("FI", "DK", "LV", "LT", "PL", "DE", "FR", "ES", "UA", "CA", "AU"):
        ZoneInfo(locales.country_time_zone(country))
        assert locales.country_time_zone(country) != "UTC"


def test_a_snapshot_without_language_or_zone_takes_the_countrys() -> None:
    snapshot = DebtorSnapshot.model_validate({"customer_no": "1", "name": "Kari Nordmann", "country": "NO"})
    assert (snapshot.language, snapshot.time_zone) == ("nb", "Europe/Oslo")
    given = DebtorSnapshot(customer_no="2", name="Anna", country="EE", language="ru", time_zone="Europe/Tallinn")
    assert given.language == "ru"


@pytest.mark.parametrize(
    ("given", "code"), [("IS", "is"), ("nb_NO", "nb"), ("no", "nb"), ("nn-NO", "nn"), ("de", None)]
)
def test_normalise_language(given: str, code: str | None) -> None:
    assert locales.normalise_language(given) == code
