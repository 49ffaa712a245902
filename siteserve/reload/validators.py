"""How an injected page meets HTTP's rules on validators, codings and ranges.

A page with the script in it is a representation of its own: it gets its own
ETag (the site's with a suffix), and the site, which knows only its own tags,
never sees ours. Revalidations of an injected page are therefore asked of the
site unconditionally and compared here; compressed or partial HTML is asked for
again whole and plain, since the script goes into the identity body.
"""

from __future__ import annotations

from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.reload import inject

#: Navigations ask for identity bodies, so the script can go in without decompressing.
_DOCUMENT_DESTINATIONS = frozenset({"document", "iframe", "frame", "embed", "object"})
_CONDITIONAL = ("if-none-match", "if-modified-since")


def for_site(request: Request) -> tuple[Request, bool]:
    """The request as the Site should see it, and whether we answer its condition ourselves.

    A page's validators carry our ETag suffix; the site knows only its own, so a
    revalidation of an injected page goes to the site unconditionally and the
    comparison is made here against the injected page's ETag.
    """
    headers = request.headers
    inm = headers.get("if-none-match")
    revalidating = inm is not None and inject.ETAG_SUFFIX in inm
    navigation = headers.get("sec-fetch-dest") in _DOCUMENT_DESTINATIONS
    tagged_range = inject.ETAG_SUFFIX in (headers.get("if-range") or "")
    if not (revalidating or navigation or tagged_range):
        return request, False
    dropped = {"accept-encoding"} if navigation else set()
    if revalidating:
        dropped.update(_CONDITIONAL)
    if tagged_range:
        # Ranges of an injected page are never offered; the whole page is the answer.
        dropped.update(("range", "if-range"))
    kept = Headers((name, value) for name, value in headers.items() if name not in dropped)
    return with_headers(request, kept), revalidating


def with_headers(request: Request, headers: Headers) -> Request:
    # Built directly: dataclasses.replace costs more than the rest of a static answer.
    return Request(
        request.method,
        request.target,
        request.path,
        request.query,
        headers,
        request.version,
        request.client,
        request.scheme,
        request.body,
    )


def needs_identity(request: Request, response: Response) -> Headers | None:
    """Headers for a second try when an HTML answer came compressed or as a range."""
    if not inject.is_html(response.header("content-type")) or inject.is_download(response):
        return None
    if response.status != 206 and response.header("content-encoding") in (None, "identity"):
        return None
    dropped = {"accept-encoding", "range", "if-range"}
    return Headers((n, v) for n, v in request.headers.items() if n not in dropped)


def etag_listed(value: str | None, etag: str) -> bool:
    """Weak comparison against an If-None-Match list (RFC 9110 section 13.1.2)."""
    if value is None:
        return False
    if value.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(item.strip().removeprefix("W/") == bare for item in value.split(","))


#: What a 304 keeps from the 200 it stands for (RFC 9110 section 15.4.5).
_NOT_MODIFIED_KEEP = frozenset(
    {"etag", "cache-control", "vary", "expires", "content-location", "last-modified"}
)


def not_modified_if_matching(request: Request, response: Response) -> Response:
    etag = response.header("etag")
    if response.status != 200 or etag is None:
        return response
    if not etag_listed(request.headers.get("if-none-match"), etag):
        return response
    headers = [(n, v) for n, v in response.headers if n.lower() in _NOT_MODIFIED_KEEP]
    return Response(304, headers, b"", sources=response.sources)
