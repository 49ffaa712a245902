"""The site folder, walked once: what is copied, which pages to start from, what pages read.

The names that decide are the resolver's (``site/names.py``): a dotfile, an ``_``
file or folder and ``siteserve.toml`` are never served; a template source is
rendered, never copied; a name with ``[param]`` is a route, reached only through
a URL that matches it. A plain file in a served folder is served under its own
name, so it is copied there. A symlink is left to the resolver itself: it is
copied only when the resolver answers its URL with it.

The walk also notes every file a page may read (templates, layouts, ``_data``)
with its size and mtime, and a digest of each folder's entries: the next build
compares them to know which pages need rendering again.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from siteserve.site.layouts import MARKDOWN_SUFFIX, LayoutRules
from siteserve.site.names import (
    is_route_name,
    is_template_source,
    segment_is_safe,
    strip_template_suffix,
)
from siteserve.site.resolver import Resolved, Resolver, url_for

#: Never walked: dot folders (never served, never read by a page).
_SKIP_PREFIX = "."


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file of the site: its path relative to the site folder (``/`` separators)."""

    rel: str
    size: int
    mtime_ns: int
    #: Where to read it (a symlink's target when symlinks are followed out of the site).
    path: str


@dataclass(slots=True)
class SiteTree:
    #: Files served under their own name: copied to the same path in the output.
    static: list[SourceFile] = field(default_factory=list)
    #: URLs of the pages that are not routes (templates and ``render`` files).
    page_urls: list[str] = field(default_factory=list)
    #: Route files (``blog/[slug].html.jinja``), relative paths.
    routes: list[str] = field(default_factory=list)
    #: Every file seen, served or not: what a page may have read.
    files: dict[str, SourceFile] = field(default_factory=dict)
    #: Folder (relative, "" for the root) -> digest of its entries' names and types.
    folders: dict[str, str] = field(default_factory=dict)
    #: What the walk saw, for the renderers' resolvers (see ``TreeSnapshot``).
    snapshot: TreeSnapshot = field(default_factory=lambda: TreeSnapshot({}, {}))

    def folder_digest(self, rel: str) -> str:
        return self.folders.get(rel, "-")

    def routes_digest(self) -> str:
        return _routes_digest(tuple(self.routes))


class TreeSnapshot:
    """``os.stat`` answered from the walk, for a resolver that looks at a folder holding still.

    A name in a folder the walk listed is answered from what the walk saw; a name
    the folder does not have is not there (no system call); anything else (a folder
    the walk did not list, a name that differs only in case, which a case-insensitive
    disk would find) is asked of the disk.
    """

    __slots__ = ("_sorted", "listings", "stats")

    def __init__(
        self, stats: dict[str, os.stat_result], listings: dict[str, frozenset[str]]
    ) -> None:
        self.stats = stats
        self.listings = listings
        self._sorted: dict[str, list[str]] = {}

    def holds_none_starting(self, folder: str, prefix: str) -> bool:
        """Whether ``folder`` was listed and none of its names starts with ``prefix``
        (case-folded, as ``__call__`` compares them): then no name made by adding to
        ``prefix`` is there."""
        names = self._sorted.get(folder)
        if names is None:
            listing = self.listings.get(folder)
            if listing is None:
                return False
            names = self._sorted[folder] = sorted(listing)
        start = prefix.casefold()
        at = bisect.bisect_left(names, start)
        return at == len(names) or not names[at].startswith(start)

    def __call__(self, path: str | Path) -> os.stat_result:
        text = str(path)
        found = self.stats.get(text)
        if found is not None:
            return found
        folder, _, name = text.rpartition(os.sep)
        names = self.listings.get(folder)
        if names is not None and name.casefold() not in names:
            raise FileNotFoundError(errno.ENOENT, "not in the site", text)
        return os.stat(text)


class SnapshotResolver(Resolver):
    """The Site's resolver, for a build: a URL whose name no file in its folder starts
    with is a miss at once, not after a look for each name it could be (``name``,
    ``name.html``, each template suffix, ``.md``, a folder), which is what every URL of
    a route (``/blog/post-0001`` for ``blog/[slug].html.jinja``) would cost."""

    def __init__(
        self,
        root: Path,
        *,
        follow_symlinks: bool,
        render_globs: tuple[str, ...],
        markdown: LayoutRules,
        snapshot: TreeSnapshot,
    ) -> None:
        super().__init__(
            root,
            follow_symlinks=follow_symlinks,
            render_globs=render_globs,
            markdown=markdown,
            rescan_routes=False,
            stat=snapshot,
        )
        self._snapshot = snapshot

    def _static(self, segments: list[str], trailing: bool) -> Resolved | None:
        if segments and not trailing:
            name = segments[-1]
            # Every candidate begins with the name, or with its stem (``/a.html``: a.md).
            stem = name[: -len(".html")] if name.endswith(".html") else name
            folder = os.path.join(self._root_text, *segments[:-1])
            if stem and self._snapshot.holds_none_starting(folder, stem):
                return None
        return super()._static(segments, trailing)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


@lru_cache(maxsize=65536)  # a page's layout, partials and data: the same few for every page
def path_digest(rel: str) -> str:
    """How the marker file names a source: by digest, so it names no private file."""
    return _digest(rel)


@lru_cache(maxsize=64)  # asked once for every page a route renders
def _routes_digest(routes: tuple[str, ...]) -> str:
    return _digest("\n".join(sorted(routes)))


