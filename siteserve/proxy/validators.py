"""Conditional requests for proxied pages that the reload script goes into (no I/O).

With live reload on, the reload layer gives an injected page its own entity tag,
the backend's with ``+reload`` inside the quotes (``reload.inject.tag_etag``;
a different representation needs a different tag, RFC 9110 section 8.8.3). A
browser that stored the injected page revalidates it with ``If-None-Match:
"abc+reload"``, a tag the backend never made, so the backend could only answer
200 and the page never revalidated.

On the way in, each such tag is turned back into the backend's own (``"abc"``):
the backend then answers 304 while its page is the one the injected copy was
made from (RFC 9110 section 13.1.2), and 200 with its new tag when it changed,
which the reload layer derives again when it injects. On the way out, a 304
that validates one of those tags gets the injected form back, so the browser's
stored page keeps its own tag and the reload layer knows it shows an injected page.
``If-Range`` and ``If-Match`` are left alone: the injected page offers no ranges
and is never the target of a write.
"""

from __future__ import annotations

from siteserve.reload.inject import ETAG_SUFFIX, tag_etag
from siteserve.site.conditional import parse_etag_list, split_etag


def backend_if_none_match(value: str) -> tuple[str, frozenset[str]]:
    """``If-None-Match`` as the backend gets it, and the backend's opaque tags that
    stood for injected pages (empty when the field named none)."""
    tags = parse_etag_list(value)
    if not tags or not any(opaque.endswith(ETAG_SUFFIX) for _, opaque in tags):
        return value, frozenset()
    injected: set[str] = set()
    items: list[str] = []
    for weak, opaque in tags:
        if opaque.endswith(ETAG_SUFFIX):
            opaque = opaque[: -len(ETAG_SUFFIX)]
            injected.add(opaque)
        items.append(f'{"W/" if weak else ""}"{opaque}"')
    return ", ".join(items), frozenset(injected)


def browser_not_modified(
    fields: list[tuple[str, str]], injected: frozenset[str]
) -> list[tuple[str, str]]:
    """A backend's 304 fields, its ``ETag`` in the injected form when it validates an
    injected page the browser asked about."""
    out: list[tuple[str, str]] = []
    for name, value in fields:
        if name.lower() == "etag" and split_etag(value.strip())[1] in injected:
            value = tag_etag(value.strip())
        out.append((name, value))
    return out
