"""The Grafana dashboards as code: `python deploy/grafana/dashboards.py` writes
deploy/grafana/dashboards/*.json (provisioned by Grafana in docker-compose). Every query names
only metrics the services export; tests/contract checks the committed JSON is this output and
tests/observability evaluates every query against a Prometheus scraping the running stack.

Creditor KPIs carry the creditor's id; `* on (creditor) group_left (name) krafa_creditor_info`
adds its name for the legend, and the creditor variable lists names. Every query runs on the
data source the `datasource` variable picks, so the dashboards import into any Grafana. Money
is exported in minor units of its currency; the panels show major units (`major`: divided by
10^exponent per currency, from the ISO 4217 table in krafa_events.currencies), each series in
its own currency's unit (`currency_overrides`: Grafana takes a unit per field, not per label, so
the override matches the currency code in the series' legend).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
OUT = Path(__file__).resolve().parent / "dashboards"
NAMES = "* on (creditor) group_left (name) krafa_creditor_info"
C = 'creditor=~"$creditor"'


def _exponents() -> dict[int, list[str]]:
    """ISO 4217 currencies by their minor unit's exponent (the file runs without the venv too)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "libs" / "events" / "src"))
    from krafa_events.currencies import HISTORIC_MINOR_UNITS, MINOR_UNITS

    groups: dict[int, list[str]] = {}
    for code, exponent in sorted({**HISTORIC_MINOR_UNITS, **MINOR_UNITS}.items()):
        groups.setdefault(exponent, []).append(code)
    return groups


def money(by: str, metric: str, matchers: str = C, window: str = "") -> str:
    """`sum by (by)` of a minor-unit counter or gauge, in major units (see `major`)."""
    selector = f"{metric}{{{{{matchers + ',' if matchers else ''}{{currency}}}}}}"
    return major(f"sum by ({by}) ({f'increase({selector}[{window}])' if window else selector})")


def major(template: str) -> str:
    """A query over a minor-unit metric in major units: `template` with `{currency}` where the
    metric's selector takes a currency matcher, once per exponent, each divided by 10^exponent."""
    parts = []
    for exponent, codes in sorted(_exponents().items()):
        query = template.format(currency=f'currency=~"{"|".join(codes)}"')
        parts.append(f"({query})" if exponent == 0 else f"({query}) / {10**exponent}")
    return " or ".join(parts)


@dataclass
class Panel:
    title: str
    targets: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    description: str = ""
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    extra: dict[str, Any] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)


# The currencies of the markets Krafa serves, shown with their code (Grafana's custom unit
# `currency:<code>`); an amount in any other currency keeps the panel's plain number.
SHOWN_CURRENCIES = ("ISK", "EUR", "NOK", "SEK", "DKK", "USD", "GBP")


def currency_overrides() -> list[dict[str, Any]]:
    """A series whose legend names a currency (`{{currency}}` in it) is shown in that currency."""
    return [
        {
            "matcher": {"id": "byRegexp", "options": f"/\\b{code}\\b/"},
            "properties": [{"id": "unit", "value": f"currency:{code}"}],
        }
        for code in SHOWN_CURRENCIES
    ]


def money_panel(title: str, targets: list[tuple[str, str]], description: str = "") -> Panel:
    """A time series of amounts in major units, each in its currency (the legend names it)."""
    assert all("{{currency}}" in legend for _, legend in targets), title
    return Panel(title, targets, description=description, overrides=currency_overrides())


@dataclass
class Row:
    title: str
    panels: list[Panel]


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": panel.overrides},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
        if panel.kind == "timeseries"
        else {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "range": True}
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }
    body.update(panel.extra)
    return body


DATASOURCE_VARIABLE: dict[str, Any] = {
    "name": "datasource",
    "label": "Data source",
    "type": "datasource",
    "query": "prometheus",
    "current": {},
    "hide": 0,
    "refresh": 1,
}


def _creditor_variable() -> dict[str, Any]:
    """Creditors by name (krafa_creditor_info), their ids the values the queries match."""
    variable = _variable("creditor", "Creditor", "query_result(krafa_creditor_info)")
    variable["regex"] = '/creditor="(?<value>[^"]+)".*name="(?<text>[^"]+)"/'
    return variable


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "sort": 1,
    }


