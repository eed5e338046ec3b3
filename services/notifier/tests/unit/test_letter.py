"""The PDF letter, read back with pypdf: its text, where the address sits, and whether the
embedded font really draws the characters the text layer claims."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import cache
from io import BytesIO
from typing import Any

import pytest
from babel.numbers import format_currency
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from krafa_notifier.content import (
    LOCALES,
    TEMPLATE_DIR,
    ClaimLine,
    PostalAddress,
    ReminderContent,
    ReminderRenderer,
)
from krafa_notifier.letter import (
    PAGE_HEIGHT_MM,
    WINDOW_HEIGHT_MM,
    WINDOW_LEFT_MM,
    WINDOW_TOP_MM,
    WINDOW_WIDTH_MM,
    render_letter_pdf,
)
from pypdf import PdfReader

PT_PER_MM = 72 / 25.4
LANGUAGES = ("is", "nb", "nn", "et", "ru", "en")
NAMES = {
    "is": "Þórður Ægisdóttir Ðorvaldsson",
    "nb": "Øystein Åsmund Ærø",
    "et": "Jõgeva Šõžä Ülle",
    "ru": "Анна Иванова",
    "en": "Siobhán O'Brien",
    "nn": "Åsne Øvrebø",
}
ADDRESSES = {
    "is": PostalAddress(NAMES["is"], ("Þingholtsstræti 27",), "101", "Reykjavík", "IS"),
    "nb": PostalAddress(NAMES["nb"], ("Bjørnstjerne Bjørnsons gate 5",), "0256", "Oslo", "NO"),
    "et": PostalAddress(NAMES["et"], ("Pärnu mnt 22-5",), "10141", "Tallinn", "EE"),
    "ru": PostalAddress(NAMES["ru"], ("Narva mnt 7-12",), "10117", "Tallinn", "EE"),
    "nn": PostalAddress(NAMES["nn"], ("Kaigata 3",), "5004", "Bergen", "NO"),
    "en": PostalAddress(NAMES["en"], ("14 Harbour Road", "Flat 2"), "D04 X9Y2", "Dublin", "IE"),
}


def content(language: str = "is", tone: str = "final", n: int = 3, **changes: Any) -> ReminderContent:
    claims = tuple(
        ClaimLine(
            invoice_no=f"20{i:02d}",
            description=("Æfingagjöld", None, "Keppnisferð – Þórshöfn")[i % 3],
            due_date=date(2024, 3, 1 + i % 28),
            amount_minor=10_000 + 1_000 * i,
            currency="ISK" if i % 3 != 2 else "EUR",
            fees_minor=390,
            interest_minor=55 * i,
            reference=f"RF18539007{i:04d}",
        )
        for i in range(n)
    )
    c = ReminderContent(
        creditor_name="Íþróttafélagið Hörður",
        creditor_contact_phone="+354 555 1234",
        creditor_account="IS14 0159 2600 7654 5510 7303 39",
        payment_link="https://pay.example.is/r/AB12",
        debtor_name=NAMES[language],
        language=language,
        step=3,
        tone=tone,  # type: ignore[arg-type]
        claims=claims,
        address=ADDRESSES[language],
        sent_on=date(2024, 4, 20),
    )
    return replace(c, **changes)


@pytest.fixture(scope="module")
def renderer() -> ReminderRenderer:
    return ReminderRenderer()


@dataclass
class Run:
    text: str
    x_mm: float  # left edge, from the page's left
    baseline_mm: float  # from the page's top
    size_pt: float
    bold: bool


def runs(pdf: bytes, page: int = 0) -> list[Run]:
    out: list[Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if not text.strip():
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        bold = "Bold" in str(font.get("/BaseFont", "")) if font else False
        out.append(Run(text.strip("\n"), x / PT_PER_MM, PAGE_HEIGHT_MM - y / PT_PER_MM, size, bold))

    PdfReader(BytesIO(pdf)).pages[page].extract_text(visitor_text=visit)
    return out


@cache
def _font(bold: bool) -> TTFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return TTFont(str(TEMPLATE_DIR / "fonts" / name))


def width_mm(run: Run) -> float:
    """The run's advance width, from the same font file the letter embeds."""
    font = _font(run.bold)
    cmap, hmtx = font.getBestCmap(), font["hmtx"]
    units: int = sum(hmtx[cmap[ord(ch)]][0] for ch in run.text)
    upem: int = font["head"].unitsPerEm
    return units / upem * run.size_pt / PT_PER_MM


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


