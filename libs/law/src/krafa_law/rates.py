"""Late-interest rates: the rate in force on a day, runs of days with one rate, and the check an
operator runs (`krafa rates check`) to learn that a table has run past its last published row
before it matters.

Past the last published row the last rate carries forward — the law's rate for a new period is
published shortly before it starts, and interest must not stop accruing meanwhile — and the
check says so, loudly, until the new row is added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from krafa_law.packs import Jurisdiction, RateRow

# Claims older than this are not expected: every table must reach back to it.
TABLES_FROM = date(2015, 1, 1)
# Warn this long before a table's last row ends.
WARN_DAYS = 14


def row_on(pack: Jurisdiction, day: date) -> RateRow | None:
    """The published row in force on `day`; past the table's end, its last row (carried
    forward); before the table's start, None."""
    rows = pack.interest_rates
    if not rows or day < rows[0].valid_from:
        return None
    lo, hi = 0, len(rows) - 1
    while lo < hi:  # the last row starting on or before `day`
        mid = (lo + hi + 1) // 2
        if rows[mid].valid_from <= day:
            lo = mid
        else:
            hi = mid - 1
    return rows[lo]


def rate_on(pack: Jurisdiction, day: date) -> Decimal:
    """The annual late-interest rate in percent on `day` (0 before the table starts)."""
    row = row_on(pack, day)
    return row.rate_pct if row is not None else Decimal(0)


def published(pack: Jurisdiction, day: date) -> bool:
    """Whether `day` lies within a published row (not carried forward past the table's end)."""
    rows = pack.interest_rates
    return bool(rows) and rows[0].valid_from <= day <= rows[-1].valid_to


_RUNS: dict[tuple[str, date, date], tuple[tuple[date, date, Decimal], ...]] = {}


def runs(pack: Jurisdiction, first: date, last: date) -> tuple[tuple[date, date, Decimal], ...]:
    """The days from `first` to `last` inclusive cut into runs [begin, end) of one rate each
    (runs at 0 % left out). The same for every claim whose interest starts on `first`: cached."""
    key = (pack.code, first, last)
    hit = _RUNS.get(key)
    if hit is not None:
        return hit
    out: list[tuple[date, date, Decimal]] = []
    stop = last + timedelta(days=1)
    bounds = sorted({r.valid_from for r in pack.interest_rates if first < r.valid_from < stop})
    for begin, end in zip([first, *bounds], [*bounds, stop], strict=True):
        rate = rate_on(pack, begin)
        if rate:
            out.append((begin, end, rate))
    if len(_RUNS) > 50_000:
        _RUNS.clear()
    hit = _RUNS[key] = tuple(out)
    return hit


@dataclass(frozen=True, slots=True)
class Finding:
    pack: str
    level: str  # "error", "warning" or "note"
    message: str


def check(pack: Jurisdiction, today: date) -> list[Finding]:
    """What an operator must know about a pack's rate table on `today`."""
    rows = pack.interest_rates
    if not rows:
        return [Finding(pack.code, "error", "no late-interest rates at all")]
    out: list[Finding] = []
    if rows[0].valid_from > TABLES_FROM:
        out.append(Finding(pack.code, "error", f"the table starts {rows[0].valid_from}, after {TABLES_FROM}"))
    last = rows[-1]
    if today > last.valid_to:
        out.append(
            Finding(
                pack.code,
                "error",
                f"the table runs past its last published row: {last.rate_pct} % was published to "
                f"{last.valid_to} ({last.source}); since {last.valid_to + timedelta(days=1)} that rate is "
                "carried forward — add the newly published row",
            )
        )
    elif (last.valid_to - today).days < WARN_DAYS:
        out.append(
            Finding(
                pack.code,
                "warning",
                f"the last published row ends {last.valid_to}, in {(last.valid_to - today).days} days: "
                "add the next period's rate when it is published",
            )
        )
    unverified = [r for r in rows if not r.verified]
    if unverified:
        spans: list[list[date]] = []
        for r in unverified:
            if spans and spans[-1][1] + timedelta(days=1) == r.valid_from:
                spans[-1][1] = r.valid_to
            else:
                spans.append([r.valid_from, r.valid_to])
        text = ", ".join(f"{a}..{b}" for a, b in spans)
        out.append(Finding(pack.code, "note", f"{len(unverified)} row(s) derived, not read in a publication: {text}"))
    return out
