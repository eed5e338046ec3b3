"""Dependencies of the routes: the runtime's database and clock and the uploaded bank file read
within the size limit (the operator check is krafa_kit.http.require_operator)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from krafa_kit.clock import Clock
from krafa_kit.db import Database
from krafa_kit.deps import get_clock, get_db, settings_dependency
from krafa_kit.http import PROBLEM_BASE, Problem
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from krafa_payments_ingest.settings import Settings

PROBLEMS = PROBLEM_BASE  # the kit's problem types, one base for every service
RAW_TYPES = frozenset({"application/octet-stream", "application/xml", "text/xml", "text/plain", "text/csv"})
# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 64 * 1024


get_settings = settings_dependency(Settings)


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    filename: str | None


def _too_large(limit: int) -> Problem:
    return Problem(
        413, "Content Too Large", f"a bank file may have at most {limit} bytes", type_=PROBLEMS + "file-too-large"
    )


async def _limited(request: Request, limit: int, file_limit: int) -> AsyncGenerator[bytes, None]:
    # Counted while streaming, so an oversized upload is refused without being held in memory.
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(file_limit)
        yield chunk


async def read_upload(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    filename: Annotated[str | None, Query(max_length=255, description="the file's name, for the record")] = None,
) -> Upload:
    """The bank file: the raw request body, or the `file` part of a multipart upload."""
    limit = settings.max_upload_bytes
    media_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    multipart = media_type == "multipart/form-data"
    if not multipart and media_type not in RAW_TYPES:
        raise Problem(
            415,
            "Unsupported Media Type",
            f"send the file as application/octet-stream, application/xml, text/plain, text/csv or"
            f" multipart/form-data,"
            f" not {media_type}",
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        # Compressed uploads (and archives: application/zip, application/gzip are no accepted
        # media type) are refused outright, so no decompression bomb can reach a parser.
        raise Problem(
            415,
            "Unsupported Media Type",
            f"send the file uncompressed: Content-Encoding {encoding} is not accepted",
            type_=PROBLEMS + "compressed-upload",
        )
    body_limit = limit + MULTIPART_OVERHEAD if multipart else limit
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_limit:
        raise _too_large(limit)
    if not multipart:
        return Upload(b"".join([chunk async for chunk in _limited(request, body_limit, limit)]), filename)
    parser = MultiPartParser(request.headers, _limited(request, body_limit, limit), max_files=1, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Problem(400, "Bad Request", f"unreadable multipart body: {exc.message}") from exc
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise Problem(
                422,
                "Validation failed",
                "the multipart body has no file part named `file`",
                type_=PROBLEMS + "validation",
                extra={"errors": [{"pointer": "/file", "detail": "required"}]},
            )
        data = await part.read()
        if len(data) > limit:
            raise _too_large(limit)
        return Upload(data, filename or part.filename)
    finally:
        await form.close()


DB = Annotated[Database, Depends(get_db)]
CurrentClock = Annotated[Clock, Depends(get_clock)]
UploadedFile = Annotated[Upload, Depends(read_upload)]
