"""Contract between the deploy artifacts and the code: every metric a dashboard or an alert names is
exported by a service today, every alert has a runbook section, and the Kubernetes manifests parse
and run each service non-root with liveness and readiness probes. No network."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
RULES = DEPLOY / "prometheus" / "rules.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
K8S = DEPLOY / "k8s"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

SERVICES = ("claims-api", "scheduler", "notifier", "bounce-handler", "payments-ingest")
CONSUMERS = ("scheduler", "notifier", "bounce-handler", "payments-ingest")

# PromQL functions, aggregation operators and keywords: identifiers that are not metric names.
_PROMQL_WORDS = """
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
    clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp
    floor histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar
    histogram_sum holt_winters double_exponential_smoothing hour idelta increase irate label_join label_replace
    last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month pi predict_linear
    present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_by_label
    sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp
    vector year
    sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio
    by without on ignoring group_left group_right bool and or unless offset start end
    inf nan
"""
PROMQL_WORDS = frozenset(_PROMQL_WORDS.split())
# Clauses whose parenthesised arguments are label names, not metrics.
LABEL_LIST_CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", re.IGNORECASE)
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^}]*\}")
DURATION = re.compile(r"\[[^\]]*\]")
IDENTIFIER = re.compile(r"(?<![\w.$:])([A-Za-z_:][A-Za-z0-9_:]*)")
LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)?")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are neither functions, keywords, label
    names (in matchers or by/without/on clauses), durations nor Grafana variables."""
    text = STRING.sub('""', expr)
    text = MATCHERS.sub("{}", text)
    text = DURATION.sub("[]", text)
    text = LABEL_LIST_CLAUSE.sub(lambda m: m.group(0).split("(")[0] + "()", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables: $__rate_interval, ${service}
    names = set()
    for match in IDENTIFIER.finditer(text):
        word = match.group(1)
        if word.lower() in PROMQL_WORDS or re.fullmatch(r"\d\w*", word):
            continue
        names.add(word)
    return names


def test_metric_names_parser() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, service) (rate(krafa_x_bucket{service=~"$service",a="b(c)"}'
        "[$__rate_interval]))) / ignoring(route) group_left (x) up == bool 0 and on (a) krafa_y offset 5m"
    )
    assert metric_names(expr) == {"krafa_x_bucket", "up", "krafa_y"}


def _metrics_modules() -> Iterator[str]:
    yield "krafa_kit.metrics"
    for service in SERVICES:
        package = f"krafa_{service.replace('-', '_')}"
        assert importlib.util.find_spec(package) is not None, f"{package} is not installed"
        # metrics.py: counters of flows; kpi.py: collectors reading the service's tables at scrape time.
        for module in (f"{package}.metrics", f"{package}.kpi"):
            if importlib.util.find_spec(module) is not None:
                yield module


SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    for module in _metrics_modules():
        importlib.import_module(module)
    names = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
    for family in REGISTRY.collect():
        names.add(family.name)
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
        names.update(sample.name for sample in family.samples)
    assert "krafa_events_consumed_total" in names
    return names


# -- dashboards ---------------------------------------------------------------------------------------


def _dashboards() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield panel.get("title", "?"), target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        for match in LABEL_VALUES.finditer(text):
            if match.group(1):
                yield f"variable {variable.get('name')}", match.group(1)


def test_dashboards_are_generated() -> None:
    spec = importlib.util.spec_from_file_location("krafa_dashboards", DEPLOY / "grafana" / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    committed = {p.name: p.read_text() for p in _dashboards()}
    assert committed == module.render_all(), "run `python deploy/grafana/dashboards.py` and commit the JSON"


def test_three_dashboards_exist() -> None:
    titles = {json.loads(p.read_text())["title"] for p in _dashboards()}
    assert len(titles) >= 3, titles


@pytest.mark.parametrize("path", _dashboards(), ids=lambda p: p.name)
def test_dashboard_metrics_exist(path: Path, exported: set[str]) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard.get("uid") and dashboard.get("title") and dashboard.get("panels")
    exprs = list(_dashboard_exprs(dashboard))
    assert exprs, f"{path.name} has no queries"
    missing = {(title, name) for title, expr in exprs for name in metric_names(expr) if name not in exported}
    assert not missing, f"{path.name} queries metrics no service exports: {sorted(missing)}"


@pytest.mark.parametrize("path", _dashboards(), ids=lambda p: p.name)
def test_dashboard_datasource_is_a_variable_the_provisioned_one_fills(path: Path) -> None:
    # No hard-coded uid: the dashboard imports into any Grafana, the `datasource` variable offering
    # its Prometheus data sources (here the provisioned one, the default).
    provisioned = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert any(ds["type"] == "prometheus" and ds.get("isDefault") for ds in provisioned["datasources"])
    dashboard = json.loads(path.read_text())
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in _panels(dashboard["panels"]):
        for holder in [panel, *panel.get("targets", [])]:
            ds = holder.get("datasource")
            if isinstance(ds, dict):
                assert ds.get("uid") == "${datasource}", (panel.get("title"), ds)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}", variable["name"]


# -- alert rules --------------------------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def test_rules_are_loaded_by_prometheus() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert RULES.name in config.get("rule_files", [])


def test_expected_alerts_exist() -> None:
    exprs = " ".join(rule["expr"] for rule in _alerts())
    for metric in (
        "krafa_consumer_lag_messages",
        "krafa_events_dead_lettered_total",
        "krafa_outbox_oldest_unpublished_age_seconds",
        "krafa_bounces_received_total",
        "krafa_delivery_failures_total",
        "krafa_collection_unmatched_queue",
        "krafa_bank_file_last_imported_timestamp_seconds",
        "krafa_webhook_oldest_pending_age_seconds",
        "krafa_webhook_attempts_total",
        "up",
    ):
        assert re.search(rf"\b{metric}\b", exprs), metric


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r.get("alert") or r.get("record"))
def test_rule_metrics_exist(rule: dict[str, Any], exported: set[str]) -> None:
    recorded = {r["record"] for r in _rules() if "record" in r}
    missing = metric_names(rule["expr"]) - exported - recorded
    assert not missing, f"{rule.get('alert')} names metrics no service exports: {sorted(missing)}"


