"""``pages(glob)``: the pages of a folder, for a blog index, tag pages and feeds.

``pages("blog/*.md")`` lists every page the glob matches (``*`` and ``?`` stay
within one folder, ``**`` crosses folders): Markdown pages, templates and plain
HTML files, never a Markdown file without a layout, an image or other files.
They come sorted by path, each with its
``url``, ``path`` (from the site folder), ``page`` (its front matter),
``excerpt`` and ``content`` (HTML, made on first use). Jinja sorts and filters
them: ``pages("blog/*.md")|sort(attribute="page.date", reverse=true)``. Hidden
files and folders (``.``, ``_``) and parameter routes are never listed, nor
drafts (``draft: true``) unless the server runs with ``--drafts``.

What a listing found is kept: with a watcher (which calls ``forget`` on every
change) until a file changes; without one, while none of the folders it
scanned has changed (one stat each) and each file's front matter is checked
by the index. A render that lists pages records the folders it scanned and
the files it listed, so live reload reloads the page when a listed file
changes or a new one appears.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from markupsafe import Markup

from siteserve import bounds
from siteserve.config import Config
from siteserve.site.front_matter import Indexed
from siteserve.site.jinja_env import is_within, record
from siteserve.site.layouts import is_markdown
from siteserve.site.names import is_hidden, is_route_name, strip_template_suffix
from siteserve.site.resolver import url_for
from siteserve.site.routes import SKIPPED_FOLDERS

#: The most files one glob may list (a glob over a whole home folder must stay bounded).
MAX_LISTED = bounds.LISTED_PAGES
#: Globs whose listing is kept at once.
MAX_GLOBS = bounds.LISTED_GLOBS
_GLOB_CHARS = frozenset("*?[")
#: Plain files that are pages as they are.
HTML_SUFFIXES = (".html", ".htm")


class PageFacts(Protocol):
    """What a listing asks about each file (``content.Content`` answers)."""

    def describe(self, relative: str, path: Path) -> tuple[Indexed | None, bool]: ...

    def page_of(self, entry: Indexed) -> Mapping[str, Any]: ...

    def html_of(self, entry: Indexed) -> Markup: ...

    def excerpt_of(self, entry: Indexed) -> Markup: ...


class Listed:
    """One listed page: ``url``, ``path``, ``page``, ``excerpt``, ``content``."""

    __slots__ = ("_entry", "_facts", "page", "path", "url")

    def __init__(
        self, url: str, path: str, page: Mapping[str, Any], entry: Indexed | None, facts: PageFacts
    ) -> None:
        self.url = url
        self.path = path
        self.page = page
        self._entry = entry
        self._facts = facts

    @property
    def draft(self) -> bool:
        return bool(self.page.get("draft"))

    @property
    def excerpt(self) -> Markup:
        """The page's ``excerpt`` (or ``description``), else its first paragraph, as HTML."""
        return Markup("") if self._entry is None else self._facts.excerpt_of(self._entry)

    @property
    def content(self) -> Markup:
        """A Markdown page's whole body as HTML (for feeds); empty for other files."""
        entry = self._entry
        if entry is None or not is_markdown(entry.path):
            return Markup("")
        return self._facts.html_of(entry)

    def __repr__(self) -> str:
        return f"<page {self.url}>"


@dataclass(frozen=True, slots=True)
class Glob:
    """A glob split into the folder it starts from and a test for the paths below."""

    base: tuple[str, ...]
    pattern: re.Pattern[str]
    #: Whether folders below ``base`` must be searched too.
    deep: bool


