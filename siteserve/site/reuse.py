"""Rendered pages answered again while nothing they were made from has changed.

A render is kept when it read nothing of the request beyond its URL (scheme,
host and path, which are the key) and its query string, and nothing that
changes by itself: no header, cookie or body, no session, no ``now()``,
nothing random (``jinja_env.RenderRecord.volatile``), and it set no cookie.
The next GET or HEAD of the same URL gets the same status, headers and body
without a render, which is what makes a Markdown post or a blog index listing
a thousand posts cost about what a static file costs.

A render that read the query (``request.args``, ``request.query_string``:
``RenderRecord.by_query``) is kept for that query string only; one that did
not is kept for every query of its URL. (A render is a function of what it
read: one that never looked at the query took the same path whatever it was.)

With a watcher (``watched``: live reload calls ``forget`` on every change) the
kept renders are used until the next change set. Without one, each use first
compares every source's (mtime, size, inode) with what it was after the
render, so an edit still shows on the next request.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from siteserve import bounds
from siteserve.http import Request, Response

#: Renders kept at once, and the bytes of their bodies (``bounds``).
MAX_ENTRIES = bounds.RENDERED_PAGES
MAX_BYTES = bounds.RENDERED_BYTES
#: A source written this recently may have changed while the page was rendered
#: (timestamps are as coarse as the kernel's clock tick): such a render is not kept.
FRESH_NS = 50_000_000

#: (template, served name, scheme, host, path, query string); None for the query of
#: a render kept for every query of its URL.
Key = tuple[Path, str, str, str, str, str | None]
Stamp = tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class _Kept:
    response: Response
    size: int
    #: Each source with its stamp after the render (used without a watcher only).
    stamps: tuple[tuple[str, Stamp], ...]


def stamp(path: str) -> Stamp:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class ReusedRenders:
    def __init__(self, *, watched: bool = False) -> None:
        self.watched = watched
        self._kept: dict[Key, _Kept] = {}
        self._bytes = 0
        #: Bumped by ``forget``: a render that began before a change is not kept.
        self.generation = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(request: Request, path: Path, served_as: str) -> Key | None:
        """The key of a request that may reuse a render, or None (not a bodiless GET/HEAD)."""
        if request.method not in ("GET", "HEAD"):
            return None
        body = request.body
        if not body.complete or body.received:
            return None
        return (path, served_as, request.scheme, request.host, request.path, request.query)

    def get(self, key: Key) -> Response | None:
        """The render kept for ``key``: the one for every query of its URL, else its query's."""
        any_query = (*key[:5], None)
        kept = self._kept.get(any_query)
        if kept is not None:
            key = any_query
        else:
            kept = self._kept.get(key)
            if kept is None:
                return None
        if not self.watched and any(stamp(path) != was for path, was in kept.stamps):
            self._drop(key)
            return None
        # A fresh Response and header list: layers outside may change theirs.
        response = kept.response
        return Response(
            response.status,
            list(response.headers),
            response.body,
            sources=response.sources,
            warnings=response.warnings,
            inputs=response.inputs,
        )

    def keep(
        self,
        key: Key,
        response: Response,
        files: Iterable[str],
        generation: int,
        *,
        by_query: bool = False,
    ) -> None:
        """Keep ``response`` (made from ``files``) if nothing changed since ``generation``;
        ``by_query``: the render read the query string, so it is kept for that query only."""
        if not by_query:
            key = (*key[:5], None)
        body = response.body
        if not isinstance(body, bytes) or len(body) > MAX_BYTES // 8:
            return
        stamps = tuple((path, stamp(path)) for path in sorted(files))
        recent = time.time_ns() - FRESH_NS
        if any(was is not None and was[0] > recent for _, was in stamps):
            return
        kept = _Kept(response, len(body), () if self.watched else stamps)
        with self._lock:
            if generation != self.generation:
                return  # a change set arrived during the render
            old = self._kept.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            while self._kept and (
                len(self._kept) >= MAX_ENTRIES or self._bytes + kept.size > MAX_BYTES
            ):
                oldest = next(iter(self._kept))
                self._bytes -= self._kept.pop(oldest).size
            self._kept[key] = kept
            self._bytes += kept.size

    def forget(self, paths: Iterable[Path] = ()) -> None:
        """Files changed: every kept render may show one of them (a listing, a new post)."""
        with self._lock:
            self.generation += 1
            self._kept.clear()
            self._bytes = 0

    def _drop(self, key: Key) -> None:
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._bytes -= old.size
