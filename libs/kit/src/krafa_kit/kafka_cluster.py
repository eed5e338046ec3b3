"""Apache Kafka for tests, `krafa run --broker kafka` and the benchmarks: a three-node KRaft
cluster (each node controller and broker at once) on 127.0.0.1, started from the jars `make kafka`
copied out of Maven Central (deploy/kafka/pom.xml pins the version) and run as `kafka.Kafka`, one
JVM per node, each started and stopped by its PID like the embedded PostgreSQL.

Replication factor 3 and `min.insync.replicas` 2, as in production: one node can be lost without
losing a write or stopping producers. The JVMs are sized and tuned for a small machine: a small
heap, the serial collector, few I/O and network threads, small internal topics, no initial
rebalance delay; a class-data archive made on the first clean stop shortens later starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from krafa_kit.embedded import (
    Stop,
    die_with_parent,
    free_port,
    port_is_free,
    stop_process,
    stop_together,
    wait_for_port,
)


def _killed_with_parent() -> None:
    # A node whose parent died gets SIGKILL, not SIGTERM: its clean shutdown would wait for
    # controllers that are going away too. Kafka recovers an unclean log on the next start.
    die_with_parent(signal.SIGKILL)


log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[4]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
NODES = 3
REPLICATION = 3
MIN_INSYNC = 2

# How long a cluster's nodes get to stop cleanly, all at once, before those left are killed. A node
# stops its broker first: a controlled shutdown, which waits for the active controller to move the
# node's partition leaders away and approve (up to five minutes); then its controller, whose Raft
# client waits up to 5 s for a leader to hand over to. When the whole cluster stops, the nodes
# that finish first take their controllers with them, and a node whose broker had not been
# approved yet waits its five minutes for a quorum that is gone. Measured on two busy cores
# (several stacks and CI running): two nodes gone within 1-4 s of the SIGTERM, the last one about
# 5 s later (the Raft hand-over it waits out). A killed node loses nothing acknowledged (every
# write is on three nodes and in the page cache); it recovers its logs on the next start.
STOP_TIMEOUT_S = 15.0


def kafka_libs() -> Path:
    """Where `make kafka` put the broker's jars (KRAFA_KAFKA_LIBS overrides)."""
    configured = os.environ.get("KRAFA_KAFKA_LIBS")
    path = Path(configured) if configured else REPO_ROOT / ".krafa-kafka" / "libs"
    if not any(path.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"Apache Kafka's jars are missing in {path}: run `make kafka` (Maven, {POM})")
    return path


def pinned_version() -> str:
    """The Kafka version deploy/kafka/pom.xml pins (docker-compose.yml runs the same)."""
    import re

    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if found is None:
        raise RuntimeError(f"no <kafka.version> in {POM}")
    return found.group(1)


def kafka_version() -> str:
    jar = next(kafka_libs().glob("kafka_2.13-*.jar"))
    return jar.stem.removeprefix("kafka_2.13-")


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("no java on PATH: Apache Kafka needs a JDK 17 or newer")
    return found


# Broker and controller settings; docker-compose.yml sets each of them the same on its three nodes
# (tests/contract/test_deploy_artifacts.py holds it), where only the listeners and sizes differ.
SETTINGS: dict[str, str] = {
    "process.roles": "broker,controller",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "num.partitions": "6",
    "default.replication.factor": str(REPLICATION),
    "min.insync.replicas": str(MIN_INSYNC),
    "offsets.topic.replication.factor": str(REPLICATION),
    "transaction.state.log.replication.factor": str(REPLICATION),
    "transaction.state.log.min.isr": str(MIN_INSYNC),
    # Topics are created by Krafa with their documented partitions, never on first use.
    "auto.create.topics.enable": "false",
    "unclean.leader.election.enable": "false",
    # A group forms as soon as its members join (the default waits 3 s for more); short-lived
    # readers (the demo's observer, test readers) may use a 3 s session.
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "3000",
    # A lost node is fenced, and its partitions led elsewhere, within 6 s; a replica that fell
    # behind leaves the ISR within 10 s.
    "broker.session.timeout.ms": "6000",
    "broker.heartbeat.interval.ms": "2000",
    "replica.lag.time.max.ms": "10000",
    # Idle cost: the active controller writes a no-op record to the metadata log every 5 s
    # (default 0.5 s, each one replicated to and applied by every node), and followers wait up
    # to 5 s for new records (the leader answers a waiting fetch as soon as records arrive, so
    # acks=all latency does not pay for it; a follower waiting on a fetch stays in the ISR, and
    # Kafka wants the wait below replica.lag.time.max.ms).
    "metadata.max.idle.interval.ms": "5000",
    "replica.fetch.wait.max.ms": "5000",
    # Small machine: few threads, small internal topics and cleaner buffer.
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.replica.fetchers": "1",
    "background.threads": "2",
    # One thread runs the group coordinator's events (heartbeats, joins, offset commits) for
    # the node's few partitions of __consumer_offsets (the default, four, is for big brokers).
    "group.coordinator.threads": "1",
    "num.recovery.threads.per.data.dir": "1",
    "offsets.topic.num.partitions": "6",
    "transaction.state.log.num.partitions": "6",
    "log.cleaner.threads": "1",
    "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
    "log.segment.bytes": str(64 * 1024 * 1024),
    "share.coordinator.state.topic.num.partitions": "1",
    "share.coordinator.state.topic.replication.factor": str(REPLICATION),
    "share.coordinator.state.topic.min.isr": str(MIN_INSYNC),
}

