"""Directory listings for folders without an index page.

``listing_entries`` gathers what a listing shows; ``render_listing`` turns it
into HTML through our own ``listing.html``. Every name goes through Jinja's
autoescape and every link through percent-encoding, so a file named
``<script>`` is shown as text and a file named ``a#b`` is still reachable.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from siteserve.http.response import Response
from siteserve.site import assets
from siteserve.site.names import is_hidden, is_route_name, is_template_source


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
        return "" if self.size is None else human_size(self.size)

    @property
    def modified_iso(self) -> str:
        return datetime.fromtimestamp(self.mtime, UTC).isoformat(timespec="seconds")

    @property
    def modified_text(self) -> str:
        return datetime.fromtimestamp(self.mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class Crumb:
    name: str
    href: str


def human_size(size: int) -> str:
    """Sizes the way people read them: ``999 B``, ``1.5 KiB``, ``12 MiB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def is_listed(name: str) -> bool:
    """Whether a name appears in a listing: only what a URL could reach by that name."""
    return not (is_hidden(name) or is_template_source(name) or is_route_name(name))


def listing_entries(
    folder: Path, *, root: Path | None = None, follow_symlinks: bool = True
) -> list[Entry]:
    """The visible entries of ``folder``: folders first, then files, by name.

    With ``root`` given and ``follow_symlinks`` off, links that lead outside the
    root are left out, as the resolver would refuse them.
    """
    root_real = os.path.realpath(root) if root is not None else None
    entries: list[Entry] = []
    try:
        scanned = list(os.scandir(folder))
    except OSError:
        return entries
    for item in scanned:
        name = item.name
        if not is_listed(name):
            continue
        try:
            info = item.stat()  # follows symlinks: a link shows as what it points to
        except OSError:
            continue  # a dangling link
        if root_real is not None and not follow_symlinks and item.is_symlink():
            real = os.path.realpath(item.path)
            if real != root_real and not real.startswith(root_real.rstrip(os.sep) + os.sep):
                continue
        is_dir = stat.S_ISDIR(info.st_mode)
        if not is_dir and not stat.S_ISREG(info.st_mode):
            continue  # sockets, fifos, devices: nothing to download
        href = quote(name, safe="") + ("/" if is_dir else "")
        entries.append(Entry(name, href, is_dir, None if is_dir else info.st_size, info.st_mtime))
    entries.sort(key=lambda entry: (not entry.is_dir, entry.name.casefold(), entry.name))
    return entries


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
) -> Response:
    """A 200 listing ``folder``, reached by the decoded URL ``segments``."""
    entries = listing_entries(folder, root=root, follow_symlinks=follow_symlinks)
    crumbs = breadcrumbs(segments, root.name or "/")
    body = assets.render(
        "listing.html",
        title="/" + "".join(segment + "/" for segment in segments),
        crumbs=crumbs,
        entries=entries,
        has_parent=bool(segments),
    )
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", cache_control),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(200, headers, body)