def _anchors(markdown: str) -> set[str]:
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
        anchors.update(re.findall(r'<a\s+(?:id|name)="([^"]+)"', line))
    return anchors


@pytest.mark.parametrize("alert", _alerts(), ids=lambda r: r["alert"])
def test_alert_has_runbook(alert: dict[str, Any]) -> None:
    url = alert.get("annotations", {}).get("runbook_url", "")
    assert "docs/runbooks.md#" in url, f"{alert['alert']}: runbook_url must point into docs/runbooks.md"
    anchor = url.split("#", 1)[1]
    assert anchor in _anchors(RUNBOOKS.read_text()), f"{alert['alert']}: no #{anchor} in docs/runbooks.md"
    assert alert.get("annotations", {}).get("summary"), alert["alert"]


def test_promtool_check_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: .ci/run installs the prometheus package")
        pytest.skip("promtool not installed")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_payment_and_webhook_alerts_fire_when_they_should_and_only_then() -> None:
    """promtool's unit tests of the rules (deploy/prometheus/rules.test.yml): a growing unmatched
    queue and a missing daily bank file, on a weekday and over a weekend; a creditor's failing
    webhook endpoint and a webhook given up — each also where they must stay quiet."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: .ci/run installs the prometheus package")
        pytest.skip("promtool not installed")
    tests = RULES.with_name("rules.test.yml")
    result = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", tests.read_text()))
    assert {
        "KrafaUnmatchedPaymentsGrowing",
        "KrafaBankFileMissing",
        "KrafaWebhooksFailing",
        "KrafaWebhooksGivenUp",
    } <= tested


# -- Kubernetes ---------------------------------------------------------------------------------------


def _k8s_files() -> list[Path]:
    return sorted([*K8S.rglob("*.yaml"), *K8S.rglob("*.yml")])


def _k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in _k8s_files() for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@pytest.mark.parametrize("path", _k8s_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_k8s_yaml_parses(path: Path) -> None:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, path
    for doc in docs:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), path


def test_kustomizations_reference_existing_files() -> None:
    kustomizations = [p for p in _k8s_files() if p.name == "kustomization.yaml"]
    dirs = {p.parent.relative_to(K8S).as_posix() for p in kustomizations}
    assert {"base", "overlays/dev", "overlays/prod"} <= dirs
    for path in kustomizations:
        for resource in yaml.safe_load(path.read_text()).get("resources", []):
            assert (path.parent / resource).exists(), f"{path}: {resource} does not exist"


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in _k8s_documents() if doc.get("kind") == kind}


def test_every_service_has_deployment_service_and_pdb() -> None:
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert set(SERVICES) <= set(_by_kind(kind)), kind
    smtp = [p for p in _by_kind("Service")["bounce-handler"]["spec"]["ports"] if p["port"] == 2525]
    assert smtp, "bounce-handler Service must expose SMTP 2525"


@pytest.mark.parametrize("name", SERVICES)
def test_deployment_probes_and_non_root(name: str) -> None:
    deployment = _by_kind("Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    pod_sc = pod.get("securityContext", {})
    for container in pod["containers"]:
        sc = {**pod_sc, **container.get("securityContext", {})}
        assert sc.get("runAsNonRoot") is True, name
        assert sc.get("runAsUser", 1) != 0, name
        assert sc.get("allowPrivilegeEscalation") is False, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container.get("resources", {}).get("requests") and container["resources"].get("limits"), name
        refs = {
            ref.get("secretRef", {}).get("name") or ref.get("configMapRef", {}).get("name")
            for ref in container.get("envFrom", [])
        }
        assert {"krafa-config", "krafa-secrets"} <= refs, name


def _lane_groups(name: str) -> list[str]:
    lanes = {"notifier": ("stops",), "claims-api": ("payments",)}
    return [f"krafa.{name}.{lane}" for lane in lanes.get(name, ())]


@pytest.mark.parametrize("name", CONSUMERS)
def test_consumers_scale_on_their_group_lag(name: str) -> None:
    from krafa_events.registry import topics_consumed_by

    scaled = _by_kind("ScaledObject")[name]
    assert scaled["spec"]["scaleTargetRef"]["name"] == name
    kafka = [t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
    # The service's group, or one of its lanes' (krafa_kit.runtime.Lane: `<group>.<lane>`).
    groups_ok = all(m["consumerGroup"] in (f"krafa.{name}", *_lane_groups(name)) for m in kafka)
    assert kafka and groups_ok and all(m.get("lagThreshold") for m in kafka)
    assert {m["topic"] for m in kafka} == set(topics_consumed_by(name))


def test_overlays_build_with_kubectl_kustomize() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    for overlay in ("dev", "prod"):
        result = subprocess.run(
            [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        kinds = {doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc}
        assert {"Deployment", "Service", "PodDisruptionBudget", "ScaledObject", "ConfigMap"} <= kinds


# -- Kubernetes schemas (kubernetes-validate ships them; no network) ----------------------------------


def _rendered_k8s() -> list[tuple[str, dict[str, Any]]]:
    """The overlays as kustomize renders them (kubectl), else the base files as written."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return [
            (str(path.relative_to(K8S)), doc)
            for path, doc in _k8s_documents()
            if doc["kind"] != "Kustomization" and "overlays" not in path.parts
        ]
    documents = []
    for overlay in ("dev", "prod"):
        result = subprocess.run(
            [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        documents += [(overlay, doc) for doc in yaml.safe_load_all(result.stdout) if doc]
    return documents


def _validate_k8s(doc: dict[str, Any]) -> None:
    import kubernetes_validate  # type: ignore[import-untyped]

    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_k8s_manifests_validate_against_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    errors = []
    checked = set()
    for source, doc in _rendered_k8s():
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: kubernetes-validate has no KEDA schema; test_consumers_scale_* checks it
        try:
            _validate_k8s(doc)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{source} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{source} {doc['kind']} {doc['apiVersion']}: no such Kubernetes API")
        checked.add(doc["kind"])
    assert not errors, errors
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} <= checked, checked


def test_the_kubernetes_schema_check_catches_a_broken_manifest() -> None:
    import kubernetes_validate

    deployment = json.loads(json.dumps(_by_kind("Deployment")["claims-api"]))
    deployment["spec"]["replicas"] = "two"
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["prot"] = 8000
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_k8s(deployment)


# -- docker-compose ---------------------------------------------------------------------------------------

COMPOSE = ROOT / "docker-compose.yml"


def _compose_command() -> list[str] | None:
    """The compose CLI: Docker's plugin, else the standalone `docker-compose` (Debian's package,
    which `.ci/run` installs; neither needs a Docker engine to validate a file)."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_docker_compose_config() -> None:
    """`docker compose config` validates the file (CI always has a compose CLI); the essentials are
    checked from the YAML as well."""
    command = _compose_command()
    if command is None:
        assert not os.environ.get("CI"), "CI must validate docker-compose.yml with a compose CLI"
    else:
        result = subprocess.run(
            [*command, "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {*SERVICES, "kafka", "postgres", "prometheus", "grafana", "mailcatcher"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), f"{name} depends on unknown services {set(depends) - set(services)}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    for name in SERVICES:
        service = services[name]
        assert service["build"]["args"]["SERVICE"] == name
        assert (ROOT / service["build"].get("context", ".") / "Dockerfile").exists()
        env = service["environment"]
        assert env["KRAFA_KAFKA_BOOTSTRAP"] == "kafka:9092,kafka-2:9092,kafka-3:9092"
        assert "postgres:5432" in env["KRAFA_DATABASE_URL"]
        assert {"postgres", "kafka", "kafka-2", "kafka-3"} <= set(service["depends_on"]), name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root\b)\w+", dockerfile, re.MULTILINE), "the images must run as a non-root user"
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    # Prometheus scrapes the five services by their compose names and ports, and loads the rules.
    targets = {
        t
        for job in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    }
    assert {f"{name}:{services[name]['environment']['KRAFA_HTTP_PORT']}" for name in SERVICES} == targets
    topics = services["kafka-topics"]["command"][0]
    for topic in ("krafa.claims", "krafa.dunning", "krafa.notifications", "krafa.bounces", "krafa.payments"):
        assert topic in topics


def test_compose_runs_kafka_as_the_tests_prove_it() -> None:
    """The three Kafka nodes in docker-compose.yml: the version deploy/kafka/pom.xml pins (the
    one the tests run), every broker setting of the tested cluster, and the services' Kafka
    client settings as the tests run them (krafa.stack.kafka_env), one transactional id each."""
    from krafa.stack import kafka_env
    from krafa_kit.kafka_cluster import SETTINGS, pinned_version

    version = pinned_version()
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    nodes = {name: s for name, s in services.items() if str(s.get("image", "")).startswith("apache/kafka:")}
    assert {"kafka", "kafka-2", "kafka-3", "kafka-topics"} == set(nodes)
    assert {s["image"] for s in nodes.values()} == {f"apache/kafka:{version}"}
    for number, name in enumerate(("kafka", "kafka-2", "kafka-3"), start=1):
        env = {k: str(v) for k, v in nodes[name]["environment"].items()}
        assert env["KAFKA_NODE_ID"] == str(number)
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
        for key, value in SETTINGS.items():
            assert env.get("KAFKA_" + key.upper().replace(".", "_")) == value, f"{name}: {key}"
    assert "--replication-factor 3" in nodes["kafka-topics"]["command"][0]
    transactional = set()
    for name in ("claims-api", "scheduler", "notifier", "bounce-handler", "payments-ingest"):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        expected = kafka_env(name)
        for key in expected.keys() - {"KRAFA_KAFKA_CONSUMER_GROUP_PREFIX", "KRAFA_KAFKA_TRANSACTIONAL_ID"}:
            assert env[key] == expected[key], f"{name}: {key}"
        transactional.add(env["KRAFA_KAFKA_TRANSACTIONAL_ID"])
    assert len(transactional) == 5, "each service's relay needs a transactional id of its own"


def test_runbook_consumer_table_follows_the_registry() -> None:
    from krafa_events.registry import topics_consumed_by

    table = dict(re.findall(r"^\| (\S+) \| (krafa\.[^|]*?) \|$", RUNBOOKS.read_text(), re.MULTILINE))
    for service in SERVICES:
        assert table.get(service) == ", ".join(topics_consumed_by(service)), f"docs/runbooks.md: {service}"