def compile_glob(text: str) -> Glob:
    """``blog/*.md`` -> base ``("blog",)``; ValueError for a glob that leaves the folder."""
    parts = [part for part in text.strip().strip("/").split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        raise ValueError(f"pages() needs a glob inside the site folder, not {text!r}")
    base: list[str] = []
    for part in parts[:-1]:  # the last part names files, even without a wildcard
        if _GLOB_CHARS & set(part):
            break
        base.append(part)
    rest = parts[len(base) :]
    pieces = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            # Any number of whole folders; at the end, at least the file's own name.
            pieces.append("(?:[^/]+/)*[^/]+" if last else "(?:[^/]+/)*")
        else:
            pieces.append(_segment(part) + ("" if last else "/"))
    deep = len(rest) > 1 or "**" in rest
    return Glob(tuple(base), re.compile("".join(pieces) + r"\Z"), deep)


def _segment(part: str) -> str:
    """One path segment of a glob as a regex: ``*`` and ``?`` never match ``/``."""
    out: list[str] = []
    index = 0
    while index < len(part):
        char = part[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            start = index + 1
            if part[start : start + 1] == "!":
                start += 1
            end = part.find("]", start + 1)  # a "]" right after "[" or "[!" is a member
            if end < 0:
                out.append(re.escape(char))
            else:
                members = part[start:end].replace("\\", "\\\\").replace("^", "\\^")
                negate = "^/" if start > index + 1 else ""
                out.append(f"[{negate}{members}]")
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Listing:
    #: (path from the root, file) of every match, sorted by path.
    files: tuple[tuple[str, Path], ...]
    #: Every folder scanned, with its mtime: adding or removing a file changes it.
    folders: tuple[tuple[str, int], ...]

    def is_current(self) -> bool:
        for folder, mtime_ns in self.folders:
            try:
                if os.stat(folder).st_mtime_ns != mtime_ns:
                    return False
            except OSError:
                return False
        return True


class Collections:
    """The ``pages()`` global of one site."""

    def __init__(self, config: Config, facts: PageFacts, *, drafts: bool) -> None:
        self.root = config.root
        self._root_real = os.path.realpath(config.root)
        self.follow_symlinks = config.follow_symlinks
        self.facts = facts
        #: A watcher calls ``forget`` on every change (see ``Content.watch``).
        self.watched = False
        self.drafts = drafts
        self._listings: dict[str, _Listing] = {}
        self._listed: dict[Path, tuple[Indexed | None, Listed]] = {}
        self._lock = threading.Lock()

    def pages(self, glob: str) -> list[Listed]:
        """What ``pages("blog/*.md")`` answers in a template (see the module's docstring)."""
        listing = self._listing(str(glob))
        for folder, _ in listing.folders:
            record(folder)
        found: list[Listed] = []
        for relative, path in listing.files:
            record(str(path))
            try:
                listed = self._listed_page(relative, path)
            except FileNotFoundError:
                continue  # deleted since the folder was scanned
            if listed is not None and (self.drafts or not listed.draft):
                found.append(listed)
        return found

    def forget(self, paths: Iterable[Path]) -> None:
        """Files changed: listings may gain or lose files, entries their front matter."""
        changed = [str(path) for path in paths]
        if not changed:
            return
        with self._lock:
            self._listings.clear()
            for known in list(self._listed):
                text = str(known)
                if any(text == p or text.startswith(p + os.sep) for p in changed):
                    del self._listed[known]

    # -- one file ----------------------------------------------------------------------

    def _listed_page(self, relative: str, path: Path) -> Listed | None:
        entry, rendered = self.facts.describe(relative, path)
        if not rendered and not relative.lower().endswith(HTML_SUFFIXES):
            return None  # a plain file, not a page (an image, a Markdown file with no layout)
        known = self._listed.get(path)
        if known is not None and known[0] is entry:
            return known[1]
        url = page_url(relative, rendered)
        page = self.facts.page_of(entry) if entry is not None else _NO_META
        listed = Listed(url, relative, page, entry, self.facts)
        with self._lock:
            if len(self._listed) >= MAX_LISTED:
                self._listed.clear()
            self._listed[path] = (entry, listed)
        return listed

    # -- the files a glob matches ------------------------------------------------------

    def _listing(self, glob: str) -> _Listing:
        listing = self._listings.get(glob)
        if listing is not None and (self.watched or listing.is_current()):
            return listing
        compiled = compile_glob(glob)
        folders: list[tuple[str, int]] = []
        files = sorted(self._walk(compiled, folders))
        listing = _Listing(tuple(files), tuple(folders))
        with self._lock:
            if len(self._listings) >= MAX_GLOBS:
                self._listings.clear()
            self._listings[glob] = listing
        return listing

    def _walk(self, glob: Glob, folders: list[tuple[str, int]]) -> Iterator[tuple[str, Path]]:
        if any(is_hidden(part) for part in glob.base):
            return
        start = self.root.joinpath(*glob.base)
        prefix = "/".join(glob.base)
        todo = [(start, prefix)]
        count = 0
        while todo:
            folder, relative = todo.pop()
            try:
                folders.append((str(folder), os.stat(folder).st_mtime_ns))
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                if is_hidden(name) or is_route_name(name):
                    continue
                path = relative + "/" + name if relative else name
                try:
                    if entry.is_symlink() and not self._inside(entry.path):
                        continue
                    if entry.is_dir():
                        if glob.deep and name not in SKIPPED_FOLDERS:
                            todo.append((Path(entry.path), path))
                    elif entry.is_file() and glob.pattern.match(path):
                        count += 1
                        if count > MAX_LISTED:
                            return
                        yield path, Path(entry.path)
                except OSError:
                    continue

    def _inside(self, path: str) -> bool:
        return self.follow_symlinks or is_within(os.path.realpath(path), self._root_real)


def page_url(relative: str, rendered: bool) -> str:
    """The URL a listed file answers at: a page's clean URL, else the file's own.

    ``notes/intro.md`` (with a layout) is ``/notes/intro``, ``blog/index.html.jinja``
    ``/blog/``, ``about.html`` ``/about``, ``feed.xml.jinja`` ``/feed.xml``; a
    Markdown file without a layout is ``/notes/intro.md``.
    """
    *folders, name = relative.split("/")
    if rendered and is_markdown(name):
        served = name[: -len(".md")] + ".html"
    elif rendered:
        served = strip_template_suffix(name) or name
    else:
        served = name
    if served.lower() == "index.html":
        return url_for(folders, True) if folders else "/"
    if served.lower().endswith(".html"):
        served = served[: -len(".html")]
    return url_for([*folders, served], False)


_NO_META: Mapping[str, Any] = MappingProxyType({})
