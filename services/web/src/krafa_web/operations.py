"""The operators' dead-letter desk: the dead-letter topics read and replayed with the same code as
`krafa dlq list` / `krafa dlq replay` (krafa_kit.dlq), on the broker and with the security and
consumer-group prefix of the web's own Kafka settings. A replay is marked in the DLQ as by
`<operator's email> (web)`, so `krafa dlq list` and this page show the same history."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from krafa_kit import dlq
from krafa_kit.dlq import Choice, DeadLetter, Planned
from krafa_kit.kafka import security_options
from krafa_kit.settings import ServiceSettings

READ_TIMEOUT_S = 30.0


class DeskUnavailable(Exception):
    """The broker did not answer in time."""


@dataclass(frozen=True, slots=True)
class Filters:
    topic: str = ""
    group: str = ""
    not_replayed: bool = False

    def matches(self, letter: DeadLetter, prefix: str) -> bool:
        if self.topic and letter.dlq_topic.removesuffix(".dlq") != self.topic:
            return False
        if self.not_replayed and letter.replays:
            return False
        return dlq.matches(letter, groups=[self.group] if self.group else [], since=None, prefix=prefix)


@dataclass(frozen=True, slots=True)
class Replayed:
    planned: Planned
    to: str | None  # None for a dry run


class DeadLetterDesk:
    def __init__(self, settings: ServiceSettings) -> None:
        self.bootstrap = settings.kafka_bootstrap
        self.security = security_options(settings)
        self.prefix = settings.kafka_consumer_group_prefix
        self.retention_days = settings.inbox_retention_days

    async def letters(self, filters: Filters | None = None) -> list[DeadLetter]:
        """Every dead letter of every Krafa topic's DLQ (newest first), with its replays."""
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                letters = await dlq.read(self.bootstrap, dlq.TOPICS, self.security)
        except (TimeoutError, OSError) as exc:
            raise DeskUnavailable(str(exc)) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("aiokafka"):
                raise DeskUnavailable(str(exc)) from exc
            raise
        chosen = [d for d in letters if filters is None or filters.matches(d, self.prefix)]
        return sorted(chosen, key=lambda d: d.timestamp_ms, reverse=True)

    async def choose(self, records: list[str], *, again: bool, past_retention: bool = False) -> Choice:
        """What a replay of `records` (DLQ positions or event ids) would do, by the CLI's rules;
        raises dlq.ReplayRefused."""
        return dlq.choose(
            await self.letters(),
            records,
            again=again,
            retention_days=self.retention_days,
            past_retention=past_retention,
            now=datetime.now(UTC),
        )

    async def replay(self, choice: Choice, *, by: str) -> list[Replayed]:
        try:
            done = await dlq.republish(self.bootstrap, choice.planned, self.security, by=f"{by} (web)")
        except Exception as exc:
            if type(exc).__module__.startswith("aiokafka"):
                raise DeskUnavailable(str(exc)) from exc
            raise
        return [Replayed(p, to) for p, to in done]

    def describe(self, letter: DeadLetter) -> dict[str, Any]:
        """A dead letter as the page shows it."""
        return {
            **letter.to_json(self.prefix),
            "dead_lettered": letter.dead_lettered_at,
            "replays": [{"at": r.at, "to": r.to, "by": r.by} for r in letter.replays],
        }
