"""Where a page goes in the output folder, and the one URL it is rendered for.

A page answers several spellings live (``/about`` and ``/about.html``,
``/blog/`` and ``/blog/index.html``); a static host serves one file for all of
them, so the build renders each page once, for its canonical URL: the clean
spelling when the live server answers it with the same page. The page is then
written as the file a static host looks for:

- ``html`` layout (the default): ``/about`` -> ``about.html``. nginx with
  ``try_files $uri $uri.html $uri/``, GitHub Pages, Netlify and Cloudflare Pages
  answer ``/about`` and ``/about.html`` from it; relative links keep working.
- ``folder`` layout: ``/about`` -> ``about/index.html``. Every host (and
  ``python -m http.server``) answers ``/about/``, and ``/about`` with a redirect
  to it; ``/about.html`` is gone. When ``/about/`` is already a folder of the
  site, the page keeps the ``html`` name so the two never collide.

A folder's index (``/blog/``) is ``blog/index.html`` in both; a page with
another extension (``/feed.xml``) keeps its name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from siteserve.build.settings import Layout
from siteserve.site.resolver import Resolved, Resolver, split_path, url_for

HTML = ".html"
INDEX = "index.html"


@lru_cache(maxsize=1024)
def split_url(url: str) -> tuple[tuple[str, ...], bool] | None:
    """``split_path`` of ``url``, as a tuple, worked out once for the several questions one
    visit asks about its URL (where it goes, its canonical spelling, its folder)."""
    split = split_path(url)
    return None if split is None else (tuple(split[0]), split[1])


def same_target(a: Resolved, b: Resolved) -> bool:
    """Whether two resolutions answer with the same page (or file, or listing)."""
    return a.kind == b.kind and a.path == b.path and dict(a.params) == dict(b.params)


def canonical_url(url: str, resolved: Resolved, resolver: Resolver) -> str:
    """The spelling of ``url`` a page is rendered for (``url`` is already normalized)."""
    split = split_url(url)
    if split is None:
        return url
    segments, trailing = split
    if trailing or not segments or resolved.kind == "directory":
        return url_for(list(segments), True) if segments else "/"
    last = segments[-1]
    candidate: str | None = None
    if last == INDEX and resolved.served_as == INDEX:
        candidate = url_for(list(segments[:-1]), True) if len(segments) > 1 else "/"
    elif last.endswith(HTML) and len(last) > len(HTML) and resolved.served_as == last:
        candidate = url_for([*segments[:-1], last[: -len(HTML)]], False)
    if candidate is not None and same_target(resolver.resolve(candidate), resolved):
        return candidate
    return url


def page_output(
    url: str, served_as: str, layout: Layout, folder_answers: Callable[[str], bool]
) -> str:
    """The output path (``/`` separated, relative) of the page rendered for canonical ``url``.

    ``folder_answers(url)`` says whether the live server answers ``url + "/"`` (a
    folder of the site), which keeps the folder layout from writing over it.
    """
    split = split_url(url)
    if split is None:
        raise ValueError(f"not a servable URL: {url!r}")
    segments, trailing = split
    if trailing or not segments:
        return "/".join([*segments, INDEX])
    last = segments[-1]
    if served_as.endswith(HTML) and last + HTML == served_as:
        # A clean URL (/about): the file a static host maps it to.
        if layout == "folder" and not folder_answers(url_for(list(segments), True)):
            return "/".join([*segments, INDEX])
        return "/".join([*segments[:-1], served_as])
    return "/".join(segments)


def decoded_path(url: str) -> str | None:
    """The output path of a URL as it names a file (``/a%20b/c.txt`` -> ``a b/c.txt``)."""
    split = split_url(url)
    if split is None or split[1] or not split[0]:
        return None
    return "/".join(split[0])
