"""`krafa dashboards render`: the Grafana dashboards (deploy/grafana/dashboards/*.json) drawn as
PNGs from a real Prometheus, for the README and for anyone without a Grafana at hand.

Every panel's PromQL is evaluated over a time window through Prometheus's HTTP API
(`/api/v1/query_range`), with Grafana's variables set as a fresh dashboard sets them (every
templated variable at "All", `$__interval` the step, `$__rate_interval` as Grafana computes it).
Each dashboard becomes one PNG with its panels where their `gridPos` puts them on Grafana's
24-column grid: row headers, time series with a table legend (last value), stat panels as big
numbers (last non-null value, one per series), and values in the panel's unit, per series where
a field override names another (money in its currency). matplotlib draws; nothing here is a
Grafana, so plugins, thresholds and transformations are not reproduced.

Without `--prometheus` the command runs a short demo on an embedded stack with a Prometheus
scraping it (Debian's `prometheus`), and renders the demo's window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from krafa.targets import EXIT_UNAVAILABLE, EXIT_USAGE, CliError

ROOT = Path(__file__).resolve().parents[4]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"

# Grafana's grid: 24 columns; a height unit is 30 px and panels sit 8 px apart.
COLUMNS = 24
CELL_HEIGHT = 30
MARGIN = 8
WIDTH_PX = 1600
HEADER_PX = 56
DPI = 100

# Grafana's dark theme and its classic palette, so the pictures read like the real thing.
BACKGROUND = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#ccccdc"
DIM = "#8e8e9a"
GREEN = "#73bf69"
PALETTE = (
    "#73bf69",
    "#f2cc0c",
    "#8ab8ff",
    "#ff780a",
    "#f2495c",
    "#5794f2",
    "#b877d9",
    "#705da0",
    "#37872d",
    "#fade2a",
    "#447ebc",
    "#c15c17",
)


# -- the dashboard JSON ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GridPos:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Override:
    """A field override: series whose display name matches get another unit."""

    matcher: str  # Grafana's matcher id: byName or byRegexp
    pattern: str
    unit: str

    def matches(self, name: str) -> bool:
        if self.matcher == "byName":
            return name == self.pattern
        return regexp_matches(self.pattern, name)


@dataclass(frozen=True)
class Panel:
    kind: str  # timeseries, stat, row
    title: str
    grid: GridPos
    unit: str = "short"
    targets: tuple[Target, ...] = ()
    overrides: tuple[Override, ...] = ()

    def unit_of(self, series_name: str) -> str:
        """The unit Grafana shows a series in: the last override that matches it, else the default."""
        unit = self.unit
        for override in self.overrides:
            if override.matches(series_name):
                unit = override.unit
        return unit


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    variables: dict[str, str]  # name -> the value "All" stands for


def regexp_matches(pattern: str, text: str) -> bool:
    """Grafana's byRegexp: `/body/flags` is searched, a bare pattern must match the whole name."""
    if len(pattern) > 1 and pattern.startswith("/") and pattern.rfind("/") > 0:
        end = pattern.rfind("/")
        flags = re.IGNORECASE if "i" in pattern[end + 1 :] else 0
        return re.search(pattern[1:end], text, flags) is not None
    return re.fullmatch(pattern, text) is not None


def _overrides(config: dict[str, Any]) -> tuple[Override, ...]:
    found = []
    for override in config.get("overrides", []):
        matcher = override.get("matcher", {})
        if matcher.get("id") not in ("byName", "byRegexp"):
            continue
        for prop in override.get("properties", []):
            if prop.get("id") == "unit":
                found.append(Override(matcher["id"], str(matcher.get("options", "")), str(prop["value"])))
    return tuple(found)


