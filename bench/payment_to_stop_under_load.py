"""payment_to_stop_under_load_p99_ms: payments arriving while 10,000 reminders are being
dispatched (docs/adr/0008). N overdue claims are posted to the whole embedded stack (separate
processes, durable PostgreSQL, a simulated clock at half an hour a day so every reminder is a
first one and inside the sending window); while the notifier sends their reminders, one claim
whose reminder still waits is paid by a bank file every 0.2 s. Per payment: from payments-ingest's
commit of the payment to the notifier's record of it, after which no send for the claim can
begin (`krafa.stopload`). The figure is the p99 over every payment of every run.

Every run also checks the guarantee itself: no send for a paid claim may begin after the
notifier recorded the payment; a run that finds one fails the figure.

Component: the same path with the notifier idle, measured on the same stack after the burst
(payments of claims whose reminders are long sent), p99; the ratio shows what the load costs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from krafa.stack import Stack, StackConfig
from krafa.stopload import BurstReport, pay_during_burst

from bench.common import Figure, Options, percentile, say, temp_dir

KEY = "payment_to_stop_under_load_p99_ms"
DAY_SECONDS = 1800.0
SIM_START = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # a Tuesday morning


def run(opts: Options) -> Figure:
    claims = opts.size(10_000, 1_000)
    payments = opts.size(60, 20)
    under_load: list[float] = []
    idle: list[float] = []
    waiting: list[int] = []
    with temp_dir("stop-under-load") as home:
        config = StackConfig.with_free_ports(home, sim_speed=86400 / DAY_SECONDS, durable=True)
        config.sim_start = SIM_START
        config.extra_env["KRAFA_LOG_LEVEL"] = "WARNING"
        stack = Stack(config)
        try:
            say("starting the embedded stack (PostgreSQL, broker, sinks, five services)")
            stack.start()
            for i in range(opts.runs):
                report = asyncio.run(pay_during_burst(stack, claims=claims, payments=payments, seed=i, say=say))
                _judge(report)
                say(f"run {i + 1}: {report.summary()}")
                under_load += report.latencies_ms
                waiting += [s.waiting for s in report.samples]
                calm = asyncio.run(pay_during_burst(stack, claims=payments * 5, payments=payments // 2, seed=100 + i))
                _judge(calm)
                idle += calm.latencies_ms
        finally:
            stack.stop()
    p99 = percentile(under_load, 99)
    return Figure(
        key=KEY,
        unit="ms",
        n=claims,
        values=[p99],
        component=[percentile(idle, 99)],
        component_label=f"the same with {payments * 5} reminders instead of {claims} (p99)",
        extra={
            f"{KEY}_p50": percentile(under_load, 50),
            f"{KEY}_max": max(under_load),
            f"{KEY}_payments": len(under_load),
            f"{KEY}_min_waiting": min(waiting),
        },
    )


def _judge(report: BurstReport) -> None:
    if report.late:
        raise AssertionError(f"sends began after the notifier recorded the payment: {report.summary()}")
