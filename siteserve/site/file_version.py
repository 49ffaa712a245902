"""A file as it is on disk now: its identity, validators, headers and (when small) its bytes.

A *file version* is (device, inode, size, mtime_ns), read with one ``os.fstat`` of
an open file. Everything a response about it needs and that does not depend on the
request is computed once per version and kept on the ``FileVersion``; ``StaticFiles``
(``static.py``) finds the current version and decides each response from it.

One response, one version: a response's headers and its bytes come from the same open
file. A small file's bytes are read once, checked against a second ``fstat`` (a read
that straddled a rewrite is done again), and kept with its version; a large file is
sent from the very file its validators were taken from (``OpenFile``, carried by the
``FileBody``), so a rename over it, a delete or a folder put in its place meanwhile
change nothing in the answer, and a rewrite in place is caught while sending.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from siteserve.http.response import FileBody

if TYPE_CHECKING:
    from siteserve.site.transfer import Representation

#: (device, inode, size, mtime_ns): what tells two versions of a file apart.
VersionKey = tuple[int, int, int, int]

# Opening a path that names no regular file: gone, a folder now, a loop of links, a
# socket or a device without a driver. Each means "resolve the URL again".
_NOT_A_FILE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENXIO})


class NotAFile(Exception):
    """The path is gone or is no longer a regular file: resolve the URL again."""


class FileChanged(Exception):
    """The file on disk is no longer the version being answered."""


class OpenFile(io.FileIO):
    """A regular file opened for one response: the bytes it sends come from here.

    Whoever opens one (``open_file``) either hands it to a body (``give``: the body owns
    it now, and the server closes it once the body is sent or the connection is gone)
    or lets ``release`` close it. Opened non-blocking, so a path swapped for a FIFO
    cannot hang the event loop (the fstat that follows refuses it). Closing when
    collected is a safety net for a response built and never sent (a test, a layer
    that replaced the body); a plain FileIO would warn there.
    """

    #: Set by ``give``; a class default, so opening one (every response about a large
    #: file) does not write an instance attribute.
    given = False

    def __init__(self, fd: int, path: Path) -> None:
        # Built on a descriptor from ``os.open``: FileIO's own opening by name, through
        # a Python ``opener``, costs about twice as much, per response.
        super().__init__(fd, "rb", closefd=True)
        self.name = str(path)

    def give(self) -> OpenFile:
        """This file, now owned by the body it goes into."""
        self.given = True
        return self

    def release(self) -> None:
        """Close the file unless a body took it."""
        if not self.given:
            self.close()

    def __del__(self) -> None:
        if not self.closed:
            self.close()


class DeferredFile:
    """The open file of a version found by a stat of its path, opened only if a body needs it.

    A large file's version already in the cache is answered from its headers and, for
    a coded body or a 304, from memory: opening the file for those would cost an open,
    an fstat and a close per request for nothing. When a body is cut from the file
    (``give``), it is opened then and its fstat must name the same version, else
    FileChanged (the answer is made again), so headers and bytes stay one version.
    """

    __slots__ = ("_version",)

    def __init__(self, version: FileVersion) -> None:
        self._version = version

    def give(self) -> OpenFile:
        """The version's file, opened now, owned by the body it goes into."""
        version = self._version
        try:
            file, info = open_file(version.path)
        except NotAFile as error:
            raise FileChanged(str(version.path)) from error
        if not version.is_described_by(info):
            file.close()
            raise FileChanged(str(version.path))
        return file.give()

    def release(self) -> None:
        """Nothing to close: a file is opened only by ``give``, for the body that owns it."""


#: Where a body sent from disk is cut from: the file the version was read from, or
#: (a version found by a stat) that file opened when a body first needs it.
VersionFile = OpenFile | DeferredFile


#: ``os.open`` makes the descriptor non-inheritable itself (PEP 446).
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK


def open_file(path: Path) -> tuple[OpenFile, os.stat_result]:
    """``path`` opened, with the fstat of the open file; NotAFile unless a regular file.

    PermissionError goes to the caller (403).
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError) as error:
        raise NotAFile(str(path)) from error
    except OSError as error:
        if error.errno in _NOT_A_FILE:
            raise NotAFile(str(path)) from error
        raise
    try:
        file = OpenFile(fd, path)
    except BaseException as error:
        os.close(fd)
        if isinstance(error, IsADirectoryError):  # FileIO refuses a folder's descriptor
            raise NotAFile(str(path)) from error
        raise
    try:
        info = os.fstat(fd)
    except BaseException:
        file.close()
        raise
    if not stat.S_ISREG(info.st_mode):
        file.close()
        raise NotAFile(str(path))
    return file, info


def version_key(info: os.stat_result) -> VersionKey:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass(slots=True, eq=False)
class FileVersion:
    """One version of one file, with everything a response about it needs."""

    path: Path
    served_as: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    #: Whole seconds, the precision of an HTTP-date (RFC 9110 section 5.6.7).
    mtime: int
    etag: str
    last_modified: str
    content_type: str
    #: Headers every 200 of the file's own bytes carries, built once.
    headers: tuple[tuple[str, str], ...] = ()
    #: The bytes of a small file; None for a large one (sent from disk).
    data: bytes | None = None
    #: The HTML rewritten by the Site's ``HtmlTransform`` (live reload's script in it);
    #: None when there is no transform, or it does not apply to this file.
    rewritten: bytes | None = None
    #: The file's own bytes as a representation, and the rewritten page as one: the
    #: facts about validators, codings and ranges, made at their first use.
    as_is: Representation | None = None
    shown: Representation | None = None

    @property
    def key(self) -> VersionKey:
        return (self.device, self.inode, self.size, self.mtime_ns)

    @property
    def sources(self) -> tuple[Path, ...]:
        """What a response about this version was made from (for live reload)."""
        return (self.path,)

    @property
    def memory(self) -> int:
        """The bytes this version keeps in memory."""
        return len(self.data or b"") + len(self.rewritten or b"")

    def is_described_by(self, info: os.stat_result) -> bool:
        """Whether ``info`` (a stat of the path or an fstat) is this version."""
        return (
            info.st_mtime_ns == self.mtime_ns
            and info.st_size == self.size
            and info.st_ino == self.inode
            and info.st_dev == self.device
        )


def make_etag(inode: int, size: int, mtime_ns: int) -> str:
    """A strong entity-tag (RFC 9110 section 8.8.3) from the file's identity and version."""
    return f'"{inode:x}-{size:x}-{mtime_ns:x}"'


def read_whole(
    file: OpenFile, info: os.stat_result, limit: int
) -> tuple[bytes | None, os.stat_result]:
    """The open file's bytes (None past ``limit``), with the fstat that describes them.

    ``info`` is the fstat taken when the file was opened. A rewrite in place during
    the read could give bytes of two versions, so the file is stat'ed again after
    reading: when it changed, the read is done once more (from the same open file,
    which a rename over the path does not touch), and FileChanged raised if it changed
    again. A file that grew past ``limit`` is left to be sent from disk (None).
    """
    fd = file.fileno()
    for _ in range(2):
        if info.st_size > limit:
            return None, info
        data = _pread_all(fd, info.st_size + 1)
        after = os.fstat(fd)
        if version_key(after) == version_key(info) and len(data) == after.st_size:
            return data, after
        info = after
    raise FileChanged(str(file.name))


def read_version(version: FileVersion) -> bytes:
    """The version's bytes read from disk; FileChanged when the file is another version now."""
    file, info = open_file(version.path)
    try:
        if not version.is_described_by(info):
            raise FileChanged(str(version.path))
        data = _pread_all(file.fileno(), version.size + 1)
        if len(data) != version.size or not version.is_described_by(os.fstat(file.fileno())):
            raise FileChanged(str(version.path))
        return data
    finally:
        file.close()


def _pread_all(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes from the start of the file (fewer at its end)."""
    chunks: list[bytes] = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def file_body(version: FileVersion, file: VersionFile, offset: int, length: int) -> FileBody:
    """A slice of the open file ``version`` was read from, for ``sendfile``; the body owns it."""
    return FileBody(version.path, offset, length, file.give(), (version.size, version.mtime_ns))
