"""The paper reminder: an A4 PDF letter for a windowed envelope, built with fpdf2.

The words come from `ReminderRenderer.letter_text` (the same templates and Babel formatting as the
email); this module only places them on the page.

Speed (target: 150 letters/s on one core). fpdf2 embeds a Unicode font by parsing the TTF on
`add_font` and, on output, running the fontTools subsetter over the whole font: ~70 ms per letter
with DejaVu Sans (13 letters/s). Neither depends on much more than which glyphs a letter uses,
so both are done once per process:

* each font face is parsed once into a prototype and every letter gets a cheap copy of it
  (fresh per-document glyph map, shared read-only metrics);
* the embedded font program is a subset for a fixed, padded glyph set (Latin letters of the
  languages we write plus whatever a name adds), cached by that set, so the subsetter runs
  once per distinct set instead of once per letter. `_FontCacheOutputProducer` writes the PDF
  font objects from that cache through fpdf2's own `output_producer_class` hook.

This leans on fpdf2 internals (TTFFont's attributes, OutputProducer._add_fonts), so fpdf2 is
pinned; test_letter checks, glyph by glyph, that the embedded font draws what the text says.

The font objects written are the standard ones for an embedded TrueType subset (ISO 32000-1
§9.7: Type0 / CIDFontType2 / FontDescriptor / FontFile2, Identity-H with a CIDToGIDMap, and a
ToUnicode CMap so text can be searched and extracted).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time
from io import BytesIO
from pathlib import Path
from typing import Any, Final

import segno
from fontTools import subset as ftsubset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import CIDSystemInfo, OutputProducer, PDFFont
from fpdf.syntax import Name, PDFArray, PDFContentStream, PDFObject

from krafa_notifier.content import LetterText, ReminderContent, ReminderRenderer, TemplateOverride

log = logging.getLogger(__name__)

# -- page geometry (millimetres) ----------------------------------------------------------------

PAGE_FORMAT: Final = "A4"
PAGE_WIDTH_MM: Final = 210.0
PAGE_HEIGHT_MM: Final = 297.0

# The address window of a standard windowed envelope (C5/6 or DL, ISO 269, window per DIN 680)
# for a letter laid out to DIN 5008 form B: the window's top-left corner is 20 mm from the left
# edge and 45 mm from the top of the A4 sheet folded in three, and it is 90 mm wide, 45 mm high.
# Everything the post office must read has to lie inside this rectangle.
WINDOW_LEFT_MM: Final = 20.0
WINDOW_TOP_MM: Final = 45.0
WINDOW_WIDTH_MM: Final = 90.0
WINDOW_HEIGHT_MM: Final = 45.0
# The sheet can shift a few millimetres inside the envelope: keep text clear of the window edge.
WINDOW_INSET_MM: Final = 5.0
WINDOW_INSET_TOP_MM: Final = 3.0

# DIN 5008 form B fold marks (folding A4 in three for a DL envelope) and the punch mark.
FOLD_MARKS_MM: Final = (105.0, 210.0)
PUNCH_MARK_MM: Final = 148.5

MARGIN_LEFT_MM: Final = 25.0  # DIN 5008 left margin
MARGIN_RIGHT_MM: Final = 20.0
MARGIN_TOP_MM: Final = 20.0
MARGIN_BOTTOM_MM: Final = 22.0  # room for the page number
CONTENT_WIDTH_MM: Final = PAGE_WIDTH_MM - MARGIN_LEFT_MM - MARGIN_RIGHT_MM
INFO_BLOCK_X_MM: Final = 125.0  # date and reminder number, right of the window (DIN 5008)
BODY_TOP_MM: Final = 98.0  # below the window, above the first fold

FONT_FAMILY: Final = "krafasans"
FONT_FILES: Final[Mapping[str, str]] = {
    "": "fonts/DejaVuSans.ttf",
    "B": "fonts/DejaVuSans-Bold.ttf",
}

_TEXT_RGB: Final = (34, 34, 34)
_MUTED_RGB: Final = (96, 96, 96)
_RULE_RGB: Final = (200, 200, 200)
_ACCENT_RGB: Final[Mapping[str, tuple[int, int, int]]] = {
    "friendly": (47, 111, 143),
    "firm": (154, 106, 0),
    "final": (143, 47, 47),
}

# Every letter's font subset contains at least these characters: the Latin letters of the
# languages we write (ASCII, Latin-1, Latin Extended-A covers Icelandic, Norwegian, Estonian and
# the Polish and Baltic names common among debtors), the typographic punctuation of the
# templates, the no-break spaces Babel puts in amounts, and currency signs. Padding every letter
# to one set makes the subset cache hit for nearly every letter.
_BASE_CODEPOINTS: Final = frozenset(
    [
        *range(0x20, 0x7F),
        *range(0xA0, 0x180),
        *(0x2013, 0x2014, 0x2018, 0x2019, 0x201A, 0x201C, 0x201D, 0x201E, 0x2022, 0x2026),
        *(0x2039, 0x203A, 0x202F, 0x2009, 0x2212, 0x20AC, 0x2116),
    ]
)
_SUBSET_CACHE_SIZE: Final = 256


# -- fonts ----------------------------------------------------------------------------------------


class _FontFace:
    """One TrueType face, parsed once per process and shared read-only by every letter."""

    def __init__(self, path: Path, style: str) -> None:
        self.path = path
        self._data = path.read_bytes()
        probe = FPDF()
        probe.add_font(FONT_FAMILY, style, str(path))
        proto = probe.fonts[f"{FONT_FAMILY}{style}"]
        assert isinstance(proto, TTFFont)
        self.proto: TTFFont = proto
        cmap: Mapping[int, str] = proto.cmap
        self._base_names = frozenset(cmap[cp] for cp in _BASE_CODEPOINTS if cp in cmap)
        self._subsets: OrderedDict[frozenset[str], _Subset] = OrderedDict()
        self._lock = threading.Lock()

    def instance(self, index: int) -> TTFFont:
        """A per-document copy: shares the parsed metrics, owns its glyph-usage map."""
        font = copy.copy(self.proto)
        font.i = index
        font.subset = SubsetMap(font)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.desc = copy.copy(self.proto.desc)  # output writes the font file reference into it
        return font

    def subset(self, used: Iterable[str]) -> _Subset:
        key = self._base_names.union(used)
        with self._lock:
            hit = self._subsets.get(key)
            if hit is not None:
                self._subsets.move_to_end(key)
                return hit
        made = _Subset.build(self._data, key)
        with self._lock:
            self._subsets[key] = made
            while len(self._subsets) > _SUBSET_CACHE_SIZE:
                self._subsets.popitem(last=False)
        return made


class _Subset:
    """An embeddable font program holding a set of glyphs, compressed once."""

    __slots__ = ("compressed", "gid_by_name", "length1", "tag")

    def __init__(self, compressed: bytes, length1: int, gid_by_name: Mapping[str, int]) -> None:
        self.compressed = compressed
        self.length1 = length1
        self.gid_by_name = gid_by_name
        # ISO 32000-1 §9.6.4: a subset font's name starts with six capital letters unique to
        # the subset; derive them from the glyph set so different subsets never share a tag.
        digest = hashlib.sha1(repr(sorted(gid_by_name)).encode(), usedforsecurity=False).digest()
        self.tag = "".join(chr(ord("A") + b % 26) for b in digest[:6])

    @classmethod
    def build(cls, font_data: bytes, glyph_names: frozenset[str]) -> _Subset:
        font = TTFont(BytesIO(font_data), recalcTimestamp=False)
        options = ftsubset.Options()
        options.notdef_outline = True  # a missing glyph prints as a box, not as nothing
        options.recommended_glyphs = True
        options.hinting = False  # screen hinting: no use on paper, and half the font's size
        options.layout_features = []  # fpdf2 does no shaping; GSUB/GPOS would be dead weight
        options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "kern", "meta"]
        subsetter = ftsubset.Subsetter(options)
        subsetter.populate(glyphs=sorted(glyph_names))
        subsetter.subset(font)
        gid_by_name = {name: font.getGlyphID(name) for name in font.getGlyphOrder()}
        out = BytesIO()
        font.save(out)
        raw = out.getvalue()
        return cls(zlib.compress(raw), len(raw), gid_by_name)


_faces: dict[tuple[Path, str], _FontFace] = {}
_faces_lock = threading.Lock()


def _face(path: Path, style: str) -> _FontFace:
    """The process-wide face for a font file: parsed by the first letter, shared after."""
    face = _faces.get((path, style))
    if face is None:
        with _faces_lock:
            face = _faces.get((path, style))
            if face is None:
                face = _faces[(path, style)] = _FontFace(path, style)
    return face


class _FontFileStream(PDFContentStream):
    """A FontFile2 stream from already-compressed bytes (PDFFontStream would recompress)."""

    def __init__(self, subset: _Subset) -> None:
        PDFObject.__init__(self)
        self._contents = subset.compressed
        self.filter = Name("FlateDecode")
        self.length = len(subset.compressed)
        self.length1 = subset.length1


class _LetterPDF(FPDF):
    """fpdf2 document with the cached fonts, the running header and conditional page numbers."""

    def __init__(self, text: LetterText, faces: Mapping[str, _FontFace]) -> None:
        super().__init__(orientation="P", unit="mm", format=PAGE_FORMAT)
        self.letter = text
        self.faces = faces
        self.numbered = False  # set by new_page(): a one-page letter carries no page number
        for i, (style, face) in enumerate(sorted(faces.items()), start=1):
            self.fonts[f"{FONT_FAMILY}{style}"] = face.instance(i)

    def new_page(self) -> None:
        """A page break made by the layout (text() does not break pages by itself)."""
        self.numbered = True
        font = (self.font_family, self.font_style, self.font_size_pt)
        self.add_page()
        self.set_font(*font)

    def header(self) -> None:
        if self.page_no() > 1:
            self.set_font(FONT_FAMILY, "", 8)
            self.set_text_color(*_MUTED_RGB)
            self.text(MARGIN_LEFT_MM, 13, f"{self.letter.creditor_name} – {self.letter.heading}")
            self.set_text_color(*_TEXT_RGB)
            self.set_xy(MARGIN_LEFT_MM, MARGIN_TOP_MM)

    def footer(self) -> None:
        if not self.numbered:
            return
        label = self.letter.labels["page"]
        # str.replace, not str.format: labels come from editable templates, and format() on an
        # untrusted string can reach object attributes ("{0.__class__}").
        label = label.replace("{page}", str(self.page_no())).replace("{pages}", self.str_alias_nb_pages)
        self.set_font(FONT_FAMILY, "", 8)
        self.set_text_color(*_MUTED_RGB)
        self.set_xy(MARGIN_LEFT_MM, PAGE_HEIGHT_MM - 14)
        # cell(), not text(): the total-pages alias is only substituted in cell-rendered text.
        self.cell(CONTENT_WIDTH_MM, 4, label, align="C")

    def output_bytes(self) -> bytes:
        return bytes(self.output(output_producer_class=_FontCacheOutputProducer))


class _FontCacheOutputProducer(OutputProducer):
    """Writes the TrueType fonts of a `_LetterPDF` from the per-process subset cache."""

    def _add_fonts(
        self,
        image_objects_per_index: Any,
        gfxstate_objs_per_name: Any,
        pattern_objs_per_name: Any,
    ) -> dict[int, Any]:
        pdf = self.fpdf
        if not isinstance(pdf, _LetterPDF):  # pragma: no cover - only used for letters
            return super()._add_fonts(image_objects_per_index, gfxstate_objs_per_name, pattern_objs_per_name)
        faces = {f"{FONT_FAMILY}{style}": face for style, face in pdf.faces.items()}
        objects: dict[int, Any] = {}
        for key, font in sorted(pdf.fonts.items(), key=lambda kv: kv[1].i):
            if not isinstance(font, TTFFont) or key not in faces:
                raise TypeError(f"letter uses a font outside the cache: {key}")
            objects[font.i] = self._add_cached_font(font, faces[key])
            if font.missing_glyphs:
                log.warning(
                    "letter font lacks %d glyph(s): %s",
                    len(font.missing_glyphs),
                    "".join(chr(cp) for cp in font.missing_glyphs[:10]),
                )
        # fpdf2 memoises glyph lookups on the class; clear as its own output does, or every
        # letter's glyph map stays reachable from the cache.
        SubsetMap.pick.cache_clear()
        SubsetMap.get_glyph.cache_clear()
        return objects

    def _add_cached_font(self, font: TTFFont, face: _FontFace) -> PDFFont:
        used = [(glyph, code) for glyph, code in font.subset.items() if glyph is not None]
        subset = face.subset(glyph.glyph_name for glyph, _ in used)
        name = f"{subset.tag}+{font.name}"

        type0 = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        self._add_pdf_obj(type0, "fonts")
        widths = {code: glyph.glyph_width for glyph, code in used}
        cid_font = PDFFont(subtype="CIDFontType2", base_font=name, d_w=font.desc.missing_width, w=_widths(widths))
        self._add_pdf_obj(cid_font, "fonts")
        type0.descendant_fonts = PDFArray([cid_font])

        to_unicode = PDFContentStream(_to_unicode_cmap(used), compress=True)
        self._add_pdf_obj(to_unicode, "fonts")
        type0.to_unicode = to_unicode

        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info

        descriptor = font.desc
        descriptor.font_name = Name(name)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor

        # The codes in the page content are fpdf2's per-document glyph numbers; map each to the
        # glyph's index in the cached subset. 2 bytes per code, big-endian (§9.7.4.2).
        cid_to_gid = bytearray(2 * (max((code for _, code in used), default=0) + 1))
        for glyph, code in used:
            gid = subset.gid_by_name[glyph.glyph_name]
            cid_to_gid[2 * code] = gid >> 8
            cid_to_gid[2 * code + 1] = gid & 0xFF
        cid_to_gid_stream = PDFContentStream(bytes(cid_to_gid), compress=True)
        self._add_pdf_obj(cid_to_gid_stream, "fonts")
        cid_font.c_i_d_to_g_i_d_map = cid_to_gid_stream

        font_file = _FontFileStream(subset)
        self._add_pdf_obj(font_file, "fonts")
        descriptor.font_file2 = font_file  # type: ignore[attr-defined]
        return type0


def _widths(widths: Mapping[int, int]) -> str:
    """The CIDFont /W array: runs of consecutive codes as `first [w1 w2 ...]` (§9.7.4.3)."""
    parts: list[str] = []
    run: list[int] = []
    start = prev = -2
    for code in sorted(widths):
        if code != prev + 1 and run:
            parts.append(f"{start} [{' '.join(map(str, run))}]")
            run = []
        if not run:
            start = code
        run.append(widths[code])
        prev = code
    if run:
        parts.append(f"{start} [{' '.join(map(str, run))}]")
    return f"[{' '.join(parts)}]"


def _to_unicode_cmap(used: Sequence[tuple[Any, int]]) -> bytes:
    """ToUnicode CMap (§9.10.3) so viewers can search and copy the text."""
    entries: list[str] = []
    for glyph, code in sorted(used, key=lambda gc: gc[1]):
        cps = glyph.unicode if isinstance(glyph.unicode, tuple) else (glyph.unicode,)
        if not cps or cps == (0,):  # .notdef, which fpdf2 keeps at code 0, is no character
            continue
        entries.append(f"<{code:04X}> <{''.join(_utf16_hex(cp) for cp in cps)}>")
    blocks: list[str] = []
    for i in range(0, len(entries), 100):  # at most 100 entries per bfchar block
        chunk = entries[i : i + 100]
        blocks.append(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    ).encode("ascii")


def _utf16_hex(cp: int) -> str:
    if cp > 0xFFFF:
        cp -= 0x10000
        return f"{0xD800 | (cp >> 10):04X}{0xDC00 | (cp & 0x3FF):04X}"
    return f"{cp:04X}"


# -- layout -------------------------------------------------------------------------------------
#
# Text is placed line by line with FPDF.text(), measured with the font's own width table. fpdf2's
# cell() and multi_cell() do the same job with far more machinery (multi_cell re-measures the line
# for every character it adds), and cost two thirds of the letter's time; a letter needs none of
# what they add (markdown, shaping, bidi).


class _Flow:
    """Writes lines down the page, breaking to a new page (with header) when one is full."""

    def __init__(self, pdf: _LetterPDF) -> None:
        self.pdf = pdf

    def font(self, style: str, size: float) -> None:
        self.pdf.set_font(FONT_FAMILY, style, size)

    def width(self, text: str) -> float:
        """Width in mm at the current font: the font's advance widths, summed."""
        font = self.pdf.current_font
        assert isinstance(font, TTFFont)
        cw = font.cw
        return sum(cw[ord(ch)] for ch in text) * self.pdf.font_size / 1000

    def fit(self, text: str, width: float) -> str:
        """`text`, cut with an ellipsis if it would not fit `width`."""
        if self.width(text) <= width:
            return text
        while text and self.width(text + "…") > width:
            text = text[:-1]
        return text.rstrip() + "…"

    def put(self, x: float, top: float, height: float, text: str, *, right: float = 0.0) -> None:
        """One line of text in the box starting at `top`; right-aligned to `right` if given.
        The baseline sits where fpdf2's cell() would put it."""
        if not text:
            return
        if right:
            x = right - self.width(text)
        self.pdf.text(x, top + 0.5 * height + 0.3 * self.pdf.font_size, text)

    def need(self, height: float) -> float:
        """Make room for `height` mm; returns the top of that room."""
        pdf = self.pdf
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.new_page()
        return pdf.get_y()

    def line(self, text: str, height: float, *, x: float = MARGIN_LEFT_MM) -> None:
        top = self.need(height)
        self.put(x, top, height, text)
        self.pdf.set_y(top + height)

    def wrap(self, text: str, width: float) -> list[str]:
        """Greedy line breaking at spaces; a word wider than the line (a URL) is cut."""
        space = self.width(" ")
        lines: list[str] = []
        words: list[str] = []
        used = 0.0
        # Split on plain spaces only: the no-break spaces inside amounts keep them whole.
        for word in filter(None, text.split(" ")):
            w = self.width(word)
            while w > width:  # hard-cut an unbreakable word
                if words:
                    lines.append(" ".join(words))
                    words, used = [], 0.0
                cut = len(word) - 1
                while cut > 1 and self.width(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
                w = self.width(word)
            if words and used + space + w > width:
                lines.append(" ".join(words))
                words, used = [], 0.0
            used += (space if words else 0.0) + w
            words.append(word)
        if words:
            lines.append(" ".join(words))
        return lines

    def paragraph(self, text: str, height: float) -> None:
        for line in self.wrap(text, CONTENT_WIDTH_MM):
            self.line(line, height)


def render_letter_pdf(
    c: ReminderContent, renderer: ReminderRenderer, override: TemplateOverride | None = None
) -> bytes:
    """The reminder as a one- or more-page A4 PDF, addressed for a windowed envelope."""
    text = renderer.letter_text(c, override)
    faces = {style: _face(renderer.resource(rel), style) for style, rel in FONT_FILES.items()}
    pdf = _LetterPDF(text, faces)
    # Reproducible output: the same reminder gives the same bytes (and the same /ID).
    pdf.set_creation_date(datetime.combine(c.sent_on, time(), tzinfo=UTC))
    pdf.set_producer("Krafa")
    pdf.set_title(text.heading)
    pdf.set_author(text.creditor_name)
    pdf.set_lang(text.language)
    pdf.set_margins(MARGIN_LEFT_MM, MARGIN_TOP_MM, MARGIN_RIGHT_MM)
    pdf.set_auto_page_break(True, margin=MARGIN_BOTTOM_MM)
    pdf.add_page()
    pdf.set_text_color(*_TEXT_RGB)
    flow = _Flow(pdf)
    accent = _ACCENT_RGB.get(c.tone, _TEXT_RGB)
    if text.language and c.notice_kind:
        accent = _ACCENT_RGB.get("final" if text.clauses else "friendly", accent)

    _marks(pdf)
    _letterhead(flow, text)
    _window(flow, text)
    _info_block(flow, text)

    pdf.set_y(BODY_TOP_MM - 4)  # the heading may rise into the space under the window
    flow.font("B", 13)
    pdf.set_text_color(*accent)
    flow.paragraph(text.heading, 6)
    pdf.set_text_color(*_TEXT_RGB)
    pdf.ln(3)
    flow.font("", 9.5)
    for paragraph in (text.greeting, *text.intro):
        flow.paragraph(paragraph, 4.6)
        pdf.ln(2)
    _claims_table(flow, text)
    _payment_box(flow, text, accent)
    flow.font("", 8.5)
    for paragraph in text.clauses:
        flow.paragraph(paragraph, 4.0)
        pdf.ln(1.5)
    flow.font("", 9.5)
    for n, paragraph in enumerate(text.closing):
        if n == len(text.closing) - 1:
            # The last paragraph stays on the page with the signature.
            flow.need(4.6 * len(flow.wrap(paragraph, CONTENT_WIDTH_MM)) + 11.2)
        flow.paragraph(paragraph, 4.6)
        pdf.ln(2)
    flow.need(9.2)
    flow.line(text.sign_off, 4.6)
    flow.line(text.creditor_name, 4.6)
    return pdf.output_bytes()


def _marks(pdf: FPDF) -> None:
    pdf.set_draw_color(*_RULE_RGB)
    pdf.set_line_width(0.2)
    for y in FOLD_MARKS_MM:
        pdf.line(3, y, 8, y)
    pdf.line(3, PUNCH_MARK_MM, 10, PUNCH_MARK_MM)


def _letterhead(flow: _Flow, text: LetterText) -> None:
    flow.font("B", 14)
    flow.put(MARGIN_LEFT_MM, 14, 7, flow.fit(text.creditor_name, CONTENT_WIDTH_MM))
    lines = text.letterhead or ((f"{text.labels['phone']}: {text.contact_phone}",) if text.contact_phone else ())
    flow.font("", 8.5)
    flow.pdf.set_text_color(*_MUTED_RGB)
    # Registry id, address, phone (and the creditor an agency writes for): above the window.
    for n, line in enumerate(lines[:5]):
        flow.put(MARGIN_LEFT_MM, 21.5 + 3.8 * n, 3.8, flow.fit(line, CONTENT_WIDTH_MM))
    flow.pdf.set_text_color(*_TEXT_RGB)


def _window(flow: _Flow, text: LetterText) -> None:
    """Sender line and recipient address, inside the envelope window."""
    pdf = flow.pdf
    left = WINDOW_LEFT_MM + WINDOW_INSET_MM
    width = WINDOW_WIDTH_MM - 2 * WINDOW_INSET_MM
    top = WINDOW_TOP_MM + WINDOW_INSET_TOP_MM
    bottom = WINDOW_TOP_MM + WINDOW_HEIGHT_MM - WINDOW_INSET_TOP_MM

    flow.font("", 7)
    pdf.set_text_color(*_MUTED_RGB)
    flow.put(left, top, 3.5, flow.fit(text.sender_line, width))
    pdf.set_draw_color(*_RULE_RGB)
    pdf.line(left, top + 3.8, left + width, top + 3.8)
    pdf.set_text_color(*_TEXT_RGB)

    # Recipient: 10 pt, shrunk (down to 7 pt) when the lines would not fit the window.
    lines = text.address_lines
    first = top + 6.5
    size = 10.0
    while size > 7.0:
        flow.font("", size)
        fits_across = max(flow.width(line) for line in lines) <= width
        if fits_across and first + size * 0.45 * len(lines) <= bottom:
            break
        size -= 0.5
    flow.font("", size)
    line_h = min(size * 0.45, (bottom - first) / len(lines))
    for n, line in enumerate(lines):
        flow.put(left, first + n * line_h, line_h, flow.fit(line, width))


def _info_block(flow: _Flow, text: LetterText) -> None:
    rows = ((text.labels["date"], text.date), (text.labels["reminder_no"], str(text.step)))
    flow.font("", 9)
    label_w = max(flow.width(label) for label, _ in rows) + 3
    value_w = PAGE_WIDTH_MM - MARGIN_RIGHT_MM - INFO_BLOCK_X_MM - label_w
    for n, (label, value) in enumerate(rows):
        top = WINDOW_TOP_MM + 5 + n * 5
        flow.pdf.set_text_color(*_MUTED_RGB)
        flow.put(INFO_BLOCK_X_MM, top, 5, label)
        flow.pdf.set_text_color(*_TEXT_RGB)
        flow.put(INFO_BLOCK_X_MM + label_w, top, 5, flow.fit(value, value_w))


_PAD = 1.5  # mm of padding each side of a table cell
_ROW_H = 6.0
_SUB_H = 4.2


def _claims_table(flow: _Flow, text: LetterText) -> None:
    pdf = flow.pdf
    labels = text.labels
    # The claims, each with what is owed on it now; the statement below itemises every line.
    header = (labels["invoice"], labels["due_date"], labels["total"])
    rows = [(cl.invoice_no, cl.due_date, cl.total) for cl in text.claims]
    last = len(header) - 1
    # Column widths from the content: numbers never wrap; the invoice column takes the rest.
    # Long amounts in a narrow locale shrink the table's type (down to 7 pt) rather than wrap.
    size = 9.0
    while True:
        flow.font("B", size)
        head_w = [flow.width(h) for h in header]
        bold_totals = [flow.width(r[last]) for r in rows]  # the total column is set in bold
        flow.font("", size)
        widths = [max(head_w[i], *(flow.width(r[i]) for r in rows)) + 2 * _PAD for i in range(len(header) - 1)]
        widths.append(max(head_w[last], *bold_totals) + 2 * _PAD)
        widths[0] = CONTENT_WIDTH_MM - sum(widths[1:])
        if widths[0] >= max(20.0, head_w[0] + 2 * _PAD) or size <= 7.0:
            break
        size -= 0.5
    lefts = [MARGIN_LEFT_MM + sum(widths[:i]) for i in range(len(widths))]
    numeric = (False, False, True)

    def cells(values: Sequence[str], top: float, bold_last: bool) -> None:
        for n, value in enumerate(values):
            if bold_last and n == last:
                flow.font("B", size)
            inner = widths[n] - 2 * _PAD
            value = flow.fit(value, inner)
            if numeric[n]:
                flow.put(0, top, _ROW_H, value, right=lefts[n] + widths[n] - _PAD)
            else:
                flow.put(lefts[n] + _PAD, top, _ROW_H, value)

    def head() -> None:
        top = pdf.get_y()
        pdf.set_fill_color(238, 238, 238)
        pdf.rect(MARGIN_LEFT_MM, top, CONTENT_WIDTH_MM, _ROW_H, style="F")
        flow.font("B", size)
        cells(header, top, bold_last=False)
        pdf.set_y(top + _ROW_H)

    pdf.ln(1)
    flow.need(3 * _ROW_H)
    head()
    pdf.set_draw_color(*_RULE_RGB)
    pdf.set_line_width(0.2)
    in_netbank = any(label == labels.get("claim_no") for label, _ in text.pay_rows)
    for cl, row in zip(text.claims, rows, strict=True):
        notes = [n for n in (cl.description,) if n]
        if cl.reference and not text.common_reference and not in_netbank:
            notes.append(f"{labels['reference']}: {cl.reference}")
        height = _ROW_H + (_SUB_H if notes else 0.0) + 1.0
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.new_page()
            head()
        top = pdf.get_y()
        flow.font("", size)
        cells(row, top, bold_last=True)
        y = top + _ROW_H
        if notes:
            flow.font("", size - 1)
            pdf.set_text_color(*_MUTED_RGB)
            note = flow.fit(" · ".join(notes), CONTENT_WIDTH_MM - 2 * _PAD)
            flow.put(MARGIN_LEFT_MM + _PAD, y - 1.0, _SUB_H, note)
            pdf.set_text_color(*_TEXT_RGB)
            y += _SUB_H - 1.0
        y += 0.5
        pdf.line(MARGIN_LEFT_MM, y, MARGIN_LEFT_MM + CONTENT_WIDTH_MM, y)
        pdf.set_y(y + 0.5)

    # The statement: principal, every fee and interest line, every payment, as booked.
    if text.statement:
        pdf.ln(2)
        flow.font("B", size)
        flow.line(labels["statement"], _ROW_H)
        for what, amount in text.statement:
            top = flow.need(_SUB_H)
            flow.font("", size - 0.5)
            flow.put(MARGIN_LEFT_MM + _PAD, top, _SUB_H, flow.fit(what, CONTENT_WIDTH_MM - 40))
            flow.put(0, top, _SUB_H, amount, right=MARGIN_LEFT_MM + CONTENT_WIDTH_MM - _PAD)
            pdf.set_y(top + _SUB_H)
        y = pdf.get_y() + 0.5
        pdf.line(MARGIN_LEFT_MM, y, MARGIN_LEFT_MM + CONTENT_WIDTH_MM, y)
        pdf.set_y(y + 0.5)

    # Totals, one line per currency; only the first carries the label.
    flow.font("B", size)
    right = MARGIN_LEFT_MM + CONTENT_WIDTH_MM - _PAD
    for n, total in enumerate(text.totals):
        top = flow.need(_ROW_H)
        value_w = max(widths[last], flow.width(total) + 2 * _PAD)
        if n == 0:
            flow.put(0, top, _ROW_H, labels["total_due"], right=right - value_w)
        flow.put(0, top, _ROW_H, total, right=right)
        pdf.set_y(top + _ROW_H)
    pdf.ln(4)


def _payment_box(flow: _Flow, text: LetterText, accent: tuple[int, int, int]) -> None:
    """Where and how to pay, set off by a bar in the tone's colour."""
    pdf = flow.pdf
    labels = text.labels
    rows: list[tuple[str, str]] = [(labels["pay_by"], text.pay_by)] if text.pay_by else []
    if text.pay_rows:
        # The country's own slip: the claim in the netbank (IS), account and KID (NO), IBAN and
        # reference number (EE), account and reference elsewhere.
        rows += list(text.pay_rows)
        rows.append((labels["total_due"], " + ".join(text.totals)))
    else:
        rows += [(labels["payee"], text.creditor_name), (labels["account"], text.account)]
        if text.common_reference:
            rows.append((labels["reference"], text.common_reference))
        elif any(cl.reference for cl in text.claims):
            rows.append((labels["reference"], labels["reference_each"]))
    if text.portal_link:
        rows.append((labels["portal"], text.portal_link))
    elif text.payment_link:
        rows.append((labels["payment_link"], text.payment_link))
    rows.append((labels["phone"], text.contact_phone))

    line_h = 4.5
    x = MARGIN_LEFT_MM + 4
    if text.pay_title:
        flow.font("B", 10.5)
        title_top = flow.need(line_h + 1)
        flow.put(x, title_top, line_h, text.pay_title.upper())
        pdf.set_y(title_top + line_h + 1)
    netbank = labels.get("netbank") if any(label == labels.get("claim_no") for label, _ in rows) else None
    if netbank:
        flow.font("", 9.5)
        note_top = flow.need(line_h)
        flow.put(x, note_top, line_h, netbank)
        pdf.set_y(note_top + line_h)
    flow.font("B", 9.5)
    label_w = max(flow.width(label) for label, _ in rows) + 4
    value_x = x + label_w
    # The personal link as a QR code at the right: a phone opens it without typing.
    qr_w = _QR_MM if text.portal_link else 0.0
    value_w = MARGIN_LEFT_MM + CONTENT_WIDTH_MM - value_x - (qr_w + 4 if qr_w else 0)
    flow.font("", 9.5)
    wrapped = [(label, flow.wrap(value, value_w) or [""]) for label, value in rows]
    top = flow.need(max(line_h * sum(len(lines) for _, lines in wrapped), qr_w))
    if text.portal_link:
        _qr(pdf, text.portal_link, MARGIN_LEFT_MM + CONTENT_WIDTH_MM - qr_w, top, qr_w)
    y = top
    for (label, lines), (_, value) in zip(wrapped, rows, strict=True):
        flow.font("B", 9)
        flow.put(x, y, line_h, label)
        flow.font("", 9)
        for line in lines:
            flow.put(value_x, y, line_h, line)
            y += line_h
        if value in (text.payment_link, text.portal_link):
            pdf.link(value_x, y - line_h * len(lines), value_w, line_h * len(lines), value)
    y = max(y, top + qr_w)
    pdf.set_draw_color(*accent)
    pdf.set_line_width(0.8)
    pdf.line(MARGIN_LEFT_MM + 0.4, top, MARGIN_LEFT_MM + 0.4, y)
    pdf.set_line_width(0.2)
    pdf.set_y(y + 3.5)


_QR_MM = 24.0


def _qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """The URL as a QR code drawn in vector squares (crisp in print at any resolution), with the
    quiet zone of four modules the standard asks for inside `size`."""
    matrix = segno.make(url, error="m", micro=False).matrix
    modules = len(matrix) + 8
    cell = size / modules
    pdf.set_fill_color(0, 0, 0)
    for row, bits in enumerate(matrix):
        col = 0
        while col < len(bits):
            if not bits[col]:
                col += 1
                continue
            run = col
            while run < len(bits) and bits[run]:
                run += 1
            pdf.rect(x + (col + 4) * cell, y + (row + 4) * cell, (run - col) * cell, cell, style="F")
            col = run
