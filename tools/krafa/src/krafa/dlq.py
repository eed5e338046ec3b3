"""`krafa dlq list` and `krafa dlq replay`: the dead-letter topics, read and replayed.

The reading, the replay rules and the republishing live in krafa_kit.dlq, which the operators'
dead-letter page in the web uses too; this module is the command line around them (which broker,
the filters, the output). What a dead letter and a replay marker are, and why a replay applies
nothing twice: krafa_kit.dlq and docs/adr/0014-dead-letter-replay-marks-the-dlq.md.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import socket
import sys
from datetime import UTC, datetime
from typing import Any

from krafa_events.topics import dlq_topic
from krafa_kit.dlq import (
    TOPICS,
    DeadLetter,
    Planned,
    Replay,
    ReplayRefused,
    choose,
    matches,
    plan,
    read,
    republish,
    shown,
)

from krafa import targets
from krafa.targets import EXIT_UNAVAILABLE, EXIT_USAGE, CliError

__all__ = ["DeadLetter", "Planned", "Replay", "add_commands", "bootstrap", "matches", "plan"]

SAFETY = (
    "Safe to repeat for the groups that already processed an event: every consumer records the event id in "
    "its inbox in the transaction of its effect, so they drop the replayed copy as a duplicate and only the "
    "groups that failed on it apply it. The inbox keeps ids KRAFA_INBOX_RETENTION_DAYS (30) days: a dead letter "
    "older than that (less a day) is refused unless --past-inbox-retention."
)


# -- the commands ---------------------------------------------------------------------------------


def _settings() -> Any:
    """The Kafka security options and consumer-group prefix of the services' environment
    (KRAFA_KAFKA_SECURITY_PROTOCOL, _SASL_*, _SSL_*, KRAFA_KAFKA_CONSUMER_GROUP_PREFIX,
    KRAFA_INBOX_RETENTION_DAYS)."""
    from krafa_kit.settings import ServiceSettings
    from pydantic import ValidationError

    try:
        return ServiceSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"KRAFA_{str(first['loc'][0]).upper()}: {first['msg']}", EXIT_USAGE) from None


def bootstrap(args: argparse.Namespace) -> str:
    """--bootstrap, else --stack's broker, else $KRAFA_KAFKA_BOOTSTRAP; never a guess."""
    if args.bootstrap:
        return str(args.bootstrap)
    stack = targets.local_stack(args)
    if stack is not None:
        return f"127.0.0.1:{stack.ports['broker']}"
    if os.environ.get("KRAFA_KAFKA_BOOTSTRAP"):
        return os.environ["KRAFA_KAFKA_BOOTSTRAP"]
    raise CliError(
        "which broker? pass --bootstrap HOST:PORT, set KRAFA_KAFKA_BOOTSTRAP, or --stack for the local stack "
        "(`krafa run`)",
        EXIT_USAGE,
    )


def _topics(args: argparse.Namespace) -> list[str]:
    return sorted({t.removesuffix(".dlq") for t in args.topic}) if args.topic else list(TOPICS)


def topic_name(text: str) -> str:
    """An argparse type: a Krafa topic, named with or without `.dlq`."""
    if text.removesuffix(".dlq") not in TOPICS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Krafa topic ({', '.join(TOPICS)})")
    return text


async def _read_filtered(args: argparse.Namespace, settings: Any) -> tuple[str, list[DeadLetter]]:
    from krafa_kit.kafka import security_options

    where = bootstrap(args)
    try:
        async with asyncio.timeout(args.timeout):
            letters = await read(where, _topics(args), security_options(settings))
    except TimeoutError:
        raise CliError(f"the broker at {where} did not answer within {args.timeout:g} s", EXIT_UNAVAILABLE) from None
    prefix = settings.kafka_consumer_group_prefix
    return where, [d for d in letters if matches(d, groups=args.group or [], since=args.since, prefix=prefix)]


def _kafka_errors(where: str, exc: BaseException) -> CliError | None:
    from aiokafka.errors import KafkaError

    if isinstance(exc, KafkaError):
        return CliError(f"cannot reach the broker at {where}: {type(exc).__name__}; is it running?", EXIT_UNAVAILABLE)
    return None


