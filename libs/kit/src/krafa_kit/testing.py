"""Pytest fixtures over the real pieces: an embedded PostgreSQL per test session with a fresh
database per test, and a fresh embedded broker per test (Tansu starts in ~0.1 s), so tests never
see each other's rows or events. Registered as a plugin by the root conftest.py.

KRAFA_TEST_BACKEND=kafka puts the same tests on Apache Kafka: one three-node KRaft cluster per
test session (per xdist worker that needs one: a JVM start is seconds, not 0.1 s), every Krafa
topic deleted and created anew for each test, and the services' Kafka settings (idempotent,
transactional relay, read_committed, the 2 s heartbeat) in the environment. Modules marked `kafka`
(the cluster's own tests) run on it whatever the variable says.

The whole-stack suites (tests/e2e, tests/chaos: their fixtures ask for `stack_backend`) run on
both brokers when KRAFA_TEST_BACKEND is unset, as `make test` runs them: each of their tests is
parametrized `[embedded]` and `[kafka]` at module scope, so a module's stack starts once per
broker, and with `--dist loadgroup` each half of a module is a unit of work of its own
(`FilesAndGroups`), so the two halves run on two workers at once.

A service's tests get a database already migrated: its conftest names the service's schema and
migrations (the `migrated_schema` fixture); the first test of the session migrates a template
database once, and every test gets a copy of it (`CREATE DATABASE ... TEMPLATE`, a file copy of
a few MB instead of an Alembic run per test)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from krafa_kit.embedded import EmbeddedBroker, EmbeddedPostgres, free_port, stop_on_signals
from krafa_kit.kafka import ensure_topics, reset_topics
from krafa_kit.kafka_cluster import REPLICATION, KafkaCluster

REPO_ROOT = Path(__file__).resolve().parents[4]


def pytest_configure(config: pytest.Config) -> None:
    """Each run gets a private temporary root of its own instead of the shared
    `pytest-of-<user>`: every pytest start chmods that one to 0700 (and deletes its older
    numbered dirs), so an embedded PostgreSQL running as its own system user (we run as root)
    lost its data directory in the middle of another run — a second checkout's, or the pytest
    that tests/e2e/test_no_orphans.py starts. xdist workers inherit the controller's."""
    # SIGTERM (a CI timeout, a supervisor) unwinds like Ctrl-C: fixtures stop their servers.
    stop_on_signals()
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="krafa-pytest-", dir=os.environ.get("PYTEST_DEBUG_TEMPROOT"))
        config.stash[_OWN_BASETEMP] = Path(config.option.basetemp)


_OWN_BASETEMP = pytest.StashKey[Path]()


_PASSED = pytest.StashKey[bool]()


def on_kafka(node: pytest.Item | pytest.Collector) -> bool:
    """Whether a test runs on Apache Kafka: all of them with KRAFA_TEST_BACKEND=kafka, and those
    of the modules marked `kafka` always."""
    return BACKEND == "kafka" or node.get_closest_marker("kafka") is not None


@functools.cache
def _module_marks(path: Path) -> frozenset[str]:
    # xdist's scheduler sees node ids only (its own groups, a suffix to the node id, are lost on
    # pytest 9, whose items keep their id elsewhere): it reads a module's markers from its source.
    try:
        return frozenset(re.findall(r"pytest\.mark\.(\w+)", path.read_text(encoding="utf-8")))
    except OSError:
        return frozenset()


KAFKA_HALF = "[kafka]"
# Units that start an Apache Kafka cluster of their own instead of using their worker's session
# cluster: the short chaos run (its faults kill, wipe and restart the nodes).
OWN_CLUSTER = ("tests/chaos/",)
# Workers that start the session's cluster (three JVMs each, and their idle cost to the end of the
# run): the other Kafka halves wait for one of these.
KAFKA_WORKERS = 2