def babel_money(minor: int, currency: str, language: str) -> str:
    digits = {"ISK": 0, "EUR": 2}[currency]
    return str(format_currency(Decimal(minor) / 10**digits, currency, locale=LOCALES[language]))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("tone", ["friendly", "firm", "final"])
def test_letter_carries_every_fact(renderer: ReminderRenderer, language: str, tone: str) -> None:
    c = content(language, tone)
    pdf = render_letter_pdf(c, renderer)
    assert pdf.startswith(b"%PDF-")
    text = text_of(pdf)
    letter = renderer.letter_text(c)
    assert letter.heading in text
    assert NAMES[language] in text  # non-ASCII names survive: þ ð æ ø å õ š ž ä ü
    for line in letter.address_lines:
        assert line in text
    for claim in c.claims:
        assert claim.invoice_no in text
        assert claim.reference in text
        # The statement: every component owed, itemised.
        for minor in (claim.amount_minor, claim.fees_minor, claim.interest_minor):
            if minor:
                assert babel_money(minor, claim.currency, language) in text
        assert babel_money(claim.total_minor, claim.currency, language) in text
    for total in letter.totals:
        assert total in text
    assert c.creditor_account in text  # an IBAN, printed in groups of four
    assert c.creditor_contact_phone in text
    assert "https://pay.example.is/r/AB12" in text
    assert letter.date in text
    # Three claims, each itemised: two pages at most; one claim fits one (test_one_claim_one_page).
    assert len(PdfReader(BytesIO(pdf)).pages) <= 2


def test_icelandic_amounts(renderer: ReminderRenderer) -> None:
    c = content("is", n=1, notice_kind="innheimtuvidvorun", jurisdiction="IS", pay_by=date(2024, 5, 2))
    pdf = render_letter_pdf(c, renderer)
    text = text_of(pdf)
    assert "10.390\xa0kr." in text
    assert "Innheimtuviðvörun" in text
    assert "Bréf nr." in text
    assert "7. gr. innheimtulaga nr. 95/2008" in text
    assert len(PdfReader(BytesIO(pdf)).pages) == 1  # one claim: one page


@pytest.mark.parametrize("language", LANGUAGES)
def test_address_lies_in_the_envelope_window(renderer: ReminderRenderer, language: str) -> None:
    c = content(language)
    letter = renderer.letter_text(c)
    placed = runs(render_letter_pdf(c, renderer))
    wanted = [*letter.address_lines, letter.sender_line]
    found = [r for r in placed if r.text in wanted]
    assert sorted(r.text for r in found) == sorted(wanted)
    for run in found:
        _assert_in_window(run)
    # Name first, top to bottom in order, sender line above them all.
    address = [r for r in found if r.text != letter.sender_line]
    assert [r.text for r in sorted(address, key=lambda r: r.baseline_mm)] == list(letter.address_lines)
    sender = next(r for r in found if r.text == letter.sender_line)
    assert sender.baseline_mm < min(r.baseline_mm for r in address)


def _assert_in_window(run: Run) -> None:
    ascent_mm = 0.76 * run.size_pt / PT_PER_MM  # DejaVu Sans: 0.76 em above the baseline
    assert run.x_mm >= WINDOW_LEFT_MM
    assert run.x_mm + width_mm(run) <= WINDOW_LEFT_MM + WINDOW_WIDTH_MM
    assert run.baseline_mm - ascent_mm >= WINDOW_TOP_MM
    assert run.baseline_mm <= WINDOW_TOP_MM + WINDOW_HEIGHT_MM


def test_long_address_shrinks_to_fit_the_window(renderer: ReminderRenderer) -> None:
    long = PostalAddress(
        "Aðalbjörg Þórunn Guðmundsdóttir Kristjánsdóttir Ólafsson",
        ("c/o Bókhaldsstofa Suðurlands ehf.", "Austurvegur 112, íbúð 304", "Pósthólf 77"),
        "800",
        "Selfoss",
        "IS",
    )
    c = content("is", address=long)
    placed = runs(render_letter_pdf(c, renderer))
    lines = renderer.letter_text(c).address_lines
    found = [
        r for r in placed if r.text in lines or (r.text.endswith("…") and any(x.startswith(r.text[:-1]) for x in lines))
    ]
    assert len(found) == len(lines)
    for run in found:
        _assert_in_window(run)
        assert run.size_pt < 10  # it had to shrink


