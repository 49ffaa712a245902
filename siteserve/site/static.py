"""Static files: one ``os.stat`` per request, everything else computed once per file version.

A *file version* is a file as it is on disk now: (path, inode, size, mtime_ns).
Its validators, content type and response headers are computed the first time
it is served and reused until the file changes; a small file's bytes are kept
too, so an unchanged small file is never read twice. Conditional requests,
ranges and compression plug in as *steps* that see the version and may answer
instead of the plain 200 (see ``StaticFiles.steps``).
"""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

from siteserve.config import Config
from siteserve.http.request import Request
from siteserve.http.response import FileBody, Response
from siteserve.site import cache_policy
from siteserve.site.mime import content_type

#: Files up to this size are answered from memory.
SMALL_FILE = 64 * 1024
#: The memory all cached small files may take together.
CACHE_BYTES = 32 * 1024 * 1024
#: File versions remembered (headers and validators), beyond the bytes bound.
CACHE_ENTRIES = 16384


class NotAFile(Exception):
    """The path is gone or is no longer a regular file: resolve the URL again."""


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
    #: Headers every 200 for this version carries, built once.
    headers: tuple[tuple[str, str], ...] = ()
    #: The bytes of a small file; None for a large one (sent from disk).
    data: bytes | None = None
    #: Per-version caches for later steps (a compressed body, for example).
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def sources(self) -> tuple[Path, ...]:
        """What a response about this version was made from (for live reload)."""
        return (self.path,)

    def body(self) -> bytes | FileBody:
        if self.data is not None:
            return self.data
        return FileBody(self.path, 0, self.size)


#: A step sees the request and the version; it answers (at once, or with an
#: awaitable when the work belongs off the event loop), or returns None to pass.
ResponseStep = Callable[[Request, FileVersion], Response | Awaitable[Response] | None]
#: Extra headers for every 200 of a version (``Vary: Accept-Encoding``, say).
HeaderHook = Callable[[FileVersion], Iterable[tuple[str, str]]]


def make_etag(inode: int, size: int, mtime_ns: int) -> str:
    """A strong entity-tag (RFC 9110 section 8.8.3) from the file's identity and version."""
    return f'"{inode:x}-{size:x}-{mtime_ns:x}"'


def http_date(seconds: int) -> str:
    """IMF-fixdate, the preferred HTTP-date form (RFC 9110 section 5.6.7)."""
    return formatdate(seconds, usegmt=True)


def cache_control(config: Config) -> str:
    # Development (no cache_seconds): always revalidate, so a reload never shows a
    # stale file, yet an unchanged file still costs only a 304 (RFC 9111 5.2.2.4).
    if config.cache_seconds is None:
        return "no-cache"
    return f"public, max-age={config.cache_seconds}"


