"""``?download=zip``: a folder streamed as a zip, with no temporary file and flat memory.

``zipfile`` writes into a small sink object that only collects bytes; it cannot
seek, so each entry gets a data descriptor after its data (sizes and CRC
known only then) and ZIP64 records where a size needs them. The work (reading
files, CRC, deflate) runs off the event loop one block at a time: the body's
async iterator asks for the next block only when the connection has sent the
previous one, so a slow client holds one block of memory, never the archive.

What goes in is what the site would serve: dotfiles, ``_`` files, template
sources and ``render`` pages are left out as in the listing, and symlinks that
lead outside the root are refused unless ``--follow-symlinks`` is on.

Every name in the archive is one that unpacks as itself on every system
(``names.is_portable``): a file or folder named with a backslash, a drive
letter, a control character, ``:`` or the like (possible on Linux) could
write outside the extraction folder, or somewhere else, with some unzip
tools, so it is left out, never renamed; the archive's comment says how many
were, and the server's log names them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

from siteserve.http.response import Response
from siteserve.site.listing import is_inside, is_listed
from siteserve.site.mime import content_type, is_textual
from siteserve.site.names import is_portable

log = logging.getLogger("siteserve.share")

#: Bytes read from a file at a time, and gathered before a block is handed to the connection.
BLOCK = 512 * 1024
#: Text above this size is stored, not deflated: deflating a huge log costs more than it saves.
DEFLATE_LIMIT = 64 * 1024 * 1024
#: zlib's fastest level: the archive is made while it is sent, beside the requests the
#: server answers meanwhile. On text, level 1 takes 16 ms of CPU per MB against level 6's
#: 44 (zlib's default), for 12% more bytes.
DEFLATE_LEVEL = 1


class _Sink:
    """Where zipfile writes: a list of pieces taken away whole by the producer."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self.pending = 0

    def write(self, data: bytes, /) -> int:
        self._pieces.append(bytes(data))
        self.pending += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._pieces)
        self._pieces.clear()
        self.pending = 0
        return data


#: (path on disk, name in the archive, is a folder).
Entry = tuple[Path, str, bool]


def walk(
    folder: Path,
    *,
    root: Path,
    follow_symlinks: bool,
    is_page: Callable[[str], bool],
    left_out: list[str] | None = None,
) -> Iterator[Entry]:
    """(path, name in the archive, is a folder) for what the site would serve, depth first.

    Names that are not portable are appended to ``left_out`` (as in the folder) instead.
    """
    root_real = os.path.realpath(root)
    base = folder.name if folder.name and is_portable(folder.name) else "site"
    seen: set[tuple[int, int]] = set()

    def visit(directory: Path, prefix: str) -> Iterator[Entry]:
        try:
            info = os.stat(directory)
            items = sorted(os.scandir(directory), key=lambda item: item.name)
        except OSError:
            return
        key = (info.st_dev, info.st_ino)
        if key in seen:
            return  # a symlink loop (only possible with --follow-symlinks)
        seen.add(key)
        for item in items:
            if not is_listed(item.name):
                continue
            if not is_portable(item.name):
                if left_out is not None:
                    left_out.append(prefix + item.name)
                continue
            try:
                mode = item.stat().st_mode
                link = item.is_symlink()
            except OSError:
                continue  # vanished, or a dangling link
            if link and not follow_symlinks and not is_inside(item.path, root_real):
                continue
            path = Path(item.path)
            name = prefix + item.name
            if stat.S_ISDIR(mode):
                yield path, name + "/", True
                yield from visit(path, name + "/")
            elif stat.S_ISREG(mode):
                relative = path.relative_to(root).as_posix()
                if not is_page(relative):  # a rendered page's source is never served
                    yield path, name, False

    yield folder, base + "/", True
    yield from visit(folder, base + "/")


def _date_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    # A zip stores local time from 1980 to 2107.
    parts = time.localtime(min(max(mtime, 315532800.0), 4354819199.0))
    return (max(parts.tm_year, 1980), parts.tm_mon, parts.tm_mday, *parts[3:6])


class FolderContents:
    """What a folder's zip holds, walked as it is read, and the names ``walk`` left out."""

    def __init__(
        self, folder: Path, *, root: Path, follow_symlinks: bool, is_page: Callable[[str], bool]
    ) -> None:
        self.left_out: list[str] = []
        self._entries = walk(
            folder,
            root=root,
            follow_symlinks=follow_symlinks,
            is_page=is_page,
            left_out=self.left_out,
        )

    def __iter__(self) -> Iterator[Entry]:
        return self._entries