def _run(where: str, coro: Any) -> Any:
    """Run a coroutine; a broker that cannot be reached is one line naming it (aiokafka's own
    log lines about it are not shown: the one line says it)."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(coro)
    except CliError:
        raise
    except Exception as exc:
        failure = _kafka_errors(where, exc)
        if failure is None:
            raise
        raise failure from None


def cmd_list(args: argparse.Namespace) -> int:
    settings = _settings()
    prefix = settings.kafka_consumer_group_prefix
    _, letters = _run(bootstrap(args), _read_filtered(args, settings))
    if args.not_replayed:
        letters = [d for d in letters if not d.replays]
    if args.json:
        print(json.dumps([d.to_json(prefix) for d in letters], indent=2, ensure_ascii=False))
        return 0
    for topic in _topics(args):
        name = dlq_topic(topic)
        mine = [d for d in letters if d.dlq_topic == name]
        replayed = sum(1 for d in mine if d.replays)
        print(
            f"{name}: {len(mine)} dead letter{'s' if len(mine) != 1 else ''}"
            + (f", {replayed} replayed" if replayed else "")
        )
        for d in mine:
            source_topic, partition, offset = d.source
            source = f"{source_topic}/{partition}/{offset}" if partition is not None else source_topic
            print(
                f"  {d.position}  {shown(d.dead_lettered_at)}  from {source}  {d.event_type or '(no ce_type)'}"
                f"  {d.event_id or '(no ce_id)'}  {d.group(prefix)}"
            )
            print(f"      {d.reason.splitlines()[0][:200] if d.reason else '(no reason)'}")
            if d.replay_of:
                print(f"      failed again after the replay of {', '.join(d.replay_of)}")
            for r in d.replays:
                print(f"      replayed {shown(r.at)} to {r.to} by {r.by}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if not args.records and not args.topic and not args.group:
        raise CliError(
            "which records? name event ids or DLQ positions (TOPIC.dlq/PARTITION/OFFSET), or --topic / --group "
            "for all of a topic or a group",
            EXIT_USAGE,
        )
    settings = _settings()
    prefix = settings.kafka_consumer_group_prefix
    where, letters = _run(bootstrap(args), _read_filtered(args, settings))
    retention_days = args.inbox_retention_days or settings.inbox_retention_days
    try:
        choice = choose(
            letters,
            list(args.records),
            again=args.again,
            retention_days=retention_days,
            past_retention=args.past_inbox_retention,
            now=datetime.now(UTC),
            where=where,
        )
    except ReplayRefused as refused:
        raise CliError(str(refused), EXIT_USAGE if refused.reason == "unknown" else 1) from None
    planned, skipped = choice.planned, choice.skipped
    if args.dry_run:
        results = [(p, None) for p in planned]
    else:
        by = f"{getpass.getuser()}@{socket.gethostname()}"
        results = [(p, to) for p, to in _run(where, republish(where, planned, _security(settings), by=by))]
    if args.json:
        print(
            json.dumps(
                {
                    "dry_run": args.dry_run,
                    "replayed": [p.to_json(prefix, to) for p, to in results],
                    "skipped": [
                        {"dlq": d.position, "event_id": d.event_id, "replays": [r.to_json() for r in d.replays]}
                        for d in skipped
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    verb = "would replay" if args.dry_run else "replayed"
    for p, to in results:
        groups = ", ".join(sorted({d.group(prefix) for d in p.letters}))
        target = f" to {to}" if to else f" to {p.first.source_position}"
        print(
            f"{verb} {', '.join(d.position for d in p.letters)}{target}  {p.first.event_type or '(no ce_type)'}"
            f"  {p.first.event_id or '(no ce_id)'}  (dead-lettered by {groups})"
        )
    for d in skipped:
        print(f"skipped {d.position}: replayed at {shown(d.replays[-1].at)} to {d.replays[-1].to} (--again to repeat)")
    print(f"{len(results)} record{'s' if len(results) != 1 else ''} {verb}, {len(skipped)} skipped", file=sys.stderr)
    return 0


def _security(settings: Any) -> dict[str, Any]:
    from krafa_kit.kafka import security_options

    return security_options(settings)


def add_commands(sub: Any) -> None:
    dlq = sub.add_parser(
        "dlq", help="dead-letter topics: list what consumers could not process, replay it"
    ).add_subparsers(dest="action", required=True)
    target = (
        "The broker: --bootstrap, KRAFA_KAFKA_BOOTSTRAP, or --stack for the local stack; its security from the "
        "services' KRAFA_KAFKA_* variables."
    )

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--bootstrap", default=None, metavar="HOST:PORT", help="the Kafka bootstrap servers")
        targets.add_stack_option(parser)
        parser.add_argument(
            "--topic",
            action="append",
            type=topic_name,
            default=None,
            help="only the DLQ of this topic (krafa.claims or krafa.claims.dlq; repeat for several; default: all)",
        )
        parser.add_argument(
            "--group",
            action="append",
            default=None,
            help="only records this consumer group dead-lettered (krafa.notifier, or the service: notifier; repeat "
            "for several)",
        )
        from krafa.cli import iso_time

        parser.add_argument(
            "--since", type=iso_time, default=None, help="only records dead-lettered at or after this ISO 8601 time"
        )
        parser.add_argument("--json", action="store_true", help="the records as JSON")
        parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the broker (default 60)")

    listing = dlq.add_parser(
        "list",
        help="the dead-lettered records of every DLQ: source, event, consumer group, error, when, replays",
        description="Reads every <topic>.dlq from its beginning (no consumer group, nothing committed). " + target,
    )
    common(listing)
    listing.add_argument("--not-replayed", action="store_true", help="only records not replayed yet")
    listing.set_defaults(func=cmd_list)

    replay = dlq.add_parser(
        "replay",
        help="republish dead-lettered records to their topic with their key, value and CloudEvents headers",
        description="Republishes each chosen record's original (once, however many groups dead-lettered it) to "
        "its topic and partition, and marks its dead letters replayed in the DLQ (`krafa dlq list` shows it; a "
        "second replay is refused without --again). " + SAFETY + " " + target,
    )
    replay.add_argument(
        "records",
        nargs="*",
        metavar="RECORD",
        help="an event id (ce_id) or a dead letter's position TOPIC.dlq/PARTITION/OFFSET; none: every record the "
        "--topic/--group/--since filters pick",
    )
    common(replay)
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed; write nothing")
    replay.add_argument(
        "--again",
        action="store_true",
        help="replay records already replayed (by default named ones are refused and those a filter picks are skipped)",
    )
    replay.add_argument(
        "--inbox-retention-days",
        type=int,
        default=None,
        help="the services' inbox retention in days (default: KRAFA_INBOX_RETENTION_DAYS, else 30)",
    )
    replay.add_argument(
        "--past-inbox-retention",
        action="store_true",
        help="replay records dead-lettered longer ago than the inbox retention (a group that processed one may "
        "apply it again: check first)",
    )
    replay.set_defaults(func=cmd_replay)
