"""Reminder text: every language and tone, money and dates as Babel formats them, escaping and
the template sandbox."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency
from hypothesis import given
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError
from krafa_notifier.content import (
    LOCALES,
    ClaimLine,
    PostalAddress,
    ReminderContent,
    ReminderRenderer,
    format_money,
    normalise_language,
)
from krafa_notifier.sms import count_segments

LANGUAGES = ("is", "nb", "nn", "et", "ru", "en")
TONES = ("friendly", "firm", "final")
LINK = "https://pay.example.is/r/AB12?claim=1&amp=2"
ACCOUNT = "IS14 0159 2600 7654 5510 7303 39"
PHONE = "+354 555 1234"

# A reminder with no legal notice kind (an older producer, a creditor's own step) reads by tone:
# the friendly first one assumes an oversight (docs/domain.md: SMS, email and phone); the final one names
# collection.
FRIENDLY_WORDS = {
    "is": "farið fram hjá", "nb": "glemt", "nn": "gløymeboka", "et": "kahe silma vahele",
    "ru": "забыли", "en": "overlooked",
}  # fmt: skip
FINAL_WORDS = {
    "is": "innheimtu",
    "nb": "inkasso",
    "nn": "inkasso",
    "et": "inkasso",
    "ru": "инкассо",
    "en": "debt collection",
}


def claims(n: int) -> tuple[ClaimLine, ...]:
    """n claims; with 3 the last is in EUR, so totals are per currency."""
    base = [
        ClaimLine("1001", "Æfingagjöld vor 2024", date(2024, 3, 1), 10_000, "ISK", 390, 0, "1001-77"),
        ClaimLine("1002", None, date(2024, 3, 15), 25_500, "ISK", 390, 1_234, "1002-55"),
        ClaimLine("1003", "Keppnisferð", date(2024, 4, 2), 12_050, "EUR", 500, 175, "RF18 5390"),
    ]
    return tuple(base[:n])


def content(language: str = "en", tone: str = "friendly", n: int = 1, **changes: Any) -> ReminderContent:
    c = ReminderContent(
        creditor_name="Íþróttafélagið Hörður",
        creditor_contact_phone=PHONE,
        creditor_account=ACCOUNT,
        payment_link=LINK,
        debtor_name="Þórður Ægisson",
        language=language,
        step={"friendly": 1, "firm": 2, "final": 3}.get(tone, 1),
        tone="friendly",
        claims=claims(n),
        address=PostalAddress("Þórður Ægisson", ("Laugavegur 1",), "101", "Reykjavík", "IS"),
        sent_on=date(2024, 4, 20),
    )
    # The tone goes through replace() so an invalid one reaches validation, as untyped data would.
    return replace(c, tone=cast(Any, tone), **changes)


def babel_money(minor: int, currency: str, language: str) -> str:
    """The reference formatting, computed independently of the code under test."""
    digits = {"ISK": 0, "JPY": 0, "KWD": 3, "BHD": 3}.get(currency, 2)  # ISO 4217 minor units
    return str(format_currency(Decimal(minor) / (10**digits), currency, locale=LOCALES[language]))


@pytest.fixture(scope="module")
def renderer() -> ReminderRenderer:
    return ReminderRenderer()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("n", [1, 3])
def test_email_carries_every_fact(renderer: ReminderRenderer, language: str, tone: str, n: int) -> None:
    c = content(language, tone, n)
    email = renderer.email(c)
    assert email.language == language
    assert c.creditor_name in email.subject
    if n == 1:
        assert "1001" in email.subject

    for part in (email.text, email.html):
        for claim in c.claims:
            assert claim.invoice_no in part
            # Each component owed, itemised.
            for minor in (claim.amount_minor, claim.fees_minor, claim.interest_minor):
                if minor:
                    assert babel_money(minor, claim.currency, language) in part
            assert babel_money(claim.total_minor, claim.currency, language) in part
            medium = format_date(claim.due_date, "medium", locale=LOCALES[language])
            assert medium in part
            assert claim.reference in part
        assert PHONE in part
        assert c.creditor_name in part
    assert LINK in email.text
    assert 'href="https://pay.example.is/r/AB12?claim=1&amp;amp=2"' in email.html
    assert f'<html lang="{language}">' in email.html

    if n == 3:
        # Totals per currency, never one sum across currencies.
        isk = sum(cl.total_minor for cl in c.claims if cl.currency == "ISK")
        eur = sum(cl.total_minor for cl in c.claims if cl.currency == "EUR")
        for part in (email.text, email.html):
            assert babel_money(isk, "ISK", language) in part
            assert babel_money(eur, "EUR", language) in part
        assert isk == 10_390 + 27_124
    if tone == "friendly":
        assert FRIENDLY_WORDS[language] in email.text
    if tone == "final":
        assert FINAL_WORDS[language] in email.text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("n", [1, 3])
def test_sms_is_one_line_within_two_segments(renderer: ReminderRenderer, language: str, tone: str, n: int) -> None:
    c = content(language, tone, n)
    sms = renderer.sms(c)
    assert "\n" not in sms
    assert "  " not in sms
    assert "\xa0" not in sms and "\u202f" not in sms and "–" not in sms
    count = count_segments(sms)
    assert count.segments <= 2, (count, sms)
    if language in ("nb", "nn", "en") and n == 1:
        # The creditor's name has Icelandic letters; a GSM-7 name keeps the whole text GSM-7.
        plain = renderer.sms(replace(c, creditor_name="Fram IL"))
        assert count_segments(plain).encoding == "GSM-7", plain
    assert PHONE in sms
    assert LINK in sms
    isk = sum(cl.total_minor for cl in c.claims if cl.currency == "ISK")
    assert babel_money(isk, "ISK", language).replace("\xa0", " ").replace("\u202f", " ") in sms


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_creditor_without_an_account_gets_no_empty_account_line_and_no_double_stop(
    renderer: ReminderRenderer, language: str
) -> None:
    c = content(language, "firm", 1, creditor_account="", payment_link=None)
    sms = renderer.sms(c)
    assert ".." not in sms and " ." not in sms, sms
    if language == "is":  # the account row's label, with nothing to say
        assert "Bankareikningur" not in sms and "Bankareikningur" not in renderer.email(c).text
        assert "Bankareikningur" in renderer.sms(replace(c, creditor_account=ACCOUNT))


def test_icelandic_krona_has_no_decimals(renderer: ReminderRenderer) -> None:
    email = renderer.email(content("is", "friendly", 1))
    # 10,000 + 390 slip fee (docs/domain.md: Icelandic payment slips), the Icelandic way: dot grouping, no decimals.
    assert "10.390\xa0kr." in email.text
    assert "1. mars 2024" in email.text  # long date in the prose
    assert "Góðan dag, Þórður Ægisson." in email.text


def test_norwegian_and_estonian_formats(renderer: ReminderRenderer) -> None:
    nok = ClaimLine("77", "Strøm", date(2024, 1, 31), 123_450, "NOK", 3_500, 0, "1234567890")
    nb = renderer.email(content("nb", "firm", 1, claims=(nok,))).text
    assert "1\xa0269,50\xa0kr" in nb  # 1 234,50 + 35,00 purregebyr
    assert "31. jan. 2024" in nb
    eur = ClaimLine("A-9", None, date(2024, 2, 29), 4_999, "EUR", 0, 12, "2900012345")
    et = renderer.email(content("et", "friendly", 1, claims=(eur,))).text
    assert "50,11\xa0€" in et
    assert "2900012345" in et


def test_single_reference_is_shown_once_for_the_payment(renderer: ReminderRenderer) -> None:
    same = tuple(replace(cl, reference="RF71 4567", currency="ISK") for cl in claims(3))
    text = renderer.email(content("en", "firm", 3, claims=same)).text
    assert text.count("RF71 4567") == 1
    mixed = renderer.email(content("en", "firm", 3)).text
    assert "Please use the reference shown for each invoice." in mixed


def test_without_payment_link(renderer: ReminderRenderer) -> None:
    email = renderer.email(content("is", "friendly", 1, payment_link=None))
    assert "href" not in email.html
    assert "greiðslutenglinum" not in email.text
    assert "https://" not in renderer.sms(content("is", "final", 1, payment_link=None))


def test_html_escapes_debtor_data(renderer: ReminderRenderer) -> None:
    evil = '<script>alert("x")</script> & Co'
    c = content("en", "final", 3, debtor_name=evil)
    c = replace(c, claims=tuple(replace(cl, description="<b>bold</b>") for cl in c.claims))
    email = renderer.email(c)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in email.html
    assert "<b>bold</b>" not in email.html
    assert "&lt;b&gt;bold&lt;/b&gt;" in email.html
    # Plain text is not HTML: it shows the name as it is.
    assert evil in email.text
    assert "<script>alert" in renderer.sms(replace(c, creditor_name=evil))


def _override(tmp_path: Path, language: str, text: str) -> ReminderRenderer:
    (tmp_path / "lang").mkdir(exist_ok=True)
    (tmp_path / "lang" / f"{language}.j2").write_text(text, encoding="utf-8")
    return ReminderRenderer(template_dir=tmp_path)


LABELS = (
    '{% set labels = {"invoice": "I", "description": "D", "due_date": "Due", "amount": "A",'
    ' "fees": "F", "interest": "In", "total": "T", "total_due": "TD", "payee": "P",'
    ' "account": "Acc", "reference": "R", "reference_each": "RE", "payment_link": "L",'
    ' "phone": "Ph", "date": "Dt", "reminder_no": "No", "page": "{page}/{pages}", "principal": "Pr",'
    ' "payment_received": "PR", "written_off": "WO", "registration_no": "RN", "on_behalf_of": "OB",'
    ' "netbank": "NB", "netbank_how": "NH", "claimant": "Cl", "claim_number": "CN", "kid": "K", "iban": "IB",'
    ' "reference_number": "RN", "statement": "St", "legal_basis": "LB"} %}'
)
MACROS = (
    "{% macro heading(v) %}H{% endmacro %}{% macro greeting(v) %}G{% endmacro %}"
    "{% macro intro(v) %}I{% endmacro %}{% macro closing(v) %}C{% endmacro %}"
    "{% macro sign_off(v) %}S{% endmacro %}{% macro sms(v) %}{{ v.debtor_name }}{% endmacro %}"
)


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ v.first.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ v.claims.__len__() }}",
        "{% set _ = v.update({'account': 'attacker'}) %}x",
    ],
)
def test_template_injection_fails_in_the_sandbox(tmp_path: Path, payload: str) -> None:
    # A creditor-edited template tries to reach Python internals or mutate the data.
    r = _override(tmp_path, "en", f"{LABELS}{MACROS}{{% macro subject(v) %}}{payload}{{% endmacro %}}")
    with pytest.raises(SecurityError):
        r.email(content("en"))


def test_custom_directory_overrides_and_falls_back(tmp_path: Path) -> None:
    r = _override(tmp_path, "en", f"{LABELS}{MACROS}{{% macro subject(v) %}}Hi{{% endmacro %}}")
    email = r.email(content("en"))
    assert email.subject == "Hi"
    assert "Acc: " + ACCOUNT in email.text  # the default layout, with the custom labels
    assert r.email(content("is")).subject.startswith("Greiðsluáminning")  # untouched language


def test_a_language_file_missing_labels_fails_loudly(tmp_path: Path) -> None:
    r = _override(tmp_path, "en", '{% set labels = {"invoice": "I"} %}' + MACROS)
    with pytest.raises(ValueError, match="labels lack"):
        r.email(content("en"))


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("is", "is"),
        ("IS", "is"),
        ("is-IS", "is"),
        ("nb_NO", "nb"),
        ("no", "nb"),
        ("et", "et"),
        ("en-GB", "en"),
        ("de", "en"),
        ("", "en"),
        ("sv", "en"),
    ],
)
def test_language_normalisation(given_: str, expected: str) -> None:
    assert normalise_language(given_) == expected


def test_unknown_language_falls_back_to_english(renderer: ReminderRenderer) -> None:
    email = renderer.email(content("de", "firm", 1))
    assert email.language == "en"
    assert email.subject.startswith("Reminder: payment overdue")
    assert "ISK10,390" in email.text


def test_letter_text(renderer: ReminderRenderer) -> None:
    text = renderer.letter_text(content("is", "final", 3))
    # Without a legal notice kind a final reminder never calls itself the collection warning.
    assert text.heading == "Síðasta viðvörun fyrir innheimtu"
    assert text.address_lines == ("Þórður Ægisson", "Laugavegur 1", "101 Reykjavík")
    assert text.date == "20. apríl 2024"
    assert len(text.claims) == 3
    assert text.totals == ("37.514\xa0kr.", "127,25\xa0EUR")
    abroad = content("is", address=PostalAddress("Ola Nordmann", ("Storgata 1",), "0150", "Oslo", "NO"))
    assert renderer.letter_text(abroad).address_lines[-1] == "NOREGUR"
    uk = content("en", address=PostalAddress("J. Smith", ("1 High St",), "SW1A 1AA", "London", "GB"))
    assert renderer.letter_text(uk).address_lines[-3:] == ("LONDON", "SW1A 1AA", "UNITED KINGDOM")
    with pytest.raises(ValueError, match="postal address"):
        renderer.letter_text(content("en", address=None))


@given(minor=st.integers(min_value=-(10**12), max_value=10**12))
@pytest.mark.parametrize("locale", ["es_ES", "pl_PL", "hi_IN", "ar_EG", "de_CH", "fr_FR"])
def test_money_in_locales_grouped_otherwise_is_babels(locale: str, minor: int) -> None:
    # Minimum grouping (es: 1234 without a separator), Indian lakh grouping, Arabic digits: where
    # the shape taken from Babel does not hold, Babel formats the amount itself.
    for currency in ("EUR", "INR", "EGP", "CHF"):
        expected = str(format_currency(Decimal(minor).scaleb(-2), currency, locale=locale))
        assert format_money(minor, currency, Locale.parse(locale)) == expected


def test_model_validation() -> None:
    with pytest.raises(ValueError, match="at least one claim"):
        content(claims=())
    with pytest.raises(ValueError, match="http"):
        content(payment_link="javascript:alert(1)")
    with pytest.raises(ValueError, match="tone"):
        content(tone="angry")
    with pytest.raises(ValueError, match="ISO 4217"):
        ClaimLine("1", None, date(2024, 1, 1), 100, "kr")
    assert ClaimLine("1", None, date(2024, 1, 1), 100, "ISK", 390, 5).total_minor == 495


@given(
    minor=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(["ISK", "NOK", "EUR", "KWD", "JPY", "GBP", "USD", "SEK", "DKK", "CHF", "BHD"]),
    language=st.sampled_from(LANGUAGES),
)
def test_money_is_exact_for_any_amount(minor: int, currency: str, language: str) -> None:
    # Through a float, 10**15 + 1 minor units would lose its last digit; through Decimal never.
    formatted = format_money(minor, currency, Locale.parse(LOCALES[language]))
    assert int(re.sub(r"\D", "", formatted)) == abs(minor)
    assert formatted == babel_money(minor, currency, language)
