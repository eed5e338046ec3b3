"""`krafa run` wires claims-api to the stack's own notifier and scheduler (a creditor's templates,
previews, policies and schedules come from them, docs/adr/0013) with the gateway token they
check — its own, not the operator token — on whatever ports the stack runs, not the services'
defaults."""

from __future__ import annotations

from pathlib import Path

from krafa.stack import DEFAULT_PORTS, Stack, StackConfig


def test_claims_api_asks_the_stacks_own_notifier_and_scheduler_with_the_gateway_token(tmp_path: Path) -> None:
    ports = {name: port + 100 for name, port in DEFAULT_PORTS.items()}
    stack = Stack(StackConfig(home=tmp_path, ports=ports))
    claims = stack.service_env("claims-api")
    assert claims["KRAFA_NOTIFIER_URL"] == f"http://127.0.0.1:{ports['notifier']}"
    assert claims["KRAFA_SCHEDULER_URL"] == f"http://127.0.0.1:{ports['scheduler']}"
    for owner in ("notifier", "scheduler"):
        assert stack.service_env(owner)["KRAFA_GATEWAY_TOKEN"] == claims["KRAFA_GATEWAY_TOKEN"]
    assert claims["KRAFA_GATEWAY_TOKEN"] not in (claims["KRAFA_OPERATOR_TOKEN"], claims["KRAFA_PORTAL_TOKEN"])


def test_on_kafka_idle_consumers_heartbeat_every_2_s_and_check_every_5_s(tmp_path: Path) -> None:
    """Each heartbeat and each idle check is a request to the cluster (an idle check one per node
    leading a partition): on Apache Kafka an idle stack sends fewer, the relays' NOTIFY still wakes
    a consumer at once. The embedded broker keeps the defaults."""
    kafka = Stack(StackConfig.with_free_ports(tmp_path / "kafka", broker="kafka"))
    env = kafka.service_env("notifier")
    assert env["KRAFA_KAFKA_HEARTBEAT_INTERVAL_MS"] == "2000"
    assert env["KRAFA_CONSUMER_IDLE_CHECK_S"] == "5"
    assert env["KRAFA_CONSUMER_IDLE_AFTER_S"] == "2"
    embedded = Stack(StackConfig.with_free_ports(tmp_path / "embedded")).service_env("notifier")
    assert "KRAFA_KAFKA_HEARTBEAT_INTERVAL_MS" not in embedded
    assert "KRAFA_CONSUMER_IDLE_CHECK_S" not in embedded


def test_services_under_test_on_kafka_get_the_settings_a_stack_runs_them_with() -> None:
    """The apps a test runs on Apache Kafka (krafa_kit.testing's `broker` fixture) get what every
    stack's service gets, less what is a stack's own (its group prefix, its relays' ids)."""
    from krafa.stack import SERVICES, kafka_env
    from krafa_kit.testing import KAFKA_SERVICE_ENV

    own = {"KRAFA_KAFKA_CONSUMER_GROUP_PREFIX", "KRAFA_KAFKA_TRANSACTIONAL_ID"}
    for service in SERVICES:
        assert {k: v for k, v in kafka_env(service).items() if k not in own} == KAFKA_SERVICE_ENV, service
