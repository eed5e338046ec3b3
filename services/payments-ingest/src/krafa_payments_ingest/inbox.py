"""The watched inbox: bank files dropped into a directory are imported like uploads.

Every poll lists the directory (not its subdirectories); a file whose name ends in ``.xml``,
``.sta``, ``.txt`` or ``.csv`` (any case; hidden files are skipped) is imported once its size and
modification time were the same at two consecutive polls, so a file still being written is
left alone. It goes through ``service.import_file`` like an upload (CSV files with the mapping
named by ``inbox_csv_mapping``), then moves to ``done/``, or to ``failed/`` with a
``<name>.error.txt`` beside it saying why. A name taken in ``done/`` or ``failed/`` gets a
numbered suffix. An error that is not the file's fault (the database away) leaves the file in
place, to be tried again at the next poll; a file that vanished meanwhile is skipped. Two
instances may watch one directory: entry identity keeps a file that both import from being
applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from krafa_kit.clock import Clock
from krafa_kit.db import Database
from krafa_kit.worker import PollingWorker, Round

from krafa_payments_ingest import repository, service
from krafa_payments_ingest.parsers import BankFileError
from krafa_payments_ingest.parsers.csv_mapped import CsvColumns, CsvMapping

log = logging.getLogger(__name__)

SUFFIXES = frozenset({".xml", ".sta", ".txt", ".csv"})
DONE = "done"
FAILED = "failed"

Stamp = tuple[int, int]  # size, mtime_ns


def wanted(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES


def ready(listing: dict[str, Stamp], previous: dict[str, Stamp]) -> list[str]:
    """The files unchanged since the previous poll, in name order; the rest wait for the next."""
    return sorted(name for name, stamp in listing.items() if wanted(name) and previous.get(name) == stamp)


def free_name(directory: Path, name: str, taken: Iterable[str] | None = None) -> Path:
    """``directory/name``, or ``name`` with ``.1``, ``.2``, ... before the suffix when it is taken."""
    names = set(taken) if taken is not None else None

    def exists(candidate: str) -> bool:
        return candidate in names if names is not None else (directory / candidate).exists()

    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, number = name, 0
    while exists(candidate):
        number += 1
        candidate = f"{stem}.{number}{suffix}"
    return directory / candidate


class NotTheFilesFault(Exception):
    """An import failed for a reason outside the file; it is tried again."""


@dataclass
class Inbox(PollingWorker):
    directory: Path
    db: Database
    clock: Clock
    csv_mapping: str | None = None
    interval_s: float = 1.0

    name = "bank-file inbox"
    # A broken poll (a file system error, the database away) must not end the watch.
    transient = (Exception,)

    def __post_init__(self) -> None:
        super().__init__(self.interval_s)
        self._previous: dict[str, Stamp] = {}

    def _listing(self) -> dict[str, Stamp]:
        found: dict[str, Stamp] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and wanted(entry.name):
                    stat = entry.stat(follow_symlinks=False)
                    found[entry.name] = (stat.st_size, stat.st_mtime_ns)
        return found

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        for sub in (DONE, FAILED):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        yield

    async def round(self) -> Round:
        return Round(len(await self.poll()))

    async def poll(self) -> list[str]:
        """Import the files that are ready; returns their names."""
        listing = await asyncio.to_thread(self._listing)
        names = ready(listing, self._previous)
        self._previous = listing
        handled = []
        for name in names:
            try:
                await self._import(name)
            except NotTheFilesFault:
                log.exception("inbox file left for the next poll", extra={"file_name": name})
                continue
            except FileNotFoundError:  # taken away meanwhile (by another instance watching the directory)
                self._previous.pop(name, None)
                continue
            self._previous.pop(name, None)
            handled.append(name)
        return handled

    async def _mapping(self) -> CsvMapping:
        if self.csv_mapping is None:
            raise BankFileError("a CSV file in the inbox needs KRAFA_INBOX_CSV_MAPPING (a saved mapping's name)")
        try:
            async with self.db.connection() as conn:
                stored = await repository.get_csv_mapping(conn, self.csv_mapping)
        except Exception as exc:
            raise NotTheFilesFault(str(exc)) from exc
        if stored is None:
            raise BankFileError(f"no CSV mapping named {self.csv_mapping!r}")
        columns = CsvColumns(**stored["columns"])
        return CsvMapping(columns=columns, **{k: v for k, v in stored.items() if k != "columns"})

    async def _import(self, name: str) -> None:
        path = self.directory / name
        try:
            data = await asyncio.to_thread(path.read_bytes)
            mapping = await self._mapping() if path.suffix.lower() == ".csv" else None
            try:
                result = await service.import_file(self.db, data, name, self.clock.now(), csv_mapping=mapping)
            except BankFileError:
                raise
            except Exception as exc:
                raise NotTheFilesFault(str(exc)) from exc
        except BankFileError as exc:
            await asyncio.to_thread(self._move_failed, path, str(exc))
            log.warning("inbox file failed", extra={"file_name": name})
            return
        await asyncio.to_thread(self._move, path, self.directory / DONE)
        log.info("inbox file imported", extra={"file_name": name, "import_id": str(result.import_id)})

    @staticmethod
    def _move(path: Path, directory: Path) -> Path:
        target = free_name(directory, path.name)
        os.replace(path, target)
        return target

    def _move_failed(self, path: Path, error: str) -> None:
        target = self._move(path, self.directory / FAILED)
        target.with_name(target.name + ".error.txt").write_text(error + "\n", encoding="utf-8")
