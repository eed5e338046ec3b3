"""`python -m bench [--quick] [--runs N] [--only KEY,...]`: run the figures, print a table and
write bench/results.json."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from krafa_kit.embedded import stop_on_signals

from bench.common import TOTAL, Figure, Options, git_commit

# Figure key -> module (its run()) or module:function, in priority order; the _kafka figures are
# the same pipeline on a three-node Apache Kafka cluster, side by side with the embedded broker.
FIGURES: dict[str, str] = {
    "letters_per_s": "bench.letters",
    "emails_per_s": "bench.emails",
    "camt_100k_s": "bench.camt",
    "ingest_claims_per_s": "bench.ingest_bulk",
    "ingest_single_p99_ms": "bench.ingest_single",
    "sweep_1m_s": "bench.sweep",
    "due_to_sent_p99_ms": "bench.due_to_sent",
    "payment_to_stop_p99_ms": "bench.payment_to_stop",
    "bank_payment_to_stop_p99_ms": "bench.bank_payment_to_stop",
    "payment_to_stop_under_load_p99_ms": "bench.payment_to_stop_under_load",
    "bounce_to_letter_p99_ms": "bench.bounce_to_letter",
    "e2e_claims_per_s": "bench.e2e",
    "payment_to_stop_p99_ms_kafka": "bench.payment_to_stop:run_kafka",
    "e2e_claims_per_s_kafka": "bench.e2e:run_kafka",
    "idle_stack_cpu_pct": "bench.idle",
}
RESULTS = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 run unless --runs")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3, quick 1)")
    parser.add_argument("--only", default="", help=f"comma-separated keys: {', '.join(FIGURES)}")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="e2e figures: one extra run (not counted) with every stack process sampled by py-spy;"
        " collapsed stacks and a summary per process into DIR",
    )
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.only.split(",") if k.strip()] or list(FIGURES)
    unknown = [k for k in keys if k not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(unknown)}")
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if runs < 1:
        parser.error("--runs must be at least 1")
    opts = Options(quick=args.quick, runs=runs, profile=args.profile)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Ctrl-C and SIGTERM unwind through each figure's `finally`, which stops its servers.
    stop_on_signals()

    figures: list[Figure] = []
    failed: list[str] = []
    measured: dict[str, object] = {}
    commit = git_commit()
    for key in keys:
        print(f"== {key}", file=sys.stderr, flush=True)
        try:
            module, _, function = FIGURES[key].partition(":")
            figures.append(getattr(importlib.import_module(module), function or "run")(opts))
        except KeyboardInterrupt:
            print(f"interrupted during {key}: servers stopped, no results written", file=sys.stderr)
            return 130
        except Exception:
            traceback.print_exc()
            failed.append(key)
            continue
        # Where each figure came from, as --only runs keep the others' figures in the file.
        measured[f"{key}_measured"] = (
            f"{commit[:12]} {datetime.now(UTC).isoformat(timespec='minutes')}, {runs} run(s)"
            f"{' quick' if opts.quick else ''}, load average {os.getloadavg()[0]:.2f} at the end"
        )

    # --only: the other figures already in the file stay; the run-wide fields describe this run.
    results: dict[str, object] = {}
    if args.only and args.output.exists():
        results.update(json.loads(args.output.read_text()))
    for figure in figures:
        results.update(figure.flat())
    results.update(measured)
    results.update(
        {
            "quick": opts.quick,
            "runs": opts.runs,
            "cores": os.cpu_count(),
            "git_commit": commit,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(figures, opts))
    print(f"\nwrote {args.output}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def table(figures: list[Figure], opts: Options) -> str:
    head = f"{'figure':<30} {'median':>10} {'min':>10} {'max':>10} {'unit':<10} {'n':>7} {'component':>10} {'ratio':>7}"
    lines = [f"runs={opts.runs} quick={opts.quick} cores={os.cpu_count()}", head, "-" * len(head)]
    for f in figures:
        lines.append(
            f"{f.key:<30} {f.median:>10.2f} {min(f.values):>10.2f} {max(f.values):>10.2f} {f.unit:<10} {f.n:>7}"
            f" {f.component_median:>10.2f} {f.median / f.component_median if f.component_median else 0:>7.3f}"
        )
        for name, value in f.extra.items():
            lines.append(f"  {name:<28} {value:>10.2f}")
    for f in figures:
        if f.cpu:
            lines += [
                "",
                f"{f.cpu_key} (CPU ms per claim, median of {len(f.values)} runs; idle: the idle stack in as long)",
            ]
            lines.append(f"  {'process':<34} {'ms/claim':>9} {'share':>7} {'idle':>7}")
            total = f.cpu.get(TOTAL, (0.0, 0.0))[0] or 1.0
            for group, (ms, idle) in f.cpu.items():
                lines.append(f"  {group:<34} {ms:>9.3f} {100 * ms / total:>6.1f}% {idle:>7.3f}")
    lines.append("")
    lines.extend(f"component of {f.key}: {f.component_label}" for f in figures)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
