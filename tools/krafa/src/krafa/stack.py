"""The embedded stack supervisor behind `krafa run` and `krafa demo`: PostgreSQL, the broker,
the local SMTP, provider and bank sinks, and the five services, each a real separate process on
127.0.0.1, with their logs under `<home>/logs/`. Data lives under `<home>` (`.krafa/`).

The broker is the embedded Tansu (default) or, with `broker="kafka"`, a three-node Apache Kafka
cluster (krafa_kit.kafka_cluster) that the stack starts, or one it is given and shares with other
stacks (the test session's): then the stack starts from empty topics and uses consumer groups and
transactional ids of its own."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
import httpx
from krafa_kit.embedded import (
    ChildProcess,
    EmbeddedBroker,
    EmbeddedPostgres,
    free_port,
    port_is_free,
    spawn,
    stop_process,
    stop_together,
)
from krafa_kit.kafka import ensure_topics, reset_topics
from krafa_kit.kafka_cluster import REPLICATION, STOP_TIMEOUT_S, KafkaCluster

from krafa import zygote

log = logging.getLogger("krafa.stack")

SERVICES = ("claims-api", "scheduler", "notifier", "bounce-handler", "payments-ingest", "web")
# The HTTP sinks that stand in for providers, answering /healthz (the SMTP catcher answers SMTP).
SINKS = ("provider-sink", "psp-sink", "idp-sink", "bank-sink")
SCHEMAS = {
    "claims-api": "claims",
    "scheduler": "scheduler",
    "notifier": "notifier",
    "bounce-handler": "bounces",
    "payments-ingest": "payments",
    "web": "web",
}
DEFAULT_PORTS = {
    "claims-api": 8000,
    "scheduler": 8001,
    "notifier": 8002,
    "bounce-handler": 8003,
    "payments-ingest": 8004,
    "web": 8005,
    "bounce-smtp": 2525,
    "smtp-catcher": 1025,
    "provider-sink": 8090,
    "psp-sink": 8091,
    "idp-sink": 8092,
    "bank-sink": 8093,
    "postgres": 55432,
    "broker": 19092,
}
# How long each step of a stop waits for its servers before it kills those left (Stack.stop). The
# services first: uvicorn lets requests finish for up to 10 s, then the workers stop; what a
# service killed mid-way was doing is redone from its outbox and inbox. The sinks stop in well
# under a second. PostgreSQL's fast shutdown takes a second or two; Kafka's nodes, stopping
# together, most of 10 s on a busy machine, and one may wait for a quorum that has gone
# (krafa_kit.kafka_cluster.STOP_TIMEOUT_S).
STOP_SERVICES_S = 10.0
STOP_SINKS_S = 5.0
STOP_STORES_S = STOP_TIMEOUT_S
BOUNCE_DOMAIN = "invalid.example"
RETURN_DOMAIN = "returns.krafa.localhost"
DATABASE = "krafa"
BrokerKind = Literal["embedded", "kafka"]
BROKERS: tuple[BrokerKind, ...] = ("embedded", "kafka")


def module_for(service: str) -> str:
    return "krafa_" + service.replace("-", "_")


# What the zygote imports before it forks the servers (krafa.zygote).
PRELOAD = (
    *(f"{module_for(service)}.__main__" for service in SERVICES),
    *(f"krafa.sinks.{sink}" for sink in ("smtp_catcher", "provider_sink", "psp_sink", "idp_sink", "bank_sink")),
)


@dataclass
class StackConfig:
    home: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    simulated: bool = True
    sim_speed: float = 86400 / 3  # one simulated day every three seconds
    sim_start: datetime | None = None
    durable: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    broker: BrokerKind = "embedded"
    # A running Apache Kafka cluster to use instead of starting one (broker="kafka" only).
    kafka: KafkaCluster | None = None

    @classmethod
    def with_free_ports(cls, home: Path, **kwargs: object) -> StackConfig:
        return cls(home=home, ports={name: free_port() for name in DEFAULT_PORTS}, **kwargs)  # type: ignore[arg-type]


@dataclass
class State:
    """What survives a restart: the secrets, and where simulated time had got to."""

    return_path_secret: str
    admin_token: str
    sim_now: str | None = None
    last_started_at: str | None = None
    last_clean_stop_at: str | None = None
    demo_loaded: bool = False
    # The ports the stack last started on, so `krafa` commands find it (with --free-ports too).
    ports: dict[str, int] | None = None

    @classmethod
    def load(cls, path: Path) -> State:
        if path.exists():
            data = json.loads(path.read_text())
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        return cls(return_path_secret=secrets.token_urlsafe(32), admin_token=secrets.token_urlsafe(24))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2))


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.home
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self.state_path = self.home / "state.json"
        self.state = State.load(self.state_path)
        self.pg = EmbeddedPostgres(self.home / "pgdata", port=config.ports["postgres"], durable=config.durable)
        self.broker: EmbeddedBroker | KafkaCluster
        self.owns_broker = config.kafka is None
        # Consumer groups and transactional ids of this stack's own on a shared cluster.
        self.namespace = "krafa" if self.owns_broker else f"krafa-{uuid.uuid4().hex[:8]}"
        if config.broker == "kafka":
            self.broker = config.kafka or KafkaCluster(self.home / "kafka", ports=[config.ports["broker"]])
        else:
            self.broker = EmbeddedBroker(port=config.ports["broker"], log_path=self.home / "logs" / "broker.log")
        self.processes: dict[str, ChildProcess] = {}
        self.sim_start, self.sim_epoch = self._sim_anchor()
        self.started_at = datetime.now(UTC)
        self.running = False

    def _sim_anchor(self) -> tuple[datetime, float]:
        if self.config.sim_start is not None:
            start = self.config.sim_start
        elif self.state.sim_now:
            # Simulated time carries on where the last run stopped.
            start = datetime.fromisoformat(self.state.sim_now)
        else:
            start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
        return start, time.time()

    def sim_now(self) -> datetime:
        if not self.config.simulated:
            return datetime.now(UTC)
        return self.sim_start + timedelta(seconds=(time.time() - self.sim_epoch) * self.config.sim_speed)

    # -- endpoints -------------------------------------------------------------------------
    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.config.ports[service]}"

    async def use_policy(self, client: httpx.AsyncClient, creditor_id: str, key: str = "is-reminders") -> None:
        """Give a creditor one of the shipped policies as its own — by default `is-reminders`: a
        courtesy reminder after the due date and after the eindagi before the collection warning,
        which the runs and benchmarks here measure — before its first claim is posted."""
        from krafa_scheduler import policy

        document = json.loads(policy.shipped_policies()[key].model_dump_json())
        response = await client.put(
            self.url("scheduler") + f"/v1/policies/{creditor_id}",
            json=document,
            headers={"Authorization": f"Bearer {self.state.admin_token}"},
        )
        response.raise_for_status()

    @property
    def database_url(self) -> str:
        return self.pg.dsn_for(DATABASE)

    @property
    def receipt_secret(self) -> str:
        # Derived from the stack's own secret, so a restarted stack keeps verifying receipts.
        return hmac.new(self.state.return_path_secret.encode(), b"sms-receipts", hashlib.sha256).hexdigest()

    def _derived(self, purpose: bytes) -> str:
        return hmac.new(self.state.return_path_secret.encode(), purpose, hashlib.sha256).hexdigest()

    @property
    def portal_link_secret(self) -> str:
        return self._derived(b"portal-links")

    @property
    def portal_token(self) -> str:
        return self._derived(b"portal-token")

    @property
    def gateway_token(self) -> str:
        """claims-api's credential for the creditor reads it asks the notifier and the scheduler."""
        return self._derived(b"gateway-token")

    @property
    def psp_secret_key(self) -> str:
        return "sk_test_" + self._derived(b"psp-key")[:32]

    @property
    def psp_webhook_secret(self) -> str:
        return "whsec_" + self._derived(b"psp-webhook")[:32]

    @property
    def oidc_client_secret(self) -> str:
        return self._derived(b"oidc-client")

    @property
    def staff_oidc_key(self) -> str:
        """The Fernet key the web encrypts creditors' OIDC client secrets with (32 bytes, base64)."""
        return base64.urlsafe_b64encode(bytes.fromhex(self._derived(b"staff-oidc-key"))).decode()

    @property
    def bank_client_secret(self) -> str:
        # Krafa's OAuth2 client secret at the local claim bank, derived like the receipt secret.
        return hmac.new(self.state.return_path_secret.encode(), b"bank-client", hashlib.sha256).hexdigest()

    def sim_env(self) -> dict[str, str]:
        """The simulated clock's settings, for every process that must agree on the date."""
        if not self.config.simulated:
            return {}
        return {
            "KRAFA_CLOCK": "simulated",
            "KRAFA_SIM_START": self.sim_start.isoformat(),
            "KRAFA_SIM_EPOCH": repr(self.sim_epoch),
            "KRAFA_SIM_SPEED": repr(self.config.sim_speed),
        }

    @property
    def spool(self) -> Path:
        return self.home / "spool"

    @property
    def smtp_faults_file(self) -> Path:
        """Write a FaultMode here (krafa.sinks.smtp_catcher.write_fault_mode) to make the SMTP
        catcher refuse or drop messages; chaos runs use it."""
        return self.home / "smtp-faults.json"

    def service_env(self, service: str) -> dict[str, str]:
        ports = self.config.ports
        env = dict(os.environ)
        env.update(
            {
                "KRAFA_DATABASE_URL": self.database_url,
                "KRAFA_KAFKA_BOOTSTRAP": self.broker.bootstrap,
                "KRAFA_HTTP_PORT": str(ports[service]),
                "KRAFA_LOG_FORMAT": "json",
                "KRAFA_RETURN_PATH_SECRET": self.state.return_path_secret,
                "KRAFA_RETURN_DOMAIN": RETURN_DOMAIN,
                "KRAFA_ADMIN_TOKEN": self.state.admin_token,
                "KRAFA_OPERATOR_TOKEN": self.state.admin_token,
                "KRAFA_WEBHOOK_ALLOW_PRIVATE": "true",  # claims-api: webhook sinks on 127.0.0.1 (local stack only)
                "KRAFA_PORTAL_TOKEN": self.portal_token,
                "KRAFA_GATEWAY_TOKEN": self.gateway_token,
                "KRAFA_PORTAL_URL": self.url("web"),
                # Consumers stop fetching after 2 s without records until a relay's NOTIFY in
                # this database (or the 1 s end-offset check) wakes them: the embedded broker
                # answers a waiting fetch only when it runs out, so an always-fetching consumer
                # costs it a fetch every 10 ms.
                "KRAFA_CONSUMER_IDLE_AFTER_S": "2",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.sim_env())
        if service == "payments-ingest":
            # Icelandic bank claims go to the local claim bank (the bank sink) over IOBWS 3.2.
            env["KRAFA_IOBWS_URL"] = self.url("bank-sink")
            env["KRAFA_IOBWS_CLIENT_ID"] = "krafa"
            env["KRAFA_IOBWS_CLIENT_SECRET"] = self.bank_client_secret
            env["KRAFA_IOBWS_POLL_INTERVAL_S"] = "0.5"
        if service == "notifier":
            env["KRAFA_SMTP_PORT"] = str(ports["smtp-catcher"])
            env["KRAFA_PRINT_URL"] = self.url("provider-sink")
            # The provider sink stands in for the SMS gateway and the netbank too; it signs its
            # delivery receipts and posts them back to the notifier's public URL.
            env["KRAFA_SMS_PROVIDER"] = "generic"
            env["KRAFA_SMS_URL"] = self.url("provider-sink")
            env["KRAFA_SMS_RECEIPT_SECRET"] = self.receipt_secret
            env["KRAFA_NETBANK_URL"] = self.url("provider-sink") + "/netbank/documents"
            env["KRAFA_PUBLIC_URL"] = self.url("notifier")
            env["KRAFA_PORTAL_LINK_SECRET"] = self.portal_link_secret
        if service == "claims-api":
            # A creditor's templates, previews, policies and schedules: claims-api asks their owners.
            env["KRAFA_SCHEDULER_URL"] = self.url("scheduler")
            env["KRAFA_NOTIFIER_URL"] = self.url("notifier")
        if service == "bounce-handler":
            env["KRAFA_SMTP_PORT"] = str(ports["bounce-smtp"])
        if service == "payments-ingest":
            env["KRAFA_PSP_URL"] = self.url("psp-sink")
            env["KRAFA_PSP_SECRET_KEY"] = self.psp_secret_key
            env["KRAFA_PSP_WEBHOOK_SECRET"] = self.psp_webhook_secret
        if service == "web":
            env["KRAFA_PORTAL_LINK_SECRET"] = self.portal_link_secret
            env["KRAFA_CLAIMS_API_URL"] = self.url("claims-api")
            env["KRAFA_SCHEDULER_URL"] = self.url("scheduler")
            env["KRAFA_NOTIFIER_URL"] = self.url("notifier")
            env["KRAFA_PAYMENTS_URL"] = self.url("payments-ingest")
            env["KRAFA_BOUNCE_HANDLER_URL"] = self.url("bounce-handler")
            env["KRAFA_STAFF_OIDC_KEYS"] = self.staff_oidc_key
            env["KRAFA_OIDC_ISSUER"] = self.url("idp-sink")
            env["KRAFA_OIDC_CLIENT_ID"] = "krafa-web"
            env["KRAFA_OIDC_CLIENT_SECRET"] = self.oidc_client_secret
            env["KRAFA_OIDC_NAME"] = "Test e-ID"
        if self.config.broker == "kafka":
            env.update(kafka_env(service, self.namespace))
            # Every relay's NOTIFY wakes the idle consumers here, so the idle check only bounds
            # records nobody announced; on Kafka each check is a ListOffsets request to every
            # node leading one of its partitions (three per consumer), the idle cluster's
            # busiest request at one a second.
            env["KRAFA_CONSUMER_IDLE_CHECK_S"] = "5"
        env.update(self.config.extra_env)
        return env

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, on_progress: object = None) -> None:
        say = on_progress if callable(on_progress) else (lambda message: None)
        busy = sorted(f"{name} {port}" for name, port in self.config.ports.items() if not port_is_free(port))
        if busy:
            raise RuntimeError(f"ports in use ({', '.join(busy)}): is another Krafa stack running?")
        if zygote.enabled():
            zygote.shared(PRELOAD)  # it imports every server while PostgreSQL and the broker start
        say("starting PostgreSQL")
        self.pg.start()
        self.pg.create_database(DATABASE)
        if isinstance(self.broker, KafkaCluster):
            if self.owns_broker:
                say("starting Apache Kafka (three KRaft nodes)")
                self.broker.start()
                rss = self.broker.memory_rss_bytes() >> 20
                say(f"  Kafka up in {self.broker.started_in_s:.1f} s, {rss} MiB resident")
        else:
            say("starting the Kafka-protocol broker (Tansu)")
            self.broker.start()
        asyncio.run(self._prepare_broker())
        say("starting the sinks (SMTP, providers, PSP, e-ID, bank) and the services")
        # Simulated time starts now, so the seconds spent booting do not eat simulated days.
        self.sim_epoch = time.time()
        # All at once: no service needs a sink to start (each reaches its provider when it sends),
        # and a start is mostly each process importing its code.
        self._start_sinks()
        self._start_bank()
        for service in SERVICES:
            self.start_service(service)
        self.wait_ready(SINKS, path="/healthz")
        self.wait_ready(SERVICES)
        self.state.last_started_at = self.started_at.isoformat()
        self.state.ports = dict(self.config.ports)
        self.state.save(self.state_path)
        self.running = True

    @property
    def replication(self) -> int:
        return REPLICATION if isinstance(self.broker, KafkaCluster) else 1

    async def _prepare_broker(self) -> None:
        if not self.owns_broker:
            # A shared cluster still holds the topics of the stack before: start from empty ones.
            await reset_topics(self.broker.bootstrap, replication=self.replication)
            return
        await ensure_topics(self.broker.bootstrap, replication=self.replication)
        if isinstance(self.broker, KafkaCluster):
            return  # Apache Kafka keeps its topics on disk across restarts
        # The embedded broker keeps topics in memory: a fresh one has lost every event. Replay
        # each service's outbox since the previous run started; inboxes absorb duplicates.
        since = self.state.last_started_at
        if since:
            await replay_outboxes(self.database_url, datetime.fromisoformat(since))

    def _start_sinks(self) -> None:
        ports = self.config.ports
        self._spawn(
            "smtp-catcher",
            [
                sys.executable,
                "-m",
                "krafa.sinks.smtp_catcher",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["smtp-catcher"]),
                "--spool",
                str(self.spool / "mail"),
                "--bounce-domains",
                BOUNCE_DOMAIN,
                "--bounce-to",
                f"127.0.0.1:{ports['bounce-smtp']}",
                "--hostname",
                "mx.debtors.localhost",
                "--faults-file",
                str(self.smtp_faults_file),
            ],
            os.environ.copy(),
        )
        self._spawn(
            "provider-sink",
            [
                sys.executable,
                "-m",
                "krafa.sinks.provider_sink",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports["provider-sink"]),
                "--spool",
                str(self.spool / "providers"),
                "--receipt-secret",
                self.receipt_secret,
            ],
            os.environ.copy(),
        )
        self._spawn(
            "psp-sink",
            [
                sys.executable,
                "-m",
                "krafa.sinks.psp_sink",
                "--port",
                str(ports["psp-sink"]),
                "--secret-key",
                self.psp_secret_key,
                "--webhook-url",
                self.url("payments-ingest") + "/v1/psp/webhook",
                "--webhook-secret",
                self.psp_webhook_secret,
                "--spool",
                str(self.spool / "psp"),
            ],
            os.environ.copy(),
        )
        self._spawn(
            "idp-sink",
            [
                sys.executable,
                "-m",
                "krafa.sinks.idp_sink",
                "--port",
                str(ports["idp-sink"]),
                "--client-secret",
                self.oidc_client_secret,
            ],
            os.environ.copy(),
        )

    def _start_bank(self) -> None:
        """The claim bank: IOBWS claims for payments-ingest, the netbank for the demo's payers. It
        starts with the services so that it keeps their simulated date."""
        env = {**os.environ, **self.sim_env(), "KRAFA_BANK_SINK_CLIENT_SECRET": self.bank_client_secret}
        args = [sys.executable, "-m", "krafa.sinks.bank_sink", "--host", "127.0.0.1"]
        args += ["--port", str(self.config.ports["bank-sink"]), "--spool", str(self.spool / "bank")]
        self._spawn("bank-sink", args, env)

    def start_service(self, service: str) -> None:
        self._spawn(service, [sys.executable, "-m", module_for(service)], self.service_env(service))

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log_path = self.home / "logs" / f"{name}.log"
        if zygote.enabled() and args[:2] == [sys.executable, "-m"]:
            self.processes[name] = zygote.shared(PRELOAD).fork(args[2], args[3:], env, log_path)
            return
        with open(log_path, "ab") as out:
            self.processes[name] = spawn(args, stdout=out, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, services: tuple[str, ...], timeout: float = 240, path: str = "/readyz") -> None:
        deadline = time.monotonic() + timeout
        pending = set(services)
        with httpx.Client(timeout=2) as client:
            while pending:
                for service in list(pending):
                    process = self.processes.get(service)
                    if process is not None and process.poll() is not None:
                        raise RuntimeError(
                            f"{service} exited with {process.returncode}; see {self.home / 'logs' / (service + '.log')}"
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(self.url(service) + path).status_code == 200:
                            pending.discard(service)
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout}s: {', '.join(sorted(pending))}")
                time.sleep(0.1)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        os.kill(process.pid, sig)
        if sig == signal.SIGKILL:
            process.wait(10)

    def restart_service(self, name: str, *, wait: bool = True) -> None:
        """Start a service again after it died (or was killed) and wait until it is ready."""
        process = self.processes.get(name)
        if process is not None and process.poll() is None:
            stop_process(process)
        self.start_service(name)
        if wait:
            self.wait_ready((name,))

    def restart_postgres(self, pause: float = 0.0) -> None:
        """Stop PostgreSQL (fast shutdown), optionally stay down `pause` seconds, start it again."""
        self.pg.stop()
        time.sleep(pause)
        self.pg.start()

    def replace_broker(self) -> None:
        """Lose the broker with everything in it and start an empty one on the same port with the
        topics created, as after losing a Kafka cluster; `replay_outboxes` restores the events.
        The services are frozen (SIGSTOP) until the topics exist: Tansu creates a topic on first
        use with its own partition count, which Apache Kafka does too unless
        auto.create.topics.enable is off (the runbook says to turn it off)."""
        frozen = [p for name, p in self.processes.items() if name in SERVICES and p.poll() is None]
        for process in frozen:
            os.kill(process.pid, signal.SIGSTOP)
        try:
            if isinstance(self.broker, KafkaCluster):
                self.broker.wipe()  # every node killed and its data deleted
            elif self.broker.process is not None and self.broker.process.poll() is None:
                os.kill(self.broker.process.pid, signal.SIGKILL)
                self.broker.process.wait(10)
            self.broker.start()
            asyncio.run(ensure_topics(self.broker.bootstrap, replication=self.replication))
        finally:
            for process in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)

    def start_replica(self, service: str, number: int) -> str:
        """Another replica of `service` (same database schema, consumer group and relay lock) on
        a port of its own, named `<service>-<number>`; its log is logs/<name>.log."""
        name = f"{service}-{number}"
        self.config.ports[name] = free_port()
        env = self.service_env(service)
        env["KRAFA_HTTP_PORT"] = str(self.config.ports[name])
        self._spawn(name, [sys.executable, "-m", module_for(service)], env)
        return name

    def stop(self) -> None:
        """Every server the stack started, in three steps, each all at once and each with one
        deadline after which what is left is killed (STOP_SERVICES_S, STOP_SINKS_S,
        STOP_STORES_S): the whole stack is down within about half a minute of a Ctrl-C or a
        service manager's SIGTERM, however busy the machine."""
        sinks = ("smtp-catcher", "provider-sink", "psp-sink", "idp-sink", "bank-sink")
        # The services and their replicas (start_replica), then what they talk to; PostgreSQL and
        # the broker's nodes together, as neither needs the other to stop.
        services = [(p, signal.SIGTERM) for name, p in self.processes.items() if name not in sinks]
        killed = stop_together(services, STOP_SERVICES_S)
        killed += stop_together([(p, signal.SIGTERM) for n, p in self.processes.items() if n in sinks], STOP_SINKS_S)
        killed += stop_together(self.pg.stops() + (self.broker.stops() if self.owns_broker else []), STOP_STORES_S)
        if self.owns_broker:
            self.broker.stop()  # its nodes are gone: this keeps what their clean stop wrote
        if killed:
            names = {id(p): name for name, p in self.processes.items()} | {id(self.pg.process): "postgres"}
            left = ", ".join(names.get(id(p), f"broker (pid {p.pid})") for p in killed)
            log.warning("killed after the deadline of their stop: %s", left)
        if not self.running:
            return
        self.running = False
        if self.config.simulated:
            self.state.sim_now = self.sim_now().isoformat()
        self.state.last_clean_stop_at = datetime.now(UTC).isoformat()
        self.state.save(self.state_path)


