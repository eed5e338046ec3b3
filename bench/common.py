"""What every figure shares: the result shape, timing, sample reminders and servers to start."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from krafa_notifier.content import ClaimLine, PostalAddress, ReminderContent, Tone

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Options:
    quick: bool
    runs: int
    # --profile DIR: the figures that support it sample their processes with py-spy during one
    # extra run (not counted) and write each process's stacks there (bench/cpu.py).
    profile: Path | None = None

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass
class Figure:
    """One figure: the per-run values of the pipeline and of its bounding component, measured
    alone in the same process run. `ratio` is median / component median."""

    key: str
    unit: str
    n: int  # the workload size (reminders, entries, claims, requests)
    values: list[float]
    component: list[float]
    component_label: str
    extra: dict[str, float] = field(default_factory=dict)  # further figures (e.g. p50), flat
    # A CPU budget (bench/cpu.py): its name (e.g. e2e_cpu_ms_per_claim), then per process group
    # (median over runs) the CPU ms per unit of work and what the idle stack burns in as long.
    cpu_key: str = ""
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def component_median(self) -> float:
        return statistics.median(self.component)

    def flat(self) -> dict[str, float | int]:
        comp = self.component_median
        return {
            self.key: round(self.median, 3),
            f"{self.key}_min": round(min(self.values), 3),
            f"{self.key}_max": round(max(self.values), 3),
            f"{self.key}_component": round(comp, 3),
            f"{self.key}_ratio": round(self.median / comp, 3) if comp else 0.0,
            f"{self.key}_n": self.n,
            **{k: round(v, 3) for k, v in self.extra.items()},
            **{
                f"{self.cpu_key}{'' if group == TOTAL else '_' + slug(group)}{suffix}": round(value, 3)
                for group, pair in self.cpu.items()
                for suffix, value in zip(("", "_idle"), pair, strict=True)
            },
        }


TOTAL = "total"


def slug(name: str) -> str:
    """`postgres (claims-api)` -> `postgres_claims_api`: a results.json key part."""
    return "_".join("".join(c if c.isalnum() else " " for c in name).split())


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# -- sample reminders ---------------------------------------------------------------------------

_LANGS: tuple[tuple[str, str, str, str], ...] = (
    # language, currency, country, a city
    ("is", "ISK", "IS", "Reykjavík"),
    ("nb", "NOK", "NO", "Tromsø"),
    ("et", "EUR", "EE", "Tallinn"),
    ("en", "GBP", "GB", "Manchester"),
)
_NAMES = ("Jón Jónsson", "Åse Øyen", "Märt Põld", "Siobhán O'Brien", "Þórdís Guðmundsdóttir", "Jüri Ülemiste")
_TONES: tuple[Tone, ...] = ("friendly", "firm", "final")


def reminders(n: int, seed: int = 7) -> list[ReminderContent]:
    """`n` mixed reminders: four languages in turn, 1-3 claims each, every tone, with an address."""
    rng = random.Random(seed)
    today = date(2026, 3, 5)
    out = []
    for i in range(n):
        language, currency, country, city = _LANGS[i % len(_LANGS)]
        claims = tuple(
            ClaimLine(
                invoice_no=f"INV-{i:06d}-{k}",
                description=rng.choice((None, "Árgjald 2026", "Membership fee", "Ticket order")),
                due_date=today - timedelta(days=rng.randint(10, 120)),
                amount_minor=rng.randint(1_000, 5_000_000),
                currency=currency,
                fees_minor=rng.choice((0, 390, 950)),
                interest_minor=rng.choice((0, rng.randint(1, 20_000))),
                reference=f"RF{i:07d}{k}",
            )
            for k in range(1 + i % 3)
        )
        step = 1 + i % 3
        out.append(
            ReminderContent(
                creditor_name="Íþróttafélagið Fram",
                creditor_contact_phone="+354 587 1234",
                creditor_account="IS14 0159 2600 7654 5510 7303 39",
                payment_link=f"https://pay.example.is/c/{i}",
                debtor_name=rng.choice(_NAMES),
                language=language,
                step=step,
                tone=_TONES[step - 1],
                claims=claims,
                address=PostalAddress(
                    name=rng.choice(_NAMES),
                    lines=(f"Laugavegur {i % 200 + 1}",),
                    postcode=f"{100 + i % 900}",
                    city=city,
                    country=country if i % 5 else "DE",
                ),
                sent_on=today,
            )
        )
    return out


# -- servers -------------------------------------------------------------------------------------


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A temp dir removed afterwards, unless KRAFA_BENCH_KEEP is set: then it stays (with the
    stack's service and broker logs under logs/) and its path is printed."""
    path = Path(tempfile.mkdtemp(prefix=f"krafa-bench-{prefix}-"))
    try:
        yield path
    finally:
        if os.environ.get("KRAFA_BENCH_KEEP"):
            say(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def subprocess_server(
    args: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process stopped (SIGTERM, then SIGKILL) by its PID when the block ends. Its
    stdout is a pipe (for a READY line) unless `log` is given; then both streams go there."""
    from krafa_kit.embedded import spawn, stop_process

    out = open(log, "ab") if log is not None else None  # noqa: SIM115 (closed below)
    process = spawn(
        args,
        stdout=out if out is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT if out is not None else subprocess.DEVNULL,
        env=env,
    )
    if out is not None:
        out.close()
    try:
        yield process
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"
