"""`krafa plan` and `krafa rates check`: the law as an operator or creditor sees it, without a
running stack. `plan` previews a policy on a hypothetical claim with the scheduler's own dry run
(krafa_scheduler.domain.preview — the function behind the scheduler's plan endpoint); `rates check`
says when a late-interest table has run past its last published row."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


class PlanError(Exception):
    """Bad input: a clear message, exit status 2."""


def _date(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PlanError(f"{flag}: {text!r} is not a date (YYYY-MM-DD)") from None


def _minor(amount: str, currency: str) -> tuple[int, int]:
    """The amount in minor units of `currency`, and the currency's number of decimals."""
    from krafa_events.currencies import UnknownCurrency, minor_units

    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise PlanError(f"--amount: {amount!r} is not a number") from None
    try:
        digits = minor_units(currency)  # the one currency table (ISO 4217), as every service reads amounts
    except UnknownCurrency:
        raise PlanError(f"--currency: {currency!r} is not an ISO 4217 currency") from None
    minor = value.scaleb(digits)
    if value <= 0 or minor != minor.to_integral_value():
        raise PlanError(f"--amount: {amount} {currency} is not a positive amount with at most {digits} decimals")
    return int(minor), digits


def build(args: argparse.Namespace) -> tuple[Any, list[Any], int]:
    """The context and the planned steps for the command line's hypothetical claim."""
    from krafa_law import jurisdiction, jurisdictions
    from krafa_scheduler import domain, policy

    country = args.country.upper()
    if len(country) != 2 or not country.isalpha():
        raise PlanError(f"--country: {args.country!r} is not an ISO 3166 country code")
    pack = jurisdiction(country)
    currency = args.currency.upper()
    amount, digits = _minor(args.amount, currency)
    due = _date(args.due, "--due")
    final_due = _date(args.final_due, "--final-due") if args.final_due else None
    if final_due is not None and final_due < due:
        raise PlanError("--final-due: the final due date cannot be before the due date")
    if final_due is None and pack.code == "IS":
        final_due = due  # an Icelandic slip without an eindagi: interest from the due date
    pays_on = _date(args.pays_on, "--pays-on") if args.pays_on else None
    if args.policy and Path(args.policy).suffix == ".json":
        try:
            pol = policy.Policy.model_validate_json(Path(args.policy).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PlanError(f"--policy: cannot read {args.policy}: {exc.strerror}") from None
        except ValueError as exc:
            raise PlanError(f"--policy: {args.policy} is not a valid policy:\n{exc}") from None
    elif args.policy:
        shipped = policy.shipped_policies() | policy.shipped_policy_versions()
        if args.policy not in shipped:
            raise PlanError(f"--policy: no shipped policy {args.policy!r}; have {sorted(shipped)} or a .json file")
        pol = shipped[args.policy]
    else:
        pol = policy.default_policy(pack.code)
    if pol.jurisdiction.upper() not in jurisdictions():
        raise PlanError(f"the policy's jurisdiction {pol.jurisdiction!r} has no pack")
    if jurisdiction(pol.jurisdiction).code != pack.code:
        raise PlanError(f"the policy {pol.ref} is for {pol.jurisdiction}, the claim for {pack.code}")
    problems = policy.problems(pol, pack)
    if problems:
        lines = "\n".join(f"  {p['pointer']}: {p['detail']}" for p in problems)
        raise PlanError(f"the policy {pol.ref} breaks the law of {pack.code}:\n{lines}")
    ctx = domain.hypothetical(
        pack,
        pol,
        amount_minor=amount,
        currency=currency,
        due=due,
        final_due=final_due,
        customer_class=args.customer_class,
        debtor_kind=args.kind,
    )
    return ctx, domain.preview(ctx, pays_on=pays_on, watch_rounds=args.rounds), digits


def _money(minor: int, digits: int, currency: str) -> str:
    value = Decimal(minor).scaleb(-digits)
    return f"{value:,.{digits}f} {currency}"


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        ctx, steps, digits = build(args)
    except PlanError as exc:
        print(f"krafa plan: {exc}", file=sys.stderr)
        return 2
    claim = ctx.claim
    if args.json:
        body = {
            "jurisdiction": ctx.pack.code,
            "policy": ctx.policy.ref,
            "time_zone": claim.time_zone,
            "amount_minor": claim.amount_minor,
            "currency": claim.currency,
            "due_date": claim.due_date.isoformat(),
            "final_due_date": claim.final_due_date.isoformat(),
            "pays_on": args.pays_on,
            "steps": [p.as_json(claim.currency) for p in steps],
        }
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{ctx.policy.ref} — {_money(claim.amount_minor, digits, claim.currency)} due {claim.due_date}"
        + (f", final due {claim.final_due_date}" if claim.final_due_date != claim.due_date else "")
        + f" ({claim.time_zone})",
        title_justify="left",
    )
    for column in ("#", "local time", "step", "notice kind", "channels", "pay by", "fees", "interest", "total", "gap"):
        table.add_column(column, justify="right" if column in {"fees", "interest", "total", "gap"} else "left")
    for p in steps:
        deliveries = " + ".join("→".join(c.value for c in chain) for chain in p.deliveries) or "—"
        table.add_row(
            str(p.step) + (f".{p.watch_round}" if p.watch_round else ""),
            f"{p.local_at:%a %Y-%m-%d %H:%M}",
            p.name,
            p.notice_name or "—",
            deliveries,
            f"{p.pay_by:%a %Y-%m-%d}" if p.pay_by else "",
            " + ".join(_money(a, digits, claim.currency) for _, a in p.fees),
            f"{_money(p.interest_minor, digits, claim.currency)} @ {p.interest_rate_pct}%"
            + ("" if p.rate_published else "*"),
            _money(p.total_minor, digits, claim.currency),
            f"{p.gap_days} d" if p.gap_days is not None else "",
        )
    console = Console(width=200)
    console.print(table)
    if not all(p.rate_published for p in steps):
        last = ctx.pack.interest_rates[-1]
        console.print(
            f"* past the last published late-interest rate ({last.rate_pct} % to {last.valid_to}): carried forward "
            "until the new rate is added — see `krafa rates check`"
        )
    if args.pays_on:
        console.print(f"paid on {args.pays_on}: nothing falls due from then on")
    return 0


