"""A real Prometheus scrapes the running embedded stack after a short demo scenario; every Grafana
panel query and every alert rule is evaluated through its HTTP API. A query that errors, names a
metric no service exports, or (for panels) returns nothing fails the test, unless the panel is
listed in NO_DATA_IN_DEMO with the reason. The stack also dead-letters one poison record, so the
dead-letter panel has data and its alert must fire.

Needs Debian's `prometheus` package (`.ci/run` installs it). Without it the test skips, except in
CI (`CI` set), where it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from aiokafka import AIOKafkaProducer
from krafa.observer import Observer
from krafa.scenario import Scenario
from krafa.stack import SERVICES, Stack, StackConfig
from krafa_kit.embedded import free_port, spawn, stop_process
from krafa_kit.testing import eventually

from tests.contract.test_deploy_artifacts import DASHBOARDS, RULES, metric_names

pytestmark = pytest.mark.e2e

SIM_START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
DAY_SECONDS = 0.5  # two simulated days a second: 30 days past the first due date in ~20 s
CLAIMS = 20

# Panels whose metrics only get samples on paths the demo does not take, with the reason.
NO_DATA_IN_DEMO: dict[str, str] = {
    "Delivery failures by channel / outcome": "only on a refused delivery; the demo's SMTP and print sinks accept all",
    "Delivery failures (permanent) by creditor / channel": "only when no channel is usable for a reminder",
    "Deliveries dropped (claim closed) by reason": "only when a claim closes between ReminderDue and sending",
    "Phone-call outcomes": "the demo creditor's policy has no phone-call step",
}

GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "${service}": ".*",
    "$service": ".*",
    "${creditor}": ".*",
    "$creditor": ".*",
    "${channel}": ".*",
    "$channel": ".*",
}


def _prometheus() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        message = "Prometheus is not installed (Debian: apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this test (.ci/run installs it)")
        pytest.skip(message)
    return binary


def _substitute(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def _panel_queries() -> list[tuple[str, str, str]]:
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        stack = list(dashboard["panels"])
        while stack:
            panel = stack.pop(0)
            stack.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    queries.append((path.stem, panel["title"], target["expr"]))
    return queries


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    return _prometheus()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, prometheus_binary: str) -> Iterator[Stack]:
    config = StackConfig.with_free_ports(tmp_path_factory.mktemp("stack"), sim_speed=86400 / DAY_SECONDS, durable=False)
    config.sim_start = SIM_START
    instance = Stack(config)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, prometheus_binary: str, stack: Stack) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "krafa",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{stack.config.ports[s]}" for s in SERVICES]},
                ],
            }
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with open(home / "prometheus.log", "wb") as log:
        process = spawn(
            [
                prometheus_binary,
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (home / "prometheus.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Prometheus not ready in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        stop_process(process)


async def _dead_letter_one(bootstrap: str) -> None:
    """A record without CloudEvents headers on krafa.payments: claims-api parks it in the DLQ."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("krafa.payments", b"not an event", key=b"poison")
    finally:
        await producer.stop()


async def _query(client: httpx.AsyncClient, url: str, expr: str) -> dict[str, Any]:
    response = await client.get(f"{url}/api/v1/query", params={"query": expr})
    body: dict[str, Any] = response.json()
    assert response.status_code == 200 and body.get("status") == "success", f"{expr}: {body}"
    return body


@pytest.fixture(scope="module")
async def after_demo(stack: Stack, prometheus: str) -> AsyncIterator[str]:
    observer = Observer(stack.broker.bootstrap)
    await observer.start()
    try:
        scenario = Scenario(stack, observer, claims=CLAIMS)
        await scenario.run(timeout=60)
        await _dead_letter_one(stack.broker.bootstrap)
        # The 30-day recovery cohort needs 30 simulated days after the first due date.
        cohort = datetime.combine(scenario.day0, datetime.min.time(), UTC) + timedelta(days=31)
        while stack.sim_now() < cohort:
            await asyncio.sleep(0.25)
    finally:
        await observer.stop()
    async with httpx.AsyncClient(timeout=10) as client:

        async def settled() -> bool:
            # KPI snapshots refresh every 10 s; wait until the scrape shows the recovery cohort.
            body = await _query(client, prometheus, "krafa_collection_recovery_ratio")
            return bool(body["data"]["result"])

        await eventually(settled, timeout=60)
        await asyncio.sleep(3)  # a few more scrapes so rate() windows hold two samples
    yield prometheus


