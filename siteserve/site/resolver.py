"""URL path -> what to serve, resolved once and safely.

The raw path arrives still percent-encoded. It is split on ``/`` first and each
segment decoded once, so an encoded separator (``%2f``, ``%5c``) can never
create a segment boundary; a segment that decodes to anything a file system
reads as navigation or as a hidden name ends the lookup with ``not_found``
(404, never 403, so a hidden file's existence does not leak).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from urllib.parse import quote, unquote_to_bytes

from siteserve import bounds
from siteserve.site import routes as route_table
from siteserve.site.layouts import MARKDOWN_SUFFIX, LayoutRules
from siteserve.site.names import (
    INDEX_NAMES,
    PAGE_SUFFIXES,
    is_route_name,
    is_template_source,
    segment_is_safe,
    strip_template_suffix,
)

Kind = Literal["file", "page", "directory", "redirect", "not_found"]

_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Resolved:
    kind: Kind
    #: The file, template or folder on disk.
    path: Path | None = None
    #: The name whose extension decides the content type ("about.html" for about.html.jinja).
    served_as: str = ""
    params: Mapping[str, str] = field(default_factory=lambda: _NO_PARAMS)
    #: Where a redirect points (path only: keeping the query is the caller's job).
    location: str | None = None


NOT_FOUND = Resolved("not_found")

#: Positive answers kept per raw path; a bound, because clients choose the keys.
CACHE_LIMIT = bounds.RESOLVER_ENTRIES


def split_path(raw_path: str) -> tuple[list[str], bool] | None:
    """Decoded, safe segments and whether the path ends with ``/``; None if hostile.

    The parser hands the path over as latin-1 text of the request bytes, so
    the bytes are recovered first and the decoded bytes must be strict UTF-8:
    overlong forms such as ``%c0%ae`` (an old spelling of ".") are refused.
    """
    if not raw_path.startswith("/") or "\\" in raw_path or "\x00" in raw_path:
        return None
    segments: list[str] = []
    for part in raw_path.split("/"):
        if not part:
            continue  # doubled slashes collapse; "/a//b" is "/a/b"
        if "%" in part or not part.isascii():
            try:
                data = part.encode("latin-1")
            except UnicodeEncodeError:
                data = part.encode("utf-8")
            try:
                part = unquote_to_bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                return None
        if not segment_is_safe(part):
            return None
        segments.append(part)
    return segments, raw_path.endswith("/")


def url_for(segments: list[str], trailing: bool) -> str:
    """A canonical, percent-encoded path for ``segments``; never starts with ``//``."""
    path = "/" + "/".join(quote(segment, safe="") for segment in segments)
    if trailing and segments:
        path += "/"
    return path


