"""Put the reload client's script tag into every HTML response.

The tag goes where a browser will run it whatever the page looks like:
before ``</head>``; else right after ``<body ...>``; else after ``<head>``,
``<html>`` or the doctype (never before the doctype, which would switch the
page into quirks mode); else at the very start. Comments and raw-text
elements (``<script>``, ``<style>``, ...) are skipped so a ``</head>`` inside
them is not taken for the real one.

The injected body is a different representation, so it gets a different
ETag (RFC 9110 section 8.8.3): the site's tag with ``+reload`` appended inside
the quotes. Conditional requests carrying such a tag are translated back for
the site, and its 304s translated forward again.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import AsyncIterable, Iterable
from dataclasses import replace
from pathlib import Path

from siteserve.http.response import FileBody, Response

RELOAD_SCRIPT_PATH = "/__siteserve/reload.js"
#: A module script is deferred: it never holds up parsing or rendering of the page.
SCRIPT_TAG = f'<script type="module" src="{RELOAD_SCRIPT_PATH}"></script>'.encode()
#: For the answer to a POST (a form): reloading it would post the form again, so the
#: client loads the page with GET instead.
SCRIPT_TAG_AFTER_POST = (
    f'<script type="module" src="{RELOAD_SCRIPT_PATH}" data-siteserve-post></script>'.encode()
)
ETAG_SUFFIX = "+reload"

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


def untag_etags(value: str) -> tuple[str, set[str]]:
    """Translate an If-None-Match/If-Match list for the site.

    Answers the list with our suffix removed, and the (suffix-free) tags that
    carried it: only those may turn a 304 from the site into a 304 for the
    injected representation.
    """
    tagged: set[str] = set()
    items = []
    for item in value.split(","):
        item = item.strip()
        suffix = ETAG_SUFFIX + '"'
        if item.endswith(suffix):
            item = item[: -len(suffix)] + '"'
            tagged.add(item.removeprefix("W/"))
        items.append(item)
    return ", ".join(items), tagged


def injectable(response: Response) -> bool:
    """Whether ``response`` is an HTML page the script belongs in."""
    if response.upgrade is not None or response.status < 200 or response.status in (204, 304):
        return False
    if 300 <= response.status < 400 or response.status == 206:
        return False
    if is_download(response):
        return False  # a download (?download) is saved as it is on disk, never shown
    return is_html(response.header("content-type"))


def is_download(response: Response) -> bool:
    return (response.header("content-disposition") or "").lower().startswith("attachment")


def _read(body: FileBody) -> bytes | None:
    if body.length > MAX_INJECT_BYTES:
        return None
    try:
        with body.path.open("rb") as handle:
            handle.seek(body.offset)
            return handle.read(body.length)
    except OSError:
        return None


async def collect(response: Response) -> Response:
    """A streamed body read whole, so the tag can go in (pages are small)."""
    body = response.body
    if isinstance(body, AsyncIterable):
        chunks = [chunk async for chunk in body]
        return replace(response, body=b"".join(chunks), length=None)
    return response


class Injector:
    """Injects into responses, remembering injected file bodies until the file changes."""

    def __init__(self, tag: bytes = SCRIPT_TAG, *, cache_entries: int = 256) -> None:
        self.tag = tag
        self._cache: OrderedDict[tuple[Path, int, int, str], bytes] = OrderedDict()
        self._bytes_cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._cache_entries = cache_entries

    def forget(self, paths: Iterable[Path]) -> None:
        changed = set(paths)
        for key in [key for key in self._cache if key[0] in changed]:
            del self._cache[key]

    def clear(self) -> None:
        self._cache.clear()
        self._bytes_cache.clear()

    def apply(self, response: Response, *, after_post: bool = False) -> Response:
        """The response with the tag in its body (bytes and file bodies; see ``collect``)."""
        body = response.body
        if after_post:
            data = _read(body) if isinstance(body, FileBody) else body
            if not isinstance(data, bytes):
                return response
            return self._with_body(response, inject(data, SCRIPT_TAG_AFTER_POST))
        if isinstance(body, bytes):
            etag = response.header("etag")
            if etag is None:
                return self._with_body(response, inject(body, self.tag))
            # A validator names one version of one representation: its injected form too.
            key = (etag, len(body))
            injected = self._bytes_cache.get(key)
            if injected is None:
                injected = inject(body, self.tag)
                self._bytes_cache[key] = injected
                if len(self._bytes_cache) > self._cache_entries:
                    self._bytes_cache.popitem(last=False)
            return self._with_body(response, injected)
        if isinstance(body, FileBody):
            injected = self._file(body, response.header("etag"))
            return response if injected is None else self._with_body(response, injected)
        return response

    def _file(self, body: FileBody, etag: str | None) -> bytes | None:
        key = (body.path, body.offset, body.length, etag or "")
        cached = self._cache.get(key) if etag else None
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        data = _read(body)
        if data is None:
            return None
        injected = inject(data, self.tag)
        if etag:
            self._cache[key] = injected
            if len(self._cache) > self._cache_entries:
                self._cache.popitem(last=False)
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
