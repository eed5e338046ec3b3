"""Every text of the pages exists in every language, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from krafa_web import i18n

WEB = Path(i18n.__file__).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def template_messages() -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    method_map = [("templates/**.j2", "jinja2")]
    options = {"templates/**.j2": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
    for _, _, message, _, _ in extract_from_dir(str(WEB), method_map, options_map=options):
        ids = message if isinstance(message, tuple) else (message,)
        found[ids[0]] = tuple(m for m in ids if m)
    return found


@pytest.mark.parametrize("language", [code for code in i18n.LOCALES if code != "en"])
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    path = WEB / "locale" / language / "LC_MESSAGES" / "web.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    missing, broken = [], []
    for msgid, forms in template_messages().items():
        entry = catalog.get(forms if len(forms) > 1 else msgid)
        strings = entry.string if entry is not None else None
        values = list(strings) if isinstance(strings, (tuple, list)) else [strings]
        if entry is None or entry.fuzzy or not all(values):
            missing.append(msgid)
            continue
        wanted = set(PLACEHOLDER.findall(" ".join(forms))) - {"num"}
        for value in values:
            if set(PLACEHOLDER.findall(value or "")) - {"num"} != wanted:
                broken.append((msgid, value))
    assert not missing, f"{language}: untranslated (run `make messages` and translate): {missing}"
    assert not broken, f"{language}: placeholders differ: {broken}"


def test_languages_compile_and_plurals_follow_each_language() -> None:
    icelandic = i18n.translations("is")
    assert icelandic.ungettext("You have %(num)d try left.", "You have %(num)d tries left.", 21) % {"num": 21} == (
        "Þú átt 21 tilraun eftir."  # Icelandic: 21 takes the singular
    )
    assert "tilraunir" in icelandic.ungettext("You have %(num)d try left.", "You have %(num)d tries left.", 11)
    assert i18n.translations("nb").ugettext("My pages") == "Mine sider"


def test_the_browser_language_is_read_in_quality_order() -> None:
    assert i18n.from_accept_language("de-DE,de;q=0.9,nb;q=0.8,en;q=0.5") == "nb"
    assert i18n.from_accept_language("en;q=0.2, is") == "is"
    assert i18n.from_accept_language("no") == "nb"
    assert i18n.from_accept_language("fr") is None


def test_money_is_formatted_for_the_locale_from_minor_units() -> None:
    assert i18n.formats("is").money(1039000, "ISK").replace("\xa0", " ") == "1.039.000 kr."
    assert i18n.formats("et").money(123456, "EUR").replace("\xa0", " ") == "1 234,56 €"
    assert i18n.formats("en").amount(1039000, "ISK") == "1039000"