def _is_error_page(served_as: str) -> bool:
    """``404.html`` at the root: the page the server answers a status with, not a page
    of its own (the build writes it as the not-found page)."""
    stem = served_as.partition(".")[0]
    return len(stem) == 3 and stem.isdigit() and 400 <= int(stem) <= 599


def page_urls(folders: tuple[str, ...], served: str) -> list[str]:
    """The URLs to ask for a page served as ``served`` in ``folders``: ``/blog/`` for an
    index, ``/feed.xml`` for ``feed.xml``, and both ``/about`` and ``/about.html`` for
    ``about.html`` (when a file ``about`` exists, only the second reaches the page; the
    renderer keeps one spelling of each page)."""
    if served == "index.html":
        return [url_for(list(folders), True) if folders else "/"]
    urls = [url_for([*folders, served], False)]
    if served.endswith(".html") and len(served) > len(".html"):
        urls.insert(0, url_for([*folders, served[: -len(".html")]], False))
    return urls


class _Walk:
    def __init__(self, root: Path, resolver: Resolver, skip: tuple[int, int] | None) -> None:
        self.root = root
        self.resolver = resolver
        self.skip = skip
        self.tree = SiteTree()
        #: Folders walked, by (device, inode): a symlink loop is walked once.
        self.seen: set[tuple[int, int]] = set()

    def folder(
        self, path: str, info: os.stat_result, parts: tuple[str, ...], served: bool, routed: bool
    ) -> None:
        identity = (info.st_dev, info.st_ino)
        if identity in self.seen or identity == self.skip:
            return  # a symlink loop, or the output folder inside the site
        self.seen.add(identity)
        try:
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            return
        kinds = []
        self.tree.snapshot.listings[path] = frozenset(entry.name.casefold() for entry in entries)
        self.tree.snapshot.stats[path] = info
        for entry in entries:
            try:
                # One lstat per entry (d_type is not always there, and each call counts).
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            mode = info.st_mode
            kind = "l" if stat.S_ISLNK(mode) else "d" if stat.S_ISDIR(mode) else "f"
            kinds.append(f"{entry.name}\0{kind}")
            if not entry.name.startswith(_SKIP_PREFIX):
                self.entry(entry, info, parts, served, routed)
        self.tree.folders["/".join(parts)] = _digest("\n".join(kinds))

    def entry(
        self,
        entry: os.DirEntry[str],
        info: os.stat_result,
        parts: tuple[str, ...],
        served: bool,
        routed: bool,
    ) -> None:
        name = entry.name
        here = (*parts, name)
        rel = "/".join(here)
        served = served and segment_is_safe(name)
        routed = routed or is_route_name(name)
        is_link = stat.S_ISLNK(info.st_mode)
        if is_link:
            try:
                info = entry.stat()
            except OSError:
                return  # a dangling link
        is_dir = stat.S_ISDIR(info.st_mode)
        self.tree.snapshot.stats[entry.path] = info
        if is_link:
            # A served symlink: the resolver decides. A private one (a layout, data)
            # is followed only where a page could read it: inside the site, or anywhere
            # with --follow-symlinks.
            if served and not self._symlink_served(here, is_dir):
                return
            if not served and not self._private_link_allowed(entry.path):
                return
        if is_dir:
            self.folder(entry.path, info, here, served, routed)
            return
        if not stat.S_ISREG(info.st_mode):
            return
        source = SourceFile(rel, info.st_size, info.st_mtime_ns, entry.path)
        self.tree.files[rel] = source
        if not served:
            return
        if routed:
            self.tree.routes.append(rel)
        elif is_template_source(name):
            served_as = strip_template_suffix(name)
            if served_as is not None and not (not parts and _is_error_page(served_as)):
                self.tree.page_urls.extend(page_urls(parts, served_as))
        elif self.resolver.is_page_file(rel):
            self.tree.page_urls.extend(page_urls(parts, name))
        else:
            self.tree.static.append(source)
            if name.endswith(MARKDOWN_SUFFIX) and self._markdown_page(entry.path):
                # A Markdown page is served both ways: as itself, and rendered at its stem.
                stem = name[: -len(MARKDOWN_SUFFIX)]
                self.tree.page_urls.extend(page_urls(parts, f"{stem}.html"))

    def _markdown_page(self, path: str) -> bool:
        return self.resolver.markdown is not None and self.resolver.is_markdown_page(Path(path))

    def _private_link_allowed(self, path: str) -> bool:
        if self.resolver.follow_symlinks:
            return True
        real = os.path.realpath(path)
        root = str(self.resolver.root)
        return real == root or real.startswith(root.rstrip(os.sep) + os.sep)

    def _symlink_served(self, here: tuple[str, ...], is_dir: bool) -> bool:
        """Whether the resolver serves what this symlink leads to (its own rule)."""
        resolved = self.resolver.resolve(url_for(list(here), is_dir))
        return resolved.kind != "not_found"


def walk_site(root: Path, resolver: Resolver, *, skip: Path | None = None) -> SiteTree:
    """Walk the site folder once; ``skip`` is a folder left out (the output, inside the site)."""
    skipped = None
    if skip is not None and skip.is_dir():
        info = os.stat(skip)
        skipped = (info.st_dev, info.st_ino)
    walk = _Walk(root, resolver, skipped)
    walk.folder(str(root), os.stat(root), (), True, False)
    tree = walk.tree
    tree.page_urls.sort()
    tree.routes.sort()
    return tree
