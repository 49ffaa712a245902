"""Put the reload client's script tag into every HTML response.

The tag goes where a browser will run it whatever the page looks like:
before ``</head>``; else right after ``<body ...>``; else after ``<head>``,
``<html>`` or the doctype (never before the doctype, which would switch the
page into quirks mode); else at the very start. Comments and raw-text
elements (``<script>``, ``<style>``, ...) are skipped so a ``</head>`` inside
them is not taken for the real one.

The injected body is a different representation, so it gets a different
ETag (RFC 9110 section 8.8.3): the site's tag with ``+reload`` appended inside
the quotes. An HTML *file* gets the tag inside the Site's static pipeline, before
its validators are made (``Injector`` is the Site's ``HtmlTransform``): its 304s,
codings and caches then follow from the injected page's own tag. Answers made
for one request (pages, listings, error pages) carry no validators and get the
tag on the way out (``needs_script``, ``Injector.apply``).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import AsyncIterable, Iterable
from dataclasses import replace
from pathlib import Path

from siteserve import bounds
from siteserve.http.request import Request
from siteserve.http.response import FileBody, Response
from siteserve.share.download_query import download_wanted

RELOAD_SCRIPT_PATH = "/__siteserve/reload.js"
#: A module script is deferred: it never holds up parsing or rendering of the page.
SCRIPT_TAG = f'<script type="module" src="{RELOAD_SCRIPT_PATH}"></script>'.encode()
#: For the answer to a POST (a form): reloading it would post the form again, so the
#: client loads the page with GET instead.
SCRIPT_TAG_AFTER_POST = (
    f'<script type="module" src="{RELOAD_SCRIPT_PATH}" data-siteserve-post></script>'.encode()
)
ETAG_SUFFIX = "+reload"
#: Bytes of bodies (and their injected copies) remembered by identity, at most.
_IDENTITY_MAX_BYTES = bounds.INJECTED_BYTES

#: Above this size an HTML body is passed through untouched rather than read into memory.
MAX_INJECT_BYTES = 8 * 1024 * 1024

_BOM_UTF8 = b"\xef\xbb\xbf"
_BOMS_UNSUPPORTED = (b"\xff\xfe", b"\xfe\xff")
_RAW_TEXT = frozenset(
    {b"script", b"style", b"textarea", b"title", b"xmp", b"iframe", b"noembed", b"noframes"}
)
_MARKUP = re.compile(rb"<(!--|!|/?[A-Za-z])")
_NAME = re.compile(rb"[A-Za-z][A-Za-z0-9:-]*")
# The rest of a start or end tag: attribute values may hold ">" when quoted.
_TAG_REST = re.compile(rb"""(?:[^>"']|"[^"]*"|'[^']*')*>""")
_DOCTYPE = re.compile(rb"(?i)!doctype")
_RAW_END: dict[bytes, re.Pattern[bytes]] = {
    name: re.compile(rb"(?i)</" + name + rb"[\s/>]") for name in _RAW_TEXT
}


def insertion_point(html: bytes) -> int | None:
    """The byte offset where the script tag goes, or None for an encoding we cannot edit."""
    if html.startswith(_BOMS_UNSUPPORTED):
        return None
    start = len(_BOM_UTF8) if html.startswith(_BOM_UTF8) else 0
    fallbacks: dict[bytes, int] = {}
    pos = start
    while True:
        match = _MARKUP.search(html, pos)
        if match is None:
            break
        lead = match.group(1)
        if lead == b"!--":
            end = html.find(b"-->", match.end())
            if end < 0:
                break
            pos = end + 3
            continue
        if lead == b"!":
            end = html.find(b">", match.end())
            if end < 0:
                break
            if _DOCTYPE.match(html, match.start() + 1):
                fallbacks.setdefault(b"!doctype", end + 1)
            pos = end + 1
            continue
        closing = lead.startswith(b"/")
        name_match = _NAME.match(html, match.start() + (2 if closing else 1))
        rest = _TAG_REST.match(html, name_match.end()) if name_match else None
        if name_match is None or rest is None:
            pos = match.end()
            continue
        name = name_match.group().lower()
        tag_end = rest.end()
        if closing:
            if name == b"head":
                return match.start()
        elif name == b"body":
            return tag_end
        elif name in (b"head", b"html"):
            fallbacks.setdefault(name, tag_end)
        elif name in _RAW_TEXT:
            raw_end = _RAW_END[name].search(html, tag_end)
            if raw_end is None:
                break
            pos = raw_end.start()
            continue
        pos = tag_end
    for name in (b"head", b"html", b"!doctype"):
        if name in fallbacks:
            return fallbacks[name]
    return start


def inject(html: bytes, tag: bytes = SCRIPT_TAG) -> bytes:
    """``html`` with ``tag`` inserted (unchanged when its encoding is not ASCII-compatible)."""
    point = insertion_point(html)
    if point is None:
        return html
    return html[:point] + tag + html[point:]


def is_html(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "text/html":
        return False
    charset = params.lower().replace(" ", "")
    # UTF-16 and UTF-32 bodies cannot take an ASCII tag.
    return "charset=utf-16" not in charset and "charset=utf-32" not in charset


def tag_etag(etag: str) -> str:
    """``"abc"`` -> ``"abc+reload"``, keeping a ``W/`` prefix."""
    if etag.endswith('"'):
        return etag[:-1] + ETAG_SUFFIX + '"'
    return etag


def injectable(response: Response) -> bool:
    """Whether ``response`` is an HTML page the script belongs in."""
    if response.upgrade is not None or response.status < 200 or response.status in (204, 304):
        return False
    if 300 <= response.status < 400 or response.status == 206:
        return False
    # The type first: most answers are not HTML, and then one look at the headers does.
    if not is_html(response.header("content-type")):
        return False
    # A download (?download) is saved as it is on disk, never shown.
    return not is_download(response)


def shows_page(response: Response) -> bool:
    """Whether a tab shows an injected page after ``response``: it has the script, or it is
    a 304 that tells the browser to show the injected page it has stored."""
    if response.status == 304:
        return ETAG_SUFFIX in (response.header("etag") or "")
    return injectable(response)


def is_download(response: Response) -> bool:
    return (response.header("content-disposition") or "").lower().startswith("attachment")


def asks_download(request: Request) -> bool:
    """Whether the sharing layer answers ``request`` as a download (``?download``).

    Known before the Site answers, where a file's representation is chosen; the
    sharing layer marks the response ``attachment`` only afterwards.
    """
    return download_wanted(request.query) is not None


def needs_script(response: Response) -> bool:
    """Whether the reload layer puts the tag into ``response`` on its way out.

    Only an answer made for this request: a file's representation (an ETag that
    already names the injected page, or a coded body) was decided by the Site's
    pipeline, which leaves a file alone only when it must be (too large to read).
    """
    if response.header("content-encoding") not in (None, "identity"):
        return False
    etag = response.header("etag")
    return etag is None or ETAG_SUFFIX not in etag


def _read(body: FileBody) -> bytes | None:
    """The body's bytes (from its open file when it has one), or None when too large,
    unreadable, or changed since its headers were made."""
    if body.length > MAX_INJECT_BYTES:
        return None
    try:
        if body.file is None:
            with body.path.open("rb") as handle:
                handle.seek(body.offset)
                return handle.read(body.length)
        fd = body.file.fileno()
        data = os.pread(fd, body.length, body.offset)
        info = os.fstat(fd)
    except OSError:
        return None
    if len(data) != body.length or (
        body.stamp is not None and (info.st_size, info.st_mtime_ns) != body.stamp
    ):
        return None
    return data


async def collect(response: Response) -> Response:
    """A streamed body read whole, so the tag can go in (pages are small)."""
    body = response.body
    if isinstance(body, AsyncIterable):
        chunks = [chunk async for chunk in body]
        return replace(response, body=b"".join(chunks), length=None)
    return response


class Injector:
    """Injects into responses, remembering injected file bodies until the file changes.

    It is also the Site's ``HtmlTransform`` (``site.transfer``): the static pipeline asks
    it which files to rewrite and how, and keeps the result per file version.
    """

    #: HTML files up to this size are injected; larger ones are sent as they are.
    max_bytes = MAX_INJECT_BYTES

    def __init__(
        self,
        tag: bytes = SCRIPT_TAG,
        *,
        cache_entries: int = bounds.INJECTED_ENTRIES,
        cache_bytes: int = bounds.INJECTED_BYTES,
    ) -> None:
        self.tag = tag
        #: Injected bodies by (path, offset, length, etag) of a file body, or by (etag,
        #: length) of a bytes body: both name one version of one representation.
        self._cache: OrderedDict[tuple[Path, int, int, str] | tuple[str, int], bytes] = (
            OrderedDict()
        )
        self._cache_entries = cache_entries
        self._cache_bytes = cache_bytes
        self.cached_bytes = 0
        self._by_identity: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()
        self._identity_bytes = 0

    def forget(self, paths: Iterable[Path]) -> None:
        changed = set(paths)
        for key in [key for key in self._cache if key[0] in changed]:
            self.cached_bytes -= len(self._cache.pop(key))

    def clear(self) -> None:
        self._cache.clear()
        self.cached_bytes = 0
        self._by_identity.clear()
        self._identity_bytes = 0

    def __len__(self) -> int:
        return len(self._cache)

    def _cached(self, key: tuple[Path, int, int, str] | tuple[str, int]) -> bytes | None:
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
        return found

    def _keep(self, key: tuple[Path, int, int, str] | tuple[str, int], injected: bytes) -> None:
        if len(injected) > self._cache_bytes // 4:
            return  # one page may not flush all the others
        previous = self._cache.pop(key, None)
        if previous is not None:
            self.cached_bytes -= len(previous)
        self._cache[key] = injected
        self.cached_bytes += len(injected)
        while len(self._cache) > self._cache_entries or self.cached_bytes > self._cache_bytes:
            _, evicted = self._cache.popitem(last=False)
            self.cached_bytes -= len(evicted)

    # -- the Site's HtmlTransform ----------------------------------------------------

    @staticmethod
    def rewrites(content_type: str) -> bool:
        return is_html(content_type)

    @staticmethod
    def applies_to(request: Request) -> bool:
        # A download is saved as it is on disk, never shown.
        return not asks_download(request)

    def rewrite(self, html: bytes) -> bytes:
        return inject(html, self.tag)

    @staticmethod
    def rewritten_etag(etag: str) -> str:
        return tag_etag(etag)

    # -- answers made for one request ----------------------------------------------

    def apply(self, response: Response, *, after_post: bool = False) -> Response:
        """The response with the tag in its body (bytes and file bodies; see ``collect``)."""
        body = response.body
        if after_post:
            data = _read(body) if isinstance(body, FileBody) else body
            if not isinstance(data, bytes):
                return response
            if isinstance(body, FileBody):
                body.close()  # the injected bytes are sent instead
            return self._with_body(response, inject(data, SCRIPT_TAG_AFTER_POST))
        if isinstance(body, bytes):
            etag = response.header("etag")
            if etag is None:
                return self._with_body(response, self._same_body(body))
            # A validator names one version of one representation: its injected form too.
            key = (etag, len(body))
            injected = self._cached(key)
            if injected is None:
                injected = inject(body, self.tag)
                self._keep(key, injected)
            return self._with_body(response, injected)
        if isinstance(body, FileBody):
            injected = self._file(body, response.header("etag"))
            if injected is None:
                return response
            body.close()  # the injected bytes are sent instead
            return self._with_body(response, injected)
        return response

    def _same_body(self, body: bytes) -> bytes:
        """A body without a validator, injected once per bytes object: a page rendered
        once and answered again (``site.reuse``) hands out the same body every time."""
        kept = self._by_identity.get(id(body))
        if kept is not None and kept[0] is body:
            return kept[1]
        injected = inject(body, self.tag)
        if len(body) <= _IDENTITY_MAX_BYTES // 4:
            # The entry holds ``body``, so its id cannot be reused while it is here.
            self._by_identity[id(body)] = (body, injected)
            self._identity_bytes += len(body) + len(injected)
            while (
                len(self._by_identity) > self._cache_entries
                or self._identity_bytes > _IDENTITY_MAX_BYTES
            ):
                old, old_injected = self._by_identity.popitem(last=False)[1]
                self._identity_bytes -= len(old) + len(old_injected)
        return injected

    def _file(self, body: FileBody, etag: str | None) -> bytes | None:
        key = (body.path, body.offset, body.length, etag or "")
        cached = self._cached(key) if etag else None
        if cached is not None:
            return cached
        data = _read(body)
        if data is None:
            return None
        injected = inject(data, self.tag)
        if etag:
            self._keep(key, injected)
        return injected

    @staticmethod
    def _with_body(response: Response, body: bytes) -> Response:
        headers = []
        for name, value in response.headers:
            lowered = name.lower()
            if lowered == "etag":
                value = tag_etag(value)
            elif lowered in ("content-length", "accept-ranges", "content-md5"):
                # Our body has its own length, and ranges of it are not offered.
                continue
            headers.append((name, value))
        return Response(
            response.status,
            headers,
            body,
            None,
            response.upgrade,
            response.close,
            response.sources,
        )
