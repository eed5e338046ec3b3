"""The plan's timeline picture: marks at their days along the axis, labels that never overlap
(across: lanes; down: pushed apart), and a picture a screen reader can name."""

from __future__ import annotations

import itertools
import re
from xml.etree import ElementTree

from krafa_web.charts import (
    CHAR_W,
    LANE_H,
    LINE_H,
    Mark,
    _label_w,
    label_lines,
    place_across,
    place_down,
    timeline_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def marks(*days: int) -> list[Mark]:
    return [Mark(day, f"Step {i + 1}", f"day {day} · email", "reminder") for i, day in enumerate(days)]


def test_marks_sit_at_their_day_in_proportion() -> None:
    placed = place_across(marks(0, 10, 40), width=440, margin=20)
    assert [p.at for p in placed] == [20.0, 120.0, 420.0]  # 400 units for 40 days


def test_the_axis_starts_at_the_due_date_even_when_the_first_step_is_later() -> None:
    placed = place_across(marks(10, 20), width=240, margin=20)
    assert placed[0].at == 120.0 and placed[1].at == 220.0


def test_steps_before_the_due_date_extend_the_axis_to_the_left() -> None:
    placed = place_across(marks(-10, 10), width=240, margin=20)
    assert [p.at for p in placed] == [20.0, 220.0]


def test_labels_close_together_take_separate_lanes_and_never_overlap() -> None:
    placed = place_across(marks(0, 1, 2, 30, 31, 90), width=760)
    spans: dict[int, list[tuple[float, float]]] = {}
    for p in placed:
        w = _label_w(p.mark)
        left = p.at if p.anchor == "start" else p.at - w
        spans.setdefault(p.lane, []).append((left, left + w))
    assert len(spans) >= 3  # three steps within two days cannot share a row
    for row in spans.values():
        for (_, end), (start, _) in itertools.pairwise(row):
            assert end <= start, row
    # A label is turned left of its mark rather than cut off by the edge.
    last = placed[-1]
    assert last.anchor == "end" and last.at - _label_w(last.mark) >= 0


def test_far_apart_labels_share_the_first_lane() -> None:
    assert {p.lane for p in place_across(marks(0, 40, 80), width=760)} == {0}


def test_down_the_page_a_cluster_is_pushed_apart_but_a_long_gap_stays_long() -> None:
    placed = place_down(marks(0, 0, 1, 60), per_day=4.0)
    ys = [p.at for p in placed]
    assert ys[:3] == [0.0, LANE_H, 2 * LANE_H]
    assert ys[3] == 240.0  # day 60 at 4 units a day: further than the rows pushed it


def test_the_picture_is_named_described_and_escapes_its_text() -> None:
    svg = timeline_chart(
        "Plan of <a sample claim>",
        "3 steps & a handover",
        [Mark(0, "Reminder", "2 Mar · email", "reminder"), Mark(20, "Handover", "22 Mar", "handover")],
        start_label="Due date 2 Mar",
    )
    # Our own output, parsed to check its structure.
    pictures = [ElementTree.fromstring(part) for part in re.findall(r"<svg.*?</svg>", svg)]  # noqa: S314
    assert len(pictures) == 2  # across and down: the stylesheet shows one
    for picture in pictures:
        assert picture.get("role") == "img"
        title, desc = picture.find(SVG + "title"), picture.find(SVG + "desc")
        assert title is not None and title.text == "Plan of <a sample claim>"
        assert desc is not None and desc.text == "3 steps & a handover"
        assert picture.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        texts = [t.text for t in picture.iter(SVG + "text")]
        assert "Reminder" in texts and "Handover" in texts
        # The handover is drawn as a diamond, a reminder as a circle.
        assert len(list(picture.iter(SVG + "circle"))) == 1 and len(list(picture.iter(SVG + "path"))) == 1
    ids = [p.get("aria-labelledby") for p in pictures]
    assert ids[0] != ids[1]


def test_down_the_page_a_long_label_wraps_between_words_and_takes_the_room_it_needs() -> None:
    long = Mark(0, "Tilkynning til kröfuhafa (tilkynning til þín)", "7. apr. 2026", "creditor_notice")
    lines = label_lines(long.label, 278)
    assert len(lines) == 2 and " ".join(lines) == long.label
    assert all(len(line) * CHAR_W <= 278 for line in lines)
    placed = place_down([long, Mark(0, "Afhending í innheimtu", "8. apr. 2026", "handover")], label_width=278)
    assert placed[1].at == LANE_H + LINE_H  # pushed one line further than a one-line label would
    svg = timeline_chart("t", "d", [long], start_label="0")
    narrow = re.search(r'<svg class="chart timeline-narrow".*?</svg>', svg)
    assert narrow
    bold = re.findall(r'font-weight="600">([^<]*)</text>', narrow.group(0))
    assert bold == lines  # each line its own text, one under the other
