"""The history fallback of single-page apps: a URL no file answers gets the app's entry page.

An app that routes with ``history.pushState`` shows URLs such as ``/users/42``
that exist only in the browser. When such a URL is loaded (a deep link, a
reload), the server must answer with the app's entry file so the app can route
it: a rewrite (200, the URL stays), not a redirect. Only a navigation gets it:
a GET or HEAD whose last segment has no extension (``/app.js`` missing stays a
404) and whose ``Accept`` names ``text/html`` (a ``fetch()`` of a missing JSON
file stays a 404), and never the server's own ``/__siteserve/`` paths.

The entry is then looked up and answered like any other URL of the site, so it
passes through the resolver's privacy rules and the one static pipeline (reload
script, validators, cache profile).
"""

from __future__ import annotations

from collections.abc import Iterable

from siteserve.http.negotiation import weighted
from siteserve.http.request import Request
from siteserve.site.resolver import split_path, url_for

#: The server's own paths (reload client, WebSocket): never an app's route.
OWN_PREFIX = "/__siteserve/"


class SpaFallback:
    """Which entry page, if any, answers a request that matched nothing."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        """``entries``: (URL prefix ending in ``/``, entry file relative to the root)."""
        # The longest prefix first, so /admin/ wins over / for /admin/users.
        self.entries: tuple[tuple[str, str], ...] = tuple(
            sorted(
                ((prefix, entry_url(entry)) for prefix, entry in entries),
                key=lambda item: len(item[0]),
                reverse=True,
            )
        )

    def __bool__(self) -> bool:
        return bool(self.entries)

    def entry_for(self, request: Request) -> str | None:
        """The URL of the entry page that answers ``request``, or None (a plain 404)."""
        if not self.entries or request.method not in ("GET", "HEAD"):
            return None
        path = request.path
        if path.startswith(OWN_PREFIX) or split_path(path) is None:
            return None  # ours, or a path the resolver refuses (a dotfile, "..")
        last = path.rstrip("/").rpartition("/")[2]
        if "." in last:
            return None  # a missing asset (/app.js, /img/x.png) stays missing
        if not accepts_html(request.headers.get("accept")):
            return None
        for prefix, entry in self.entries:
            if path.startswith(prefix) or path + "/" == prefix:
                return entry
        return None


def accepts_html(accept: str | None) -> bool:
    """Whether an ``Accept`` field names ``text/html`` with a q above 0 (RFC 9110 12.5.1)."""
    if accept is None:
        return False
    return any(name == "text/html" and q > 0 for name, q in weighted(accept))


def entry_url(entry: str) -> str:
    """The URL of an entry file given relative to the root (``admin/index.html``)."""
    split = split_path("/" + entry.strip("/"))
    if split is None:
        raise ValueError(f"not a file in the site: {entry}")
    segments, _ = split
    return url_for(segments, False)