class Resolver:
    def __init__(
        self,
        root: Path,
        *,
        follow_symlinks: bool,
        render_globs: tuple[str, ...] = (),
        markdown: LayoutRules | None = None,
        rescan_routes: bool = True,
        stat: Callable[[str | Path], os.stat_result] = os.stat,
    ) -> None:
        """``markdown``: which ``.md`` files are pages (None: every one is a plain file).

        ``rescan_routes``: whether a route lookup first checks the folders for new route
        files; a server must, a build reads a folder that holds still and looks once.
        ``stat``: how a candidate is looked at (``os.stat``, or a build's snapshot).
        """
        self.root = Path(os.path.realpath(root))
        self.rescan_routes = rescan_routes
        self._stat = stat
        self._root_text = str(self.root)
        self._root_prefix = self._root_text.rstrip(os.sep) + os.sep
        self.follow_symlinks = follow_symlinks
        self.render_globs = tuple(render_globs)
        self.markdown = markdown
        self._cache: dict[str, Resolved] = {}
        self._routes: route_table.RouteTable | None = None

    # -- public ------------------------------------------------------------------

    def resolve(self, raw_path: str) -> Resolved:
        cached = self._cache.get(raw_path)
        if cached is not None:
            return cached
        split = split_path(raw_path)
        if split is None:
            return NOT_FOUND
        resolved = self._lookup(*split)
        # Only files and pages are kept: a listing must notice a new index file
        # and a redirect a removed folder, even with no watcher to invalidate.
        if resolved.kind == "file" or resolved.kind == "page":
            if len(self._cache) >= CACHE_LIMIT:
                # Drop the oldest entry (dicts keep insertion order).
                del self._cache[next(iter(self._cache))]
            self._cache[raw_path] = resolved
        return resolved

    def invalidate(self) -> None:
        """Forget cached answers and the route table (a file changed)."""
        self._cache.clear()
        self._routes = None

    def route_conflicts(self) -> list[str]:
        return route_table.conflicts(self._route_table().routes)

    def is_page_file(self, relative: str) -> bool:
        """Whether a plain file (path relative to the root) is rendered by ``render`` globs."""
        return any(fnmatchcase(relative, pattern) for pattern in self.render_globs)

    # -- lookup ------------------------------------------------------------------

    def _lookup(self, segments: list[str], trailing: bool) -> Resolved:
        if segments and not trailing and is_template_source(segments[-1]):
            return NOT_FOUND  # template sources are rendered, never shown
        if not any(is_route_name(segment) for segment in segments):
            found = self._static(segments, trailing)
            if found is not None:
                return found
        return self._route(segments, trailing)

    def _static(self, segments: list[str], trailing: bool) -> Resolved | None:
        if trailing or not segments:
            folder = self._existing(segments, stat.S_ISDIR)
            return None if folder is None else self._folder(folder)
        *parents, name = segments
        if parents and not self._is_folder(parents):
            return None  # nothing can be in a folder that is not there (a bot's /wp-admin/...)
        for candidate in (name, name + ".html"):
            path = self._existing([*parents, candidate], stat.S_ISREG)
            if path is not None:
                return self._file(path, candidate)
        for suffix in PAGE_SUFFIXES:
            path = self._existing([*parents, name + suffix], stat.S_ISREG)
            if path is not None:
                return Resolved("page", path, strip_template_suffix(path.name) or name)
        # A Markdown page, after templates: /notes/intro and /notes/intro.html.
        stem = name[: -len(".html")] if name.endswith(".html") else name
        if self.markdown is not None and stem:
            path = self._existing([*parents, stem + MARKDOWN_SUFFIX], stat.S_ISREG)
            if path is not None and self.is_markdown_page(path):
                return Resolved("page", path, stem + ".html")
        if self._existing(segments, stat.S_ISDIR) is not None:
            return Resolved("redirect", location=url_for(segments, True))
        return None

    def _folder(self, folder: Path) -> Resolved:
        for index in INDEX_NAMES:
            path = folder / index
            if self._is(path, stat.S_ISREG):
                if index == "index.html":
                    return self._file(path, index)
                return Resolved("page", path, "index.html")
        index_md = folder / ("index" + MARKDOWN_SUFFIX)
        if self._is(index_md, stat.S_ISREG) and self.is_markdown_page(index_md):
            return Resolved("page", index_md, "index.html")
        return Resolved("directory", folder, "")

    def is_markdown_page(self, path: Path) -> bool:
        """Whether a layout applies to the ``.md`` file at ``path`` (see ``layouts``).

        A front matter that does not parse counts as asking for one, so the page
        shows the error (file and line) instead of the raw text.
        """
        if self.markdown is None:
            return False
        # Imported here: front matter means YAML and Jinja, which a site without Markdown
        # (and a build with nothing to render) need not load.
        from siteserve.site.front_matter import FrontMatterError, split

        try:
            with open(path, encoding="utf-8", errors="replace", newline="") as handle:
                meta = split(handle.read(), str(path)).meta
        except FrontMatterError:
            return True
        except OSError:
            return False
        relative = path.relative_to(self.root).as_posix()
        return self.markdown.layout_for(relative, meta) is not None

    def _file(self, path: Path, served_as: str) -> Resolved:
        relative = path.relative_to(self.root).as_posix()
        kind: Kind = "page" if self.is_page_file(relative) else "file"
        return Resolved(kind, path, served_as)

    def _existing(self, segments: list[str], test: Callable[[int], bool]) -> Path | None:
        # A plain string for the look (most candidates are misses); a Path for a hit.
        path = os.path.join(self._root_text, *segments)
        return Path(path) if self._is(path, test) else None

    def _is_folder(self, segments: list[str]) -> bool:
        """Whether the folder ``segments`` names may hold files: one stat, ten saved on a
        miss (each candidate name below). Where it leads is checked with each candidate."""
        try:
            return stat.S_ISDIR(self._stat(os.path.join(self._root_text, *segments)).st_mode)
        except (OSError, ValueError):
            return False

    def _is(self, path: str | Path, test: Callable[[int], bool]) -> bool:
        try:
            mode = self._stat(path).st_mode
        except (OSError, ValueError):
            return False
        if not test(mode):
            return False
        return self.follow_symlinks or self._inside(path)

    def _inside(self, path: str | Path) -> bool:
        """Whether ``path``, with every symlink resolved, stays under the root."""
        real = os.path.realpath(path)
        return real == self._root_text or real.startswith(self._root_prefix)

    # -- routes ------------------------------------------------------------------

    def _route_table(self) -> route_table.RouteTable:
        # Checked again only here, on a static miss: route hits are cached above,
        # so the folder stats cost only requests that end in a 404 or a first hit.
        if self._routes is None or (self.rescan_routes and not self._routes.is_current()):
            self._routes = route_table.scan_routes(
                self.root, follow_symlinks=self.follow_symlinks, is_page=self.is_page_file
            )
        return self._routes

    def _route(self, segments: list[str], trailing: bool) -> Resolved:
        for route in self._route_table().routes:
            match = route_table.match_route(route, segments, trailing)
            if match is None:
                continue
            if match.needs_slash:
                return Resolved("redirect", location=url_for(segments, True))
            params = MappingProxyType(match.params)
            return Resolved(route.kind, route.path, match.served_as, params)
        return NOT_FOUND
