"""Static files: one ``os.stat`` per request, everything else computed once per file version.

``StaticFiles.respond`` is where the answer about a file is decided, in the order of
RFC 9110 section 13.2.2: resolve the version, take the validators of the selected
representation, evaluate the preconditions, honour a Range, code the body, send it.
A version's validators, content type, headers and representations are built the first
time it is served and reused until the file changes (``file_version``, ``transfer``); a
small file's bytes are kept too, so an unchanged small file is never read twice.

A file version in the cache is found after one ``os.stat`` of its path: a small
file is answered from the bytes and headers its version was built with, a large one
is opened only when a body is cut from it, and its fstat must then name that version
(``file_version.DeferredFile``). A new version is taken from ``os.fstat`` of the open
file and, when the bytes are sent from disk, they are sent from that same open file
(``file_version.OpenFile``): headers and bytes are one version whatever happens to
the path meanwhile.
"""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path

from siteserve import bounds
from siteserve.config import Config
from siteserve.http.dates import http_date
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.site import cache_policy, conditional, ranges, transfer
from siteserve.site.compression import (
    NOT_SMALLER,
    THREAD_THRESHOLD,
    Coding,
    CompressionCache,
    is_compressible,
)
from siteserve.site.errors import builtin_error
from siteserve.site.file_version import (
    DeferredFile,
    FileChanged,
    FileVersion,
    NotAFile,
    OpenFile,
    VersionFile,
    make_etag,
    open_file,
    read_version,
    read_whole,
)
from siteserve.site.mime import content_type
from siteserve.site.transfer import HtmlTransform, Representation

#: Files up to this size are answered from memory.
SMALL_FILE = 64 * 1024
#: The memory all cached small files (and rewritten pages) may take together (``bounds``).
CACHE_BYTES = bounds.STATIC_BYTES
#: File versions remembered (headers and validators), beyond the bytes bound.
CACHE_ENTRIES = bounds.STATIC_VERSIONS
#: Answers decided from the request and the file's version alone, so the same request
#: gets the same answer while the file is unchanged (``Response.still_valid``): the
#: whole body, and 304 to a validator that matches this version.
_SAME_WHILE_UNCHANGED = (200, 304)


