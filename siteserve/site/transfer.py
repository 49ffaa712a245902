"""How a file version is transferred: preconditions, then range, then content coding.

This is the static file path after the version is known (RFC 9110 section 13.2.2 gives
the order): choose the representation (a coding, or identity when a Range is asked
for), evaluate the preconditions against that representation's validators, then
answer 304, 412, 206, 416 or the 200. It plugs into ``StaticFiles`` as its last step
and a header hook; everything about a version that does not depend on the request is
computed once and kept in ``version.extras``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from siteserve.config import Config
from siteserve.http.request import Request
from siteserve.http.response import FileBody, Response
from siteserve.site import conditional, ranges
from siteserve.site.compression import (
    MAX_SIZE,
    MIN_SIZE,
    NOT_SMALLER,
    OFFERED,
    SIBLING_SUFFIX,
    THREAD_THRESHOLD,
    Coding,
    CompressionCache,
    choose_coding,
    coded_etag,
    find_sibling,
    is_compressible,
)
from siteserve.site.errors import builtin_error
from siteserve.site.static import FileVersion, NotAFile, StaticFiles, full_response, make_etag

_EXTRA_KEY = "transfer"
VARY = ("Vary", "Accept-Encoding")


class FileChanged(Exception):
    """The file on disk is no longer the version being answered."""


@dataclass(frozen=True, slots=True)
class _Known:
    """What the transfer needs about a version, computed once."""

    compressible: bool
    #: Whether we would code this body ourselves (type and size permit it).
    on_the_fly: bool
    #: The tags of the on-the-fly codings: the same file state, other bytes.
    coded_etags: dict[Coding, str]
    #: Every tag of this version's representations, for If-Match and If-None-Match.
    all_etags: tuple[str, ...]
    #: The headers of a coded 200, per coding: its own ETag, Content-Encoding, and no
    #: Accept-Ranges, since ranges are for the identity body only.
    coded_headers: dict[Coding, tuple[tuple[str, str], ...]]
    #: The headers of a 304 (RFC 9110 section 15.4.5), per entity-tag it may name.
    not_modified: dict[str, tuple[tuple[str, str], ...]]


def _with_etag(headers: tuple[tuple[str, str], ...], etag: str) -> list[tuple[str, str]]:
    return [(name, etag if name.lower() == "etag" else value) for name, value in headers]


def _known(version: FileVersion) -> _Known:
    known = version.extras.get(_EXTRA_KEY)
    if isinstance(known, _Known):
        return known
    compressible = is_compressible(version.content_type)
    on_the_fly = compressible and MIN_SIZE <= version.size <= MAX_SIZE
    coded_etags = {coding: coded_etag(version.etag, coding) for coding in OFFERED}
    without_ranges = tuple(
        (name, value) for name, value in version.headers if name.lower() != "accept-ranges"
    )
    identity_304 = tuple(conditional.not_modified_headers(list(version.headers)))
    not_modified = {version.etag: identity_304}
    for tag in coded_etags.values():
        not_modified[tag] = tuple(_with_etag(identity_304, tag))
    known = _Known(
        compressible=compressible,
        on_the_fly=on_the_fly,
        coded_etags=coded_etags,
        all_etags=(version.etag, *coded_etags.values()) if on_the_fly else (version.etag,),
        coded_headers={
            coding: (*_with_etag(without_ranges, tag), ("Content-Encoding", coding))
            for coding, tag in coded_etags.items()
        },
        not_modified=not_modified,
    )
    version.extras[_EXTRA_KEY] = known
    return known


@dataclass(frozen=True, slots=True)
class _Sibling:
    """A precompressed file next to the original (``app.js.br``), as stat'ed now."""

    coding: Coding
    path: Path
    size: int
    etag: str


def _sibling(version: FileVersion, coding: Coding) -> _Sibling | None:
    info = find_sibling(version.path, coding, version.mtime_ns)
    if info is None:
        return None
    return _Sibling(
        coding,
        Path(str(version.path) + SIBLING_SUFFIX[coding]),
        info.st_size,
        make_etag(info.st_ino, info.st_size, info.st_mtime_ns),
    )