# A small heap, the serial collector (no parallel GC threads on two cores), the client compiler
# only (quicker to warm up and far less compiling on two cores), no perf-data file. The client
# compiler takes a method at a tenth of the usual invocation counts: what an idle node runs (a
# heartbeat, a quorum fetch, a few a second) is compiled within seconds of the start instead of
# being interpreted, and compiled bit by bit, for minutes (measured on the three nodes: a start
# costs ~1.3 CPU-seconds more, and idle they then burn ~0.25 CPU-seconds a minute less).
JVM_OPTIONS = (
    "-XX:TieredStopAtLevel=1",
    "-XX:CompileThresholdScaling=0.1",
    "-Xms96m",
    "-Xmx320m",
    "-XX:MaxDirectMemorySize=128m",
    "-XX:+UseSerialGC",
    "-XX:MaxMetaspaceSize=128m",
    "-XX:CICompilerCount=2",
    "-Xss512k",
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

LOG4J2 = """status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = warn
"""


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class KafkaCluster:
    """Three KRaft nodes under `home` (a directory per node, its log beside it). `ports` are the
    client ports (free ones when not given); the controller ports are always chosen free."""

    home: Path
    ports: list[int] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list, init=False)
    cluster_id: str = ""
    log_level: str = field(default_factory=lambda: os.environ.get("KRAFA_BROKER_LOG", "WARN").upper())
    started_in_s: float = 0.0
    _pending_archive: Path | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        ports = list(self.ports) + [0] * (NODES - len(self.ports))
        self.nodes = [
            Node(node_id=i + 1, port=ports[i], controller_port=0, data_dir=self.home / f"node-{i + 1}")
            for i in range(NODES)
        ]
        id_file = self.home / "cluster.id"
        if not self.cluster_id:
            self.cluster_id = id_file.read_text().strip() if id_file.exists() else _cluster_id()

    # -- addresses -------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def pids(self) -> list[int]:
        return [node.process.pid for node in self.nodes if node.process is not None and node.running]

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 300) -> None:
        """Format what is not formatted yet, start every node and wait until each serves clients
        (the nodes already started are stopped again when one fails)."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        started = time.monotonic()
        for node in self.nodes:
            node.port = node.port or free_port()
            node.controller_port = node.controller_port or free_port()
            for port in (node.port, node.controller_port):
                if not port_is_free(port):
                    raise RuntimeError(f"port {port} is in use: is another Krafa stack running?")
        self._write_configs()
        self._format([node for node in self.nodes if not (node.data_dir / "meta.properties").exists()])
        for node in self.nodes:
            self._launch(node)
        # A node opens its client port once it has registered with the quorum and caught up.
        for node in self.nodes:
            self._wait_serving(node, timeout)
        self.started_in_s = time.monotonic() - started

    def _config_path(self, node: Node) -> Path:
        return self.home / f"node-{node.node_id}.properties"

    def _write_configs(self) -> None:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        (self.home / "cluster.id").write_text(self.cluster_id)
        (self.home / "log4j2.properties").write_text(LOG4J2.format(level=self.log_level))
        for node in self.nodes:
            settings = {
                **SETTINGS,
                "node.id": str(node.node_id),
                "controller.quorum.voters": voters,
                "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
                "log.dirs": str(node.data_dir),
            }
            self._config_path(node).write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def _java(self, main: str, *args: str, archive: Path | None = None, dump: Path | None = None) -> list[str]:
        libs = kafka_libs()
        command = [java_binary(), *JVM_OPTIONS]
        if dump is not None:
            command.append(f"-XX:ArchiveClassesAtExit={dump}")
        elif archive is not None and archive.exists():
            command.append(f"-XX:SharedArchiveFile={archive}")
        command += [
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]
        return command

    def _format(self, nodes: list[Node]) -> None:
        """What `kafka-storage format` writes into a new node's directory: the bootstrap
        checkpoint (the same for every cluster of this Kafka version, so made once, by the tool,
        and copied) and meta.properties with the cluster's and the node's identity. A JVM start
        per node saved: ten seconds and more of a small machine's cores."""
        if not nodes:
            return
        checkpoint = self._bootstrap_checkpoint()
        for node in nodes:
            node.data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(checkpoint, node.data_dir / "bootstrap.checkpoint")
            directory_id = _cluster_id()
            (node.data_dir / "meta.properties").write_text(
                f"node.id={node.node_id}\ndirectory.id={directory_id}\nversion=1\ncluster.id={self.cluster_id}\n"
            )

    def _bootstrap_checkpoint(self) -> Path:
        target = kafka_libs().parent / f"kafka-{kafka_version()}.bootstrap.checkpoint"
        if target.exists():
            return target
        scratch = self.home / "format"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        config = scratch / "format.properties"
        config.write_text(
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093\n"
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n"
            f"controller.listener.names=CONTROLLER\nlog.dirs={scratch / 'data'}\n"
        )
        run = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}", f"--config={config}"),
            capture_output=True,
            check=False,
            timeout=300,
            preexec_fn=_killed_with_parent,
        )
        if run.returncode != 0:
            raise RuntimeError(f"kafka-storage format failed: {(run.stdout + run.stderr).decode(errors='replace')}")
        made = target.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(scratch / "data" / "bootstrap.checkpoint", made)
        made.replace(target)
        shutil.rmtree(scratch, ignore_errors=True)
        return target

    @property
    def _archive(self) -> Path:
        return kafka_libs().parent / f"kafka-{kafka_version()}.jsa"

    def _launch(self, node: Node) -> None:
        archive = self._archive
        libs = kafka_libs()
        if archive.exists() and archive.stat().st_mtime < max(j.stat().st_mtime for j in libs.glob("*.jar")):
            # Made from jars copied before the latest `make kafka`: the JVM would ignore it.
            archive.unlink(missing_ok=True)
        # The first node ever started writes the class-data archive when it stops cleanly.
        dump = None
        if not archive.exists() and node.node_id == 1:
            dump = archive.with_suffix(f".{os.getpid()}.tmp")
        with open(self.home / f"node-{node.node_id}.log", "ab") as out:
            node.process = subprocess.Popen(
                self._java("kafka.Kafka", str(self._config_path(node)), archive=archive, dump=dump),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_killed_with_parent,
            )
        if dump is not None:
            self._pending_archive = dump

    def _wait_serving(self, node: Node, timeout: float) -> None:
        assert node.process is not None
        try:
            wait_for_port("127.0.0.1", node.port, timeout, node.process)
        except (RuntimeError, TimeoutError) as exc:
            tail = _tail(self.home / f"node-{node.node_id}.log")
            raise RuntimeError(f"Kafka node {node.node_id}: {exc}\n{tail}") from None

    def stops(self) -> list[Stop]:
        """Each node's clean stop (SIGTERM), for `stop_together`; call `stop()` afterwards."""
        return [(node.process, signal.SIGTERM) for node in self.nodes if node.process is not None]

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Every node at once, SIGKILL for those still running after `timeout` (see
        STOP_TIMEOUT_S); then the class-data archive a clean stop wrote is kept."""
        stop_together(self.stops(), timeout)
        self._keep_archive()

    def _keep_archive(self) -> None:
        pending, self._pending_archive = self._pending_archive, None
        if pending is None:
            return
        # Only from a node that finished its exit: one killed while it wrote the archive (the
        # stop's deadline passed; a busy machine takes longer than that to write it) leaves a
        # partial file, and the next start makes a new one.
        writer = self.nodes[0].process
        finished = writer is not None and writer.returncode is not None and writer.returncode >= 0
        if finished and pending.exists() and pending.stat().st_size > 0:
            with contextlib.suppress(OSError):
                pending.replace(self._archive)
        pending.unlink(missing_ok=True)

    # -- faults ----------------------------------------------------------------------------------
    def kill_node(self, node_id: int, sig: int = signal.SIGKILL) -> None:
        """Stop one node by its PID: SIGKILL (lost at once) or SIGTERM (a clean shutdown)."""
        node = self.node(node_id)
        if node.process is None or not node.running:
            return
        if sig == signal.SIGKILL:
            os.kill(node.process.pid, signal.SIGKILL)
            node.process.wait(30)
        else:
            stop_process(node.process, sig, timeout=60)

    def start_node(self, node_id: int, timeout: float = 300) -> None:
        node = self.node(node_id)
        if node.running:
            return
        if not port_is_free(node.port) or not port_is_free(node.controller_port):
            # The kernel may hold the old listener a moment after a SIGKILL.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (port_is_free(node.port) and port_is_free(node.controller_port)):
                time.sleep(0.2)
        self._launch(node)
        self._wait_serving(node, timeout)

    def pause(self) -> None:
        """Every node stops answering (SIGSTOP): a cluster that is unreachable but not lost."""
        for pid in self.pids:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def wipe(self) -> None:
        """Kill every node and delete its data: what is left is an unformatted cluster (start()
        formats it anew under a new cluster id), as after losing the cluster."""
        for node in self.nodes:
            if node.process is not None and node.running:
                os.kill(node.process.pid, signal.SIGKILL)
                node.process.wait(30)
            shutil.rmtree(node.data_dir, ignore_errors=True)
        self.cluster_id = _cluster_id()

    # -- measurements ----------------------------------------------------------------------------
    def memory_rss_bytes(self) -> int:
        """Resident memory of every running node (from /proc)."""
        total = 0
        for pid in self.pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
                total += pages * os.sysconf("SC_PAGE_SIZE")
        return total


def _cluster_id() -> str:
    # A Kafka cluster id is 16 random bytes in URL-safe base64 without padding.
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def running_cluster(home: Path) -> Iterator[KafkaCluster]:
    cluster = KafkaCluster(home)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