def _panels(raw: Sequence[dict[str, Any]]) -> Iterator[Panel]:
    for item in raw:
        pos = item.get("gridPos", {})
        grid = GridPos(int(pos.get("x", 0)), int(pos.get("y", 0)), int(pos.get("w", 12)), int(pos.get("h", 8)))
        config = item.get("fieldConfig", {})
        yield Panel(
            kind=str(item.get("type", "timeseries")),
            title=str(item.get("title", "")),
            grid=grid,
            unit=str(config.get("defaults", {}).get("unit") or "short"),
            targets=tuple(
                Target(str(t["expr"]), str(t.get("legendFormat", "")))
                for t in item.get("targets", [])
                if t.get("expr") and not t.get("hide")
            ),
            overrides=_overrides(config),
        )
        # A collapsed row keeps its panels inside it; Grafana shows them only when opened.
        if item.get("type") == "row" and not item.get("collapsed"):
            yield from _panels(item.get("panels", []))


def load(path: Path) -> Dashboard:
    body = json.loads(path.read_text())
    variables = {}
    for variable in body.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource":
            continue
        variables[str(variable["name"])] = str(variable.get("allValue") or ".*")
    return Dashboard(
        str(body.get("uid", path.stem)), str(body.get("title", path.stem)), tuple(_panels(body["panels"])), variables
    )


# -- queries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    step_s: float
    scrape_interval_s: float = 15.0

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @classmethod
    def over(cls, start: datetime, end: datetime, scrape_interval_s: float, points: int = 240) -> Window:
        """Grafana's step: the range over the points the panel can show, never below the scrape interval."""
        step = max(scrape_interval_s, (end - start).total_seconds() / points)
        return cls(start, end, round(step, 3), scrape_interval_s)


def _duration(seconds: float) -> str:
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


def substitute(expr: str, variables: dict[str, str], window: Window) -> str:
    """The query as Grafana sends it: built-in interval variables and every templated one at All."""
    rate_interval = max(window.step_s + window.scrape_interval_s, 4 * window.scrape_interval_s)
    values = {
        "__rate_interval": _duration(rate_interval),
        "__interval_ms": str(round(window.step_s * 1000)),
        "__interval": _duration(window.step_s),
        "__range_s": str(round(window.seconds)),
        "__range_ms": str(round(window.seconds * 1000)),
        "__range": _duration(round(window.seconds)),
        **variables,
    }
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    if "$" in expr:
        raise CliError(f"a variable this renderer does not know in: {expr}", EXIT_USAGE)
    return expr


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def last(self) -> float | None:
        """Grafana's `lastNotNull`."""
        for value in reversed(self.values):
            if not math.isnan(value):
                return value
        return None


def legend(fmt: str, labels: dict[str, str], expr: str = "") -> str:
    """A series' display name: the legend format with `{{label}}` filled in (an unknown label
    becomes empty, as in Grafana); without a format, the metric and its labels, or the query
    itself for a series without labels."""
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest else (name or expr or "{}")