class StaticFiles:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.cache_control = cache_control(config)
        #: Tried in order before the plain 200; the first Response wins.
        self.steps: list[ResponseStep] = []
        #: Answers after the steps instead of the plain 200 when set: the transfer
        #: (preconditions, ranges, codings) that the Site installs; None passes.
        self.last_step: ResponseStep | None = None
        #: Contribute headers when a version is built.
        self.header_hooks: list[HeaderHook] = []
        self._versions: OrderedDict[Path, FileVersion] = OrderedDict()
        self._cached_bytes = 0

    # -- the request path ----------------------------------------------------------

    def respond(
        self, request: Request, path: Path, served_as: str
    ) -> Response | Awaitable[Response]:
        """The response for the file at ``path``.

        Raises NotAFile when the file is gone (the caller resolves the URL again)
        and PermissionError when it cannot be read.
        """
        version = self.version(path, served_as)
        for step in self.steps:
            response = step(request, version)
            if response is not None:
                return response
        if self.last_step is not None:
            response = self.last_step(request, version)
            if response is not None:
                return response
        return full_response(version)

    def version(self, path: Path, served_as: str) -> FileVersion:
        """The current version of ``path``: one stat, and a cache hit when unchanged."""
        try:
            info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError, ValueError) as error:
            raise NotAFile(str(path)) from error
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile(str(path))
        cached = self._versions.get(path)
        if (
            cached is not None
            and cached.mtime_ns == info.st_mtime_ns
            and cached.size == info.st_size
            and cached.inode == info.st_ino
            and cached.served_as == served_as
        ):
            self._versions.move_to_end(path)
            return cached
        return self._remember(self._build(path, served_as, info))

    # -- building a version ----------------------------------------------------------

    def _build(self, path: Path, served_as: str, info: os.stat_result) -> FileVersion:
        data: bytes | None = None
        if info.st_size <= SMALL_FILE:
            data, info = _read_small(path, info)
        size = info.st_size if data is None else len(data)
        mtime = int(info.st_mtime)
        version = FileVersion(
            path=path,
            served_as=served_as,
            inode=info.st_ino,
            size=size,
            mtime_ns=info.st_mtime_ns,
            mtime=mtime,
            etag=make_etag(info.st_ino, size, info.st_mtime_ns),
            last_modified=http_date(mtime),
            content_type=content_type(served_as or path.name),
            data=data,
        )
        version.headers = self._headers(version)
        return version

    def _headers(self, version: FileVersion) -> tuple[tuple[str, str], ...]:
        headers = [
            ("Content-Type", version.content_type),
            ("ETag", version.etag),
            ("Last-Modified", version.last_modified),
            ("Cache-Control", cache_policy.cache_control(self.config, version.served_as)),
            ("Accept-Ranges", "bytes"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        for hook in self.header_hooks:
            headers.extend(hook(version))
        # The site's own [headers] rules go on top of ours.
        try:
            rel_path = version.path.relative_to(self.config.root).as_posix()
        except ValueError:  # a symlink followed out of the root, with --follow-symlinks
            rel_path = version.served_as
        return tuple(
            cache_policy.apply_headers(headers, cache_policy.extra_headers(self.config, rel_path))
        )

    def _remember(self, version: FileVersion) -> FileVersion:
        old = self._versions.pop(version.path, None)
        if old is not None and old.data is not None:
            self._cached_bytes -= len(old.data)
        self._versions[version.path] = version
        if version.data is not None:
            self._cached_bytes += len(version.data)
        # Least recently served first out, until both bounds hold.
        while self._versions and (
            self._cached_bytes > CACHE_BYTES or len(self._versions) > CACHE_ENTRIES
        ):
            _, evicted = self._versions.popitem(last=False)
            if evicted.data is not None:
                self._cached_bytes -= len(evicted.data)
        return version

    # -- invalidation ----------------------------------------------------------------

    def invalidate(self, paths: Iterable[Path] | None = None) -> None:
        """Drop cached versions of ``paths`` (and of anything under them); all if None.

        Not needed for correctness (every request stats its file), but a changed
        file's old bytes should not wait for eviction to leave memory.
        """
        if paths is None:
            self._versions.clear()
            self._cached_bytes = 0
            return
        prefixes = [str(path) for path in paths]
        for key in list(self._versions):
            text = str(key)
            if any(text == p or text.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes):
                dropped = self._versions.pop(key)
                if dropped.data is not None:
                    self._cached_bytes -= len(dropped.data)

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes


def full_response(version: FileVersion) -> Response:
    """The plain 200 with the whole file."""
    # A fresh list: the writer and later middleware may append to it.
    return Response(200, list(version.headers), version.body(), sources=version.sources)


def _read_small(path: Path, info: os.stat_result) -> tuple[bytes | None, os.stat_result]:
    """Read a small file whole, with the stat that describes the bytes read.

    A file rewritten between the stat and the read would pair new bytes with
    old validators, so the stat is taken again on the open file and the read
    repeated until both agree. A file that grew past the small size is left to
    be sent from disk (None).
    """
    data = b""
    for _ in range(3):
        try:
            with open(path, "rb") as handle:
                data = handle.read(SMALL_FILE + 1)
                after = os.fstat(handle.fileno())
        except FileNotFoundError as error:
            raise NotAFile(str(path)) from error
        if after.st_size > SMALL_FILE:
            return None, after
        if len(data) == after.st_size and after.st_mtime_ns == info.st_mtime_ns:
            return data, after
        info = after
    # Still changing under us: serve what was read; the caller sizes it by the bytes.
    return data, info