def test_many_claims_run_over_pages_with_numbers(renderer: ReminderRenderer) -> None:
    pdf = render_letter_pdf(content("nb", "firm", n=40), renderer)
    pages = PdfReader(BytesIO(pdf)).pages
    assert len(pages) >= 2
    for n, page in enumerate(pages, start=1):
        assert f"Side {n} av {len(pages)}" in page.extract_text()
    text = text_of(pdf)
    for i in range(40):
        assert f"RF18539007{i:04d}" in text  # every claim listed
    single = text_of(render_letter_pdf(content("nb", "firm", n=1), renderer))
    assert "Side 1" not in single


def test_output_is_reproducible(renderer: ReminderRenderer) -> None:
    c = content("et")
    assert render_letter_pdf(c, renderer) == render_letter_pdf(c, renderer)


@pytest.mark.parametrize(
    "name",
    [
        "Þórður Ægisson",  # the padded base set: cached subset
        "Łukasz Żółć-Wiśniewski",  # Latin Extended-A, in the base set too
        "Юрий Алексеевич Ǆ",  # outside it: a new subset, cached under its own key
    ],
)
def test_embedded_font_draws_what_the_text_says(renderer: ReminderRenderer, name: str) -> None:
    pdf = render_letter_pdf(content("en", debtor_name=name), renderer)
    assert name in text_of(pdf)
    reader = PdfReader(BytesIO(pdf))
    fonts: Any = reader.pages[0]["/Resources"]["/Font"]  # type: ignore[index]
    assert len(fonts) == 2  # regular and bold
    for ref in fonts.values():
        _check_font(ref.get_object())


def _check_font(type0: Any) -> None:
    """Every code the page uses maps (CIDToGIDMap) to the glyph that the embedded font's own
    cmap gives for the character the ToUnicode map claims, with the advance width it has."""
    assert type0["/Subtype"] == "/Type0"
    assert type0["/Encoding"] == "/Identity-H"
    cid_font = type0["/DescendantFonts"][0].get_object()
    assert cid_font["/Subtype"] == "/CIDFontType2"
    base = str(cid_font["/BaseFont"])
    assert re.fullmatch(r"/[A-Z]{6}\+DejaVuSans\w*", base)  # subset tag + PostScript name
    program = cid_font["/FontDescriptor"]["/FontFile2"].get_object()
    embedded = TTFont(BytesIO(program.get_data()))
    assert program["/Length1"] == len(program.get_data())
    order, cmap = embedded.getGlyphOrder(), embedded.getBestCmap()
    gid_map = cid_font["/CIDToGIDMap"].get_object().get_data()
    to_unicode = type0["/ToUnicode"].get_object().get_data().decode("ascii")
    bfchar = "".join(re.findall(r"beginbfchar(.*?)endbfchar", to_unicode, re.S))
    pairs = re.findall(r"<([0-9A-F]{4})> <([0-9A-F]{4,8})>", bfchar)
    assert len(pairs) > 20
    widths = _parse_w(str(cid_font["/W"]))
    upem = embedded["head"].unitsPerEm
    for code_hex, uni_hex in pairs:
        code, char = int(code_hex, 16), chr(int(uni_hex, 16))
        gid = gid_map[2 * code] << 8 | gid_map[2 * code + 1]
        assert order[gid] == cmap[ord(char)], f"code {code} should draw {char!r}"
        advance = embedded["hmtx"][order[gid]][0]
        assert widths[code] == round(advance * 1000 / upem + 0.001)


def _parse_w(w: str) -> dict[int, int]:
    # pypdf prints the /W array as "[1, [600, 500], 5, [700]]".
    items = re.findall(r"(\d+),\s*\[([^\]]*)\]", w)
    out: dict[int, int] = {}
    for start, ws in items:
        for n, width in enumerate(ws.split(",")):
            out[int(start) + n] = round(float(width))
    return out


def test_missing_glyphs_are_logged_not_fatal(renderer: ReminderRenderer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="krafa_notifier.letter"):
        pdf = render_letter_pdf(content("en", debtor_name="山田 太郎"), renderer)
    assert pdf.startswith(b"%PDF-")
    assert "lacks 4 glyph(s): 山田太郎" in caplog.text


def test_letter_needs_an_address(renderer: ReminderRenderer) -> None:
    with pytest.raises(ValueError, match="postal address"):
        render_letter_pdf(content("en", address=None), renderer)


def test_unknown_language_prints_english(renderer: ReminderRenderer) -> None:
    text = text_of(render_letter_pdf(replace(content("en"), language="fr"), renderer))
    assert "Final notice before debt collection" in text
    assert "IRELAND" in text  # posted abroad from an English letter: country line
