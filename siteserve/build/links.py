"""The site's own links, found in what it serves: HTML attributes, CSS, the sitemap.

HTML: ``href``, ``src``, ``srcset``, ``poster`` and a meta refresh's ``url=``;
``url()`` and ``@import`` in stylesheets and in ``style`` (attributes and
blocks); ``<loc>`` in a ``sitemap.xml``. Comments and script bodies are left
out (a link there is not one a visitor follows). Each link is resolved against
the URL of the page it is on (RFC 3986 section 5.2) and kept when it stays on
the site: a path, or an absolute URL for the build's own host. The query and the
fragment are dropped: a static host answers a path whatever the query.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from siteserve.site.names import is_hidden
from siteserve.site.resolver import split_path, url_for

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SCRIPT_OPEN = re.compile(r"<script", re.IGNORECASE)
_SCRIPT_BODY = re.compile(r"(<script\b[^>]*>).*?(</script\s*>)", re.DOTALL | re.IGNORECASE)
_ATTRIBUTE = re.compile(
    # The lookahead drops most positions at once: the names start with h, s, p or c.
    r"""[\s"'](?=[hspc])(href|src|srcset|poster|content)\s*=\s*"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""",
    re.IGNORECASE,
)
_REFRESH = re.compile(r"^\s*\d*\s*[;,]\s*url\s*=\s*['\"]?([^'\"]+)", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s"']*))\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_SITEMAP_LOC = re.compile(r"<loc>\s*([^<\s]+)\s*</loc>", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
#: ``/blog/post-1``: segments of unreserved characters, none empty, none starting with a dot.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?|/")

#: The last letter of each name ``_ATTRIBUTE`` looks for -> the lengths of the names
#: ending with it (no other character matches these letters case-insensitively).
_NAME_LENGTHS = {"f": (4,), "c": (3,), "t": (6, 7), "r": (6,)}
_NAME_LENGTHS.update({last.upper(): lengths for last, lengths in _NAME_LENGTHS.items()})

#: Windows refuses more segments (devices, short names): there the resolver's split decides.
_NT = os.name == "nt"

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml"})
CSS_TYPES = frozenset({"text/css"})


def _attributes(text: str) -> Iterator[re.Match[str]]:
    """``_ATTRIBUTE.finditer(text)``, the same matches found from the ``=`` signs.

    Every match holds one ``=`` after its name, so each ``=`` (in order, past the last
    match) is looked at: the name must end where the spaces before it begin, and the
    pattern is tried only where a name of that length would start. A page is mostly
    text, which the pattern would try at every space (a third of a build's link time).
    """
    limit = 0
    find = text.find
    equals = find("=")
    while equals != -1:
        end = equals
        while end > limit and text[end - 1].isspace():  # what ``\s*`` matches
            end -= 1
        lengths = _NAME_LENGTHS.get(text[end - 1]) if end > limit else None
        for length in lengths or ():
            start = end - length - 1  # the space or quote before the name
            if start < limit:
                break
            match = _ATTRIBUTE.match(text, start)
            if match is not None:
                yield match
                limit = match.end()
                break
        equals = find("=", max(equals + 1, limit))


def _html_refs(text: str) -> Iterator[str]:
    if "<!--" in text:
        text = _COMMENT.sub("", text)
    if _SCRIPT_OPEN.search(text):
        text = _SCRIPT_BODY.sub(r"\1\2", text)
    for match in _attributes(text):
        name = match.group(1).lower()
        value = html.unescape(match.group(2) or match.group(3) or match.group(4) or "")
        if name == "srcset":
            # Candidates are "URL descriptor" separated by commas (HTML 4.8.4.3.1).
            for candidate in value.split(","):
                words = candidate.split()
                if words:
                    yield words[0]
        elif name == "content":
            refresh = _REFRESH.match(value)  # <meta http-equiv="refresh" content="0; url=...">
            if refresh:
                yield refresh.group(1)
        else:
            yield value
    yield from _css_refs(text)


def may_hold_css_refs(text: str) -> bool:
    """Whether ``url(`` or ``@import`` is in ``text`` in any case (CSS ignores it): what
    ``text.lower()`` holds, without lowering the text as Unicode.

    A page with one character outside ASCII (a ``·`` in its title) is lowered at about
    5 ns a character and searched at 1 ns, several times what its UTF-8 bytes take. The
    bytes' lowering (ASCII letters only) finds the same words: the only other characters
    whose ``lower()`` gives ASCII letters are the dotted capital I (an ``i`` and a
    combining dot, so never inside ``@import``) and the Kelvin sign (a ``k``, in neither).
    """
    lowered = text.encode("utf-8", "surrogatepass").lower()
    return b"url(" in lowered or b"@import" in lowered


def _css_refs(text: str) -> Iterator[str]:
    if not may_hold_css_refs(text):
        return
    for pattern in (_CSS_URL, _CSS_IMPORT):
        for match in pattern.finditer(text):
            yield html.unescape(next((group for group in match.groups() if group), ""))


def _sitemap_refs(text: str) -> Iterator[str]:
    for match in _SITEMAP_LOC.finditer(text):
        yield html.unescape(match.group(1))


def internal_path(ref: str, base: str, host: str) -> str | None:
    """``ref`` (as written on the page at URL path ``base``) as a path of this site, or None.

    The path comes back percent-encoded the one way the resolver writes URLs, so two
    spellings of a link compare equal; None for another site, a fragment, ``mailto:``,
    ``data:`` and the like, and for a path no server would answer (``/_layouts/x``).
    """
    if _PLAIN_PATH.fullmatch(ref):
        # Most links: an absolute path of unreserved characters and no dot segment, which
        # joining, splitting and encoding would give back as it is (RFC 3986 5.2, 2.3).
        return normalized(ref)
    ref = ref.strip()
    if not ref or ref.startswith("#"):
        return None
    if _SCHEME.match(ref) and not ref.lower().startswith(("http:", "https:")):
        return None
    parts = urlsplit(urljoin(f"http://{host}{base}", ref))
    if parts.scheme not in ("http", "https") or (parts.hostname or "") != host.lower():
        return None
    # The pages' own url() helper: the one rule for encoding a path of the site
    # (imported here, so that planning a build does not load the pages module).
    from siteserve.site.page_context import url as site_url

    return normalized(site_url(parts.path or "/"))


@lru_cache(maxsize=65536)
def normalized(path: str) -> str | None:
    """The resolver's canonical spelling of a URL path, or None when it is never served."""
    if _PLAIN_PATH.fullmatch(path) and not _NT:
        # Unreserved characters only, no empty or dot segment: decoding and encoding give
        # it back as it is, and of the resolver's rules only the hidden names remain.
        if any(is_hidden(part) for part in path.split("/") if part):
            return None
        return path
    split = split_path(path)
    if split is None:
        return None
    segments, trailing = split
    return url_for(segments, trailing) if segments else "/"


def _unservable_path(ref: str, base: str, host: str) -> str | None:
    """A link to this site that no server answers (``/_layouts/x``), as its raw path."""
    ref = ref.strip()
    if not ref or ref.startswith("#") or _SCHEME.match(ref) or ref.startswith("//"):
        return None
    return urlsplit(urljoin(f"http://{host}{base}", ref)).path or None


class LinkFinder:
    """Finds the internal links of pages; remembers how each link resolved.

    Most links repeat on every page (a menu, a stylesheet), so each is worked out
    once: an absolute path once for all pages, a relative one once per folder.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self._known: dict[tuple[str, str], str | None] = {}

    def links(self, body: bytes, media_type: str, base: str, name: str = "") -> list[str]:
        """The internal links in ``body`` (served as ``media_type`` at ``base``), each once.

        A link to this site that no server answers (a hidden name) comes back as its
        raw path, which ``normalized`` turns to None: the caller reports it as broken.
        """
        text = body.decode("utf-8", "replace")
        refs: Iterable[str]
        if media_type in HTML_TYPES:
            refs = _html_refs(text)
        elif media_type in CSS_TYPES:
            refs = _css_refs(text)
        elif name == "sitemap.xml":
            refs = _sitemap_refs(text)
        else:
            return []
        folder = base.rpartition("/")[0]
        found: dict[str, None] = {}
        for ref in refs:
            key = (
                ("", ref)
                if ref.startswith("/") and not ref.startswith("//")
                else (
                    base if ref.startswith("?") or not ref.strip() else folder,
                    ref,
                )
            )
            if key in self._known:
                path = self._known[key]
            else:
                path = internal_path(ref, base, self.host)
                if path is None:
                    path = _unservable_path(ref, base, self.host)
                self._known[key] = path
            if path is not None:
                found.setdefault(path, None)
        return list(found)


def extract_links(body: bytes, media_type: str, base: str, host: str, name: str = "") -> list[str]:
    """``LinkFinder(host).links(...)`` for one document."""
    return LinkFinder(host).links(body, media_type, base, name)
