"""idle_stack_cpu_pct: what a whole stack costs while nothing happens, in % of one core: every
process `krafa run` starts (PostgreSQL and its backends, the broker, the sinks, the services),
started, left to settle, then its CPU time (user + system, from /proc through psutil) summed over
a minute of wall time. On the embedded broker (the figure) and on the three-node Apache Kafka
cluster (`idle_stack_cpu_pct_kafka`), with the share of the broker and of the busiest service.

Target: under 5 % of one core on both. Component: the broker's own share of the same minute."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict

import psutil
from krafa.stack import BrokerKind, Stack, StackConfig

from bench.common import Figure, Options, say, temp_dir

KEY = "idle_stack_cpu_pct"
SETTLE_S = 20.0


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _groups(stack: Stack) -> dict[str, list[int]]:
    """Process name -> the PIDs that make it up (a parent and its children)."""
    groups: dict[str, list[int]] = {}
    if stack.pg.process is not None:
        groups["postgres"] = [p.pid for p in _tree(stack.pg.process.pid)]
    groups["broker"] = [p.pid for pid in stack.broker.pids for p in _tree(pid)]
    for name, process in stack.processes.items():
        if process.poll() is None:
            groups[name] = [p.pid for p in _tree(process.pid)]
    return groups


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            out[pid] = times.user + times.system
        except psutil.Error:
            continue
    return out


def measure(stack: Stack, seconds: float) -> dict[str, float]:
    """% of one core per process group over `seconds` of wall time (PostgreSQL backends that
    come and go are counted while they live)."""
    groups = _groups(stack)
    before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
    started = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    after_groups = _groups(stack)
    shares: dict[str, float] = defaultdict(float)
    for name, pids in after_groups.items():
        now = _cpu_seconds(pids)
        for pid, cpu in now.items():
            shares[name] += cpu - before.get(name, {}).get(pid, 0.0)
    return {name: 100 * cpu / wall for name, cpu in shares.items()}


def _one(broker: BrokerKind, seconds: float) -> dict[str, float]:
    with temp_dir(f"idle-{broker}") as home:
        config = StackConfig.with_free_ports(home, durable=True)
        config.broker = broker
        stack = Stack(config)
        try:
            say(f"{KEY}: starting an idle stack on the {broker} broker")
            stack.start()
            time.sleep(SETTLE_S)
            return measure(stack, seconds)
        finally:
            stack.stop()


def run(opts: Options) -> Figure:
    seconds = 15.0 if opts.quick else 60.0
    totals: dict[BrokerKind, list[float]] = {"embedded": [], "kafka": []}
    brokers: dict[BrokerKind, list[float]] = {"embedded": [], "kafka": []}
    busiest: dict[BrokerKind, list[float]] = {"embedded": [], "kafka": []}
    for r in range(opts.runs):
        for broker in ("embedded", "kafka"):
            shares = _one(broker, seconds)
            total = sum(shares.values())
            others = {k: v for k, v in shares.items() if k != "broker"}
            top = max(others, key=lambda k: others[k])
            say(
                f"{KEY} run {r + 1} ({broker}): {total:.2f} % of one core; broker {shares.get('broker', 0):.2f} %, "
                f"busiest {top} {others[top]:.2f} %; "
                + ", ".join(f"{k} {v:.2f}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
            )
            totals[broker].append(total)
            brokers[broker].append(shares.get("broker", 0.0))
            busiest[broker].append(others[top])
    return Figure(
        key=KEY,
        unit="% core",
        n=int(seconds),
        values=totals["embedded"],
        component=brokers["embedded"],
        component_label="the broker's own share of the idle minute (% of one core)",
        extra={
            f"{KEY}_kafka": statistics.median(totals["kafka"]),
            f"{KEY}_kafka_broker": statistics.median(brokers["kafka"]),
            f"{KEY}_busiest_service": statistics.median(busiest["embedded"]),
            f"{KEY}_kafka_busiest_service": statistics.median(busiest["kafka"]),
        },
    )