def dashboard(
    uid: str, title: str, tags: list[str], rows: list[Row], variables: list[dict[str, Any]]
) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    panel_id = 1
    for row in rows:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        panel_id += 1
        y += 1
        x = 0
        row_height = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + row_height
                row_height = 0
            panels.append(_panel(panel, panel_id, x, y))
            panel_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return {
        "uid": uid,
        "title": title,
        "tags": ["krafa", *tags],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [{"title": "Krafa", "type": "dashboards", "tags": ["krafa"], "asDropdown": True}],
        "templating": {"list": [DATASOURCE_VARIABLE, *variables]},
        "panels": panels,
    }


def stat(title: str, expr: str, legend: str = "", unit: str = "short", description: str = "") -> Panel:
    """A number at a glance, in the top row of a dashboard."""
    overrides = currency_overrides() if "{{currency}}" in legend else []
    return Panel(
        title, [(expr, legend)], unit=unit, description=description, kind="stat", width=6, height=4, overrides=overrides
    )


def collection() -> dict[str, Any]:
    rows = [
        Row(
            "At a glance",
            [
                stat("Open claims", f'sum(krafa_collection_claims{{{C},state="open"}})'),
                stat(
                    "Open amount",
                    money("currency", "krafa_collection_open_amount_minor"),
                    "{{currency}}",
                    description="Still owed on open, disputed and held claims, per currency.",
                ),
                stat(
                    "Reminders sent (24 h)",
                    f"sum(increase(krafa_collection_reminders_sent_total{{{C}}}[24h]))",
                ),
                stat(
                    "Unmatched payments waiting",
                    "sum(krafa_collection_unmatched_queue)",
                    description="Payments no claim could be matched to: the operator's queue.",
                ),
            ],
        ),
        Row(
            "Claims and balances",
            [
                Panel("Claims by state", [(f"sum by (state) (krafa_collection_claims{{{C}}})", "{{state}}")]),
                Panel(
                    "Open claims by creditor",
                    [(f'sum by (creditor) (krafa_collection_claims{{{C},state="open"}}) {NAMES}', "{{name}}")],
                ),
                money_panel(
                    "Open amount by currency",
                    [
                        (
                            money("currency", "krafa_collection_open_amount_minor"),
                            "{{currency}}",
                        )
                    ],
                    description="Principal, fees and interest still owed on open, disputed and held claims.",
                ),
                money_panel(
                    "Open amount by creditor / currency",
                    [
                        (
                            "(" + money("creditor, currency", "krafa_collection_open_amount_minor") + f") {NAMES}",
                            "{{name}} {{currency}}",
                        )
                    ],
                ),
            ],
        ),
        Row(
            "Reminders and channels",
            [
                Panel(
                    "Reminders sent by creditor / channel / step (1h)",
                    [
                        (
                            "sum by (creditor, channel, step) (increase(krafa_collection_reminders_sent_total"
                            f'{{{C},channel=~"$channel"}}[1h])) {NAMES}',
                            "{{name}} {{channel}} step {{step}}",
                        )
                    ],
                ),
                Panel(
                    "Reminders sent by channel / step (rate)",
                    [
                        (
                            'sum by (channel, step) (rate(krafa_reminders_sent_total{channel=~"$channel"}'
                            "[$__rate_interval]))",
                            "{{channel}} step {{step}}",
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "Fallback letters by creditor",
                    [
                        (
                            f'sum by (creditor) (krafa_collection_reminders_sent_total{{{C},kind="fallback"}}) {NAMES}',
                            "{{name}}",
                        )
                    ],
                    description="Letters sent because the email to the debtor bounced.",
                ),
                Panel(
                    "Bounce rate by creditor (bounced / emails sent)",
                    [
                        (
                            f"(sum by (creditor) (krafa_collection_emails_bounced_total{{{C}}})"
                            f" / sum by (creditor) (krafa_collection_emails_sent_total{{{C}}})) {NAMES}",
                            "{{name}}",
                        )
                    ],
                    unit="percentunit",
                ),
                Panel(
                    "Bounce rate (hard+soft bounces / emails sent, 1h)",
                    [
                        (
                            'sum(increase(krafa_bounces_received_total{kind=~"hard|soft"}[1h]))'
                            ' / sum(increase(krafa_reminders_sent_total{channel="email"}[1h]))',
                            "bounce rate",
                        )
                    ],
                    unit="percentunit",
                ),
                Panel(
                    "Bounces received by kind / source",
                    [
                        (
                            "sum by (kind, source) (rate(krafa_bounces_received_total[$__rate_interval]))",
                            "{{kind}} {{source}}",
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "Delivery failures by channel / outcome",
                    [
                        (
                            "sum by (channel, outcome) (rate(krafa_delivery_failures_total[$__rate_interval]))",
                            "{{channel}} {{outcome}}",
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "Delivery failures (permanent) by creditor / channel",
                    [
                        (
                            f"sum by (creditor, channel) (krafa_collection_delivery_failures_total"
                            f'{{{C},channel=~"$channel"}}) {NAMES}',
                            "{{name}} {{channel}}",
                        )
                    ],
                ),
                Panel(
                    "Deliveries dropped (claim closed) by reason",
                    [("sum by (reason) (rate(krafa_deliveries_dropped_total[$__rate_interval]))", "{{reason}}")],
                    unit="ops",
                ),
                Panel(
                    "SMS segments by creditor",
                    [(f"sum by (creditor) (krafa_collection_sms_segments_total{{{C}}}) {NAMES}", "{{name}}")],
                ),
                money_panel(
                    "Provider cost by channel / currency",
                    [
                        (
                            money("channel, currency", "krafa_collection_message_cost_minor_total"),
                            "{{channel}} {{currency}}",
                        )
                    ],
                    description="What the SMS and print providers charged, in their currency.",
                ),
                Panel(
                    "Send latency p99 by channel",
                    [
                        (
                            "histogram_quantile(0.99, sum by (le, channel) (rate(krafa_send_seconds_bucket"
                            "[$__rate_interval])))",
                            "{{channel}}",
                        )
                    ],
                    unit="s",
                ),
            ],
        ),
        Row(
            "Payments and recovery",
            [
                Panel(
                    "Payments matched / unmatched by currency",
                    [
                        (
                            'sum by (state, currency) (krafa_collection_payments_total{creditor=~"$creditor|unknown"})',
                            "{{state}} {{currency}}",
                        )
                    ],
                ),
                Panel(
                    "Payments matched / unmatched (rate)",
                    [
                        ("sum(rate(krafa_payments_matched_total[$__rate_interval]))", "matched"),
                        (
                            "sum by (reason) (rate(krafa_payments_unmatched_total[$__rate_interval]))",
                            "unmatched {{reason}}",
                        ),
                    ],
                    unit="ops",
                ),
                Panel(
                    "Unmatched payments waiting for an operator",
                    [("sum by (currency) (krafa_collection_unmatched_queue)", "{{currency}}")],
                ),
                money_panel(
                    "Payment amount by currency (per hour)",
                    [
                        (
                            money("currency, direction", "krafa_payment_amount_minor_total", "", "1h"),
                            "{{currency}} {{direction}}",
                        )
                    ],
                ),
                money_panel(
                    "Amount recovered per reminder step",
                    [
                        (
                            money("step, currency", "krafa_collection_recovered_amount_minor_total"),
                            "step {{step}} {{currency}}",
                        )
                    ],
                    description="Payments credited to the last reminder step sent before them; step 0: before any.",
                ),
                Panel(
                    "Days from due date to payment (median, p90)",
                    [
                        (
                            f"histogram_quantile(0.5, sum by (le) (krafa_collection_days_to_payment_bucket{{{C}}}))",
                            "median",
                        ),
                        (
                            f"histogram_quantile(0.9, sum by (le) (krafa_collection_days_to_payment_bucket{{{C}}}))",
                            "p90",
                        ),
                    ],
                    unit="d",
                ),
                Panel(
                    "Recovery rate within 30 / 60 / 90 days by creditor",
                    [
                        (
                            f"max by (creditor, within) (krafa_collection_recovery_ratio{{{C}}}) {NAMES}",
                            "{{name}} within {{within}} days",
                        )
                    ],
                    unit="percentunit",
                    description="Share of claims due at least N days ago paid in full within N days of the due date.",
                ),
                Panel(
                    "Timeline steps fired by step",
                    [("sum by (step) (rate(krafa_scheduler_steps_fired_total[$__rate_interval]))", "step {{step}}")],
                    unit="ops",
                ),
            ],
        ),
        Row(
            "Creditor webhooks",
            [
                Panel(
                    "Webhook attempts by creditor / outcome (rate)",
                    [
                        (
                            f"sum by (creditor, outcome) (rate(krafa_webhook_attempts_total{{{C}}}[$__rate_interval]))"
                            f" {NAMES}",
                            "{{name}} {{outcome}}",
                        )
                    ],
                    unit="ops",
                    description="delivered; failed (to be retried); gave_up (the last retry failed).",
                ),
                Panel(
                    "Webhook failures by creditor / reason (1h)",
                    [
                        (
                            f"sum by (creditor, reason) (increase(krafa_webhook_failures_total{{{C}}}[1h])) {NAMES}",
                            "{{name}} {{reason}}",
                        )
                    ],
                    description="http_5xx / http_4xx / http_3xx: the endpoint's answer; timeout, connection: no answer;"
                    " refused: the URL no longer passes the SSRF guard.",
                ),
                Panel(
                    "Webhooks waiting by creditor / endpoint",
                    [
                        (
                            f"max by (creditor, endpoint) (krafa_webhook_deliveries_pending{{{C}}}) {NAMES}",
                            "{{name}} {{endpoint}}",
                        )
                    ],
                    description="Deliveries queued or to be retried, per active endpoint.",
                ),
                Panel(
                    "Oldest waiting webhook by creditor / endpoint",
                    [
                        (
                            f"max by (creditor, endpoint) (krafa_webhook_oldest_pending_age_seconds{{{C}}}) {NAMES}",
                            "{{name}} {{endpoint}}",
                        )
                    ],
                    unit="s",
                    description="Over 15 minutes: the endpoint takes no webhooks (alert KrafaWebhooksFailing).",
                ),
            ],
        ),
        Row(
            "Phone calls",
            [
                Panel(
                    "Call queue by state",
                    [(f"sum by (state) (krafa_collection_call_tasks{{{C}}})", "{{state}}")],
                ),
                Panel(
                    "Phone-call outcomes",
                    [(f"sum by (outcome) (krafa_collection_call_outcomes_total{{{C}}})", "{{outcome}}")],
                ),
            ],
        ),
    ]
    variables = [
        _creditor_variable(),
        _variable("channel", "Channel", "label_values(krafa_collection_reminders_sent_total, channel)"),
    ]
    return dashboard("krafa-collection", "Krafa / Collection performance", ["collection"], rows, variables)


def pipeline() -> dict[str, Any]:
    s = 'service=~"$service"'
    rows = [
        Row(
            "At a glance",
            [
                stat("Events consumed (1 h)", f"sum(increase(krafa_events_consumed_total{{{s}}}[1h]))"),
                stat("Dead-lettered (1 h)", f"sum(increase(krafa_events_dead_lettered_total{{{s}}}[1h]))"),
                stat("Outbox backlog", f"sum(krafa_outbox_backlog_rows{{{s}}})", description="Rows not yet published."),
                stat(
                    "Oldest unpublished event",
                    f"max(krafa_outbox_oldest_unpublished_age_seconds{{{s}}})",
                    unit="s",
                ),
            ],
        ),
        Row(
            "Events",
            [
                Panel(
                    "Events consumed by service / topic / outcome",
                    [
                        (
                            f"sum by (service, topic, outcome) (rate(krafa_events_consumed_total{{{s}}}"
                            "[$__rate_interval]))",
                            "{{service}} {{topic}} {{outcome}}",
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "Outbox published by service / topic",
                    [
                        (
                            f"sum by (service, topic) (rate(krafa_outbox_published_total{{{s}}}[$__rate_interval]))",
                            "{{service}} → {{topic}}",
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "Consumer lag (records behind) by service / topic",
                    [(f"sum by (service, topic) (krafa_consumer_lag_messages{{{s}}})", "{{service}} {{topic}}")],
                ),
                Panel(
                    "Handler latency p99 by service / topic",
                    [
                        (
                            "histogram_quantile(0.99, sum by (le, service, topic) ("
                            "rate(krafa_event_handler_seconds_bucket"
                            f"{{{s}}}[$__rate_interval])))",
                            "{{service}} {{topic}}",
                        )
                    ],
                    unit="s",
                ),
                Panel(
                    "Dead-lettered records (increase over 1h)",
                    [
                        (
                            f"sum by (service, topic) (increase(krafa_events_dead_lettered_total{{{s}}}[1h]))",
                            "{{service}} {{topic}}.dlq",
                        )
                    ],
                ),
            ],
        ),
        Row(
            "Outbox and timers",
            [
                Panel(
                    "Outbox backlog (unpublished rows)",
                    [(f"max by (service) (krafa_outbox_backlog_rows{{{s}}})", "{{service}}")],
                ),
                Panel(
                    "Outbox oldest unpublished age",
                    [(f"max by (service) (krafa_outbox_oldest_unpublished_age_seconds{{{s}}})", "{{service}}")],
                    unit="s",
                ),
                Panel(
                    "Scheduler: due steps not yet fired / timer lag",
                    [
                        ("max(krafa_scheduler_due_steps)", "due steps"),
                        ("max(krafa_scheduler_timer_lag_seconds)", "lag (s)"),
                    ],
                ),
                Panel("Timelines by status", [("sum by (status) (krafa_scheduler_timelines)", "{{status}}")]),
                Panel("Notifier send queue", [("sum by (status) (krafa_notifier_send_queue)", "{{status}}")]),
            ],
        ),
    ]
    variables = [_variable("service", "Service", "label_values(krafa_events_consumed_total, service)")]
    return dashboard("krafa-pipeline", "Krafa / Pipeline overview", ["pipeline"], rows, variables)


def health() -> dict[str, Any]:
    s = 'service=~"$service"'
    rows = [
        Row(
            "Rate, errors, duration per service",
            [
                Panel("Targets up", [('up{job="krafa"}', "{{instance}}")], kind="stat", width=24, height=4),
                Panel(
                    "Request rate by service",
                    [(f"sum by (service) (rate(krafa_http_requests_total{{{s}}}[$__rate_interval]))", "{{service}}")],
                    unit="reqps",
                ),
                Panel(
                    "5xx ratio by service",
                    [
                        (
                            f'sum by (service) (rate(krafa_http_requests_total{{{s},status=~"5.."}}[$__rate_interval]))'
                            f" / sum by (service) (rate(krafa_http_requests_total{{{s}}}[$__rate_interval]))",
                            "{{service}}",
                        )
                    ],
                    unit="percentunit",
                ),
                Panel(
                    "Latency p50 by service",
                    [
                        (
                            "histogram_quantile(0.5, sum by (le, service) ("
                            "rate(krafa_http_request_duration_seconds_bucket"
                            f"{{{s}}}[$__rate_interval])))",
                            "{{service}}",
                        )
                    ],
                    unit="s",
                ),
                Panel(
                    "Latency p99 by service",
                    [
                        (
                            "histogram_quantile(0.99, sum by (le, service) ("
                            "rate(krafa_http_request_duration_seconds_bucket"
                            f"{{{s}}}[$__rate_interval])))",
                            "{{service}}",
                        )
                    ],
                    unit="s",
                ),
                Panel(
                    "Requests by route / status",
                    [
                        (
                            f"sum by (service, route, status) (rate(krafa_http_requests_total{{{s}}}"
                            "[$__rate_interval]))",
                            "{{service}} {{route}} {{status}}",
                        )
                    ],
                    unit="reqps",
                ),
                Panel(
                    "Mean latency by route",
                    [
                        (
                            "sum by (service, route) (rate(krafa_http_request_duration_seconds_sum"
                            f"{{{s}}}[$__rate_interval])) / sum by (service, route) "
                            f"(rate(krafa_http_request_duration_seconds_count{{{s}}}[$__rate_interval]))",
                            "{{service}} {{route}}",
                        )
                    ],
                    unit="s",
                ),
                Panel(
                    "Events: consumed and failed by service",
                    [
                        (
                            f"sum by (service, outcome) (rate(krafa_events_consumed_total{{{s}}}[$__rate_interval]))",
                            "{{service}} {{outcome}}",
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "Event handler p99 by service",
                    [
                        (
                            "histogram_quantile(0.99, sum by (le, service) (rate(krafa_event_handler_seconds_bucket"
                            f"{{{s}}}[$__rate_interval])))",
                            "{{service}}",
                        )
                    ],
                    unit="s",
                ),
            ],
        )
    ]
    variables = [_variable("service", "Service", "label_values(krafa_http_requests_total, service)")]
    return dashboard("krafa-service-health", "Krafa / Service health", ["health"], rows, variables)


def render_all() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in (
            ("collection-performance", collection),
            ("pipeline-overview", pipeline),
            ("service-health", health),
        )
    }


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else OUT
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (target / name).write_text(text)
    print(f"wrote {len(render_all())} dashboards to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