class Prometheus:
    """Prometheus's HTTP API, the way Grafana's data source asks it."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def query_range(self, expr: str, window: Window) -> list[dict[str, Any]]:
        response = self.http.get(
            "/api/v1/query_range",
            params={
                "query": expr,
                "start": f"{window.start.timestamp():.3f}",
                "end": f"{window.end.timestamp():.3f}",
                "step": f"{window.step_s}",
            },
        )
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or body.get("status") != "success":
            raise CliError(f"Prometheus refused a query ({response.status_code} {body.get('error', '')}): {expr}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scrape_interval_s(self) -> float:
        """The global scrape interval from the running configuration (Grafana's data source setting)."""
        import yaml  # type: ignore[import-untyped]

        config = self.http.get("/api/v1/status/config").json()["data"]["yaml"]
        interval = (yaml.safe_load(config).get("global") or {}).get("scrape_interval", "15s")
        return parse_duration(str(interval))


def parse_duration(text: str) -> float:
    """A Prometheus duration (`15s`, `1m30s`, `500ms`) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def evaluate(prometheus: Prometheus, panel: Panel, variables: dict[str, str], window: Window) -> list[Series]:
    series = []
    for target in panel.targets:
        expr = substitute(target.expr, variables, window)
        for item in prometheus.query_range(expr, window):
            labels = {str(k): str(v) for k, v in item.get("metric", {}).items()}
            s = Series(legend(target.legend, labels, expr), labels)
            for t, v in item.get("values", []):
                s.times.append(float(t))
                s.values.append(float(v))
            series.append(s)
    return series


# -- units -----------------------------------------------------------------------------------------


def _number(value: float, decimals: int | None = None) -> str:
    """A number as Grafana prints it: about three significant digits, no trailing zeros."""
    if decimals is None:
        magnitude = math.floor(math.log10(abs(value))) if value else 0
        decimals = max(0, min(3, 2 - magnitude))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _scaled(value: float, suffixes: Sequence[str], factor: float = 1000) -> str:
    index = 0
    while abs(value) >= factor and index < len(suffixes) - 1:
        value /= factor
        index += 1
    return f"{_number(value)}{suffixes[index]}"


def _seconds(value: float) -> str:
    size = abs(value)
    if size == 0:
        return "0 s"
    if size < 1e-6:
        return f"{_number(value * 1e9)} ns"
    if size < 1e-3:
        return f"{_number(value * 1e6)} µs"
    if size < 1:
        return f"{_number(value * 1e3)} ms"
    if size < 60:
        return f"{_number(value)} s"
    if size < 3600:
        return f"{_number(value / 60)} min"
    if size < 86400:
        return f"{_number(value / 3600)} hour"
    if size < 604800:
        return f"{_number(value / 86400)} day"
    return f"{_number(value / 604800)} week"


# The units `format_value` prints as Grafana does (besides `currency:<code>`); another unit prints
# like `short`.
KNOWN_UNITS = frozenset({"short", "none", "percent", "percentunit", "s", "ms", "d", "ops", "reqps"})


def format_value(value: float | None, unit: str) -> str:
    """`value` in one of Grafana's units: short, none, percent, percentunit, s, ms, d, ops, reqps,
    or a currency (`currency:ISK`, Grafana's custom currency unit; the code stands before the amount)."""
    if value is None or math.isnan(value):
        return "No data"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit.startswith("currency:"):
        return f"{unit.split(':', 1)[1]} {_scaled(value, ('', 'K', 'M', 'B', 'T'))}"
    if unit == "percentunit":
        return f"{_number(value * 100, 1 if abs(value) < 10 else 0)}%"
    if unit == "percent":
        return f"{_number(value, 1 if abs(value) < 1000 else 0)}%"
    if unit == "s":
        return _seconds(value)
    if unit == "ms":
        return _seconds(value / 1000)
    if unit == "d":
        return _seconds(value * 86400)
    if unit == "ops":
        return _scaled(value, (" ops/s", "K ops/s", "M ops/s", "B ops/s"))
    if unit == "reqps":
        return _scaled(value, (" req/s", "K req/s", "M req/s", "B req/s"))
    if unit == "none":
        return _number(value)
    return _scaled(value, ("", " K", " Mil", " Bil", " Tri"))  # short, and any unit not listed


# -- layout ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    """Pixels from the top left of the picture."""

    left: float
    top: float
    width: float
    height: float


def column_width(width_px: float = WIDTH_PX) -> float:
    return (width_px - MARGIN * (COLUMNS + 1)) / COLUMNS


def place(grid: GridPos, width_px: float = WIDTH_PX) -> Rect:
    """Where Grafana puts a panel: x and w in columns, y and h in 30 px rows, 8 px apart."""
    col = column_width(width_px)
    return Rect(
        left=MARGIN + grid.x * (col + MARGIN),
        top=HEADER_PX + grid.y * (CELL_HEIGHT + MARGIN),
        width=grid.w * col + (grid.w - 1) * MARGIN,
        height=grid.h * CELL_HEIGHT + (grid.h - 1) * MARGIN,
    )


def picture_height(dashboard: Dashboard) -> float:
    bottom = max((p.grid.y + p.grid.h for p in dashboard.panels), default=0)
    return HEADER_PX + bottom * (CELL_HEIGHT + MARGIN) + MARGIN


def stat_boxes(area: Rect, count: int) -> list[Rect]:
    """Grafana's auto orientation: values side by side in a wide panel, stacked in a tall one."""
    if count <= 0:
        return []
    if area.width >= area.height:
        width = area.width / count
        return [Rect(area.left + i * width, area.top, width, area.height) for i in range(count)]
    height = area.height / count
    return [Rect(area.left, area.top + i * height, area.width, height) for i in range(count)]


LEGEND_ROW_PX = 15


def legend_rows(panel_height_px: float, series: int) -> int:
    """Series rows that fit in a time series' table legend (at most 40 % of the panel, its header
    row included); the rest are summarised as "+N more series" on the last row."""
    fits = max(1, int(panel_height_px * 0.4 // LEGEND_ROW_PX) - 1)
    return min(series, fits)


TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(start: float, end: float, most: int) -> list[float]:
    """Time-axis ticks on round clock times (every 5 s, 1 min, 15 min, …), at most `most` of them."""
    span = max(end - start, 1.0)
    step = next((s for s in TICK_STEPS_S if span / s <= most), TICK_STEPS_S[-1] * math.ceil(span / most / 86400))
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, int(step))]


def fit(text: str, width_px: float, char_px: float = 6.6) -> str:
    room = max(4, int(width_px // char_px))
    return text if len(text) <= room else text[: room - 1] + "…"


# -- drawing ---------------------------------------------------------------------------------------


@dataclass
class Rendered:
    path: Path
    panels: dict[str, list[Series]]


def render(dashboard: Dashboard, prometheus: Prometheus, window: Window, out: Path) -> Rendered:
    """The dashboard as one PNG at `out`; also what each panel's queries answered."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    height = picture_height(dashboard)
    fig = Figure(figsize=(WIDTH_PX / DPI, height / DPI), dpi=DPI, facecolor=BACKGROUND)
    text = _Text(fig, WIDTH_PX, height)
    text.put(MARGIN + 4, 20, dashboard.title, size=15, color=TEXT, weight="bold")
    shown = ", ".join(f"{name}: All" for name in dashboard.variables)
    span = f"{window.start.astimezone(UTC):%Y-%m-%d %H:%M:%S} to {window.end.astimezone(UTC):%H:%M:%S} UTC"
    text.put(
        MARGIN + 4,
        42,
        f"{shown}   ·   {span}   ·   rendered from Prometheus by `krafa dashboards render`",
        size=9,
        color=DIM,
    )
    answers: dict[str, list[Series]] = {}
    for panel in dashboard.panels:
        rect = place(panel.grid)
        if panel.kind == "row":
            text.put(rect.left + 2, rect.top + rect.height / 2 + 5, panel.title, size=12, color=TEXT, weight="bold")
            continue
        series = evaluate(prometheus, panel, dashboard.variables, window)
        answers[panel.title] = series
        _frame(fig, rect, WIDTH_PX, height)
        text.put(
            rect.left + 8, rect.top + 17, fit(panel.title, rect.width - 16, 7.2), size=10, color=TEXT, weight="bold"
        )
        body = Rect(rect.left + 8, rect.top + 26, rect.width - 16, rect.height - 32)
        if not series or all(s.last() is None for s in series):
            text.put(body.left + body.width / 2, body.top + body.height / 2, "No data", size=12, color=DIM, ha="center")
        elif panel.kind == "stat":
            _stat(text, panel, series, body)
        else:
            _timeseries(fig, text, panel, series, body, window, WIDTH_PX, height)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, facecolor=BACKGROUND)
    _quantize(out)
    return Rendered(out, answers)


def _quantize(path: Path) -> None:
    """A palette PNG: the flat dark theme needs few colours, and the file a fraction of the size."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


class _Text:
    """Text placed in pixels from the top left."""

    def __init__(self, fig: Any, width: float, height: float) -> None:
        self.fig, self.width, self.height = fig, width, height

    def put(self, x: float, y: float, s: str, *, size: float, color: str, ha: str = "left", **kw: Any) -> None:
        self.fig.text(x / self.width, 1 - y / self.height, s, fontsize=size, color=color, ha=ha, va="baseline", **kw)


def _frame(fig: Any, rect: Rect, width: float, height: float) -> None:
    from matplotlib.patches import FancyBboxPatch

    fig.patches.append(
        FancyBboxPatch(
            (rect.left / width, 1 - (rect.top + rect.height) / height),
            rect.width / width,
            rect.height / height,
            boxstyle="round,pad=0,rounding_size=0.002",
            transform=fig.transFigure,
            facecolor=PANEL,
            edgecolor=BORDER,
            linewidth=0.8,
            zorder=-1,  # under the panel's plot (figure artists draw by zorder, axes at 0)
        )
    )


def _stat(text: _Text, panel: Panel, series: list[Series], body: Rect) -> None:
    boxes = stat_boxes(body, len(series))
    for s, box in zip(series, boxes, strict=True):
        value = format_value(s.last(), panel.unit_of(s.name))
        named = len(series) > 1  # Grafana's text mode "auto": a lone value goes without its name
        # The biggest font that fits the box, as Grafana's auto text size does.
        px = min(box.height * (0.5 if named else 0.62), box.width / max(1, len(value)) / 0.62, 64)
        centre = box.left + box.width / 2
        baseline = box.top + box.height / 2 + px * 0.35 + (6 if named else 0)
        if named:
            text.put(centre, baseline - px - 4, fit(s.name, box.width - 8), size=9, color=TEXT, ha="center")
        text.put(
            centre,
            baseline,
            value,
            size=px * 72 / DPI,
            color=GREEN if value != "No data" else DIM,
            ha="center",
            weight="bold",
        )


def _timeseries(
    fig: Any, text: _Text, panel: Panel, series: list[Series], body: Rect, window: Window, width: float, height: float
) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    rows = legend_rows(body.height, len(series))
    legend_top = body.top + body.height - (rows + 1) * LEGEND_ROW_PX  # a header row, then the series
    plot = Rect(body.left + 62, body.top + 6, body.width - 70, legend_top - body.top - 30)
    ax = fig.add_axes(
        (plot.left / width, 1 - (plot.top + plot.height) / height, plot.width / width, plot.height / height),
        facecolor=PANEL,
    )
    units = {panel.unit_of(s.name) for s in series}
    axis_unit = units.pop() if len(units) == 1 else panel.unit
    for i, s in enumerate(series):
        times, values = with_gaps(s.times, s.values, window.step_s)
        ax.plot(times, values, color=PALETTE[i % len(PALETTE)], linewidth=1.2)
    ax.set_xlim(window.start.timestamp(), window.end.timestamp())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, axis_unit)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.set_xticks(time_ticks(window.start.timestamp(), window.end.timestamp(), max(2, int(plot.width // 90))))
    clock = "%H:%M:%S" if window.seconds < 600 else "%H:%M"
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: datetime.fromtimestamp(v, UTC).strftime(clock)))
    ax.tick_params(colors=DIM, labelsize=7.5, length=0, pad=4)
    ax.grid(True, color=BORDER, linewidth=0.6)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_ylim(*y_range([v for s in series for v in s.values]))
    # The table legend: colour, name and last value; what does not fit is counted.
    value_x = body.left + body.width - 4
    text.put(value_x, legend_top + 11, "Last", size=7.5, color=DIM, ha="right")
    for i, s in enumerate(series[:rows]):
        y = legend_top + (i + 1) * LEGEND_ROW_PX + 11
        if i == rows - 1 and rows < len(series):
            text.put(body.left + 18, y, f"+{len(series) - rows + 1} more series", size=8, color=DIM)
            break
        text.put(body.left + 2, y, "━", size=9, color=PALETTE[i % len(PALETTE)])
        text.put(body.left + 18, y, fit(s.name, body.width - 130), size=8, color=TEXT)
        text.put(value_x, y, format_value(s.last(), panel.unit_of(s.name)), size=8, color=TEXT, ha="right")


def with_gaps(times: Sequence[float], values: Sequence[float], step_s: float) -> tuple[list[float], list[float]]:
    """A series with a NaN wherever steps are missing (the series was absent), so the line breaks
    there as Grafana's does, instead of bridging the gap."""
    out_t: list[float] = []
    out_v: list[float] = []
    for t, v in zip(times, values, strict=True):
        if out_t and t - out_t[-1] > step_s * 1.5:
            out_t.append(out_t[-1] + step_s)
            out_v.append(math.nan)
        out_t.append(t)
        out_v.append(v)
    return out_t, out_v


def y_range(values: Sequence[float]) -> tuple[float, float]:
    """Grafana's soft y range: from 0 when nothing is negative, a tenth of headroom above the top,
    and a flat line in the middle rather than on an edge."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    low = min(low, 0.0)
    if high <= low:
        high = low + (abs(low) or 1.0)
    return low - (0.1 * (high - low) if low < 0 else 0.0), high + 0.1 * (high - low)


# -- the command -----------------------------------------------------------------------------------


def render_all(
    prometheus: Prometheus, window: Window, out: Path, names: Sequence[str] = (), source: Path = DASHBOARDS
) -> list[Rendered]:
    paths = sorted(source.glob("*.json"))
    if names:
        unknown = sorted(set(names) - {p.stem for p in paths})
        if unknown:
            raise CliError(
                f"no such dashboard: {', '.join(unknown)} (have {', '.join(p.stem for p in paths)})", EXIT_USAGE
            )
        paths = [p for p in paths if p.stem in names]
    return [render(load(path), prometheus, window, out / f"{path.stem}.png") for path in paths]


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        raise CliError("Prometheus is not installed (Debian: apt-get install prometheus)", EXIT_UNAVAILABLE)
    return binary


@contextmanager
def running_prometheus(home: Path, config: dict[str, Any], storage: Path | None = None) -> Iterator[str]:
    """Debian's Prometheus on a free loopback port with `config`, until the block ends; its URL."""
    import yaml
    from krafa_kit.embedded import free_port, spawn, stop_process

    home.mkdir(parents=True, exist_ok=True)
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = home / "prometheus.log"
    with open(log_path, "wb") as log:
        process = spawn(
            [
                prometheus_binary(),
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={storage or home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=15d",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise CliError(f"Prometheus exited: {log_path.read_text(errors='replace')[-500:]}", EXIT_UNAVAILABLE)
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise CliError("Prometheus was not ready in 60 s", EXIT_UNAVAILABLE)
            time.sleep(0.2)
        yield url
    finally:
        stop_process(process)


async def _demo(stack: Any, claims: int) -> None:
    from krafa.observer import Observer
    from krafa.scenario import Scenario

    observer = Observer(stack.broker.bootstrap)
    await observer.start()
    try:
        scenario = Scenario(stack, observer, claims=claims, say=lambda m: print(f"  {m}", flush=True))
        await scenario.run(timeout=120)
        # Thirty simulated days past the first due date, so the recovery cohort has its figure.
        cohort = datetime.combine(scenario.day0, datetime.min.time(), UTC) + timedelta(days=31)
        while stack.sim_now() < cohort:
            await asyncio.sleep(0.25)
    finally:
        await observer.stop()


def demo_window(args: argparse.Namespace) -> list[Rendered]:
    """A short demo on an embedded stack with a Prometheus scraping every service each second,
    then every dashboard over the demo's window."""
    from krafa.stack import SERVICES, Stack, StackConfig

    prometheus_binary()  # fail before a stack starts
    with tempfile.TemporaryDirectory(prefix="krafa-dashboards-") as tmp:
        config = StackConfig.with_free_ports(Path(tmp) / "stack", sim_speed=86400 / args.day_seconds, durable=False)
        config.sim_start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
        stack = Stack(config)
        print(f"krafa dashboards: a demo of {args.claims} claims, Prometheus scraping it every second", flush=True)
        try:
            stack.start(on_progress=lambda m: print(f"  {m}", flush=True))
            scrape = {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {
                        "job_name": "krafa",
                        "static_configs": [{"targets": [f"127.0.0.1:{config.ports[s]}" for s in SERVICES]}],
                    }
                ],
            }
            with running_prometheus(Path(tmp) / "prometheus", scrape) as url:
                start = datetime.now(UTC)
                asyncio.run(_demo(stack, args.claims))
                time.sleep(12)  # the KPI snapshots refresh every 10 s: one more scrape of each
                window = Window.over(start, datetime.now(UTC), scrape_interval_s=1.0)
                prometheus = Prometheus(url)
                try:
                    return render_all(prometheus, window, Path(args.out), args.dashboard or ())
                finally:
                    prometheus.close()
        finally:
            stack.stop()


def cmd_render(args: argparse.Namespace) -> int:
    if args.prometheus is None:
        rendered = demo_window(args)
    else:
        prometheus = Prometheus(args.prometheus)
        try:
            end = datetime.now(UTC)
            interval = args.scrape_interval or prometheus.scrape_interval_s()
            window = Window.over(end - timedelta(seconds=args.last), end, scrape_interval_s=interval)
            rendered = render_all(prometheus, window, Path(args.out), args.dashboard or ())
        finally:
            prometheus.close()
    for item in rendered:
        empty = sum(1 for series in item.panels.values() if not series)
        print(f"wrote {item.path} ({len(item.panels)} panels, {empty} without data)")
    return 0


def seconds(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 15m or 2h") from None


def add_commands(sub: Any) -> None:
    dashboards = sub.add_parser(
        "dashboards", help="the Grafana dashboards drawn from a real Prometheus"
    ).add_subparsers(dest="action", required=True)
    render_cmd = dashboards.add_parser(
        "render",
        help="every dashboard as one PNG, its panels' PromQL evaluated by Prometheus (query_range)",
        description="Without --prometheus: runs a short demo on an embedded stack with Debian's prometheus "
        "scraping it, and renders the demo's window.",
    )
    render_cmd.add_argument(
        "--prometheus",
        default=None,
        metavar="URL",
        help="a running Prometheus that scrapes Krafa (default: run a demo)",
    )
    render_cmd.add_argument(
        "--last",
        type=seconds,
        default=3600.0,
        metavar="DURATION",
        help="with --prometheus: the window, e.g. 15m (default 1h)",
    )
    render_cmd.add_argument(
        "--scrape-interval",
        type=seconds,
        default=None,
        metavar="DURATION",
        help="with --prometheus: its scrape interval (default: read from its configuration)",
    )
    render_cmd.add_argument("--out", default=".krafa/dashboards", help="where the PNGs go (default .krafa/dashboards)")
    render_cmd.add_argument(
        "--dashboard", action="append", default=None, help="only this dashboard (file stem; repeat for several)"
    )
    render_cmd.add_argument("--claims", type=int, default=20, help="the demo's claims (default 20)")
    render_cmd.add_argument(
        "--day-seconds", type=float, default=0.5, help="the demo's wall seconds per simulated day (default 0.5)"
    )
    render_cmd.set_defaults(func=cmd_render)
