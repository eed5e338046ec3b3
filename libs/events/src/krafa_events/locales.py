"""The languages Krafa writes to debtors in, and a debtor's language and time zone when the
creditor gives neither: the country's own, never English or UTC by accident.

One owner for the rule: claims-api fills a new debtor from it and every DebtorSnapshot without a
language or time zone gets it (an old event read again, a test builder), so no service guesses.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from pathlib import Path
from typing import Final

# Every language the notifier has prose for (ISO 639-1). Norwegian is written in two standards:
# bokmål (nb) and nynorsk (nn); "no" is the macrolanguage code and means bokmål.
LANGUAGES: Final = ("is", "nb", "nn", "et", "ru", "en")
FALLBACK_LANGUAGE: Final = "en"
LANGUAGE_ALIASES: Final = {"no": "nb"}

# A country's language when its official ones include several we write, or none (a Russian-speaking
# Estonian resident is registered with "ru" by the creditor; the country alone says Estonian).
_COUNTRY_LANGUAGE: Final = {"IS": "is", "NO": "nb", "EE": "et", "GB": "en", "IE": "en", "US": "en"}
# Countries whose time zone tables list several zones: the one most of the population lives in
# (zone.tab lists the most populous first, which is what we fall back to for the others).
_COUNTRY_ZONE: Final = {"US": "America/New_York", "RU": "Europe/Moscow", "ES": "Europe/Madrid", "PT": "Europe/Lisbon"}


def normalise_language(language: str | None) -> str | None:
    """ "IS", "is-IS", "nb_NO" and "no" name a language we write; anything else is None."""
    if not language:
        return None
    code = language.strip().lower().replace("_", "-").split("-", 1)[0]
    code = LANGUAGE_ALIASES.get(code, code)
    return code if code in LANGUAGES else None


def country_language(country: str, fallback: str = FALLBACK_LANGUAGE) -> str:
    """The language we write to a debtor in `country` (ISO 3166-1 alpha-2) when nobody said:
    the country's own official language if we write it, else `fallback` (the creditor's)."""
    country = country.upper()
    if country in _COUNTRY_LANGUAGE:
        return _COUNTRY_LANGUAGE[country]
    from babel.languages import get_official_languages  # imported on first use: large data

    for code in get_official_languages(country, de_facto=True):
        found = normalise_language(str(code))
        if found is not None:
            return found
    return normalise_language(fallback) or FALLBACK_LANGUAGE


@lru_cache(maxsize=512)
def country_time_zone(country: str) -> str:
    """The IANA time zone of a debtor in `country`: its only zone, or the zone most of its people
    live in; UTC only for a country the time zone database does not know."""
    country = country.upper()
    if country in _COUNTRY_ZONE:
        return _COUNTRY_ZONE[country]
    return _zone_table().get(country, "UTC")


@lru_cache(maxsize=1)
def _zone_table() -> dict[str, str]:
    """Country → first zone listed for it in the system's zone.tab (the tz database's own table,
    which lists a country's most populous zone first)."""
    table: dict[str, str] = {}
    for base in zoneinfo.TZPATH:
        path = Path(base) / "zone.tab"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                parts = line.split("\t")
                if len(parts) >= 3:
                    table.setdefault(parts[0].upper(), parts[2])
            break
    if not table:
        from babel.core import get_global

        for code, zones in get_global("territory_zones").items():
            if zones:
                table[str(code).upper()] = str(zones[0])
    return table