async def _exported_names(client: httpx.AsyncClient, url: str) -> set[str]:
    """Every metric family the targets declare (HELP/TYPE), with or without samples yet."""
    response = await client.get(f"{url}/api/v1/targets/metadata", params={"match_target": '{job="krafa"}'})
    names = {entry["metric"] for entry in response.json()["data"]}
    values = await client.get(f"{url}/api/v1/label/__name__/values")
    names.update(values.json()["data"])
    return names


async def _none(pending: Awaitable[list[Any]]) -> bool:
    return not await pending


def _known(name: str, exported: set[str], recorded: set[str]) -> bool:
    if name in exported or name in recorded:
        return True
    base = re.sub(r"_(bucket|sum|count|total|created)$", "", name)
    return base in exported or f"{base}_total" in exported


async def test_dashboards_and_alerts_evaluate_against_the_running_stack(after_demo: str) -> None:
    url = after_demo
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client:
        exported = await _exported_names(client, url)
        assert "krafa_collection_claims" in exported and "krafa_events_consumed_total" in exported

        for dashboard, title, expr in _panel_queries():
            unknown = sorted(n for n in metric_names(expr) if not _known(n, exported, recorded))
            if unknown:
                problems.append(f"{dashboard} / {title}: no service exports {unknown}")
                continue
            body = await _query(client, url, _substitute(expr))
            has_data = bool(body["data"]["result"])
            if title in NO_DATA_IN_DEMO:
                continue
            if not has_data:
                problems.append(f"{dashboard} / {title}: no data after the demo: {expr}")

        for rule in _rules():
            name = rule.get("alert") or rule["record"]
            unknown = sorted(n for n in metric_names(rule["expr"]) if not _known(n, exported, recorded))
            if unknown:
                problems.append(f"rule {name}: no service exports {unknown}")
            await _query(client, url, rule["expr"])

        # Prometheus itself evaluated every rule without error, and the dead letter raised its alert.
        rules = (await client.get(f"{url}/api/v1/rules")).json()["data"]["groups"]
        loaded = {r["name"]: r for group in rules for r in group["rules"]}
        assert set(loaded) == {rule.get("alert") or rule["record"] for rule in _rules()}
        problems += [f"rule {n}: {r.get('lastError')}" for n, r in loaded.items() if r.get("health") == "err"]

        async def dead_letter_alert_fires() -> bool:
            groups = (await client.get(f"{url}/api/v1/rules")).json()["data"]["groups"]
            states = {r["name"]: r.get("state") for g in groups for r in g["rules"]}
            return states.get("KrafaEventsDeadLettered") == "firing"

        try:
            await eventually(dead_letter_alert_fires, timeout=30)
        except AssertionError:
            problems.append("KrafaEventsDeadLettered did not fire after a record was dead-lettered")

        # The KPI snapshots agree with what the demo did and with each other across services.
        async def value(expr: str) -> float:
            result = (await _query(client, url, expr))["data"]["result"]
            assert len(result) == 1, f"{expr}: {result}"
            return float(result[0]["value"][1])

        assert await value("sum(krafa_collection_claims)") == CLAIMS  # every claim counted once
        paid = await value('sum(krafa_collection_claims{state="paid"})')
        assert paid >= 1
        assert await value('sum(krafa_collection_payments_total{state="matched"})') >= paid
        # Every paid claim is in the days-to-payment histogram exactly once.
        assert await value("sum(krafa_collection_days_to_payment_count)") == paid
        # Across services the snapshots agree once the last events are consumed and each service
        # has refreshed (every 10 s): what payments-ingest matched is what claims-api credited to
        # the claims. (Reminders are not compared: later steps may still be going out.)
        pairs = [
            (
                'sum(krafa_collection_payments_amount_minor_total{state="matched"})',
                "sum(krafa_collection_recovered_amount_minor_total)",
            ),
        ]

        async def agree() -> list[tuple[str, float, float]]:
            values = [(a, await value(a), await value(b)) for a, b in pairs]
            return [v for v in values if v[1] != v[2]]

        try:
            await eventually(lambda: _none(agree()), timeout=30)
        except AssertionError:
            problems.append(f"KPIs of two services disagree: {await agree()}")
        assert await value('sum(krafa_collection_reminders_sent_total{kind="fallback"})') >= 1
        assert await value("sum(krafa_collection_emails_sent_total)") >= 1
        assert await value("sum(krafa_collection_emails_bounced_total)") >= 1
    assert not problems, "\n".join(problems)


def test_every_no_data_exception_names_a_real_panel() -> None:
    titles = {title for _, title, _ in _panel_queries()}
    assert set(NO_DATA_IN_DEMO) <= titles, set(NO_DATA_IN_DEMO) - titles


def test_promtool_accepts_the_rules() -> None:
    _prometheus()
    promtool = shutil.which("promtool")
    assert promtool is not None, "the prometheus package ships promtool"
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
