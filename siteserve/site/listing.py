"""Directory listings for folders without an index page.

``listing_entries`` gathers what a listing shows; ``render_listing`` turns it
into HTML through our own ``listing.html``, or into JSON when the client asks
for it (``Accept: application/json`` or ``?format=json``). Every name goes
through Jinja's autoescape and every link through percent-encoding, so a file
named ``<script>`` is shown as text and a file named ``a#b`` is still reachable.

Sorting (``?sort=name|size|date&order=asc|desc``) and filtering (``?q=``) are
done here, so both work from plain links and a plain form, without JavaScript.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from siteserve import sizes
from siteserve.http.negotiation import weighted
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.site import assets
from siteserve.site.mime import content_type
from siteserve.site.names import is_hidden, is_route_name, is_template_source

SORT_KEYS = ("name", "size", "date")

#: Icon names by the first part of the media type, then by a few whole types. Each
#: name is a <symbol id="i-NAME"> in templates/listing.html: inline SVG draws the
#: same everywhere, where emoji need a colour-emoji font the machine may not have.
_ICONS_BY_TYPE = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "font": "text",
    "text": "text",
}
_ICONS_BY_SUBTYPE = {
    "application/pdf": "text",
    "application/zip": "archive",
    "application/gzip": "archive",
    "application/x-tar": "archive",
    "application/x-7z-compressed": "archive",
    "application/vnd.rar": "archive",
    "application/json": "code",
    "application/xml": "code",
    "application/wasm": "code",
    "text/javascript": "code",
    "text/css": "code",
    "text/html": "code",
}
FOLDER_ICON = "folder"
FILE_ICON = "file"


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    #: Relative link, percent-encoded; folders end with "/".
    href: str
    is_dir: bool
    #: Bytes; None for folders.
    size: int | None
    #: Seconds since the epoch.
    mtime: float

    @property
    def size_text(self) -> str:
        return "" if self.size is None else sizes.human_size(self.size)

    @property
    def modified_iso(self) -> str:
        return datetime.fromtimestamp(self.mtime, UTC).isoformat(timespec="seconds")

    @property
    def modified_text(self) -> str:
        return datetime.fromtimestamp(self.mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")

    @property
    def icon(self) -> str:
        if self.is_dir:
            return FOLDER_ICON
        media = content_type(self.name).partition(";")[0]
        top = media.partition("/")[0]
        return _ICONS_BY_SUBTYPE.get(media) or _ICONS_BY_TYPE.get(top, FILE_ICON)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "href": self.href,
            "type": "directory" if self.is_dir else "file",
            "size": self.size,
            "modified": self.modified_iso,
        }


@dataclass(frozen=True, slots=True)
class Crumb:
    name: str
    href: str


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """How the client asked to see the listing."""

    sort: str = "name"
    descending: bool = False
    filter: str = ""
    json: bool = False

    @classmethod
    def from_request(cls, request: Request | None) -> ListingQuery:
        if request is None:
            return cls()
        try:
            params = dict(parse_qsl(request.query, keep_blank_values=True, max_num_fields=20))
        except ValueError:
            params = {}
        sort = params.get("sort", "name")
        return cls(
            sort=sort if sort in SORT_KEYS else "name",
            descending=params.get("order") == "desc",
            filter=params.get("q", "").strip()[:200],
            json=params.get("format") == "json" or wants_json(request.headers.get("accept")),
        )

    def href(self, **changes: str) -> str:
        """A link to the same listing with some parameters changed (defaults left out)."""
        values = {
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "q": self.filter,
        }
        values.update(changes)
        kept = {
            key: value
            for key, value in values.items()
            if value and (key, value) not in (("sort", "name"), ("order", "asc"))
        }
        return "?" + urlencode(kept, quote_via=quote) if kept else "./"

    def sort_link(self, key: str) -> str:
        """Clicking the column already sorted flips its order; another column starts ascending."""
        if key == self.sort:
            return self.href(order="asc" if self.descending else "desc")
        return self.href(sort=key, order="asc")


def wants_json(accept: str | None) -> bool:
    """Whether ``application/json`` is preferred to HTML (RFC 9110 section 12.5.1)."""
    if not accept:
        return False
    best_json = best_html = 0.0
    for media, quality in weighted(accept):
        if media == "application/json":
            best_json = max(best_json, quality)
        elif media in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, quality)
    return best_json > 0 and best_json > best_html


def is_listed(name: str) -> bool:
    """Whether a name appears in a listing: only what a URL could reach by that name."""
    return not (is_hidden(name) or is_template_source(name) or is_route_name(name))


def is_inside(path: str, root_real: str) -> bool:
    """Whether ``path``, with every symlink resolved, stays under ``root_real``."""
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def listing_entries(
    folder: Path, *, root: Path | None = None, follow_symlinks: bool = True
) -> list[Entry]:
    """The visible entries of ``folder``: folders first, then files, by name.

    With ``root`` given and ``follow_symlinks`` off, links that lead outside the
    root are left out, as the resolver would refuse them. A folder that cannot be
    read raises ``PermissionError`` (the Site answers 403): shown as empty, it would
    look like a folder with nothing in it, and offer to upload into it.
    """
    root_real = os.path.realpath(root) if root is not None else None
    entries: list[Entry] = []
    try:
        scanned = list(os.scandir(folder))
    except PermissionError:
        raise
    except OSError:
        return entries  # gone since it was resolved: nothing to list
    for item in scanned:
        name = item.name
        if not is_listed(name):
            continue
        try:
            info = item.stat()  # follows symlinks: a link shows as what it points to
        except OSError:
            continue  # a dangling link
        checked = root_real is not None and not follow_symlinks and item.is_symlink()
        if checked and root_real is not None and not is_inside(item.path, root_real):
            continue
        is_dir = stat.S_ISDIR(info.st_mode)
        if not is_dir and not stat.S_ISREG(info.st_mode):
            continue  # sockets, fifos, devices: nothing to download
        href = quote(name, safe="") + ("/" if is_dir else "")
        entries.append(Entry(name, href, is_dir, None if is_dir else info.st_size, info.st_mtime))
    entries.sort(key=lambda entry: (not entry.is_dir, entry.name.casefold(), entry.name))
    return entries


def sort_entries(entries: list[Entry], query: ListingQuery) -> list[Entry]:
    """Folders stay first; within each group, by the asked key (ties by name)."""
    shown = entries
    if query.filter:
        needle = query.filter.casefold()
        shown = [entry for entry in entries if needle in entry.name.casefold()]
    if query.sort == "size":
        shown = sorted(shown, key=lambda entry: entry.size or 0, reverse=query.descending)
    elif query.sort == "date":
        shown = sorted(shown, key=lambda entry: entry.mtime, reverse=query.descending)
    elif query.descending:
        shown = list(reversed(shown))
    # A stable sort on the group alone keeps the order inside each group.
    return sorted(shown, key=lambda entry: not entry.is_dir)


def breadcrumbs(segments: list[str], site_name: str) -> list[Crumb]:
    """Links from the root to the folder, each an absolute, encoded path."""
    crumbs = [Crumb(site_name, "/")]
    href = "/"
    for segment in segments:
        href += quote(segment, safe="") + "/"
        crumbs.append(Crumb(segment, href))
    return crumbs


def render_listing(
    folder: Path,
    segments: list[str],
    *,
    root: Path,
    follow_symlinks: bool,
    cache_control: str = "no-cache",
    request: Request | None = None,
    uploads: bool = False,
) -> Response:
    """A 200 listing ``folder``, reached by the decoded URL ``segments``
    (``PermissionError`` when the folder cannot be read).

    ``request`` carries the sort, filter and format the client asked for;
    ``uploads`` adds the upload and new-folder forms.
    """
    query = ListingQuery.from_request(request)
    every = listing_entries(folder, root=root, follow_symlinks=follow_symlinks)
    entries = sort_entries(every, query)
    crumbs = breadcrumbs(segments, root.name or "/")
    path = crumbs[-1].href
    total = sum(entry.size or 0 for entry in every)
    headers = [
        ("Cache-Control", cache_control),
        ("X-Content-Type-Options", "nosniff"),
        # The same URL answers HTML or JSON (RFC 9110 section 12.5.5).
        ("Vary", "Accept"),
    ]
    if query.json:
        document = {
            "path": path,
            "entries": [entry.as_json() for entry in entries],
            "folders": sum(entry.is_dir for entry in every),
            "files": sum(not entry.is_dir for entry in every),
            "total_size": total,
            "upload": uploads,
        }
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        return Response(200, [("Content-Type", "application/json"), *headers], body)
    body = assets.render(
        "listing.html",
        title="/" + "".join(segment + "/" for segment in segments),
        path=path,
        crumbs=crumbs,
        entries=entries,
        has_parent=bool(segments),
        query=query,
        folders=sum(entry.is_dir for entry in every),
        files=sum(not entry.is_dir for entry in every),
        total_text=sizes.human_size(total),
        uploads=uploads,
    )
    return Response(200, [("Content-Type", "text/html; charset=utf-8"), *headers], body)
