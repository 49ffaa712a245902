"""The representations of a file version, and the answers each can give (RFC 9110 3.2, 8.8).

Before any coding a file version has one or two representations: the file's own bytes
(``as_is``), and, when the Site has an ``HtmlTransform`` that applies to the file, the page
as shown (``shown``: rewritten, say with live reload's script in it), which is another
byte sequence and so has its own ETag (section 8.8.3). Each may be sent coded (gzip, br),
another representation again with its own tag. Everything here is computed once per
version and kept on it; ``StaticFiles.respond`` decides, per request, which one answers.

A body sent from disk is cut from the file passed in per request as ``file``: the open
file the version was read from, or, for a version found in the cache by a stat, the file
opened when the body is cut and checked to be that version (``DeferredFile``): its bytes
are the version its headers describe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from siteserve.http.request import Request
from siteserve.http.response import EncodedFields, FileBody, Response
from siteserve.http.writer import encode_fields
from siteserve.site import conditional, ranges
from siteserve.site.compression import (
    MAX_SIZE,
    MIN_SIZE,
    NOT_SMALLER,
    OFFERED,
    SIBLING_SUFFIX,
    Coding,
    CompressionCache,
    choose_coding,
    coded_etag,
    find_sibling,
    is_compressible,
)
from siteserve.site.errors import builtin_error
from siteserve.site.file_version import (
    FileChanged,
    FileVersion,
    VersionFile,
    file_body,
    make_etag,
    open_file,
)

VARY = ("Vary", "Accept-Encoding")

HeaderPairs = tuple[tuple[str, str], ...]


class HtmlTransform(Protocol):
    """Rewrites HTML files before the Site's caching rules see them (live reload's script).

    Registered on the Site's static files at assembly (``assemble.build_app``). The
    rewritten page is a representation of its own: ``rewritten_etag`` gives its tag from
    the file's, and its 304s, codings and caches follow from that tag like any file's.
    """

    #: HTML files up to this many bytes are read whole to be rewritten; larger ones are not.
    max_bytes: int

    def rewrites(self, content_type: str) -> bool:
        """Whether files of this type are rewritten."""
        ...

    def applies_to(self, request: Request) -> bool:
        """Whether this request is for the page as shown (not, say, a download of the file)."""
        ...

    def rewrite(self, html: bytes) -> bytes:
        """The page as shown."""
        ...

    def rewritten_etag(self, etag: str) -> str:
        """The entity-tag of the page as shown, from the file's."""
        ...


