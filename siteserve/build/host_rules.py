"""``_headers`` and ``_redirects``: the live server's headers and redirects as host rules.

Both files use the syntax Netlify and Cloudflare Pages read (a path, then
indented ``Name: value`` lines; ``from to status`` lines). The headers are the
ones siteserve itself would send that a static host would not: the cache policy
(``site/cache_policy.py``: a name with a content hash is ``immutable``, anything
else is revalidated, which is also what both hosts do by default, so that needs
no rule), ``X-Content-Type-Options``, the ``[headers]`` rules of siteserve.toml
and the headers pages set themselves.

Both hosts give a path every header of every rule that matches it, joining the
values of a name that two rules set, so no header name is ever set for one path
by two rules: per name, a folder whose files all share one value gets one
``/folder/*`` rule, and the others get a rule each. That also keeps the file
short (Cloudflare Pages reads at most 100 rules).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from siteserve.config import Config
from siteserve.site.cache_policy import (
    DEVELOPMENT,
    IMMUTABLE,
    apply_headers,
    cache_control,
    extra_headers,
    has_content_hash,
)

HEADERS_FILE: Final = "_headers"
REDIRECTS_FILE: Final = "_redirects"
#: Cloudflare Pages' limits (documented): header rules, and static redirects.
CLOUDFLARE_HEADER_RULES: Final = 100
CLOUDFLARE_REDIRECTS: Final = 2000
NOSNIFF: Final = ("X-Content-Type-Options", "nosniff")
#: The value that stands for "removed" (a ``! Name`` line): live, an empty ``[headers]``
#: value removes the header, which a host would otherwise send (Cache-Control, say).
REMOVED: Final = "\0removed"
#: Paths of letters, digits and -._~ are their own URL (RFC 3986 section 2.3).
_UNRESERVED: Final = re.compile(r"[A-Za-z0-9._~/-]+")


@dataclass(frozen=True, slots=True)
class Served:
    """One output file: the URLs a host answers with it, and its headers."""

    out: str
    urls: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Redirect:
    sources: tuple[str, ...]
    location: str
    status: int


def file_urls(out: str) -> tuple[str, ...]:
    """The URL paths a static host answers with the output file ``out``."""
    path = "/" + (out if _UNRESERVED.fullmatch(out) else quote(out))
    folder, _, name = out.rpartition("/")
    urls = [path]
    if name == "index.html":
        urls.append("/" + quote(folder) + "/" if folder else "/")
    elif name.endswith(".html") and len(name) > len(".html"):
        urls.append(path[: -len(".html")])
    return tuple(urls)


def deployed_cache_control(config: Config, rel: str) -> str:
    """Cache-Control for a static file once deployed: the live policy, with hashed names
    ``immutable`` even when the live profile is development (which revalidates all)."""
    if has_content_hash(rel):
        return IMMUTABLE
    return cache_control(config, rel)


def static_headers(config: Config, rel: str) -> tuple[tuple[str, str], ...]:
    """What the live server adds to a static file's 200 beyond what any host sends."""
    cache = deployed_cache_control(config, rel)
    if not config.headers:  # the common case, once per file: no [headers] rules to apply
        return (NOSNIFF,) if cache == DEVELOPMENT else (("Cache-Control", cache), NOSNIFF)
    headers = [("Cache-Control", cache), NOSNIFF]
    extra = extra_headers(config, rel)
    return _without_host_defaults(apply_headers(headers, extra)) + removals(extra)


