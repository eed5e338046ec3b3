"""Charts drawn on the server as SVG (no script, no library in the page, readable by a screen
reader through its title and the table beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

PALETTE = ("#0b4f8a", "#12633a", "#8a4b00", "#a11d2a", "#4a5563", "#6b3fa0")


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    shown: str  # the value as the page formats it (money in the creditor's locale)


def bar_chart(title: str, bars: Sequence[Bar], *, width: int = 640, row: int = 34) -> str:
    """Horizontal bars, one per row, scaled to the largest; labels left, values right."""
    label_w, value_w = 150, 130
    plot_w = width - label_w - value_w - 20
    height = row * max(len(bars), 1) + 10
    top = max((b.value for b in bars), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, bar in enumerate(bars):
        y = 5 + i * row
        length = round(plot_w * max(bar.value, 0) / top)
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<text x="0" y="{y + row / 2 + 4:.0f}">{escape(bar.label)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{max(length, 1)}" height="{row - 12}" rx="3" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{label_w + max(length, 1) + 8}" y="{y + row / 2 + 4:.0f}" class="muted-text">'
            f"{escape(bar.shown)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# -- the timeline of a dry-run plan ---------------------------------------------------------------

# Colours by what a step does (the palette's: 4.5:1 or better on white).
KIND_COLOURS = {
    "reminder": PALETTE[0],
    "call": PALETTE[1],
    "creditor_notice": PALETTE[2],
    "handover": PALETTE[3],
    "claim_watch": PALETTE[4],
}
CHAR_W = 7.2  # a 13 px system-font character, generously: labels must not run into each other
LANE_H = 40  # a label of two lines
GAP = 10


@dataclass(frozen=True, slots=True)
class Mark:
    """One step on the timeline: `day` counts from the start (the claim's due date)."""

    day: int
    label: str  # the step, as the page names it
    detail: str  # its date and channels, as the page formats them
    kind: str


@dataclass(frozen=True, slots=True)
class Placed:
    mark: Mark
    at: float  # along the axis (x across, y down), in SVG units
    lane: int  # across only: the row of its label
    anchor: str  # across only: "start" (label to the right of the mark) or "end"


def _label_w(mark: Mark) -> float:
    return CHAR_W * max(len(mark.label), len(mark.detail))


def _scale(marks: Sequence[Mark], length: float) -> tuple[int, float]:
    """The last day shown and the units per day (the axis runs from day 0 or the first mark)."""
    first = min((m.day for m in marks), default=0)
    last = max([m.day for m in marks] + [first + 1])
    return last, length / (last - min(first, 0))


def place_across(marks: Sequence[Mark], *, width: float, margin: float = 20) -> list[Placed]:
    """Marks on a horizontal axis, each at its day, and each label on the first row where it does
    not touch the label before it (labels right of their mark, or left of it near the right edge)."""
    if not marks:
        return []
    length = width - 2 * margin
    _, per_day = _scale(marks, length)
    start = min(min(m.day for m in marks), 0)
    ends: list[float] = []  # each lane's rightmost label end
    placed = []
    for mark in sorted(marks, key=lambda m: m.day):
        x = margin + (mark.day - start) * per_day
        w = _label_w(mark)
        anchor = "start" if x + w <= width else "end"
        left = x if anchor == "start" else x - w
        lane = next((i for i, end in enumerate(ends) if end + GAP <= left), len(ends))
        if lane == len(ends):
            ends.append(0.0)
        ends[lane] = left + w
        placed.append(Placed(mark, round(x, 1), lane, anchor))
    return placed


def place_down(
    marks: Sequence[Mark], *, row: float = LANE_H, per_day: float = 4.0, label_width: float | None = None
) -> list[Placed]:
    """Marks down a vertical axis: each at its day, pushed down only as far as the label above it
    needs (a long quiet stretch stays long, a cluster of steps still reads line by line). With
    `label_width`, a label wrapped onto more lines (`label_lines`) takes their room."""
    placed: list[Placed] = []
    start = min((min(m.day for m in marks), 0)) if marks else 0
    needs = 0.0
    for mark in sorted(marks, key=lambda m: m.day):
        y = (mark.day - start) * per_day
        if placed:
            y = max(y, placed[-1].at + needs)
        placed.append(Placed(mark, round(y, 1), 0, "start"))
        extra = len(label_lines(mark.label, label_width)) - 1 if label_width else 0
        needs = row + extra * LINE_H
    return placed


LINE_H = 17  # one more line of a wrapped label


def label_lines(label: str, width: float | None) -> list[str]:
    """A label broken between words into lines of at most `width` pixels (a long word, as an
    Icelandic compound can be, stays whole on its own line)."""
    if width is None:
        return [label]
    most = max(int(width / CHAR_W), 1)
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= most:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [label]


def _svg_open(cls: str, ident: str, title: str, desc: str, width: float, height: float) -> str:
    return (
        f'<svg class="chart {cls}" role="img" aria-labelledby="{ident}-t {ident}-d"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
    )


def _dot(x: float, y: float, kind: str) -> str:
    colour = KIND_COLOURS.get(kind, PALETTE[5])
    if kind == "handover":  # the step that ends the creditor's own collection: a diamond
        return f'<path d="M{x:.1f} {y - 8:.1f}l8 8-8 8-8-8z" fill="{colour}" stroke="#fff" stroke-width="2"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="{colour}" stroke="#fff" stroke-width="2"/>'


def timeline_chart(title: str, desc: str, marks: Sequence[Mark], *, start_label: str, ident: str = "plan") -> str:
    """The plan as two pictures, across for a wide screen and down for a phone (the page's CSS
    shows one); each with its title and description for a screen reader, the table beside them
    carrying every figure."""
    return _across(title, desc, marks, start_label, ident + "-wide") + _down(
        title, desc, marks, start_label, ident + "-narrow"
    )


def _across(title: str, desc: str, marks: Sequence[Mark], start_label: str, ident: str) -> str:
    width = 760.0
    placed = place_across(marks, width=width)
    lanes = max((p.lane for p in placed), default=0) + 1
    axis_y = 34.0
    height = axis_y + 24 + lanes * LANE_H
    parts = [_svg_open("timeline-wide", ident, title, desc, width, height)]
    parts.append(f'<line x1="20" y1="{axis_y}" x2="{width - 20:.0f}" y2="{axis_y}" stroke="#8a94a3" stroke-width="2"/>')
    zero = 20 + (0 - min(min((m.day for m in marks), default=0), 0)) * _scale(marks, width - 40)[1]
    parts.append(
        f'<line x1="{zero:.1f}" y1="{axis_y - 8}" x2="{zero:.1f}" y2="{axis_y + 8}" stroke="#4a5563" stroke-width="2"/>'
    )
    parts.append(f'<text x="{zero:.1f}" y="{axis_y - 14}" class="muted-text">{escape(start_label)}</text>')
    for p in placed:
        top = axis_y + 30 + p.lane * LANE_H
        parts.append(
            f'<line x1="{p.at:.1f}" y1="{axis_y}" x2="{p.at:.1f}" y2="{top - 4:.0f}"'
            ' stroke="#dde2e8" stroke-width="1.5"/>'
        )
        parts.append(_dot(p.at, axis_y, p.mark.kind))
        tx = p.at + 4 if p.anchor == "start" else p.at - 4
        parts.append(
            f'<text x="{tx:.1f}" y="{top + 10:.0f}" text-anchor="{p.anchor}" font-weight="600">'
            f"{escape(p.mark.label)}</text>"
            f'<text x="{tx:.1f}" y="{top + 27:.0f}" text-anchor="{p.anchor}" class="muted-text">'
            f"{escape(p.mark.detail)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _down(title: str, desc: str, marks: Sequence[Mark], start_label: str, ident: str) -> str:
    width, top, x = 320.0, 40.0, 24.0
    room = width - x - 18 - 4  # a label's room right of the axis: longer ones wrap
    placed = place_down(marks, label_width=room)
    last = label_lines(placed[-1].mark.label, room) if placed else []
    height = top + (placed[-1].at if placed else 0) + LANE_H + max(len(last) - 1, 0) * LINE_H
    parts = [_svg_open("timeline-narrow", ident, title, desc, width, height)]
    parts.append(f'<text x="4" y="16" class="muted-text">{escape(start_label)}</text>')
    parts.append(f'<line x1="{x}" y1="{top - 14}" x2="{x}" y2="{height - 10:.0f}" stroke="#8a94a3" stroke-width="2"/>')
    for p in placed:
        y = top + p.at
        lines = label_lines(p.mark.label, room)
        parts.append(_dot(x, y, p.mark.kind))
        for n, line in enumerate(lines):
            parts.append(f'<text x="{x + 18}" y="{y + 4 + n * LINE_H:.0f}" font-weight="600">{escape(line)}</text>')
        below = y + 21 + (len(lines) - 1) * LINE_H
        parts.append(f'<text x="{x + 18}" y="{below:.0f}" class="muted-text">{escape(p.mark.detail)}</text>')
    parts.append("</svg>")
    return "".join(parts)