def cmd_rates_check(args: argparse.Namespace) -> int:
    from krafa_law import jurisdictions, rates

    today = _date(args.today, "--today") if args.today else date.today()
    report: list[dict[str, Any]] = []
    worst = 0
    for code, pack in sorted(jurisdictions().items()):
        rows = pack.interest_rates
        findings = rates.check(pack, today)
        worst = max([worst, *[2 if f.level == "error" else 1 if f.level == "warning" else 0 for f in findings]])
        last = rows[-1] if rows else None
        report.append(
            {
                "jurisdiction": code,
                "rule": pack.interest_rule,
                "rows": len(rows),
                "from": rows[0].valid_from.isoformat() if rows else None,
                "published_to": last.valid_to.isoformat() if last else None,
                "rate_today_pct": f"{rates.rate_on(pack, today):.2f}",
                "published_today": rates.published(pack, today),
                "findings": [{"level": f.level, "message": f.message} for f in findings],
            }
        )
    if args.json:
        print(json.dumps({"today": today.isoformat(), "packs": report}, indent=2, ensure_ascii=False))
    else:
        for entry in report:
            state = "published" if entry["published_today"] else "CARRIED FORWARD"
            print(
                f"{entry['jurisdiction']}: {entry['rows']} rows {entry['from']}..{entry['published_to']}; "
                f"today {entry['rate_today_pct']} % ({state})"
            )
            for f in entry["findings"]:
                print(f"  {f['level']}: {f['message']}")
    return 1 if worst == 2 else 0


def add_commands(sub: Any) -> None:
    plan = sub.add_parser(
        "plan", help="the dry-run timeline of a hypothetical claim: notices, channels, pay-by, fees, interest, totals"
    )
    plan.add_argument("--country", required=True, help="the jurisdiction (IS, NO, EE; any other: the EU pack)")
    plan.add_argument("--amount", required=True, help="the principal in major units, e.g. 10000")
    plan.add_argument("--currency", required=True, help="ISO 4217 currency of the amount, e.g. ISK")
    plan.add_argument("--due", required=True, help="due date (gjalddagi), YYYY-MM-DD")
    plan.add_argument("--final-due", default=None, help="final due date (eindagi); default: the due date")
    plan.add_argument("--policy", default=None, help="a shipped policy (key or key@version) or a policy .json file")
    plan.add_argument("--class", dest="customer_class", default="regular", help="the debtor's customer class")
    plan.add_argument(
        "--kind", choices=("person", "company"), default="person", help="the debtor is a person (default) or a company"
    )
    plan.add_argument("--pays-on", default=None, help="the claim is paid in full that day")
    plan.add_argument("--rounds", type=int, default=2, help="claim-watch rounds to show")
    plan.add_argument("--json", action="store_true", help="the plan as JSON")
    plan.set_defaults(func=cmd_plan)

    rates = sub.add_parser("rates", help="late-interest tables").add_subparsers(dest="action", required=True)
    check = rates.add_parser("check", help="exit 1 when a table has run past its last published row")
    check.add_argument("--today", default=None, help="check as of this day (default: today)")
    check.add_argument("--json", action="store_true", help="the tables' state as JSON")
    check.set_defaults(func=cmd_rates_check)
