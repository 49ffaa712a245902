"""Which files each open page was made from, so a change reloads only the tabs it affects.

Three things are recorded as responses go out:

- every response's ``sources`` by URL path (a static file: the file; a
  rendered page: each template and data file the render used);
- for the HTML pages the reload script went into, their sources, replaced on
  every render (an empty set means "unknown", and an unknown page reloads on
  any change that is not a stylesheet or an image);
- the subresources each URL pulled in, from same-origin ``Referer`` headers:
  a page's scripts, the modules those import, the data it fetches.

A tab is reloaded when a changed file is one of its page's sources, or when a
changed file other than a stylesheet or image is reached from its page or from
the scripts it reported, or lies in a folder among its page's sources (a page
that listed ``pages("blog/*.md")`` records ``blog/``: a new post reloads it).
Stylesheets and images are updated in place by the client, which knows which
ones it shows.

The warnings of a page's last render (undefined names) are kept for its tabs'
consoles.

With ``--workers`` each worker has a graph, and a tab's socket may land on a
worker that did not serve its page or its subresources: ``record`` answers a
``GraphNote`` when it learned something, the worker sends it to the others
(``server.worker``), and theirs ``learn`` it, so every graph knows every page.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from siteserve import bounds
from siteserve.http.request import Request
from siteserve.http.response import Response

STYLESHEET_SUFFIXES = frozenset({".css"})
IMAGE_SUFFIXES = frozenset(
    {".png", ".apng", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg", ".ico", ".bmp"}
)

#: Bounds (``siteserve.bounds``): the tables only ever describe pages people have open,
#: but a crawler or a flood of random 404 URLs must not grow them.
MAX_URLS = bounds.PAGE_GRAPH_URLS
MAX_DEPS_PER_URL = bounds.PAGE_GRAPH_DEPS_PER_URL
MAX_DEPS = bounds.PAGE_GRAPH_DEPS
MAX_SOURCE_SETS = bounds.PAGE_GRAPH_SOURCE_SETS
#: URLs visited when following subresources from one page (work per question, not memory).
MAX_CLOSURE = 4096


def kind_of(path: Path) -> str:
    """ "css", "image" or "other": what the browser can take without a reload."""
    suffix = path.suffix.lower()
    if suffix in STYLESHEET_SUFFIXES:
        return "css"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return "other"


@dataclass(frozen=True, slots=True)
class GraphNote:
    """What one response taught a graph, as plain data another process can learn."""

    key: str
    #: The response's sources (``Path`` text); () when it named none.
    sources: tuple[str, ...]
    page: bool
    #: ``time.monotonic()`` when it went out (one clock for all processes of a machine).
    served: float
    warnings: tuple[str, ...]
    #: The same-origin page that pulled ``key`` in, when that link is new.
    referer_path: str | None


@dataclass(frozen=True, slots=True)
class Repeat:
    """What ``PageGraph.record`` read from a file's request and answer, kept with the
    answer (``server.answers``) so that giving it again is noted the same way.

    Noting it again changes the graph only when what the first noting put there was
    dropped or replaced since, which ``PageGraph.epoch`` tells: the answer's keeper notes
    it again only when the epoch moved (``ReloadApp._kept_check``)."""

    key: str
    sources: tuple[Path, ...]
    referer: str | None
    host: str

    @classmethod
    def of(cls, request: Request, response: Response) -> Repeat:
        return cls(request.path, response.sources, request.headers.get("referer"), request.host)


def _same(known: frozenset[Path], sources: tuple[Path, ...]) -> bool:
    """Whether ``sources`` names the files of ``known`` (without making a set of it)."""
    return len(known) == len(sources) and known.issuperset(sources) if sources else False


def _drop_first_past_bound(table: dict[str, Any]) -> None:
    """Drop the first-inserted entry of ``table`` once it holds more than ``MAX_URLS``."""
    if len(table) > MAX_URLS:
        table.pop(next(iter(table)))


class _Bounded(OrderedDict[str, frozenset[Path]]):
    def put(self, key: str, value: frozenset[Path]) -> bool:
        """Set ``key`` last in the order; whether another key was dropped for the bound."""
        self[key] = value
        self.move_to_end(key)
        if len(self) > MAX_URLS:
            self.popitem(last=False)
            return True
        return False


class PageGraph:
    def __init__(self, root: Path, *, shared: bool = False) -> None:
        self.root = root
        #: Whether other workers learn from this graph (``record`` answers notes for them).
        self.shared = shared
        #: Moves whenever a URL's sources or a subresource link may have been replaced or
        #: dropped (a new record of a URL, the bounds), and on ``renote``: a repeat noted
        #: at this epoch would change nothing by being noted again (``Repeat``).
        self.epoch = 0
        #: When each page's render was last told to the other workers, and the last change.
        self._noted: dict[str, float] = {}
        self._changed_at = 0.0
        self._sources = _Bounded()
        self._pages = _Bounded()
        self._deps: OrderedDict[str, set[str]] = OrderedDict()
        #: Links in ``_deps`` over all pages.
        self._dep_count = 0
        self._served: dict[str, float] = {}
        self._warnings: dict[str, tuple[str, ...]] = {}
        self._sets: OrderedDict[int, tuple[tuple[Path, ...], frozenset[Path]]] = OrderedDict()

    # -- recording ---------------------------------------------------------------

    def record(self, request: Request, response: Response, *, page: bool) -> GraphNote | None:
        """Note what ``response`` (to ``request``) was made from; ``page``: it got the script.

        Answers what was learned (for the other workers), None when nothing was new.
        """
        referer = request.headers.get("referer")
        return self._record(
            request.path, response.sources, page, response.warnings, referer, request.host
        )

    def record_again(self, repeat: Repeat) -> GraphNote | None:
        """Note a file's answer given again without its request being parsed (its bytes
        repeated an earlier request's: ``server.answers``), as ``record`` noted it then."""
        return self._record(repeat.key, repeat.sources, False, (), repeat.referer, repeat.host)

    def _record(
        self,
        key: str,
        response_sources: tuple[Path, ...],
        page: bool,
        warnings: tuple[str, ...],
        referer: str | None,
        host: str,
    ) -> GraphNote | None:
        learned = False
        known = self._sources.get(key)
        if known is not None and _same(known, response_sources):
            # Asked again (a file's every request): only its place in the bound moves.
            sources = known
            self._sources.move_to_end(key)
        else:
            sources = self._as_set(response_sources)
            if sources:
                learned = True
                self._sources.put(key, sources)
                self.epoch += 1
        now = time.monotonic() if page or self.shared else 0.0
        if page:
            if self.shared:
                learned |= self._page_news(key, sources, warnings)
            self._page(key, sources, now, warnings)
        via = self._note_referer(referer, host, key) if referer else None
        if not self.shared or (not learned and via is None):
            return None
        return GraphNote(
            key,
            tuple(map(str, response_sources)) if sources else (),
            page,
            now,
            warnings if page else (),
            via,
        )

    def changed(self) -> None:
        """A change set went out (``ReloadApp.apply``): pages served from now on are news."""
        self._changed_at = time.monotonic()
        self.epoch += 1

    def renote(self) -> None:
        """Every repeat is to be noted again before it is given again (a burst began)."""
        self.epoch += 1

    def _page_news(self, key: str, sources: frozenset[Path], warnings: tuple[str, ...]) -> bool:
        """Whether the other workers must hear of this render of page ``key``.

        Its sources or warnings are new, or it is the first render since a change set:
        a tab compares when its page was served with when changes were made (see
        ``ReloadApp._catch_up``), so only a render on the other side of a change moves
        that answer. Renders of an unchanged page in between tell nothing new (and a
        busy page must not flood the supervisor).
        """
        noted = self._noted.get(key)
        if (
            noted is not None
            and noted > self._changed_at
            and self._pages.get(key) == sources
            and self._warnings.get(key, ()) == warnings
        ):
            return False
        self._noted[key] = time.monotonic()
        _drop_first_past_bound(self._noted)
        return True

    def learn(self, note: GraphNote) -> None:
        """Take what another worker's graph was taught (``record``'s answer there)."""
        sources = frozenset(map(Path, note.sources))
        if sources:
            self._sources.put(note.key, sources)
            self.epoch += 1
        if note.page:
            self._page(note.key, sources, note.served, note.warnings)
        if note.referer_path is not None:
            self._add_dep(note.referer_path, note.key)

    def _page(
        self, key: str, sources: frozenset[Path], served: float, warnings: tuple[str, ...]
    ) -> None:
        if self._pages.put(key, sources):
            self.epoch += 1
        self._served_at(key, served)
        if warnings:
            self._warnings[key] = warnings
            _drop_first_past_bound(self._warnings)
        else:
            self._warnings.pop(key, None)

    def served_again(self, page: str) -> None:
        """Page ``page`` was served again from a render noted at this epoch
        (``reload.repeats``): only its serving time is news."""
        self._served_at(page, time.monotonic())

    def _served_at(self, key: str, served: float) -> None:
        self._served[key] = max(served, self._served.get(key, served))
        _drop_first_past_bound(self._served)

    def _as_set(self, sources: tuple[Path, ...]) -> frozenset[Path]:
        # A page listing a thousand posts has a thousand sources; a render answered
        # again (site.reuse) hands out the same tuple, whose set is made once.
        if len(sources) < 64:
            return frozenset(sources)
        kept = self._sets.get(id(sources))
        if kept is not None and kept[0] is sources:
            return kept[1]
        made = frozenset(sources)
        # The entry holds the tuple, so its id cannot be reused while it is here.
        self._sets[id(sources)] = (sources, made)
        if len(self._sets) > MAX_SOURCE_SETS:
            self._sets.popitem(last=False)
        return made

    def _note_referer(self, referer: str, host: str, key: str) -> str | None:
        """Link ``key`` below the page in ``referer``; that page's path when the link is new."""
        try:
            parts = urlsplit(referer)
        except ValueError:
            return None
        if parts.netloc.lower() != host.lower() or not parts.path or parts.path == key:
            return None
        return parts.path if self._add_dep(parts.path, key) else None

    def _add_dep(self, page: str, key: str) -> bool:
        deps = self._deps.get(page)
        if deps is None:
            deps = self._deps[page] = set()
        else:
            self._deps.move_to_end(page)
        if len(deps) >= MAX_DEPS_PER_URL or key in deps:
            return False
        deps.add(key)
        self._dep_count += 1
        # The pages that least recently pulled anything in go first.
        while len(self._deps) > MAX_URLS or self._dep_count > MAX_DEPS:
            _, dropped = self._deps.popitem(last=False)
            self._dep_count -= len(dropped)
            self.epoch += 1
        return True

    # -- questions ---------------------------------------------------------------

    def served_at(self, page: str) -> float | None:
        """When ``page`` was last served with the script (``time.monotonic``)."""
        return self._served.get(page)

    def warnings_for(self, page: str) -> tuple[str, ...]:
        """What the last render of ``page`` warned about (for the browser's console)."""
        return self._warnings.get(page, ())

    def page_sources(self, page: str) -> frozenset[Path] | None:
        """The files ``page`` was rendered from; None when we do not know them."""
        return self._pages.get(page) or None

    def recorded(self, url_path: str) -> frozenset[Path] | None:
        """The files recorded behind a URL path; None when no answer named any."""
        return self._sources.get(url_path)

    def files_for(self, url_path: str) -> frozenset[Path]:
        """The files behind a URL path: as recorded, else the file of that name in the root."""
        recorded = self.recorded(url_path)
        if recorded is not None:
            return recorded
        relative = unquote(url_path).lstrip("/")
        if not relative or "\x00" in relative:
            return frozenset()
        candidate = self.root / relative
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):
            return frozenset()
        if not resolved.is_relative_to(self.root) or not resolved.is_file():
            return frozenset()
        return frozenset({candidate})

    def used_by(self, page: str, scripts: Iterable[str] = ()) -> frozenset[Path]:
        """Every file reached from ``page`` and its ``scripts`` through recorded subresources."""
        seen: set[str] = set()
        todo = [page, *scripts]
        files: set[Path] = set()
        while todo and len(seen) < MAX_CLOSURE:
            url = todo.pop()
            if url in seen:
                continue
            seen.add(url)
            files |= self.files_for(url) if url != page else self._sources.get(url, frozenset())
            todo.extend(self._deps.get(url, ()))
        return frozenset(files)

    def affects(self, page: str, scripts: Iterable[str], changed: frozenset[Path]) -> bool:
        """Whether a tab showing ``page`` (which runs ``scripts``) must reload for ``changed``."""
        own = self.page_sources(page)
        others = {path for path in changed if kind_of(path) == "other"}
        if own is None:
            return bool(others)
        if own & changed:
            return True
        if any(folder in own for path in others for folder in path.parents):
            return True  # a file in a folder the page listed, new ones too
        return bool(others and others & self.used_by(page, scripts))

    def only_page_changed(
        self, page: str, scripts: Iterable[str], changed: frozenset[Path]
    ) -> bool:
        """Whether ``changed`` reaches a tab showing ``page`` only through what its HTML is
        made from (its own sources, a folder it lists), so the tab may show the new HTML in
        place; a changed script, module or fetched file (or sources we do not know) needs a
        new page: code that ran cannot be taken back."""
        own = self.page_sources(page)
        if own is None:
            return False
        others = {path for path in changed if kind_of(path) == "other"} - own
        return not others & self.used_by(page, scripts)

    def urls_for(self, path: Path) -> list[str]:
        """The URL paths a browser may know ``path`` by, for in-place stylesheet and image swaps."""
        urls = {url for url, sources in self._sources.items() if path in sources}
        try:
            relative = PurePosixPath(path.relative_to(self.root).as_posix())
        except ValueError:
            return sorted(urls)
        urls.add("/" + quote(str(relative)))
        return sorted(urls)
