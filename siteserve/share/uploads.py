"""``--upload``: POST multipart to a folder URL; files stream to disk, never whole in memory.

Each file goes to a hidden temporary file in the target folder (a dot name:
never served, never listed, never zipped), written off the event loop in
blocks. Only when the whole body has arrived and parsed are the files given
their names, each without replacing anything (``a (1).txt``), so a broken
upload leaves nothing behind, half-written or whole. A server killed mid-upload
cannot clean up: the first upload into a folder after a start removes the
temporary files older than that start (``LeftoverSweep``).

The body is bounded by ``--max-upload`` (default 1 GiB), counted here as it
is read; the parser's own bound for these requests is set a little higher
(see ``UPLOAD_SLACK``) so that the count here, which is exact, decides.

A browser form gets ``303 See Other`` back to the listing (RFC 9110 section
15.4.4: the listing is then fetched with GET); a script that asks for JSON
(``Accept: application/json``) gets what was created.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from siteserve import sizes
from siteserve.config import Config
from siteserve.http.errors import ProtocolError
from siteserve.http.framing import declared_length
from siteserve.http.location import safe_location
from siteserve.http.request import BodyIncomplete, Request
from siteserve.http.response import Response
from siteserve.share.leftovers import LeftoverSweep
from siteserve.share.multipart import (
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    TooManyParts,
    boundary_of,
)
from siteserve.share.upload_names import (
    UnsafeName,
    make_folder,
    place_file,
    safe_name,
    temporary_name,
)
from siteserve.site.errors import builtin_error
from siteserve.site.forms import FormError, TooManyFields, media_type, parse_query
from siteserve.site.listing import wants_json

log = logging.getLogger("siteserve.share")

#: The parser lets an upload body run this far past --max-upload, so the exact
#: count in ``receive`` always sees the excess first (the connection reads at
#: most a buffer or two ahead of the handler) and answers 413 itself.
UPLOAD_SLACK = 4 * 1024 * 1024
#: Bytes gathered before one write to disk (off the event loop).
WRITE_BLOCK = 1024 * 1024
#: Plain fields (``mkdir``) are small; a larger one is refused.
MAX_FIELD = 64 * 1024
READ_ONLY_MESSAGE = "read-only access: you may browse and download here, not upload or make folders"


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class _Pending:
    name: str
    temporary: Path
    handle: IO[bytes]
    size: int = 0
    blocks: list[bytes] = field(default_factory=list)
    buffered: int = 0


class Uploads:
    def __init__(self, config: Config, root: Path, is_page: Callable[[str], bool]) -> None:
        self.max_upload = config.max_upload
        self.max_fields = int(config.limits.max_form_fields)
        self.max_parts = int(config.limits.max_multipart_parts)
        self.root = root
        self.is_page = is_page
        self.leftovers = LeftoverSweep()

    async def handle(self, request: Request, folder: Path) -> Response:
        json_answer = wants_json(request.headers.get("accept"))
        if request.read_only:
            # A read-only user or share link (share.auth): refused before a byte is read.
            return _error(403, READ_ONLY_MESSAGE, json_answer)
        if self.leftovers.claim(folder):
            await asyncio.to_thread(self.leftovers.sweep, folder)
        try:
            created = await self._receive(request, folder)
        except UploadError as error:
            if error.status >= 500:
                log.error("upload to %s failed: %s", request.path, error.message)
            return _error(error.status, error.message, json_answer)
        if not json_answer:
            return Response(
                303, [("Location", safe_location(request.path)), ("Cache-Control", "no-store")]
            )
        body = json.dumps({"created": created}, ensure_ascii=False).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        return Response(201, headers, body)

    async def _receive(self, request: Request, folder: Path) -> list[dict[str, Any]]:
        try:
            length = declared_length(request.headers.get("content-length"))
        except ProtocolError as error:
            raise UploadError(error.status, error.detail) from None
        if length is not None and length > self.max_upload:
            raise UploadError(413, _too_large(self.max_upload))
        content_type = request.headers.get("content-type")
        kind = media_type(content_type)
        relative = folder.relative_to(self.root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        if kind == "application/x-www-form-urlencoded":
            fields = await self._small_form(request)
            made = self._make_folders(folder, prefix, fields)
            if not made:
                raise UploadError(400, "the form holds no folder name (mkdir)")
            return made
        if kind != "multipart/form-data":
            raise UploadError(415, "send files as multipart/form-data")
        try:
            boundary = boundary_of(content_type)
        except MultipartError as error:
            raise UploadError(400, str(error)) from None
        pending: list[_Pending] = []
        try:
            fields = await self._stream(request, folder, prefix, boundary, pending)
            created = self._make_folders(folder, prefix, fields)
            if not pending and not created:
                raise UploadError(400, "the form holds no file and no folder name")
            while pending:
                item = pending[0]
                final = await asyncio.to_thread(place_file, item.temporary, folder, item.name)
                pending.pop(0)  # placed: no longer a temporary file to remove
                created.append(_created(prefix, final, item.size, "file"))
            return created
        except OSError as error:
            raise _disk_error(error) from None
        finally:
            await asyncio.to_thread(_discard, pending)

    async def _stream(
        self,
        request: Request,
        folder: Path,
        prefix: str,
        boundary: bytes,
        pending: list[_Pending],
    ) -> list[tuple[str, str]]:
        parser = MultipartParser(boundary, max_parts=self.max_parts)
        fields: list[tuple[str, str]] = []
        current: _Pending | None = None
        field_name: str | None = None
        field_data = bytearray()
        received = 0
        try:
            async for chunk in request.body.stream():
                received += len(chunk)
                if received > self.max_upload:
                    raise UploadError(413, _too_large(self.max_upload))
                for event in parser.feed(chunk):
                    if isinstance(event, PartStart):
                        current, field_name = None, None
                        if event.filename:
                            current = await self._open(folder, prefix, event.filename)
                            pending.append(current)
                        elif event.filename is None and event.name:
                            field_name, field_data = event.name, bytearray()
                    elif isinstance(event, PartData):
                        if current is not None:
                            await _write(current, event.data)
                        elif field_name is not None:
                            field_data += event.data
                            if len(field_data) > MAX_FIELD:
                                raise UploadError(400, "a form field is too large")
                    elif isinstance(event, PartEnd):
                        if current is not None:
                            await _write(current, b"", final=True)
                        elif field_name is not None:
                            fields.append((field_name, field_data.decode("utf-8", "replace")))
                        current, field_name = None, None
            parser.finish()
        except BodyIncomplete:
            raise UploadError(400, "the upload did not arrive whole") from None
        except TooManyParts:
            # Well formed, only more than we take at once (RFC 9110 section 15.5.14).
            message = f"more than {self.max_parts} files and fields in one upload"
            raise UploadError(413, message) from None
        except MultipartError as error:
            raise UploadError(400, str(error)) from None
        return fields

    async def _open(self, folder: Path, prefix: str, filename: str) -> _Pending:
        try:
            name = safe_name(filename, is_page=self.is_page, folder_relative=prefix)
        except UnsafeName as error:
            raise UploadError(403, str(error)) from None
        temporary = folder / temporary_name()
        handle = await asyncio.to_thread(_create, temporary)
        return _Pending(name=name, temporary=temporary, handle=handle)

    async def _small_form(self, request: Request) -> list[tuple[str, str]]:
        data = bytearray()
        try:
            async for chunk in request.body.stream():
                data += chunk
                if len(data) > MAX_FIELD:
                    raise UploadError(413, "the form is too large")
        except BodyIncomplete:
            raise UploadError(400, "the form did not arrive whole") from None
        try:
            return parse_query(data.decode("utf-8", "replace"), self.max_fields).multi_items()
        except TooManyFields as error:
            raise UploadError(413, str(error)) from None
        except FormError as error:
            raise UploadError(400, str(error)) from None

    def _make_folders(
        self, folder: Path, prefix: str, fields: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        created: list[dict[str, Any]] = []
        for name, value in fields:
            if name != "mkdir" or not value.strip():
                continue
            try:
                wanted = safe_name(value, folder_relative=prefix)
            except UnsafeName as error:
                raise UploadError(403, str(error)) from None
            try:
                made = make_folder(folder, wanted)
            except OSError as error:
                raise _disk_error(error) from None
            created.append(_created(prefix, made, None, "directory"))
        return created


def _create(path: Path) -> IO[bytes]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    return os.fdopen(fd, "wb", buffering=0)


async def _write(item: _Pending, data: bytes, *, final: bool = False) -> None:
    if data:
        item.blocks.append(data)
        item.buffered += len(data)
        item.size += len(data)
    if item.buffered >= WRITE_BLOCK or (final and item.blocks):
        block = b"".join(item.blocks)
        item.blocks.clear()
        item.buffered = 0
        await asyncio.to_thread(_write_all, item.handle, block)
    if final:
        await asyncio.to_thread(item.handle.close)


def _write_all(handle: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = handle.write(view)
        view = view[written or 0 :]


def _discard(pending: list[_Pending]) -> None:
    """Remove what an unfinished upload left: open handles and temporary files."""
    for item in pending:
        with contextlib.suppress(OSError):
            item.handle.close()
        with contextlib.suppress(OSError):
            os.unlink(item.temporary)


def _disk_error(error: OSError) -> UploadError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return UploadError(507, "the disk is full")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UploadError(403, "this folder cannot be written to")
    return UploadError(500, f"the upload could not be saved: {error.strerror}")


def _created(prefix: str, name: str, size: int | None, kind: str) -> dict[str, Any]:
    href = "/" + quote(prefix + name) + ("/" if kind == "directory" else "")
    return {"name": name, "href": href, "type": kind, "size": size}


def _error(status: int, message: str, json_answer: bool) -> Response:
    # The body was not read whole: close rather than read (and drop) the rest.
    if json_answer:
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        body = json.dumps({"error": message}).encode("utf-8")
        return Response(status, headers, body, close=True)
    response = builtin_error(status, message=message)
    response.close = True
    return response


def _too_large(limit: int) -> str:
    return f"the upload is larger than {sizes.human_size(limit)}"
