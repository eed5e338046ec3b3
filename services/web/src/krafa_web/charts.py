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
