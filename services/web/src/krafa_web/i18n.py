"""Languages of the pages: gettext catalogues (`locale/<lang>/LC_MESSAGES/web.po`, compiled in
memory at start, so only the .po files are kept in the repository) and Babel formatting of
money, dates and times for the debtor's locale. A new language is a new .po file and a line in
LOCALES."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, get_currency_precision
from babel.support import Translations

LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "web"
# The languages of the pages and the locale that formats for each; the order is the switcher's.
LOCALES: Final = {"is": "is_IS", "nb": "nb_NO", "et": "et_EE", "en": "en_GB"}
NAMES: Final = {"is": "Íslenska", "nb": "Norsk bokmål", "et": "Eesti", "en": "English"}
FALLBACK: Final = "en"
ALIASES: Final = {"no": "nb", "nn": "nb"}


def normalise(language: str | None) -> str | None:
    if not language:
        return None
    code = language.strip().lower().replace("_", "-").split("-", 1)[0]
    code = ALIASES.get(code, code)
    return code if code in LOCALES else None


def from_accept_language(header: str | None) -> str | None:
    """The first language of the browser's list that we write (quality order)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag))
    for _, _, tag in sorted(ranked):
        code = normalise(tag)
        if code:
            return code
    return None


@dataclass(frozen=True, slots=True)
class Msg:
    """A text written in Python for a page, translated when the page is rendered in the reader's
    language (`_` in the templates takes a `Msg` as well as a plain string). `N_` marks it for
    `make messages`; `str()` gives the English, for logs and the audit."""

    text: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text % dict(self.params) if self.params else self.text


def N_(text: str, **params: object) -> Msg:
    return Msg(text, params)


def gettext_for(language: str) -> Callable[..., str]:
    """The templates' `_`: a message (a literal or a `Msg`) in `language`, its `%(name)s` filled."""
    catalogue = translations(language)

    def gettext(message: str | Msg, **params: Any) -> str:
        if isinstance(message, Msg):
            params = {**message.params, **params}
            message = message.text
        # A marked text inside another (a field's label in its error) is translated as well.
        params = {k: gettext(v) if isinstance(v, Msg) else v for k, v in params.items()}
        text = str(catalogue.ugettext(message)) if message else ""
        return text % params if params else text

    return gettext


def ngettext_for(language: str) -> Callable[..., str]:
    catalogue = translations(language)

    def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
        return str(catalogue.ungettext(singular, plural, n)) % {"num": n, **params}

    return ngettext


@cache
def translations(language: str) -> Translations:
    """The compiled catalogue of a language (the msgid itself for English)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return Translations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@dataclass(frozen=True, slots=True)
class Formats:
    """Formatting for one language and time zone, handed to the templates."""

    language: str
    locale: Locale
    zone: ZoneInfo

    def money(self, minor: int, currency: str) -> str:
        return money(minor, currency, self.locale)

    def amount(self, minor: int, currency: str) -> str:
        """The number alone, as a person would type it back into a form."""
        value = Decimal(minor).scaleb(-int(get_currency_precision(currency)))
        return str(format_decimal(value, locale=self.locale, group_separator=False))

    def date(self, value: date | str | None, style: str = "medium") -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        return str(format_date(value, style, locale=self.locale))

    def datetime(self, value: datetime | str | None, style: str = "medium") -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return str(format_datetime(value, style, tzinfo=self.zone, locale=self.locale))


@lru_cache(maxsize=64)
def formats(language: str, zone: str = "UTC") -> Formats:
    try:
        tz = ZoneInfo(zone)
    except (ValueError, KeyError):
        tz = ZoneInfo("UTC")
    return Formats(language, Locale.parse(LOCALES[language]), tz)


@lru_cache(maxsize=4096)
def money(minor: int, currency: str, locale: Locale) -> str:
    value = Decimal(minor).scaleb(-int(get_currency_precision(currency)))
    return str(format_currency(value, currency, locale=locale))