class Transfer:
    """The step that answers GET and HEAD for a static file version."""

    def __init__(self, config: Config, static: StaticFiles) -> None:
        self.config = config
        self.static = static
        self.codings = CompressionCache()

    def install(self) -> None:
        self.static.header_hooks.append(self.vary)
        # Last: a step someone adds (a header rewrite, a test's probe) still runs first.
        self.static.last_step = self.respond

    @staticmethod
    def vary(version: FileVersion) -> list[tuple[str, str]]:
        """``Vary: Accept-Encoding`` on every response of a compressible type.

        Said even when this version is too small to code: a cache must not reuse a
        response across Accept-Encoding values for a URL whose next version may be
        coded (RFC 9110 section 12.5.5), and the 304 repeats it (section 15.4.5).
        """
        return [VARY] if is_compressible(version.content_type) else []

    # -- the request path ----------------------------------------------------------

    def respond(
        self, request: Request, version: FileVersion, *, retry: bool = True
    ) -> Response | Awaitable[Response] | None:
        method = request.method
        if method not in ("GET", "HEAD"):
            return None
        headers = request.headers
        known = _known(version)
        coding: Coding = "identity"
        sibling: _Sibling | None = None
        accept = headers.get("accept-encoding")
        # A Range names bytes of the identity body (section 14.1.2 counts them in the
        # selected representation, which must not change between requests): a request
        # with Range is answered in identity, so a resumed download fits its start.
        if known.compressible and accept is not None and "range" not in headers:
            coding, sibling = self._choose(version, known, accept)
        if sibling is not None:
            etag = sibling.etag
            alternates = known.all_etags
        elif coding != "identity":
            etag = known.coded_etags[coding]
            alternates = known.all_etags
        else:
            etag = version.etag
            alternates = known.all_etags[1:]

        decision = conditional.evaluate(method, headers, etag, version.mtime, alternates)
        if decision.status == 304:
            tag = decision.etag or etag
            found = known.not_modified.get(tag)
            answer = (
                list(found)
                if found is not None
                else _with_etag(known.not_modified[version.etag], tag)
            )
            return Response(304, answer, b"", sources=version.sources)
        if decision.status == 412:
            return builtin_error(412, message="A precondition of the request does not hold.")

        if sibling is not None:
            response_headers = _with_etag(known.coded_headers[sibling.coding], sibling.etag)
            body = FileBody(sibling.path, 0, sibling.size)
            return Response(200, response_headers, body, sources=version.sources)
        if coding != "identity":
            return self._coded(request, version, known, coding, retry=retry)
        return self._identity(request, version)

    def _choose(
        self, version: FileVersion, known: _Known, accept: str
    ) -> tuple[Coding, _Sibling | None]:
        """The coding to send and, when it comes from a file on disk, that file.

        Looks on disk as little as it can (this runs on every request): for a coding we
        can make ourselves, a sibling would not change the choice, so only the chosen
        coding's sibling is looked for; for the others (a file too big to code on the
        fly), the siblings decide what is available.
        """
        if version.size < MIN_SIZE:
            return "identity", None  # too small for coding to pay, whoever made it
        siblings: dict[Coding, _Sibling] = {}
        available: list[Coding] = []
        for coding in OFFERED:
            if known.on_the_fly and self.codings.get(version.etag, coding) != NOT_SMALLER:
                available.append(coding)
            elif (found := _sibling(version, coding)) is not None:
                siblings[coding] = found
                available.append(coding)
        chosen = choose_coding(accept, tuple(available))
        if chosen == "identity":
            return chosen, None
        # A file someone compressed ahead of time (often harder than we would) wins.
        sibling = siblings.get(chosen) or _sibling(version, chosen)
        return chosen, sibling

    # -- identity: whole or ranges ---------------------------------------------------

    def _identity(self, request: Request, version: FileVersion) -> Response:
        plan = ranges.plan(
            request.method, request.headers, version.size, version.etag, version.mtime
        )
        if plan.status == 200:
            return full_response(version)
        if plan.status == 416:
            return builtin_error(
                416,
                message="The requested range is not inside the file.",
                headers=ranges.unsatisfiable_headers(version.size),
            )
        source: bytes | Path = version.data if version.data is not None else version.path
        if len(plan.ranges) == 1:
            only = plan.ranges[0]
            headers = list(version.headers)
            headers.append(("Content-Range", only.content_range(version.size)))
            return Response(206, headers, ranges.single_body(source, only), sources=version.sources)
        body = ranges.multipart(source, plan.ranges, version.size, version.content_type)
        headers = [
            (name, value) for name, value in version.headers if name.lower() != "content-type"
        ]
        headers.insert(0, ("Content-Type", body.content_type))
        return Response(206, headers, body.body, length=body.length, sources=version.sources)

    # -- coded on the fly ----------------------------------------------------------

    def _coded(
        self, request: Request, version: FileVersion, known: _Known, coding: Coding, *, retry: bool
    ) -> Response | Awaitable[Response]:
        cached = self.codings.get(version.etag, coding)
        if cached is None and version.data is not None and version.size <= THREAD_THRESHOLD:
            # Small and already in memory: coding it takes well under a millisecond.
            cached = self.codings.compress_now(version.etag, coding, version.data)
        if cached is not None:
            return self._coded_response(version, known, coding, cached)
        return self._coded_later(request, version, known, coding, retry=retry)

    async def _coded_later(
        self, request: Request, version: FileVersion, known: _Known, coding: Coding, *, retry: bool
    ) -> Response:
        data = version.data
        try:
            body = await self.codings.compressed(
                version.etag, coding, (lambda: data) if data is not None else _reader(version)
            )
        except (FileChanged, FileNotFoundError):
            if not retry:
                return builtin_error(503, headers=[("Retry-After", "1")])
            # Rewritten while we read it: answer about the new version instead.
            try:
                fresh = self.static.version(version.path, version.served_as)
            except NotAFile:
                return builtin_error(404)
            result = self.respond(request, fresh, retry=False)
            assert result is not None
            return result if isinstance(result, Response) else await result
        return self._coded_response(version, known, coding, body)

    def _coded_response(
        self, version: FileVersion, known: _Known, coding: Coding, body: bytes
    ) -> Response:
        if body == NOT_SMALLER:
            return full_response(version)
        return Response(200, list(known.coded_headers[coding]), body, sources=version.sources)


def _reader(version: FileVersion) -> Callable[[], bytes]:
    """A function reading the version's bytes; FileChanged when the file is another version."""

    def read() -> bytes:
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

    return read
