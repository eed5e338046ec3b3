"""`krafa dashboards render`: Grafana's grid, units, legends and variables as the renderer applies
them (pure logic), and one dashboard drawn from a real Prometheus whose storage holds a small
fixed scrape (backfilled with promtool, so the figures are known and nothing waits for scrapes)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from krafa import dashboards as d
from krafa.targets import CliError

COLLECTION = d.DASHBOARDS / "collection-performance.json"
PIPELINE = d.DASHBOARDS / "pipeline-overview.json"


# -- units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0, "short", "0"),
        (7, "short", "7"),
        (0.5, "short", "0.5"),
        (1234, "short", "1.23 K"),
        (2_500_000, "short", "2.5 Mil"),
        (0.125, "percentunit", "12.5%"),
        (1, "percentunit", "100%"),
        (42.5, "percent", "42.5%"),
        (0.00042, "s", "420 µs"),
        (0.25, "s", "250 ms"),
        (42, "s", "42 s"),
        (90, "s", "1.5 min"),
        (7200, "s", "2 hour"),
        (3.5, "d", "3.5 day"),
        (14, "d", "2 week"),
        (0.5, "ops", "0.5 ops/s"),
        (1500, "reqps", "1.5K req/s"),
        (1_234_567, "currency:ISK", "ISK 1.23M"),
        (12.5, "currency:EUR", "EUR 12.5"),
        (None, "short", "No data"),
        (float("nan"), "s", "No data"),
    ],
)
def test_values_are_shown_in_the_panels_unit_as_grafana_shows_them(value: float | None, unit: str, shown: str) -> None:
    assert d.format_value(value, unit) == shown


def test_every_unit_the_dashboards_use_is_one_the_renderer_knows() -> None:
    units = set()
    for path in d.DASHBOARDS.glob("*.json"):
        for panel in d.load(path).panels:
            units.add(panel.unit)
            units.update(o.unit for o in panel.overrides)
    unknown = {u for u in units if u not in d.KNOWN_UNITS and not u.startswith("currency:")}
    assert not unknown, unknown


def test_money_is_shown_in_the_currency_its_legend_names() -> None:
    panels = {p.title: p for p in d.load(COLLECTION).panels}
    by_creditor = panels["Open amount by creditor / currency"]
    assert by_creditor.unit_of("Fram hf. EUR") == "currency:EUR"
    assert by_creditor.unit_of("Fram hf. ISK") == "currency:ISK"
    assert by_creditor.unit_of("Fram hf. XOF") == "short"  # a currency without an override: a plain number
    assert by_creditor.unit_of("ISKRA ehf. EUR") == "currency:EUR"  # the code as a word, not inside a name
    assert panels["Open amount"].kind == "stat" and panels["Open amount"].unit_of("NOK") == "currency:NOK"
    assert panels["Bounce rate by creditor (bounced / emails sent)"].unit_of("Fram hf. ISK") == "percentunit"


def test_grafana_regexp_matchers_search_between_slashes_and_match_whole_names_bare() -> None:
    assert d.regexp_matches(r"/\bISK\b/", "Fram ISK")
    assert not d.regexp_matches("ISK", "Fram ISK")
    assert d.regexp_matches(".*ISK", "Fram ISK")
    assert d.regexp_matches("/isk/i", "Fram ISK")


# -- the grid ----------------------------------------------------------------------------------


def test_panels_sit_where_their_grid_position_puts_them() -> None:
    left = d.place(d.GridPos(0, 1, 12, 8))
    right = d.place(d.GridPos(12, 1, 12, 8))
    below = d.place(d.GridPos(0, 9, 24, 4))
    # Two half-width panels fill one full-width panel's span, a margin apart.
    assert left.left == d.MARGIN and right.left == pytest.approx(left.left + left.width + d.MARGIN)
    assert right.left + right.width == pytest.approx(below.left + below.width)
    assert below.left + below.width == pytest.approx(d.WIDTH_PX - d.MARGIN)
    # Rows are 30 px, panels 8 px apart: a panel 8 rows tall ends a margin above the next one.
    assert left.height == 8 * 30 + 7 * 8
    assert below.top == left.top + left.height + d.MARGIN


def test_the_picture_is_as_tall_as_the_lowest_panel() -> None:
    dashboard = d.load(PIPELINE)
    lowest = max(p.grid.y + p.grid.h for p in dashboard.panels)
    assert d.picture_height(dashboard) == d.HEADER_PX + lowest * (d.CELL_HEIGHT + d.MARGIN) + d.MARGIN
    rows = [p for p in dashboard.panels if p.kind == "row"]
    stats = [p for p in dashboard.panels if p.kind == "stat"]
    assert [r.title for r in rows] == ["At a glance", "Events", "Outbox and timers"]
    assert len(stats) == 4 and {s.grid.w for s in stats} == {6}


def test_stat_values_sit_side_by_side_in_a_wide_panel_and_stack_in_a_tall_one() -> None:
    wide = d.stat_boxes(d.Rect(0, 0, 600, 100), 3)
    assert [b.left for b in wide] == [0, 200, 400] and {b.height for b in wide} == {100}
    tall = d.stat_boxes(d.Rect(0, 0, 100, 300), 2)
    assert [b.top for b in tall] == [0, 150] and {b.width for b in tall} == {100}


def test_the_legend_takes_at_most_four_tenths_of_a_panel() -> None:
    assert d.legend_rows(300, 3) == 3
    assert d.legend_rows(300, 40) == 7  # 120 px of 15 px rows, one the header; the last says "+N more"
    assert d.legend_rows(20, 5) == 1


def test_the_y_axis_starts_at_zero_unless_something_is_negative_and_leaves_headroom() -> None:
    assert d.y_range([3.0, 42.0]) == (0.0, pytest.approx(46.2))
    assert d.y_range([7.0, 7.0]) == (0.0, pytest.approx(7.7))  # a flat line below the top edge
    assert d.y_range([0.0, 0.0]) == (0.0, pytest.approx(1.1))
    low, high = d.y_range([-2.0, 8.0])
    assert low == pytest.approx(-3.0) and high == pytest.approx(9.0)
    assert d.y_range([float("nan")]) == (0.0, 1.0)


def test_a_series_absent_for_a_while_breaks_its_line_there() -> None:
    times, values = d.with_gaps([0, 15, 30, 90, 105], [1, 2, 3, 4, 5], 15)
    assert times == [0, 15, 30, 45, 90, 105]
    assert values[:3] == [1, 2, 3] and values[3] != values[3] and values[4:] == [4, 5]  # NaN at 45
    assert d.with_gaps([0, 15, 30], [1, 2, 3], 15) == ([0, 15, 30], [1, 2, 3])


def test_time_ticks_fall_on_round_clock_times() -> None:
    start = datetime(2026, 12, 7, 7, 0, 3, tzinfo=UTC).timestamp()
    ticks = d.time_ticks(start, start + 90, 8)
    assert len(ticks) <= 8 and all(t % 15 == 0 for t in ticks) and ticks[0] >= start
    hours = d.time_ticks(start, start + 6 * 3600, 10)
    assert all(t % 3600 == 0 for t in hours) and len(hours) == 6


def test_long_names_are_cut_to_the_room_they_have() -> None:
    assert d.fit("short", 200) == "short"
    cut = d.fit("a very long series name " * 5, 100)
    assert cut.endswith("…") and len(cut) == int(100 // 6.6)


# -- queries -----------------------------------------------------------------------------------


def test_queries_get_grafanas_interval_variables_and_all_for_every_templated_one() -> None:
    dashboard = d.load(COLLECTION)
    assert dashboard.variables == {"creditor": ".*", "channel": ".*"}
    start = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    window = d.Window.over(start, start + timedelta(minutes=2), scrape_interval_s=1)
    assert window.step_s == 1  # 120 s over 240 points is under the scrape interval
    expr = 'sum(rate(x{creditor=~"$creditor",channel=~"${channel}"}[$__rate_interval])) / $__range_s'
    assert d.substitute(expr, dashboard.variables, window) == 'sum(rate(x{creditor=~".*",channel=~".*"}[4s])) / 120'
    hour = d.Window.over(start, start + timedelta(hours=1), scrape_interval_s=15)
    assert d.substitute("[$__rate_interval] [$__interval]", {}, hour) == "[60s] [15s]"
    with pytest.raises(CliError, match="does not know"):
        d.substitute("x{a=~'$nobody'}", {}, window)


def test_series_are_named_by_their_legend_format() -> None:
    labels = {"__name__": "m", "name": "Fram hf.", "currency": "ISK"}
    assert d.legend("{{name}} {{currency}}", labels) == "Fram hf. ISK"
    assert d.legend("{{ name }} step {{step}}", labels) == "Fram hf. step"
    assert d.legend("", {"__name__": "up", "instance": "a:1"}) == 'up{instance="a:1"}'
    assert d.legend("", {}, "sum(up)") == "sum(up)"


def test_durations_read_as_prometheus_writes_them() -> None:
    assert d.parse_duration("15s") == 15 and d.parse_duration("1m30s") == 90 and d.parse_duration("500ms") == 0.5
    with pytest.raises(ValueError):
        d.parse_duration("soon")


# -- one dashboard from a real Prometheus ------------------------------------------------------


def _binaries() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        message = "Prometheus is not installed (Debian: apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test (.ci/run installs it)")
        pytest.skip(message)
    return prometheus, promtool


def _fixed_scrape(end: int, points: int, every_s: int) -> str:
    """Thirty minutes of what two services export, every 15 s: a backlog of 3 + 4 rows, the oldest
    unpublished event 42 s old, lag falling to 5 and 2 records, 2 events a second consumed."""
    times = [end - every_s * (points - 1 - i) for i in range(points)]
    lines: list[str] = []

    def family(name: str, kind: str, series: dict[str, list[float]]) -> None:
        lines.append(f"# TYPE {name} {kind}")
        sample = f"{name}_total" if kind == "counter" else name
        for labels, values in series.items():
            lines.extend(f"{sample}{{{labels}}} {v} {t}" for t, v in zip(times, values, strict=True))

    family(
        "krafa_outbox_backlog_rows",
        "gauge",
        {'service="claims-api"': [3.0] * points, 'service="notifier"': [4.0] * points},
    )
    family("krafa_outbox_oldest_unpublished_age_seconds", "gauge", {'service="claims-api"': [42.0] * points})
    family(
        "krafa_consumer_lag_messages",
        "gauge",
        {
            'service="notifier",topic="krafa.claims"': [max(5.0, 50.0 - i) for i in range(points)],
            'service="scheduler",topic="krafa.claims"': [max(2.0, 30.0 - i) for i in range(points)],
        },
    )
    family(
        "krafa_events_consumed",
        "counter",
        {'service="notifier",topic="krafa.claims",outcome="ok"': [2.0 * every_s * i for i in range(points)]},
    )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fixed_prometheus(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, d.Window]:
    _, promtool = _binaries()
    home = tmp_path_factory.mktemp("prometheus")
    every_s, points = 15, 121
    end = int(datetime.now(UTC).timestamp()) // 60 * 60 - 600  # ten minutes ago, clear of the head block
    (home / "scrape.om").write_text(_fixed_scrape(end, points, every_s))
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(home / "scrape.om"), str(home / "data")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    start = datetime.fromtimestamp(end - every_s * (points - 1), UTC)
    window = d.Window.over(start, datetime.fromtimestamp(end, UTC), scrape_interval_s=every_s)
    return str(home), window


def test_a_dashboard_is_drawn_from_what_prometheus_answers(
    fixed_prometheus: tuple[str, d.Window], tmp_path: Path
) -> None:
    from PIL import Image

    home, window = fixed_prometheus
    config = {"global": {"scrape_interval": "15s"}, "scrape_configs": []}
    with d.running_prometheus(Path(home), config, storage=Path(home) / "data") as url:
        prometheus = d.Prometheus(url)
        try:
            assert prometheus.scrape_interval_s() == 15
            [rendered] = d.render_all(prometheus, window, tmp_path, ["pipeline-overview"])
        finally:
            prometheus.close()

    answers = rendered.panels
    last = {title: [(s.name, s.last()) for s in series] for title, series in answers.items()}
    assert last["Outbox backlog"] == [('sum(krafa_outbox_backlog_rows{service=~".*"})', 7.0)]
    assert [v for _, v in last["Oldest unpublished event"]] == [42.0]
    assert sorted(last["Consumer lag (records behind) by service / topic"]) == [
        ("notifier krafa.claims", 5.0),
        ("scheduler krafa.claims", 2.0),
    ]
    [consumed] = answers["Events consumed by service / topic / outcome"]
    assert consumed.name == "notifier krafa.claims ok" and consumed.last() == pytest.approx(2.0)
    assert answers["Dead-lettered (1 h)"] == []  # no such series: the panel says "No data"
    # Every step of the window has a point: the queries ran over the range, not at one instant.
    lag = answers["Consumer lag (records behind) by service / topic"][0]
    assert len(lag.times) == round(window.seconds / window.step_s) + 1

    with Image.open(rendered.path) as image:
        assert image.size == (d.WIDTH_PX, round(d.picture_height(d.load(PIPELINE))))
        rgb = image.convert("RGB")
        # The stat's big number is drawn in green inside the "Outbox backlog" panel's box.
        panel = next(p for p in d.load(PIPELINE).panels if p.title == "Outbox backlog")
        box = d.place(panel.grid)
        crop = rgb.crop((int(box.left), int(box.top), int(box.left + box.width), int(box.top + box.height)))
        greens = sum(1 for r, g, b in crop.getdata() if g > 150 and r < 150 and b < 130)
        assert greens > 200, greens
    assert rendered.path.stat().st_size < 150_000


def test_the_command_names_an_unknown_dashboard(tmp_path: Path) -> None:
    start = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    window = d.Window.over(start, start + timedelta(minutes=5), scrape_interval_s=15)
    with pytest.raises(CliError, match="no such dashboard: nope"):
        d.render_all(d.Prometheus("http://127.0.0.1:9"), window, tmp_path, ["nope"])
