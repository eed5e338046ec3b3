"""letters_per_s: `render_letter_pdf` over mixed reminders (4 languages, 1-3 claims each).

Component: the Jinja2 + Babel text alone (`ReminderRenderer.letter_text`) over the same reminders.
fpdf2 has no meaningful "blank page" ceiling of its own, so the ratio says what share of a letter's
time is the layout and PDF writing on top of the words."""

from __future__ import annotations

from krafa_notifier.content import ReminderRenderer
from krafa_notifier.letter import render_letter_pdf

from bench.common import Figure, Options, reminders, say, timed

KEY = "letters_per_s"


def run(opts: Options) -> Figure:
    n = opts.size(1_000, 100)
    batch = reminders(n)
    renderer = ReminderRenderer()
    # Warm-up, not timed: templates compile, font faces parse and the font subsets get cached
    # once per process, as in a long-running notifier.
    for content in batch[:12]:
        render_letter_pdf(content, renderer)
    values, component = [], []
    for i in range(opts.runs):
        seconds = timed(lambda: [render_letter_pdf(c, renderer) for c in batch])
        values.append(n / seconds)
        text_s = timed(lambda: [renderer.letter_text(c) for c in batch])
        component.append(n / text_s)
        say(f"{KEY} run {i + 1}: {values[-1]:.1f} letters/s, text alone {component[-1]:.1f}/s")
    return Figure(KEY, "letters/s", n, values, component, "ReminderRenderer.letter_text alone (Jinja2+Babel)")