def uses_session_cluster(scope: str, marks_of: Callable[[str], frozenset[str]]) -> bool:
    """Whether a unit of work runs on its worker's session cluster: a Kafka half of a whole-stack
    module (but the short chaos run's), or a module marked `kafka`."""
    if scope.endswith(KAFKA_HALF):
        return not scope.startswith(OWN_CLUSTER)
    return "kafka" in marks_of(scope)


def scope_of(nodeid: str, marks_of: Callable[[str], frozenset[str]]) -> str:
    """A test's unit of work on xdist: its file, or for a whole-stack test on Apache Kafka (its
    parameters include `kafka`) its file + `[kafka]`: the two brokers' halves of a module run on
    two workers, each starting the module's stack once."""
    file, _, rest = nodeid.partition("::")
    parameters = rest.partition("[")[2].removesuffix("]")
    return file + KAFKA_HALF if "kafka" in parameters.split("-") else file


def send_order(scopes: Mapping[str, int], marks_of: Callable[[str], frozenset[str]]) -> list[str]:
    """The order units of work go out (`scopes`: each unit's number of tests), longest first so
    none is the run's tail: the whole-stack modules (`e2e`) on Apache Kafka (the short chaos run
    there, with the cluster's own faults, is the longest unit), then on the embedded broker, one
    long scenario each first (the short chaos run, the netbank's months, the burst), then the
    journeys; then every other file by its number of tests, most first (xdist's own order)."""

    def rank(scope: str) -> tuple[int, int]:
        file = scope.removesuffix(KAFKA_HALF)
        if "e2e" not in marks_of(file):
            return (3, -scopes[scope])
        return (1 if scope.endswith(KAFKA_HALF) else 2, scopes[scope])

    return sorted(scopes, key=rank)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    def marks_of(file: str) -> frozenset[str]:
        return _module_marks(config.rootpath / file)

    class FilesAndGroups(LoadScopeScheduling):  # type: ignore[misc]
        """Each file on one worker (its module's stack starts once), the Apache Kafka half of a
        whole-stack module as a unit of its own, sent out in `send_order`; the units on the
        session's cluster only to KAFKA_WORKERS workers (each starts one cluster)."""

        _ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid, marks_of)

        def _assign_work_unit(self, node: Any) -> None:
            if not self._ordered:
                self._ordered = True
                self._kafka_nodes: set[Any] = set()
                for scope in send_order({s: len(ids) for s, ids in self.workqueue.items()}, marks_of):
                    self.workqueue.move_to_end(scope)
            allowed = node in self._kafka_nodes or len(self._kafka_nodes) < KAFKA_WORKERS
            candidates = [s for s in self.workqueue if allowed or not uses_session_cluster(s, marks_of)]
            if not candidates:
                return  # only units on the session's cluster are left: the workers running one take them
            scope = candidates[0]
            if self._pending_of(self.assigned_work.get(node, {})):
                # Sent ahead, while the worker's current unit runs its last tests (an xdist worker
                # runs a test once it knows the next): behind a whole stack's long last test (the
                # chaos run is one test of minutes) a unit of quick tests waits, not another stack.
                scope = next((s for s in candidates if "e2e" not in marks_of(s.removesuffix(KAFKA_HALF))), scope)
            on_cluster = uses_session_cluster(scope, marks_of)
            if on_cluster:
                self._kafka_nodes.add(node)
            self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return FilesAndGroups(config, log)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_PASSED] = exitstatus == 0


def pytest_unconfigure(config: pytest.Config) -> None:
    # After every fixture is torn down; a failed run keeps its files (logs, a stack's data).
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None and config.stash.get(_PASSED, False):
        shutil.rmtree(own, ignore_errors=True)


def shared_dir() -> Path:
    """`../shared` beside the checkout (CI places it there); tests fail loudly without it."""
    path = REPO_ROOT.parent / "shared"
    if not (path / "corpus").is_dir():
        pytest.fail(f"the shared corpus is missing: expected {path}/corpus beside the checkout")
    return path


