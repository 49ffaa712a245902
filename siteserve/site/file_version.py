"""A file as it is on disk now: its identity, validators, headers and (when small) its bytes.

A *file version* is (path, inode, size, mtime_ns). Everything a response about it
needs and that does not depend on the request is computed once per version and kept
on the ``FileVersion``; ``StaticFiles`` (``static.py``) finds the current version
with one ``os.stat`` and decides each response from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING

from siteserve.http.response import FileBody

if TYPE_CHECKING:
    from siteserve.site.transfer import Representation


class NotAFile(Exception):
    """The path is gone or is no longer a regular file: resolve the URL again."""


class FileChanged(Exception):
    """The file on disk is no longer the version being answered."""


@dataclass(slots=True, eq=False)
class FileVersion:
    """One version of one file, with everything a response about it needs."""

    path: Path
    served_as: str
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
    def sources(self) -> tuple[Path, ...]:
        """What a response about this version was made from (for live reload)."""
        return (self.path,)

    @property
    def memory(self) -> int:
        """The bytes this version keeps in memory."""
        return len(self.data or b"") + len(self.rewritten or b"")


def make_etag(inode: int, size: int, mtime_ns: int) -> str:
    """A strong entity-tag (RFC 9110 section 8.8.3) from the file's identity and version."""
    return f'"{inode:x}-{size:x}-{mtime_ns:x}"'


def http_date(seconds: int) -> str:
    """IMF-fixdate, the preferred HTTP-date form (RFC 9110 section 5.6.7)."""
    return formatdate(seconds, usegmt=True)


def read_whole(path: Path, info: os.stat_result, limit: int) -> tuple[bytes | None, os.stat_result]:
    """Read a file of up to ``limit`` bytes whole, with the stat that describes the bytes read.

    A file rewritten between the stat and the read would pair new bytes with
    old validators, so the stat is taken again on the open file and the read
    repeated until both agree. A file that grew past ``limit`` is left to be
    sent from disk (None).
    """
    data = b""
    for _ in range(3):
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
                after = os.fstat(handle.fileno())
        except FileNotFoundError as error:
            raise NotAFile(str(path)) from error
        if after.st_size > limit:
            return None, after
        if len(data) == after.st_size and after.st_mtime_ns == info.st_mtime_ns:
            return data, after
        info = after
    # Still changing under us: serve what was read; the caller sizes it by the bytes.
    return data, info


def read_version(version: FileVersion) -> bytes:
    """The version's bytes read from disk; FileChanged when the file is another version now."""
    with open(version.path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if (info.st_ino, info.st_size, info.st_mtime_ns) != (
            version.inode,
            version.size,
            version.mtime_ns,
        ):
            raise FileChanged(str(version.path))
        data = handle.read(version.size + 1)
    if len(data) != version.size:
        raise FileChanged(str(version.path))
    return data


def file_body(version: FileVersion) -> bytes | FileBody:
    """The whole file: from memory when small, else a slice for ``sendfile``."""
    if version.data is not None:
        return version.data
    return FileBody(version.path, 0, version.size)
