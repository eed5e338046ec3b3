"""Every text of the pages exists in every language, with the same placeholders."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from krafa_web import i18n

WEB = Path(i18n.__file__).parent
SERVICE = WEB.parents[1]
STAFF_TEMPLATES = WEB / "templates" / "staff"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@cache
def page_messages(only: str | None = None) -> dict[str, tuple[str, ...]]:
    """The messages `make messages` extracts (babel.cfg: the templates and the texts marked N_()
    in Python), or only those of files under `only` (a path relative to the service)."""
    with (SERVICE / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str, tuple[str, ...]] = {}
    for filename, _, message, _, _ in extract_from_dir(str(SERVICE), method_map, options_map):
        if only is not None and not filename.startswith(only):
            continue
        ids = message if isinstance(message, tuple) else (message,)
        found[ids[0]] = tuple(m for m in ids if m)
    return found


def _catalog(language: str) -> object:
    with (WEB / "locale" / language / "LC_MESSAGES" / "web.po").open("rb") as handle:
        return read_po(handle, locale=language)


def _untranslated(language: str, messages: dict[str, tuple[str, ...]]) -> tuple[list[str], list[tuple[str, str]]]:
    catalog = _catalog(language)
    missing, broken = [], []
    for msgid, forms in messages.items():
        entry = catalog.get(forms if len(forms) > 1 else msgid)  # type: ignore[attr-defined]
        strings = entry.string if entry is not None else None
        values = list(strings) if isinstance(strings, (tuple, list)) else [strings]
        if entry is None or entry.fuzzy or not all(values):
            missing.append(msgid)
            continue
        wanted = set(PLACEHOLDER.findall(" ".join(forms))) - {"num"}
        for value in values:
            if set(PLACEHOLDER.findall(value or "")) - {"num"} != wanted:
                broken.append((msgid, value))
    return missing, broken


@pytest.mark.parametrize("language", [code for code in i18n.LOCALES if code != "en"])
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    missing, broken = _untranslated(language, page_messages())
    assert not missing, f"{language}: untranslated (run `make messages` and translate): {missing}"
    assert not broken, f"{language}: placeholders differ: {broken}"


@pytest.mark.parametrize("language", list(i18n.LOCALES))
def test_every_message_of_the_staff_pages_is_in_each_language(language: str) -> None:
    """The creditor web, the agent desk and the operators' pages: each message their templates
    use has an entry in all four catalogues (English included, so a message added to a template
    without `make messages` fails here too)."""
    messages = page_messages(only="src/krafa_web/templates/staff")
    assert len(messages) > 400  # the staff templates are read (not an empty extraction)
    missing, broken = _untranslated(language, messages)
    assert not missing, f"{language}: the staff pages lack: {missing}"
    assert not broken, f"{language}: placeholders differ: {broken}"


# Words the staff templates may show untranslated: the product's name and units.
UNTRANSLATED_WORDS = {"Krafa", "HTTP", "ms"}


def test_the_staff_templates_write_no_text_outside_a_message() -> None:
    """A sentence typed straight into a staff template would show in English on an Icelandic
    page: every visible text goes through `_()`/`ngettext()` (attributes people read included)."""
    stray: list[str] = []
    for path in sorted(STAFF_TEMPLATES.glob("*.j2")):
        # Jinja's own code goes (blanked line for line, so the numbers stay right).
        source = re.sub(
            r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}",
            lambda m: re.sub(r"[^\n]", " ", m.group(0)),
            path.read_text(encoding="utf-8"),
            flags=re.S,
        )
        for number, text in enumerate(source.splitlines(), 1):
            readable = " ".join(re.findall(r'(?:aria-label|placeholder|title|data-label)="([^"]*)"', text))
            text = re.sub(r"<[^>]*>|&\w+;", " ", text) + " " + readable
            words = set(re.findall(r"[A-Za-zÀ-ÿ]{2,}", text)) - UNTRANSLATED_WORDS
            if words:
                stray.append(f"{path.name}:{number}: {sorted(words)}")
    assert not stray, "text outside _():\n" + "\n".join(stray)


def test_a_marked_python_text_is_translated_with_its_marked_parts() -> None:
    gettext = i18n.gettext_for("is")
    message = i18n.N_("%(field)s: %(detail)s.", field=i18n.N_("Due date"), detail="x")
    assert gettext(message) == "Gjalddagi: x."
    assert str(message) == "Due date: x."
    assert i18n.gettext_for("nb")(i18n.N_("The department %(name)s is added.", name="Golf")) == (
        "Avdelingen Golf er lagt til."
    )


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