def kafka_env(service: str, namespace: str = "krafa") -> dict[str, str]:
    """What a service runs with on Apache Kafka (as docker-compose.yml and deploy/k8s set it): the
    idempotent producer, a transactional relay (one transactional id per service: only the
    replica holding the relay lock publishes), read_committed consumers, Kafka's own fetch wait
    (the broker answers as soon as records arrive), a heartbeat every 2 s (Kafka's own consumers
    send one every 3 s; each is a request to the group coordinator) and the sticky assignor."""
    return {
        "KRAFA_KAFKA_IDEMPOTENCE": "true",
        "KRAFA_KAFKA_TRANSACTIONAL_ID": f"{namespace}-{service}-relay",
        "KRAFA_KAFKA_READ_COMMITTED": "true",
        "KRAFA_KAFKA_FETCH_MAX_WAIT_MS": "500",
        "KRAFA_KAFKA_HEARTBEAT_INTERVAL_MS": "2000",
        "KRAFA_KAFKA_ASSIGNOR": "sticky",
        "KRAFA_KAFKA_CONSUMER_GROUP_PREFIX": namespace,
    }


async def replay_outboxes(database_url: str, since: datetime) -> dict[str, int]:
    """`krafa outbox replay`: mark every event created since `since` unpublished in every
    service's outbox; each relay republishes them and the consumers' inboxes drop duplicates."""
    counts: dict[str, int] = {}
    conn = await asyncpg.connect(database_url)
    try:
        for service, schema in SCHEMAS.items():
            exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.outbox")
            if exists is None:
                continue
            result = await conn.execute(
                f'UPDATE "{schema}".outbox SET published_at = NULL WHERE created_at >= $1 AND published_at IS NOT NULL',
                since,
            )
            counts[service] = int(result.split()[-1])
            await conn.execute("SELECT pg_notify($1, '')", f"krafa_outbox_{schema}")
    finally:
        await conn.close()
    return counts
