"""Faults only a real Kafka cluster has, run by `krafa chaos --broker kafka` beside the others
(krafa.chaos calls `run_kafka_faults` in each round), under the same load and judged by the same
invariants afterwards (nothing lost, nothing twice, no reminder after a close):

- the leader of the most partitions SIGKILLed mid-load, started again a little later: the relays
  and consumers carry on through the leader elections;
- one node of three stopped (a clean shutdown) for a minute (20 s in the short form): with
  replication factor 3 and min.insync.replicas 2 nothing waits for it;
- a rolling restart of all three nodes, each back in every ISR before the next goes;
- three replicas of the notifier and of the scheduler sharing their partitions (and the
  scheduler's sweep, the notifier's dispatch) under the load, one of them SIGKILLed: no reminder
  twice, no step fired twice (the run's checks), and how the records divided between replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from krafa_kit.kafka import krafa_topic_names
from krafa_kit.kafka_cluster import NODES, KafkaCluster

if TYPE_CHECKING:
    from krafa.chaos import Chaos

REPLICATED = ("notifier", "scheduler")
FAULTS = ("Kafka leader killed", "Kafka node stopped", "Kafka rolling restart", "three replicas")


async def partitions(bootstrap: str) -> list[dict[str, Any]]:
    """Every partition of the Krafa topics: topic, partition, leader, replicas, isr."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        topics = await admin.describe_topics(krafa_topic_names())
    finally:
        await admin.close()
    return [{"topic": t["topic"], **p} for t in topics for p in t["partitions"]]


async def leaders(bootstrap: str) -> Counter[int]:
    return Counter(p["leader"] for p in await partitions(bootstrap) if p["leader"] >= 0)


async def wait_in_sync(cluster: KafkaCluster, timeout: float = 180) -> float:
    """Until every partition has a leader and all three replicas in its ISR; returns the wait."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            parts = await partitions(cluster.bootstrap)
            if parts and all(p["leader"] >= 0 and len(p["isr"]) == NODES for p in parts):
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"partitions not back in sync with {NODES} replicas within {timeout:.0f} s")
        await asyncio.sleep(1)


def _cluster(chaos: Chaos) -> KafkaCluster:
    broker = chaos.stack.broker
    assert isinstance(broker, KafkaCluster), "the Kafka faults need the Apache Kafka broker"
    return broker


async def kill_leader(chaos: Chaos) -> str:
    cluster = _cluster(chaos)
    await asyncio.sleep(chaos.rng.uniform(0.5, 2.0))  # a random moment under load
    led = await leaders(cluster.bootstrap)
    victim, count = led.most_common(1)[0]
    await asyncio.to_thread(cluster.kill_node, victim, signal.SIGKILL)
    # The controller fences it after broker.session.timeout.ms and elects new leaders from the ISR.
    await asyncio.sleep(8 if chaos.options.short else 20)
    down = time.monotonic()
    await asyncio.to_thread(cluster.start_node, victim)
    synced = await wait_in_sync(cluster)
    return f"node {victim} led {count} partitions; restarted, in sync again {time.monotonic() - down:.0f} s later" + (
        f" ({synced:.0f} s catching up)" if synced > 1 else ""
    )


async def stop_node(chaos: Chaos) -> str:
    cluster = _cluster(chaos)
    seconds = 20.0 if chaos.options.short else 60.0
    victim = chaos.rng.randrange(1, NODES + 1)
    await asyncio.to_thread(cluster.kill_node, victim, signal.SIGTERM)  # controlled shutdown
    await asyncio.sleep(seconds)
    await asyncio.to_thread(cluster.start_node, victim)
    synced = await wait_in_sync(cluster)
    return f"node {victim} down {seconds:.0f} s, in sync {synced:.0f} s after its start"


async def rolling_restart(chaos: Chaos) -> str:
    cluster = _cluster(chaos)
    waits = []
    for node in range(1, NODES + 1):
        await asyncio.to_thread(cluster.kill_node, node, signal.SIGTERM)
        await asyncio.to_thread(cluster.start_node, node)
        waits.append(await wait_in_sync(cluster))
    return (
        "nodes 1, 2, 3 one after another, each in sync before the next (" + ", ".join(f"{w:.0f} s" for w in waits) + ")"
    )


_PROCESSED = re.compile(r'^krafa_events_consumed_total\{[^}]*outcome="processed"[^}]*\} ([0-9.e+]+)$', re.MULTILINE)


async def processed(chaos: Chaos, name: str) -> int:
    """Records a process has handled (its own /metrics, processed outcome)."""
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(chaos.stack.url(name) + "/metrics")).text
            return int(sum(float(v) for v in _PROCESSED.findall(text)))
    return -1


async def three_replicas(chaos: Chaos) -> str:
    stack = chaos.stack
    extra = [stack.start_replica(service, n) for service in REPLICATED for n in (2, 3)]
    try:
        await asyncio.to_thread(stack.wait_ready, tuple(extra), 180)
        before = {name: await processed(chaos, name) for name in (*REPLICATED, *extra)}
        await asyncio.sleep(10 if chaos.options.short else 30)
        victim = chaos.rng.choice(extra)
        stack.kill(victim, signal.SIGKILL)
        if victim.startswith("notifier"):
            chaos.notifier_kills += 1
        await asyncio.sleep(10 if chaos.options.short else 30)
        after = {name: await processed(chaos, name) for name in (*REPLICATED, *extra) if name != victim}
    finally:
        running = [n for n in extra if (p := stack.processes.get(n)) is not None and p.poll() is None]
        for name in running:
            stack.kill(name, signal.SIGTERM)
        for name in running:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(stack.processes[name].wait, 30)
    shares = ", ".join(
        f"{service}: "
        + "/".join(
            str(after[name] - before[name]) if name in after else "killed"
            for name in (service, f"{service}-2", f"{service}-3")
        )
        for service in REPLICATED
    )
    return f"records handled per replica while three ran ({shares}); {victim} SIGKILLed"


async def run_kafka_faults(chaos: Chaos) -> None:
    """The faults above, one after another, each recorded in the run's report."""
    await chaos.fault(FAULTS[0], lambda: kill_leader(chaos))
    await chaos.fault(FAULTS[1], lambda: stop_node(chaos))
    await chaos.fault(FAULTS[2], lambda: rolling_restart(chaos))
    await chaos.fault(FAULTS[3], lambda: three_replicas(chaos))
    await chaos.wait_ready(("notifier", "scheduler"), 180)