def produce(entries: Iterable[Entry]) -> Iterator[bytes]:
    """The archive as blocks of about BLOCK bytes; blocking work, run off the loop.

    For a ``FolderContents``, the names left out (known once every entry is
    made) go into the archive's comment (a count) and the log (the names).
    """
    import zipfile  # with the first folder zip, not at every start

    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", allowZip64=True)
    left_out = entries.left_out if isinstance(entries, FolderContents) else []
    for path, name, is_folder in entries:
        if is_folder:
            archive.mkdir(name)
            continue
        try:
            source = open(path, "rb")  # noqa: SIM115 (closed below, after the entry)
        except OSError:
            continue  # gone or unreadable since the walk: left out
        with source:
            info = os.fstat(source.fileno())
            size = info.st_size
            entry = zipfile.ZipInfo(name, _date_time(info.st_mtime))
            entry.file_size = size  # zipfile decides on ZIP64 from this
            entry.external_attr = (stat.S_IMODE(info.st_mode) | stat.S_IFREG) << 16
            textual = is_textual(content_type(path.name).partition(";")[0])
            if textual and size <= DEFLATE_LIMIT:
                entry.compress_type = zipfile.ZIP_DEFLATED
                # A ZipInfo of our own takes no level from the ZipFile.
                if sys.version_info >= (3, 13):
                    entry.compress_level = DEFLATE_LEVEL
                else:
                    entry._compresslevel = DEFLATE_LEVEL  # type: ignore[attr-defined]
            with archive.open(entry, "w") as target:
                remaining = size
                while remaining > 0:
                    block = source.read(min(BLOCK, remaining))
                    if not block:
                        break  # the file shrank while being read
                    target.write(block)
                    remaining -= len(block)
                    if sink.pending >= BLOCK:
                        yield sink.take()
        if sink.pending >= BLOCK:
            yield sink.take()
    if left_out:
        archive.comment = left_out_comment(len(left_out))
        shown = ", ".join(ascii(name) for name in left_out[:20])
        more = f" and {len(left_out) - 20} more" if len(left_out) > 20 else ""
        log.warning(
            "zip download: left out %d name(s) not safe on every system: %s%s",
            len(left_out),
            shown,
            more,
        )
    archive.close()
    yield sink.take()


def left_out_comment(count: int) -> bytes:
    return (
        f"siteserve left out {count} file(s) or folder(s) whose names are not safe"
        " on every system (a backslash, a drive letter, a control character...)."
    ).encode("ascii")


async def stream(blocks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Each block made in a worker thread, only when the previous one has been sent."""
    loop = asyncio.get_running_loop()
    # The generator must never run in two threads at once (a cancelled await can
    # leave a step running while ``close`` is asked for): one lock around both.
    lock = threading.Lock()
    finished = object()

    def step() -> bytes | object:
        with lock:
            return next(blocks, finished)

    def close() -> None:
        with lock:
            blocks.close()  # type: ignore[attr-defined]

    try:
        while True:
            block = await loop.run_in_executor(None, step)
            if block is finished:
                return
            assert isinstance(block, bytes)
            if block:
                yield block
    finally:
        await loop.run_in_executor(None, close)


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename="..."; filename*=UTF-8''...`` (RFC 6266 section 4.3).

    ``filename`` is an ASCII stand-in for old clients (no quotes, backslashes or
    controls); ``filename*`` (RFC 8187) carries the real name, percent-encoded.
    """
    fallback = "".join(
        char if 0x20 <= ord(char) < 0x7F and char not in '"\\%;' else "_" for char in filename
    )
    value = f'{disposition}; filename="{fallback or "download"}"'
    if fallback != filename:
        value += "; filename*=UTF-8''" + quote(filename, safe="")
    return value


def zip_response(
    folder: Path,
    *,
    root: Path,
    follow_symlinks: bool,
    is_page: Callable[[str], bool],
) -> Response:
    name = (folder.name or root.name or "site") + ".zip"
    entries = FolderContents(folder, root=root, follow_symlinks=follow_symlinks, is_page=is_page)
    headers = [
        ("Content-Type", "application/zip"),
        ("Content-Disposition", content_disposition(name)),
        # Made for this request from the folder as it is now.
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    # No length: the size is known only at the end, so the writer sends it chunked.
    return Response(200, headers, stream(produce(entries)))