def removals(extra: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The names ``[headers]`` rules remove (an empty last value), as ``REMOVED`` headers."""
    last = {name.lower(): (name, value) for name, value in extra}
    return tuple((name, REMOVED) for name, value in last.values() if value == "")


def page_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return _without_host_defaults(list(headers))


def _without_host_defaults(headers: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    # Revalidation is the hosts' default (public, max-age=0, must-revalidate).
    return tuple(
        (name, value)
        for name, value in headers
        if not (name.lower() == "cache-control" and value == DEVELOPMENT)
    )


@dataclass
class _Folder:
    files: list[Served] = field(default_factory=list)
    folders: dict[str, _Folder] = field(default_factory=dict)


def _tree(entries: Iterable[Served]) -> _Folder:
    root = _Folder()
    for entry in entries:
        node = root
        for part in entry.out.split("/")[:-1]:
            node = node.folders.setdefault(part, _Folder())
        node.files.append(entry)
    return root


def header_rules(entries: Iterable[Served]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(path pattern, headers) rules that give each URL exactly its headers."""
    entries = list(entries)
    names: dict[str, str] = {}
    for entry in entries:
        for name, _ in entry.headers:
            names.setdefault(name.lower(), name)
    root = _tree(entries)
    rules: dict[str, list[tuple[str, str]]] = {}
    for lower in sorted(names):
        _assign(root, "", names[lower], lower, rules)
    ordered = sorted(rules.items(), key=lambda item: (item[0] != "/*", item[0]))
    return [(pattern, sorted(headers, key=lambda h: h[0].lower())) for pattern, headers in ordered]


def _value(entry: Served, lower: str) -> str | None:
    for name, value in entry.headers:
        if name.lower() == lower:
            return value
    return None


def _values_below(node: _Folder, lower: str) -> set[str | None]:
    values = {_value(entry, lower) for entry in node.files}
    for child in node.folders.values():
        values |= _values_below(child, lower)
    return values


def _assign(
    node: _Folder, prefix: str, name: str, lower: str, rules: dict[str, list[tuple[str, str]]]
) -> None:
    values = _values_below(node, lower)
    if len(values) == 1:
        only = next(iter(values))
        if only is not None:
            rules.setdefault(prefix + "/*", []).append((name, only))
        return
    for entry in sorted(node.files, key=lambda served: served.out):
        value = _value(entry, lower)
        if value is not None:
            for url in entry.urls:
                rules.setdefault(url, []).append((name, value))
    for folder in sorted(node.folders):
        _assign(node.folders[folder], prefix + "/" + quote(folder), name, lower, rules)


def headers_text(rules: list[tuple[str, list[tuple[str, str]]]], site: Iterable[str] = ()) -> str:
    """The server's headers as ``rules``, then the site's own rules (``site``: lines, in
    their order of precedence), which come last so that their ``! Name`` removes ours."""
    lines = [
        "# Written by siteserve build: the headers siteserve sends that a static host does not",
        "# (cache policy, [headers] in siteserve.toml, headers pages set), then the site's",
        "# own rules (_headers, serve.json). Netlify and Cloudflare Pages syntax.",
    ]
    for pattern, headers in rules:
        lines.append("")
        lines.append(pattern)
        lines.extend(
            f"  ! {name}" if value == REMOVED else f"  {name}: {value}" for name, value in headers
        )
    lines.extend(site)
    return "\n".join(lines) + "\n"


def redirects_text(
    redirects: Iterable[Redirect], fallbacks: Iterable[Redirect] = (), site: Iterable[str] = ()
) -> str:
    """The site's own rules (``site``: lines, in their order), the pages' redirects, then
    the single-page apps' fallbacks (in the order given: the longest prefix first). The
    first rule that matches wins, and a rule without ``!`` applies only where no file
    answers, as live."""
    lines = [
        "# Written by siteserve build: the site's rules ([[redirects]], _redirects,",
        "# serve.json), the pages that answer with redirect(), then the single-page apps'",
        "# history fallback ([spa]). Netlify and Cloudflare Pages syntax: from, to, status.",
        *site,
    ]
    seen: set[str] = set()
    for redirect in [*sorted(redirects, key=lambda item: item.sources), *fallbacks]:
        for source in redirect.sources:
            if source not in seen:
                seen.add(source)
                lines.append(f"{source} {redirect.location} {redirect.status}")
    return "\n".join(lines) + "\n"