class StaticFiles:
    def __init__(self, config: Config) -> None:
        self.config = config
        #: Rewrites HTML files before their validators are made (live reload's script);
        #: set at assembly, before the first request (``assemble.build_app``).
        self.html_transform: HtmlTransform | None = None
        #: Bodies coded on the fly, per representation and coding.
        self.codings = CompressionCache()
        self._versions: OrderedDict[Path, FileVersion] = OrderedDict()
        self._cached_bytes = 0

    # -- the request path ----------------------------------------------------------

    def respond(
        self, request: Request, path: Path, served_as: str
    ) -> Response | Awaitable[Response]:
        """The response for the file at ``path``: at once, or later when a body must be coded.

        Raises NotAFile when the file is gone (the caller resolves the URL again)
        and PermissionError when it cannot be read. A 200 or a 304 made at once says how to
        tell it still holds for this file (``Response.still_valid``); the caller adds what
        else its answer depends on (the URL still naming this file), or drops it.
        """
        return self._respond(request, path, served_as, retry=True)

    def _respond(
        self, request: Request, path: Path, served_as: str, *, retry: bool
    ) -> Response | Awaitable[Response]:
        """The current version of the file, and the answer about it (``_decide``).

        ``retry`` is spent when the file changes under an answer being made.
        """
        try:
            version, file = self._current(path, served_as)
        except FileChanged:
            # Rewritten in place while its bytes were read, twice: too busy to pin down.
            return _busy()
        try:
            answer = self._decide(request, version, file, retry=retry)
            if isinstance(answer, Response) and answer.status in _SAME_WHILE_UNCHANGED:
                # Decided from the request and this version alone (the body, or 304 to
                # the client's validator): the same request gets it while the file is.
                # The path as a string, once: each check of the answer stats it again.
                answer.still_valid = partial(self._unchanged, path, os.fspath(path), version)
            return answer
        except FileChanged:
            # A precompressed sibling changed between its stat and its open.
            if not retry:
                return _busy()
            return self._respond(request, path, served_as, retry=False)
        finally:
            if file is not None:
                file.release()  # unless a body took it

    def _decide(
        self, request: Request, version: FileVersion, file: VersionFile | None, *, retry: bool
    ) -> Response | Awaitable[Response]:
        """Every file's answer is decided here, in the order of RFC 9110 section 13.2.2.

        Take the validators of the representation the request selects; evaluate the
        preconditions (304, 412); honour a Range (206, 416); code the body; send it.
        ``file`` is the open file ``version`` was read from, for bodies sent from disk
        (None when the version's bytes are in memory).
        """
        representation = transfer.as_is(version)
        method = request.method
        if method not in ("GET", "HEAD"):
            return representation.whole(file)
        headers = request.headers

        # Validators: of the page as shown (rewritten HTML) or of the file's own bytes,
        # and of the coding Accept-Encoding selects, since each coding is a representation
        # with its own tag. A request with Range is answered in identity: a Range names
        # bytes of the identity body (section 14.1.2), so a resumed download fits its start.
        transform = self.html_transform
        if (
            version.rewritten is not None
            and transform is not None
            and transform.applies_to(request)
        ):
            representation = transfer.shown(version, transform)
        coding: Coding = "identity"
        sibling: transfer.Sibling | None = None
        accept = headers.get("accept-encoding")
        if representation.compressible and accept is not None and "range" not in headers:
            coding, sibling = transfer.choose(representation, accept, self.codings)
        if sibling is not None:
            etag = sibling.etag
            alternates = representation.all_etags
        elif coding != "identity":
            etag = representation.coded_etags[coding]
            alternates = representation.all_etags
        else:
            etag = representation.etag
            alternates = representation.all_etags[1:]

        # Preconditions (RFC 9110 section 13.2.2, steps 1-4).
        decision = conditional.evaluate(method, headers, etag, version.mtime, alternates)
        if decision.status == 304:
            return representation.not_modified_response(decision.etag or etag)
        if decision.status == 412:
            return builtin_error(412, message="A precondition of the request does not hold.")

        # Range (step 5), of the identity body only.
        if coding == "identity":
            if representation.ranges:
                size, tag = representation.size, representation.etag
                plan = ranges.plan(method, headers, size, tag, version.mtime)
                if plan.status != 200:
                    return transfer.partial(representation, plan, file)
            return representation.whole(file)

        # Content coding, then the body.
        if sibling is not None:
            return sibling.response(representation)
        return self._coded(request, representation, coding, file, retry=retry)

    def _coded(
        self,
        request: Request,
        representation: Representation,
        coding: Coding,
        file: VersionFile | None,
        *,
        retry: bool,
    ) -> Response | Awaitable[Response]:
        cached = self.codings.get(representation.cache_key, coding)
        data = representation.data
        if cached is None and data is not None and representation.size <= THREAD_THRESHOLD:
            # Small and already in memory: coding it takes well under a millisecond.
            cached = self.codings.compress_now(representation.cache_key, coding, data)
        if cached is not None:
            return representation.coded(coding, cached, file)
        return self._coded_later(request, representation, coding, retry=retry)

    async def _coded_later(
        self, request: Request, representation: Representation, coding: Coding, *, retry: bool
    ) -> Response:
        # The file is read again here, in a worker thread, and checked to be the version
        # the headers name: the coded body is made whole before anything is sent.
        data = representation.data
        version = representation.version
        read: Callable[[], bytes] = (
            (lambda: data) if data is not None else (lambda: read_version(version))
        )
        try:
            body = await self.codings.compressed(representation.cache_key, coding, read)
        except (FileChanged, NotAFile):
            if not retry:
                return _busy()
            # Rewritten while we read it: answer about the new version instead.
            return await self._again(request, version)
        if body == NOT_SMALLER and data is None:
            # Coding did not pay: the file's own bytes, from a file opened for them.
            return await self._again(request, version)
        return representation.coded(coding, body, None)

    async def _again(self, request: Request, version: FileVersion) -> Response:
        """The answer made afresh (the version is looked up again), with no retry left."""
        try:
            result = self._respond(request, version.path, version.served_as, retry=False)
        except NotAFile:
            return builtin_error(404)
        return result if isinstance(result, Response) else await result

    def _unchanged(self, path: Path, path_text: str, version: FileVersion) -> bool:
        """Whether ``version`` is still what ``_current`` would find for ``path`` (one stat;
        ``path_text`` is ``path`` as a string), so an answer made from it is still the one
        ``respond`` would make."""
        if self._versions.get(path) is not version:
            return False  # changed, invalidated or evicted since
        try:
            info = os.stat(path_text)
        except (OSError, ValueError):
            return False
        if not version.is_described_by(info):
            return False
        if version.data is None and not os.access(path_text, os.R_OK):
            return False  # a file read from disk each time would now answer 403
        self._versions.move_to_end(path)  # served again, as ``_current`` would note
        return True

    # -- resolving the version -------------------------------------------------------

    def version(self, path: Path, served_as: str) -> FileVersion:
        """The current version of ``path``: one stat, and a cache hit when unchanged."""
        version, file = self._current(path, served_as)
        if file is not None:
            file.release()
        return version

    def _current(self, path: Path, served_as: str) -> tuple[FileVersion, VersionFile | None]:
        """The version of ``path`` now, with the file open when its bytes are not in memory.

        A version in the cache costs one stat of the path (a large file's is opened
        later, if a body needs it: ``DeferredFile``). Otherwise the file is opened and
        its version is the one ``fstat`` of the open file names, built or found in the
        cache by (device, inode, size, mtime_ns).
        """
        try:
            info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError, ValueError) as error:
            raise NotAFile(str(path)) from error
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile(str(path))
        cached = self._versions.get(path)
        if cached is not None and cached.served_as == served_as and cached.is_described_by(info):
            self._versions.move_to_end(path)
            # A large file is opened only if a body is cut from it (not for a coded body
            # or a 304), and then checked to be this version (``DeferredFile``).
            return cached, None if cached.data is not None else DeferredFile(cached)
        file, info = open_file(path)
        try:
            if (
                cached is not None
                and cached.served_as == served_as
                and cached.is_described_by(info)
            ):
                self._versions.move_to_end(path)
                version = cached
            else:
                version = self._remember(self._build(path, served_as, info, file))
        except BaseException:
            file.close()
            raise
        if version.data is not None:
            file.close()
            return version, None
        return version, file

    def _build(
        self, path: Path, served_as: str, info: os.stat_result, file: OpenFile | None = None
    ) -> FileVersion:
        """A new version from the open ``file`` and its fstat ``info`` (``file`` None: open it)."""
        if file is None:
            file, _ = open_file(path)
            try:
                return self._build(path, served_as, info, file)
            finally:
                file.close()
        media_type = content_type(served_as or path.name)
        transform = self.html_transform
        limit = SMALL_FILE
        if transform is not None and transform.rewrites(media_type):
            # A page to rewrite is read whole even when it is larger than a small file.
            limit = max(SMALL_FILE, transform.max_bytes)
        else:
            transform = None
        data, info = read_whole(file, info, limit)
        size = info.st_size
        mtime = int(info.st_mtime)
        version = FileVersion(
            path=path,
            served_as=served_as,
            device=info.st_dev,
            inode=info.st_ino,
            size=size,
            mtime_ns=info.st_mtime_ns,
            mtime=mtime,
            etag=make_etag(info.st_ino, size, info.st_mtime_ns),
            last_modified=http_date(mtime),
            content_type=media_type,
            data=data if size <= SMALL_FILE else None,
        )
        if transform is not None and data is not None:
            version.rewritten = transform.rewrite(data)
        version.headers = self._headers(version)
        return version

    def _headers(self, version: FileVersion) -> tuple[tuple[str, str], ...]:
        try:
            rel_path = version.path.relative_to(self.config.root).as_posix()
        except ValueError:  # a symlink followed out of the root, with --follow-symlinks
            rel_path = version.served_as
        headers = [
            ("Content-Type", version.content_type),
            ("ETag", version.etag),
            ("Last-Modified", version.last_modified),
            ("Cache-Control", cache_policy.cache_control(self.config, version.served_as)),
            ("Accept-Ranges", "bytes"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if is_compressible(version.content_type):
            # Said even when this version is too small to code: a cache must not reuse a
            # response across Accept-Encoding values for a URL whose next version may be
            # coded (RFC 9110 section 12.5.5), and the 304 repeats it (section 15.4.5).
            headers.append(transfer.VARY)
        # The site's own [headers] rules go on top of ours.
        extra = cache_policy.extra_headers(self.config, rel_path)
        return tuple(cache_policy.apply_headers(headers, extra))

    def _remember(self, version: FileVersion) -> FileVersion:
        old = self._versions.pop(version.path, None)
        if old is not None:
            self._forget(old)
        self._versions[version.path] = version
        self._cached_bytes += version.memory
        # Least recently served first out, until both bounds hold.
        while self._versions and (
            self._cached_bytes > CACHE_BYTES or len(self._versions) > CACHE_ENTRIES
        ):
            _, evicted = self._versions.popitem(last=False)
            self._forget(evicted)
        return version

    def _forget(self, version: FileVersion) -> None:
        """A version out of the cache: its bytes, and the bodies coded from them."""
        self._cached_bytes -= version.memory
        for representation in (version.as_is, version.shown):
            if representation is not None:
                self.codings.forget(representation.cache_key)

    # -- invalidation ----------------------------------------------------------------

    def invalidate(self, paths: Iterable[Path] | None = None) -> None:
        """Drop cached versions of ``paths`` (and of anything under them); all if None.

        Not needed for correctness (every request stats its file), but a changed
        file's old bytes, and the bodies coded from them, should not wait for eviction
        to leave memory.
        """
        if paths is None:
            self._versions.clear()
            self.codings.clear()
            self._cached_bytes = 0
            return
        prefixes = [str(path) for path in paths]
        for key in list(self._versions):
            text = str(key)
            if any(text == p or text.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes):
                self._forget(self._versions.pop(key))

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes


def _busy() -> Response:
    """The file keeps changing while we read it: ask the client to come back shortly."""
    return builtin_error(503, headers=[("Retry-After", "1")])
