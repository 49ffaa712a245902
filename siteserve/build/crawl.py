"""Following the site's links: which URLs to render, and which a build can keep as they are.

The crawl starts from ``/``, every page that is not a route, the ``[build]
paths`` of siteserve.toml and the links in the site's static HTML and CSS, and
visits every link it finds in what it renders. A visit that the last build
already made is kept when nothing it depended on changed (the files the page
was made from, the folder its name lives in, the route table, the build's
settings); otherwise the URL is rendered again by a worker.

The result does not depend on the order of visits: each URL is answered alone,
and what the crawl reports is sorted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from siteserve.build.jobs import Job, Outcome, Visit
from siteserve.build.links import normalized
from siteserve.build.manifest import Manifest, VisitRecord
from siteserve.build.output import FileState, OutputFolder
from siteserve.build.site_files import SiteTree, SourceFile, path_digest
from siteserve.site.resolver import url_for

#: The manifest key of the not-found page (not a URL: it has none of its own).
NOT_FOUND_KEY = "!404"
#: Redirects followed before a link counts as broken.
MAX_HOPS = 10
_UNRESERVED = re.compile(r"[A-Za-z0-9._~/-]+")


@dataclass(frozen=True, slots=True, order=True)
class Edge:
    """A link from ``page`` ("" for a ``[build] paths`` entry) to ``target``."""

    page: str
    target: str
    #: Set when the link can never be served (``/_layouts/x``): ``target`` is then raw.
    unservable: bool = False


@dataclass(slots=True)
class Crawl:
    tree: SiteTree
    output: OutputFolder
    previous: Manifest | None
    #: URL -> the static file served there (its own name, a folder's index, a clean URL).
    static_urls: dict[str, SourceFile] = field(default_factory=dict)
    #: URL -> a file of siteserve's own that the server answers where the site has none
    #: (``/favicon.ico``, ``/__siteserve/highlight.css``): written as files too.
    fallbacks: dict[str, SourceFile] = field(default_factory=dict)
    visits: dict[str, VisitRecord] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    jobs: list[Job] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    #: Output files this build wrote or kept: path -> state.
    files: dict[str, FileState] = field(default_factory=dict)
    #: Route files to copy: output path -> source.
    route_copies: dict[str, SourceFile] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)
    rendered: set[str] = field(default_factory=set)
    #: Whether a worker wrote a file whose bytes changed (a page, a compressed sibling).
    wrote: bool = False
    _sources: dict[str, SourceFile] | None = None

    def __post_init__(self) -> None:
        for source in self.tree.static:
            for url in _static_urls(source.rel, self.tree):
                self.static_urls.setdefault(url, source)

    # -- visiting ---------------------------------------------------------------------

    def visit(self, link: str, page: str | None) -> None:
        """Make sure ``link`` (found on ``page``; None for a start URL) is answered."""
        if link in self.fallbacks:
            return
        url = normalized(link)
        if page is not None:
            self.edges.append(Edge(page, url or link, unservable=url is None))
        if url is None or url in self.static_urls or url in self.visits or url in self.pending:
            return
        kept = self._reusable(url)
        if kept is not None:
            self._adopt(url, kept)
            return
        self.pending.add(url)
        self.jobs.append(Visit(url))

    def take_jobs(self) -> list[Job]:
        jobs, self.jobs = self.jobs, []
        return jobs

    def done(self, outcome: Outcome) -> None:
        """A worker's answer: note what it wrote, then follow what it links to."""
        for rel, state, changed in outcome.written:
            self.files[rel] = state
            self.wrote = self.wrote or changed
        record = outcome.record
        if record is None:
            return
        record.folder = (record.folder[0], self.tree.folder_digest(record.folder[0]))
        if record.routes is not None:
            record.routes = self.tree.routes_digest()
        record.sources = [self._source_state(rel) for rel in outcome.source_paths]
        key = outcome.url if record.kind != "not_found_page" else NOT_FOUND_KEY
        self.pending.discard(key)
        self.visits[key] = record
        self.rendered.add(key)
        self._follow(key, record)

    def keep_not_found_page(self) -> bool:
        """Keep the last build's not-found page when nothing it used changed."""
        kept = self._reusable(NOT_FOUND_KEY)
        if kept is None:
            return False
        self._adopt(NOT_FOUND_KEY, kept)
        return True

    def _adopt(self, url: str, record: VisitRecord) -> None:
        assert self.previous is not None
        self.visits[url] = record
        self.reused.add(url)
        for rel in _written_by(record, self.previous):
            self.files[rel] = FileState(*self.previous.files[rel])
        self._follow(url, record)

    def _follow(self, url: str, record: VisitRecord) -> None:
        if record.kind in ("alias", "redirect") and record.location is not None:
            self.visit(record.location, None)
        elif record.kind == "file" and record.routes is not None and record.out and record.file:
            source = self.tree.files.get(record.file)
            if source is not None:
                self.route_copies.setdefault(record.out, source)
        elif record.kind in ("page", "listing", "not_found_page"):
            origin = url if record.kind != "not_found_page" else "/404.html"
            for link in record.links:
                self.visit(link, origin)

    # -- keeping the last build's answers ----------------------------------------------

    def _reusable(self, url: str) -> VisitRecord | None:
        previous = self.previous
        if previous is None:
            return None
        record = previous.visits.get(url)
        if record is None or record.problem or record.kind in ("listing", "missing"):
            return None
        if "now" in record.inputs:
            return None  # it shows the time of the build: every build renders it again
        folder, digest = record.folder
        if self.tree.folder_digest(folder) != digest:
            return None
        if record.routes is not None and record.routes != self.tree.routes_digest():
            return None
        sources = self._source_states()
        for digest, size, mtime in record.sources:
            current = sources.get(digest)
            seen = (-1, -1) if current is None else (current.size, current.mtime_ns)
            if seen != (size, mtime):
                return None
        for rel in _written_by(record, previous):
            state = self.output.state(rel)
            if state is None or (state.size, state.mtime_ns) != tuple(previous.files[rel]):
                return None
        return record

    def _source_states(self) -> dict[str, SourceFile]:
        if self._sources is None:
            self._sources = {path_digest(rel): source for rel, source in self.tree.files.items()}
        return self._sources

    def _source_state(self, rel: str) -> tuple[str, int, int]:
        if rel.startswith("/"):
            return (path_digest(rel), -2, -2)  # outside the site: never taken as unchanged
        source = self.tree.files.get(rel)
        if source is None:
            return (path_digest(rel), -1, -1)  # read while missing (a data file tried)
        return (path_digest(rel), source.size, source.mtime_ns)

    # -- after the crawl ---------------------------------------------------------------

    def answers(self, url: str | None) -> bool:
        """Whether ``url`` gets a page or a file from the built site (redirects followed)."""
        for _ in range(MAX_HOPS):
            if url is None:
                return False
            if url in self.static_urls or url in self.fallbacks:
                return True
            record = self.visits.get(url)
            if record is None:
                return False
            if record.kind in ("alias", "redirect"):
                url = normalized(record.location or "")
                continue
            if record.kind == "file":
                return True
            if record.kind in ("page", "listing"):
                if 300 <= record.status < 400 and record.location is not None:
                    return True  # a page's redirect() answers; its target is its own link
                return 200 <= record.status < 300
            return False
        return False

    def broken(self) -> list[Edge]:
        edges = {edge for edge in self.edges if edge.unservable or not self.answers(edge.target)}
        return sorted(edges)


