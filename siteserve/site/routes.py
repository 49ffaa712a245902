"""Parameter routes: files and folders named ``[param]`` or ``[...param]``.

The table is built by scanning the tree once; the resolver consults it only
after every static candidate failed (static beats dynamic), and keeps it until
a file change invalidates it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from siteserve.site.names import (
    ROUTE_PATTERN,
    is_hidden,
    is_route_name,
    strip_template_suffix,
)

STATIC, PARAM, REST = 0, 1, 2

#: Folders never searched for routes: they hold thousands of files and no pages.
SKIPPED_FOLDERS = frozenset({"node_modules"})


@dataclass(frozen=True, slots=True)
class Part:
    kind: int  # STATIC, PARAM or REST
    text: str  # the literal, or the parameter's name


@dataclass(frozen=True, slots=True)
class Route:
    """One route file, in the shape URLs are matched against."""

    dirs: tuple[Part, ...]
    #: The file's own part, or None for an ``index`` file (matched by ``/dir/``).
    leaf: Part | None
    #: The served extension of the leaf (".html", ".xml"), "" when none.
    extension: str
    path: Path
    kind: Literal["file", "page"]
    served_as: str
    rank: tuple[object, ...]

    @property
    def shape(self) -> tuple[object, ...]:
        """Two routes with one shape match exactly the same URLs."""
        parts = (*self.dirs, self.leaf) if self.leaf is not None else self.dirs
        return (
            tuple((p.kind, p.text if p.kind == STATIC else "") for p in parts),
            self.leaf is None,
            self.extension,
        )


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    params: dict[str, str]
    #: True when the URL lacks the trailing slash an index route needs.
    needs_slash: bool
    served_as: str


def _part(name: str) -> Part:
    match = ROUTE_PATTERN.fullmatch(name)
    if match is None or match.group(3):
        return Part(STATIC, name)
    return Part(REST if match.group(1) else PARAM, match.group(2))


def _leaf(served: str) -> tuple[Part, str]:
    match = ROUTE_PATTERN.fullmatch(served)
    if match is not None and (not match.group(3) or match.group(3).startswith(".")):
        kind = REST if match.group(1) else PARAM
        return Part(kind, match.group(2)), match.group(3)
    stem, extension = os.path.splitext(served)
    return Part(STATIC, stem), extension


def _rank(parts: tuple[Part, ...], is_index: bool, kind: str, path: Path) -> tuple[object, ...]:
    # Fewer catch-alls, then fewer parameters, then static segments earlier;
    # a plain file before a template of the same shape; the path breaks ties.
    rests = sum(1 for p in parts if p.kind == REST)
    params = sum(1 for p in parts if p.kind == PARAM)
    weights = tuple(p.kind for p in parts)
    return (rests, params, weights, is_index, kind == "page", str(path))


def make_route(root: Path, relative: tuple[str, ...], is_page: Callable[[str], bool]) -> Route:
    """The route for the file at ``relative`` (its components, last one the file name)."""
    *folders, name = relative
    path = root.joinpath(*relative)
    served = strip_template_suffix(name)
    kind: Literal["file", "page"]
    if served is None:
        served = name
        kind = "page" if is_page("/".join(relative)) else "file"
    else:
        kind = "page"
    dirs = tuple(_part(folder) for folder in folders)
    if served.casefold() == "index.html":
        return Route(dirs, None, ".html", path, kind, served, _rank(dirs, True, kind, path))
    leaf, extension = _leaf(served)
    rank = _rank((*dirs, leaf), False, kind, path)
    return Route(dirs, leaf, extension, path, kind, served, rank)


def _match_parts(parts: tuple[Part, ...], values: list[str], params: dict[str, str]) -> bool:
    if not parts:
        return not values
    part, rest = parts[0], parts[1:]
    if part.kind == STATIC:
        return bool(values) and values[0] == part.text and _match_parts(rest, values[1:], params)
    if part.kind == PARAM:
        if not values:
            return False
        params[part.text] = values[0]
        return _match_parts(rest, values[1:], params)
    # A catch-all takes at least one segment, as many as the parts after it allow.
    for taken in range(len(values) - len(rest), 0, -1):
        params[part.text] = "/".join(values[:taken])
        if _match_parts(rest, values[taken:], params):
            return True
    params.pop(part.text, None)
    return False


def match_route(route: Route, segments: list[str], trailing: bool) -> RouteMatch | None:
    params: dict[str, str] = {}
    if route.leaf is None:
        if not _match_parts(route.dirs, segments, params):
            return None
        return RouteMatch(route, params, not trailing, route.served_as)
    if trailing or not segments:
        return None
    last = segments[-1]
    stems: list[str] = []
    extension = route.extension
    if extension and last.endswith(extension) and len(last) > len(extension):
        stems.append(last[: -len(extension)])
    if not extension or extension == ".html":
        # Clean URLs: "/blog/hello" reaches "blog/[slug].html".
        stems.append(last)
    for stem in stems:
        params = {}
        if _match_parts((*route.dirs, route.leaf), [*segments[:-1], stem], params):
            return RouteMatch(route, params, False, stem.rpartition("/")[2] + extension)
    return None


@dataclass(frozen=True, slots=True)
class RouteTable:
    #: Most specific first.
    routes: list[Route]
    #: Every folder scanned, with its mtime: adding or removing an entry changes it.
    folders: dict[str, int]

    def is_current(self) -> bool:
        """Whether no scanned folder changed since the scan (one stat per folder).

        This is what keeps routes right when no watcher calls ``invalidate``
        (live reload off): a new ``[param]`` file changes its folder's mtime.
        """
        for folder, mtime_ns in self.folders.items():
            try:
                if os.stat(folder).st_mtime_ns != mtime_ns:
                    return False
            except OSError:
                return False
        return True


def scan_routes(root: Path, *, follow_symlinks: bool, is_page: Callable[[str], bool]) -> RouteTable:
    """Every servable file with a ``[param]`` in its path, most specific first."""
    walk = _Walk(os.path.realpath(root), follow_symlinks)
    routes = [make_route(root, relative, is_page) for relative in _walk(root, (), walk, False)]
    routes.sort(key=lambda route: route.rank)
    return RouteTable(routes, walk.folders)


class _Walk:
    def __init__(self, root_real: str, follow_symlinks: bool) -> None:
        self.root_real = root_real
        self.follow_symlinks = follow_symlinks
        self.seen: set[str] = set()
        self.folders: dict[str, int] = {}

    def inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.root_real or real.startswith(self.root_real + os.sep)


def _walk(
    folder: Path, prefix: tuple[str, ...], walk: _Walk, in_route: bool
) -> Iterator[tuple[str, ...]]:
    real = os.path.realpath(folder)
    if real in walk.seen:  # a symlink loop
        return
    walk.seen.add(real)
    try:
        walk.folders[str(folder)] = os.stat(folder).st_mtime_ns
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if is_hidden(name):
            continue
        routed = in_route or is_route_name(name)
        try:
            if entry.is_dir():
                if name in SKIPPED_FOLDERS:
                    continue
                # Only follow links that stay inside the root (the resolver's rule).
                if entry.is_symlink() and not walk.follow_symlinks and not walk.inside(entry.path):
                    continue
                yield from _walk(Path(entry.path), (*prefix, name), walk, routed)
            elif routed and entry.is_file():
                if entry.is_symlink() and not walk.follow_symlinks and not walk.inside(entry.path):
                    continue
                yield (*prefix, name)
        except OSError:
            continue


def conflicts(routes: list[Route]) -> list[str]:
    """Routes that match the same URLs; the first of each group (by rank) wins."""
    groups: dict[tuple[object, ...], list[Route]] = {}
    for route in routes:
        groups.setdefault(route.shape, []).append(route)
    messages = []
    for group in groups.values():
        if len(group) > 1:
            names = ", ".join(str(route.path) for route in group[1:])
            messages.append(f"{group[0].path} wins over {names}: they match the same URLs")
    return messages