# KRAFA_TEST_BACKEND=kafka runs the same suite against a three-node Apache Kafka cluster (the
# jars `make kafka` fetched, on the local JDK); =testcontainers against Apache Kafka and
# PostgreSQL images where a Docker engine is available; the default is the embedded pair.
BACKEND = os.environ.get("KRAFA_TEST_BACKEND", "embedded")
BACKENDS = ("embedded", "kafka", "testcontainers")
if BACKEND not in BACKENDS:
    raise RuntimeError(f"KRAFA_TEST_BACKEND={BACKEND!r}: choose one of {', '.join(BACKENDS)}")
# The brokers the whole-stack suites run on: both unless KRAFA_TEST_BACKEND names one (a stack
# runs Tansu or Apache Kafka; with testcontainers its stacks keep the embedded broker).
STACK_BACKENDS: tuple[str, ...] = ("embedded", "kafka")
if "KRAFA_TEST_BACKEND" in os.environ:
    STACK_BACKENDS = ("kafka",) if BACKEND == "kafka" else ("embedded",)

# What every service runs with on Apache Kafka: krafa.stack.kafka_env less what is a stack's own
# (its consumer groups' prefix, its relays' transactional ids); tools/krafa/tests holds the two
# the same, so the tests run the settings production runs.
KAFKA_SERVICE_ENV = {
    "KRAFA_KAFKA_IDEMPOTENCE": "true",
    "KRAFA_KAFKA_READ_COMMITTED": "true",
    "KRAFA_KAFKA_FETCH_MAX_WAIT_MS": "500",
    "KRAFA_KAFKA_HEARTBEAT_INTERVAL_MS": "2000",
    "KRAFA_KAFKA_ASSIGNOR": "sticky",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test over a whole stack (its fixtures ask for `stack_backend`) runs once on each
    broker of STACK_BACKENDS, a module-scoped parameter: a module's stack starts once per broker.
    A test marked `broker_agnostic` (what it asserts is a page's own rule, and no event carries
    it) runs on one broker only, the embedded one where it is among them; one marked `kafka` on
    Apache Kafka only."""
    if "stack_backend" not in metafunc.fixturenames:
        return
    backends = STACK_BACKENDS
    if metafunc.definition.get_closest_marker("kafka") is not None:
        backends = ("kafka",)
    elif metafunc.definition.get_closest_marker("broker_agnostic") is not None and len(backends) > 1:
        backends = ("embedded",)
    metafunc.parametrize("stack_backend", backends, indirect=True, scope="module")


class ContainerPostgres:
    """The PostgreSQL image behind the same interface as EmbeddedPostgres."""

    def __init__(self) -> None:
        from testcontainers.postgres import PostgresContainer

        self.container = PostgresContainer(
            "postgres:17",
            username="postgres",
            password="postgres",  # noqa: S106 (a throwaway test container)
            dbname="postgres",
        )

    def start(self) -> None:
        self.container.start()
        host = self.container.get_container_host_ip()
        port = self.container.get_exposed_port(5432)
        self._base = f"postgresql://postgres:postgres@{host}:{port}"

    @property
    def dsn(self) -> str:
        return f"{self._base}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"{self._base}/{database}"

    def stop(self) -> None:
        self.container.stop()


class ContainerKafka:
    """Apache Kafka (KRaft) behind the same interface as EmbeddedBroker."""

    def __init__(self) -> None:
        from testcontainers.kafka import KafkaContainer

        self.container = KafkaContainer("apache/kafka:3.9.0").with_kraft()
        self.process = None

    def start(self) -> None:
        self.container.start()

    @property
    def bootstrap(self) -> str:
        return str(self.container.get_bootstrap_server())

    def stop(self) -> None:
        self.container.stop()


@pytest.fixture(scope="session")
def embedded_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    pg: Any = (
        ContainerPostgres()
        if BACKEND == "testcontainers"
        else EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", durable=False)
    )
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


class DatabaseTemplates:
    """One template database per service schema, migrated on first use in a test session; every
    test database is a copy of one (or an empty database when no schema is named)."""

    def __init__(self, pg: EmbeddedPostgres) -> None:
        self.pg = pg
        self._templates: dict[tuple[str, Path], str] = {}
        self._lock = asyncio.Lock()

    async def _template(self, schema: str, migrations: Path) -> str:
        async with self._lock:
            key = (schema, migrations)
            if key not in self._templates:
                from krafa_kit.migrations import migrate_async

                name = f"template_{schema}_{len(self._templates)}"
                await self._execute(f'CREATE DATABASE "{name}"')
                await migrate_async(self.pg.dsn_for(name), schema, migrations)
                self._templates[key] = name
            return self._templates[key]

    async def create(self, migrated: tuple[str, Path] | None = None) -> str:
        """A new database (its name); a copy of `migrated` = (schema, migrations) when given."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        template = await self._template(*migrated) if migrated is not None else None
        await self._execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    async def drop(self, name: str) -> None:
        await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _execute(self, statement: str) -> None:
        conn = await asyncpg.connect(self.pg.dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def database_templates(embedded_pg: EmbeddedPostgres) -> DatabaseTemplates:
    return DatabaseTemplates(embedded_pg)


@pytest.fixture
def migrated_schema() -> tuple[str, Path] | None:
    """(schema, migrations directory) of the service under test, or None for an empty database.
    A service's tests/conftest.py overrides it, so `database_url` arrives migrated."""
    return None


@pytest.fixture
async def database_url(
    embedded_pg: EmbeddedPostgres, database_templates: DatabaseTemplates, migrated_schema: tuple[str, Path] | None
) -> AsyncIterator[str]:
    name = await database_templates.create(migrated_schema)
    yield embedded_pg.dsn_for(name)
    await database_templates.drop(name)


@pytest.fixture(autouse=True)
def fast_group_join(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps a test runs in its own process join their consumer group in ~1 s instead of ~3 s: the
    embedded broker holds a join for half the session timeout, and a test's app has the group to
    itself. Whole stacks (e2e, chaos) keep the production timeout: on a busy machine a short one
    would expire sessions and rebalance. A value set in the environment wins."""
    if BACKEND == "embedded" and not on_kafka(request.node) and request.node.get_closest_marker("e2e") is None:
        monkeypatch.setenv("KRAFA_KAFKA_SESSION_TIMEOUT_MS", os.environ.get("KRAFA_KAFKA_SESSION_TIMEOUT_MS", "2000"))


@pytest.fixture
def consume(request: pytest.FixtureRequest) -> bool:
    """Whether the app under test runs its Kafka consumer: only for tests marked `consumes`. A
    consumer group join costs seconds (the embedded broker holds a join for half the session
    timeout), and a test of the HTTP side has no use for it."""
    return request.node.get_closest_marker("consumes") is not None


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Apache Kafka, three KRaft nodes, once per test session; its start time and memory are
    printed in the session's output (-s) and kept in the cluster's directory."""
    cluster = KafkaCluster(tmp_path_factory.mktemp("kafka"))
    cluster.start()
    rss = cluster.memory_rss_bytes()
    note = f"Apache Kafka {cluster.bootstrap}: started in {cluster.started_in_s:.1f} s, {rss >> 20} MiB resident"
    (cluster.home / "started.txt").write_text(note + "\n")
    print(note)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def stack_backend(request: pytest.FixtureRequest) -> str:
    """The broker a module's whole stack runs on, `embedded` or `kafka`: a parameter of every test
    that asks for it (`pytest_generate_tests`)."""
    return str(request.param)


@pytest.fixture(scope="module")
def stack_kafka(request: pytest.FixtureRequest, stack_backend: str) -> KafkaCluster | None:
    """The cluster a whole stack (e2e) runs on: the session's Apache Kafka in the `[kafka]` half,
    else None (each stack starts its own embedded broker)."""
    if stack_backend != "kafka":
        return None
    cluster: KafkaCluster = request.getfixturevalue("kafka_cluster")
    return cluster


@pytest.fixture
async def broker(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[EmbeddedBroker]:
    if on_kafka(request.node):
        cluster: KafkaCluster = request.getfixturevalue("kafka_cluster")
        await reset_topics(cluster.bootstrap, replication=REPLICATION)
        env = {**KAFKA_SERVICE_ENV, "KRAFA_KAFKA_CONSUMER_GROUP_PREFIX": f"krafa-{uuid.uuid4().hex[:8]}"}
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            yield cluster  # type: ignore[misc]
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return
    instance: Any = (
        ContainerKafka() if BACKEND == "testcontainers" else EmbeddedBroker(log_path=tmp_path / "broker.log")
    )
    instance.start()
    try:
        await ensure_topics(instance.bootstrap)
        yield instance
    finally:
        instance.stop()


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Run an app on a real socket in this event loop; yields its base URL."""
    port = port or free_port()
    # Bounded like the services' own servers (krafa_kit.http): a request stuck on a database or
    # broker that went away does not hold the test's teardown.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def eventually(check, *, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll `check` (sync or async) until it returns a truthy value; bounded, never a bare sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        last = result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
        await asyncio.sleep(interval)


async def publish(
    bootstrap: str, *events: object, source: str = "/krafa/test", traceparent: str | None = None
) -> list[str]:
    """Publish events exactly as a service's relay would (CloudEvents binary mode), in the trace
    `traceparent` names if given."""
    from aiokafka import AIOKafkaProducer
    from krafa_events import Event, encode

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    ids = []
    try:
        for event in events:
            assert isinstance(event, Event)
            encoded = encode(event, source=source, traceparent=traceparent)
            await producer.send_and_wait(encoded.topic, encoded.value, key=encoded.key, headers=list(encoded.headers))
            ids.append(encoded.event_id)
    finally:
        await producer.stop()
    return ids


class TopicReader:
    """Reads topics from the beginning in the background; tests poll `.events` with `eventually`.
    Every partition is assigned directly, without a consumer group: no group join to wait for."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self.topics = topics
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
        )
        self.events: list[object] = []
        self.raw: list[object] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicReader:
        from aiokafka import TopicPartition
        from krafa_events import UndecodableMessage, decode

        await self.consumer.start()
        cluster = await self.consumer._client.fetch_all_metadata()
        partitions = []
        for topic in self.topics:
            ids = cluster.partitions_for_topic(topic)
            if not ids:
                raise RuntimeError(f"topic {topic} does not exist (the broker fixture creates every Krafa topic)")
            partitions += [TopicPartition(topic, i) for i in sorted(ids)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)

        async def run() -> None:
            while True:
                batches = await self.consumer.getmany(timeout_ms=100)
                for records in batches.values():
                    for record in records:
                        self.raw.append(record)
                        with contextlib.suppress(UndecodableMessage):
                            self.events.append(decode(list(record.headers or ()), record.value).event)

        self._task = asyncio.create_task(run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    def of_type(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


# -- schemathesis over a live app ------------------------------------------------------------------
def fuzz_openapi(
    spec: dict[str, Any],
    base_url: str,
    headers: dict[str, str],
    *,
    examples: int | None = None,
    headers_for: dict[str, dict[str, str]] | None = None,
    known: Mapping[str, object] | None = None,
    bodies: dict[str, tuple[str, object]] | None = None,
) -> tuple[int, dict[str, Counter[int]], list[str]]:
    """Schemathesis over every operation of a published OpenAPI document, against the live app at
    `base_url`: no 5xx, no undocumented status, content type or header, no body off its schema.
    Deterministic (derandomized, no example database) and capped at `examples` per operation
    (default 8, or KRAFA_FUZZ_EXAMPLES for a deeper run by hand).
    `headers` go with every request; `headers_for` adds some per operation label ("POST /v1/x").
    `known` names parameters (by name, in any operation) with a value of seeded data: it becomes
    the parameter's example, so the explicit phase reaches the happy path (a known claim's id);
    `bodies` does the same for request bodies: operation label -> (media type, example), e.g. a
    freshly signed webhook. Then a fixed set of odd requests per operation (wrong and missing
    content types, broken JSON, NUL, invalid UTF-8, huge numbers, long values) must each get a
    documented problem document.
    Blocking: run it in a worker thread (asyncio.to_thread) while the app serves on the loop.
    Returns (operations run, responses per status for each operation label, failure reports)."""
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )
    from schemathesis.core.result import Ok
    from schemathesis.generation.hypothesis.builder import add_examples

    @schemathesis.serializer("message/rfc822")
    def raw_message(ctx: Any, value: Any) -> bytes:  # a raw .eml, as the SMTP endpoint gets it
        return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    negative_checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    for item in spec.get("paths", {}).values():
        for operation_spec in item.values():
            for parameter in operation_spec.get("parameters", []) if isinstance(operation_spec, dict) else []:
                if parameter.get("name") in (known or {}):
                    parameter["example"] = (known or {})[parameter["name"]]
    for label, (media_type, example) in (bodies or {}).items():
        method, _, path = label.partition(" ")
        content = spec["paths"][path][method.lower()]["requestBody"]["content"][media_type]
        content.pop("examples", None)
        content["example"] = example
    examples = examples or int(os.environ.get("KRAFA_FUZZ_EXAMPLES", "8"))
    schema = schemathesis.openapi.from_dict(spec)

    def spec_of(operation: Any) -> dict[str, Any]:
        operation_spec: dict[str, Any] = spec["paths"][operation.path][operation.method.lower()]
        return operation_spec

    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    operations = 0
    # One client for every odd request: a new one per operation costs a TLS context (~0.1 s).
    odd_client = httpx.Client(base_url=base_url, timeout=30)
    try:
        for result in schema.get_all_operations():
            # An operation the loader cannot read is itself a failure of the published contract.
            if not isinstance(result, Ok):
                failures.append(f"unloadable operation: {result}")
                continue
            operation = result.ok()
            operations += 1
            sent = {**headers, **(headers_for or {}).get(operation.label, {})}
            answered = statuses.setdefault(operation.label, Counter())
            for mode, count, mode_checks in (
                (GenerationMode.POSITIVE, examples, checks),
                # Data off the schema (wrong types, bad formats, missing fields, odd bytes): answered
                # with a documented 4xx problem, never a 5xx.
                (GenerationMode.NEGATIVE, max(2, examples // 2), negative_checks),
            ):
                run = _fuzz_test(operation, mode, count, base_url, sent, mode_checks, answered)
                if mode is GenerationMode.POSITIVE:
                    # The document's own examples first (hypothesis' explicit phase): the happy paths.
                    run = add_examples(run, operation, fill_missing=True)
                try:
                    run()
                except Unsatisfiable:
                    continue  # nothing of this operation can be made invalid (no parameters, no body)
                except BaseException as exc:  # schemathesis raises exception groups: collect all, report at the end
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
            odd = _odd_requests(odd_client, operation.path, operation.method, spec_of(operation), sent, known)
            failures.extend(odd)
    finally:
        odd_client.close()
    return operations, statuses, failures


def _fuzz_test(
    operation: Any,
    mode: Any,
    count: int,
    base_url: str,
    headers: dict[str, str],
    checks: list[Any],
    answered: Counter[int],
) -> Any:
    """One hypothesis test of one operation in one generation mode, deterministic."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate] if mode is GenerationMode.POSITIVE else [Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=30)
        answered[response.status_code] += 1

    return run


# What a careless or hostile client sends that no schema describes: each must get a documented 4xx
# problem document, never a 5xx. (Content type, body.)
_ODD_BODIES: tuple[tuple[str | None, bytes], ...] = (
    (None, b"no content type"),
    ("text/plain", b"hello"),
    ("application/json", b"{not json"),
    ("application/json", b"\xff\xfe\x00"),
    ("application/json", b'{"id": "\\u0000", "name": "\\ud800"}'),
    ("application/json", b"123456789012345678901234567890"),
    ("application/json", b"[]"),
    ("application/xml", b"<a><b></a>"),
    ("application/x-www-form-urlencoded", b"a=%00&b=%FF"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
)
# Parameter values, percent-encoded as sent: NUL, a number past any integer column, the UTF-8 bytes
# of a lone surrogate (invalid UTF-8), a long one.
_ODD_VALUES = ("%00", "123456789012345678901234567890", "%ED%A0%80", "x" * 3000)


def _odd_requests(
    client: httpx.Client,
    path: str,
    method: str,
    operation: dict[str, Any],
    headers: dict[str, str],
    known: Mapping[str, object] | None,
) -> list[str]:
    """Each odd value in every path and query parameter (seeded values stay in the path, so the
    query is what is odd there); where there is a body, each odd body with the first of them."""
    from urllib.parse import quote

    declared = set(operation.get("responses", {}))
    parameters = operation.get("parameters", [])
    failures: list[str] = []
    for i, value in enumerate(_ODD_VALUES):
        url = path
        for parameter in parameters:
            if parameter["in"] == "path":
                seeded = (known or {}).get(parameter["name"])
                url = url.replace("{" + parameter["name"] + "}", value if seeded is None else quote(str(seeded)))
        query = "&".join(f"{p['name']}={value}" for p in parameters if p["in"] == "query")
        url += f"?{query}" if query else ""
        bodies: tuple[tuple[str | None, bytes | None], ...] = ((None, None),)
        if "requestBody" in operation:
            bodies = _ODD_BODIES if i == 0 else (("application/json", b"{}"),)
        for media_type, body in bodies:
            sent = {**headers, **({"Content-Type": media_type} if media_type else {})}
            response = client.request(method.upper(), url, content=body, headers=sent)
            problem = response.headers.get("content-type", "").startswith("application/problem+json")
            if (
                response.status_code >= 500
                or str(response.status_code) not in declared
                or (response.status_code >= 400 and not problem)
            ):
                failures.append(
                    f"{method.upper()} {url[:120]} (odd input: {media_type} {body!r:.40}): "
                    f"{response.status_code} {response.headers.get('content-type')} {response.text[:300]}"
                )
    return failures


# -- children that obey or ignore signals (the tests of stopping things) ---------------------------
# A child that exits cleanly on `clean` (a signal number, or none) and ignores `ignored`; it says
# "ready" once its handlers are in place.
SIGNAL_CHILD = """
import signal, sys, time
clean, ignored = int(sys.argv[1]), int(sys.argv[2])
if clean:
    signal.signal(clean, lambda signum, frame: sys.exit(0))
if ignored:
    signal.signal(ignored, signal.SIG_IGN)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.fixture(name="children")
def signal_children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """`children`: the test's signal children (`signal_child`); whatever a failed assertion left is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def signal_child(
    started: list[subprocess.Popen[bytes]], *, clean: int = 0, ignored: int = 0
) -> subprocess.Popen[bytes]:
    """A child that exits on `clean` and ignores `ignored`, started and ready."""
    child = subprocess.Popen([sys.executable, "-c", SIGNAL_CHILD, str(clean), str(ignored)], stdout=subprocess.PIPE)
    started.append(child)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    return child
