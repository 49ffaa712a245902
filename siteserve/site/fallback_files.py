"""Files of ours served where a site has none of its own.

``/favicon.ico``: browsers ask for it on every site, and our own pages (the
listing, error pages) name no icon, so without one every tab logs a failed
request. ``/__siteserve/highlight.css``: the stylesheet for the code blocks
of Markdown pages, for a layout to link. Both come from ``templates/`` and
are served by the static pipeline (ETag, 304, ranges, compression), and only
when the site's own lookup found nothing: a site's ``favicon.ico`` always wins.
"""

from __future__ import annotations

from pathlib import Path

from siteserve.site import assets

#: URL path -> asset name.
FALLBACKS = {
    "/favicon.ico": "favicon.ico",
    "/__siteserve/highlight.css": "highlight.css",
}


def fallback_file(url_path: str) -> tuple[Path, str] | None:
    """(file, served-as name) of our file for ``url_path``, or None."""
    name = FALLBACKS.get(url_path)
    if name is None:
        return None
    path = assets.path_of(name)
    return None if path is None else (path, name)