@dataclass(frozen=True, slots=True)
class Representation:
    """One representation of a file version before coding, and what its answers carry."""

    version: FileVersion
    etag: str
    #: What names this representation in the coded-body cache: its tag and its device,
    #: so two versions never share an entry (``file_version.VersionKey``).
    cache_key: str
    #: The identity body: bytes in memory, or None for the file on disk.
    data: bytes | None
    size: int
    #: The headers of a 200 with the identity body.
    headers: HeaderPairs
    #: Whether a Range is honoured (the file's own bytes only: see ``shown``).
    ranges: bool
    #: Whether a precompressed file next to the original (``app.js.br``) is this body coded.
    siblings: bool
    compressible: bool
    #: Whether we would code this body ourselves (type and size permit it).
    on_the_fly: bool
    #: The tags of the on-the-fly codings: the same file state, other bytes.
    coded_etags: dict[Coding, str]
    #: Every tag of this representation and its codings, for If-Match and If-None-Match.
    all_etags: tuple[str, ...]
    #: The headers of a coded 200, per coding: its own ETag, Content-Encoding, and no
    #: Accept-Ranges, since ranges are for the identity body only.
    coded_headers: dict[Coding, HeaderPairs]
    #: The headers of a 304 (RFC 9110 section 15.4.5), per entity-tag it may name.
    not_modified: dict[str, HeaderPairs]
    #: ``headers``, ``coded_headers`` and ``not_modified`` as the writer sends them,
    #: encoded once per version and coding (each response carries its own).
    encoded: EncodedFields
    coded_encoded: dict[Coding, EncodedFields]
    not_modified_encoded: dict[str, EncodedFields]

    def body(self, file: VersionFile | None) -> bytes | FileBody:
        """The identity body: from memory, else from ``file`` (the version's open file)."""
        if self.data is not None:
            return self.data
        assert file is not None, "a body on disk is sent from the file its version came from"
        return file_body(self.version, file, 0, self.size)

    def whole(self, file: VersionFile | None) -> Response:
        """The 200 with the whole identity body."""
        # A fresh list: the writer and later middleware may append to it.
        return Response(
            200,
            list(self.headers),
            self.body(file),
            sources=self.version.sources,
            encoded=self.encoded,
        )

    def not_modified_response(self, tag: str) -> Response:
        found = self.not_modified.get(tag)
        if found is None:  # a tag of this version that is none of ours (a weak one)
            headers = _with_etag(self.not_modified[self.etag], tag)
            return Response(304, headers, b"", sources=self.version.sources)
        return Response(
            304,
            list(found),
            b"",
            sources=self.version.sources,
            encoded=self.not_modified_encoded[tag],
        )

    def coded(self, coding: Coding, body: bytes, file: VersionFile | None) -> Response:
        if body == NOT_SMALLER:
            return self.whole(file)
        return Response(
            200,
            list(self.coded_headers[coding]),
            body,
            sources=self.version.sources,
            encoded=self.coded_encoded[coding],
        )


def as_is(version: FileVersion) -> Representation:
    """The file's own bytes, as a representation (made once per version)."""
    made = version.as_is
    if made is None:
        made = version.as_is = _represent(
            version, version.etag, version.data, version.size, version.headers, True
        )
    return made


def shown(version: FileVersion, transform: HtmlTransform) -> Representation:
    """The rewritten page (``version.rewritten`` must be set), made once per version.

    Its bytes are not the file's, so a Range is not honoured (the page is sent whole,
    which section 14.2 allows) and no precompressed sibling stands for it; it is coded
    on the fly like any HTML, the coded bodies cached under its own tag.
    """
    made = version.shown
    if made is None:
        assert version.rewritten is not None
        etag = transform.rewritten_etag(version.etag)
        headers = tuple(
            (name, etag if name.lower() == "etag" else value)
            for name, value in version.headers
            if name.lower() != "accept-ranges"
        )
        data = version.rewritten
        made = version.shown = _represent(version, etag, data, len(data), headers, False)
    return made


def _represent(
    version: FileVersion,
    etag: str,
    data: bytes | None,
    size: int,
    headers: HeaderPairs,
    of_the_file: bool,
) -> Representation:
    compressible = is_compressible(version.content_type)
    on_the_fly = compressible and MIN_SIZE <= size <= MAX_SIZE
    coded_etags = {coding: coded_etag(etag, coding) for coding in OFFERED}
    without_ranges = tuple(
        (name, value) for name, value in headers if name.lower() != "accept-ranges"
    )
    identity_304 = tuple(conditional.not_modified_headers(list(headers)))
    not_modified = {etag: identity_304}
    for tag in coded_etags.values():
        not_modified[tag] = tuple(_with_etag(identity_304, tag))
    coded_headers: dict[Coding, HeaderPairs] = {
        coding: (*_with_etag(without_ranges, tag), ("Content-Encoding", coding))
        for coding, tag in coded_etags.items()
    }
    return Representation(
        version=version,
        etag=etag,
        cache_key=f"{version.device:x}:{etag}",
        data=data,
        size=size,
        headers=headers,
        ranges=of_the_file,
        siblings=of_the_file,
        compressible=compressible,
        on_the_fly=on_the_fly,
        coded_etags=coded_etags,
        all_etags=(etag, *coded_etags.values()) if on_the_fly else (etag,),
        coded_headers=coded_headers,
        not_modified=not_modified,
        encoded=encode_fields(headers),
        coded_encoded={coding: encode_fields(pairs) for coding, pairs in coded_headers.items()},
        not_modified_encoded={tag: encode_fields(pairs) for tag, pairs in not_modified.items()},
    )