def static_address(rel: str, tree: SiteTree) -> str:
    """The URL a static page is known by in reports: ``/`` for ``index.html``, ``/about``."""
    return _static_urls(rel, tree)[-1]


def _static_urls(rel: str, tree: SiteTree) -> list[str]:
    """Where the live server serves the static file ``rel``: its name, and for
    ``x.html`` also ``/x`` (unless a file ``x`` wins), for ``index.html`` its folder."""
    parts = rel.split("/")
    # Names of plain letters, digits and -._~ need no escaping (RFC 3986 section 2.3).
    urls = ["/" + rel] if _UNRESERVED.fullmatch(rel) else [url_for(parts, False)]
    name = parts[-1]
    if name == "index.html":
        urls.append(url_for(parts[:-1], True) if len(parts) > 1 else "/")
    elif name.endswith(".html") and len(name) > len(".html"):
        bare = [*parts[:-1], name[: -len(".html")]]
        if "/".join(bare) not in tree.files:
            urls.append(url_for(bare, False))
    return urls


def _written_by(record: VisitRecord, previous: Manifest) -> list[str]:
    """The files the last build wrote for ``record``: its output and the output's siblings."""
    if not record.out or record.kind == "file":
        return []
    names = [record.out, record.out + ".gz", record.out + ".br"]
    return [name for name in names if name in previous.files]