def _with_etag(headers: HeaderPairs, etag: str) -> list[tuple[str, str]]:
    return [(name, etag if name.lower() == "etag" else value) for name, value in headers]


# -- content codings -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sibling:
    """A precompressed file next to the original (``app.js.br``), as stat'ed now."""

    coding: Coding
    path: Path
    info: os.stat_result
    etag: str

    def response(self, representation: Representation) -> Response:
        """The 200 with the sibling's bytes, from the file its tag was made from.

        FileChanged when it is another file than the one stat'ed (replaced since).
        """
        file, info = open_file(self.path)
        stamp = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        was = self.info
        if stamp != (was.st_dev, was.st_ino, was.st_size, was.st_mtime_ns):
            file.close()
            raise FileChanged(str(self.path))
        headers = _with_etag(representation.coded_headers[self.coding], self.etag)
        body = FileBody(self.path, 0, info.st_size, file.give(), (info.st_size, info.st_mtime_ns))
        return Response(200, headers, body, sources=representation.version.sources)


def _sibling(version: FileVersion, coding: Coding) -> Sibling | None:
    info = find_sibling(version.path, coding, version.mtime_ns)
    if info is None:
        return None
    return Sibling(
        coding,
        Path(str(version.path) + SIBLING_SUFFIX[coding]),
        info,
        make_etag(info.st_ino, info.st_size, info.st_mtime_ns),
    )


def choose(
    representation: Representation, accept: str, codings: CompressionCache
) -> tuple[Coding, Sibling | None]:
    """The coding to send and, when it comes from a file on disk, that file.

    Looks on disk as little as it can (this runs on every request): for a coding we
    can make ourselves, a sibling would not change the choice, so only the chosen
    coding's sibling is looked for; for the others (a file too big to code on the
    fly), the siblings decide what is available.
    """
    if representation.size < MIN_SIZE:
        return "identity", None  # too small for coding to pay, whoever made it
    version = representation.version
    siblings: dict[Coding, Sibling] = {}
    available: list[Coding] = []
    key = representation.cache_key
    for coding in OFFERED:
        if representation.on_the_fly and codings.get(key, coding) != NOT_SMALLER:
            available.append(coding)
        elif representation.siblings and (found := _sibling(version, coding)) is not None:
            siblings[coding] = found
            available.append(coding)
    chosen = choose_coding(accept, tuple(available))
    if chosen == "identity" or not representation.siblings:
        return chosen, None
    # A file someone compressed ahead of time (often harder than we would) wins.
    return chosen, siblings.get(chosen) or _sibling(version, chosen)


# -- ranges of the identity body --------------------------------------------------------


def partial(
    representation: Representation, plan: ranges.RangePlan, file: VersionFile | None
) -> Response:
    """The 206 or 416 for a Range plan that is not "the whole body".

    A file on disk is read from ``file``, the open file the version came from.
    """
    size = representation.size
    if plan.status == 416:
        return builtin_error(
            416,
            message="The requested range is not inside the file.",
            headers=ranges.unsatisfiable_headers(size),
        )
    version = representation.version
    source = representation.body(file)
    if len(plan.ranges) == 1:
        only = plan.ranges[0]
        headers = list(representation.headers)
        headers.append(("Content-Range", only.content_range(size)))
        return Response(206, headers, ranges.single_body(source, only), sources=version.sources)
    body = ranges.multipart(source, plan.ranges, size, version.content_type)
    headers = [
        (name, value) for name, value in representation.headers if name.lower() != "content-type"
    ]
    headers.insert(0, ("Content-Type", body.content_type))
    return Response(206, headers, body.body, length=body.length, sources=version.sources)
