"""What a proxy changes in the header fields it forwards, both ways (no I/O).

The rules are RFC 9110's for an intermediary: hop-by-hop fields stay on their
hop (section 7.6.1), each hop adds itself to ``Via`` (section 7.6.3). The
de-facto ``X-Forwarded-*`` fields tell the backend who asked and how, and
``Location`` and ``Set-Cookie`` are rewritten on the way back so a redirect or
a login made by the backend lands on the proxy's own origin and path.
"""

from __future__ import annotations

import functools
from typing import NamedTuple
from urllib.parse import urlsplit

from siteserve.config import ProxyRoute
from siteserve.http.framing import declared_length
from siteserve.http.request import Request

#: RFC 9110 section 7.6.1: fields that belong to one connection, never forwarded.
#: (``Proxy-*`` fields are matched by their prefix.)
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
#: The writer frames our responses and dates them itself (``http.writer``).
_WRITER_OWNS = frozenset({"content-length", "date", "server"})
VIA = "1.1 siteserve"
#: Request fields never passed on as the browser sent them: hop-by-hop, our own
#: forwarding fields (replaced), ``Expect`` (answered by us when the body was read)
#: and Content-Length (said again, once, by ``request_headers``).
_NOT_FORWARDED = HOP_BY_HOP | {
    "host",
    "expect",
    "x-forwarded-proto",
    "x-forwarded-host",
    "content-length",
}


class BackendURL(NamedTuple):
    """A route's backend URL, taken apart once: where to connect and what to put in front."""

    scheme: str
    host: str
    port: int
    netloc: str
    #: The base path, without its trailing slash ("" for none).
    base: str


@functools.lru_cache(maxsize=64)
def backend_url(url: str) -> BackendURL:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host, port = parts.hostname or "", parts.port or default
    return BackendURL(parts.scheme, host, port, parts.netloc, parts.path.rstrip("/"))


def hop_by_hop(fields: list[tuple[str, str]]) -> frozenset[str]:
    """The hop-by-hop field names of one message: the fixed ones and those ``Connection`` names."""
    named = {
        token.strip().lower()
        for name, value in fields
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return HOP_BY_HOP | named


def _is_hop(name: str, hops: frozenset[str]) -> bool:
    return name in hops or name.startswith("proxy-")


def backend_target(route: ProxyRoute, request: Request) -> str:
    """The request target the backend sees: the route's base path, the (stripped) path, query."""
    path = request.path
    if route.strip_prefix and route.prefix != "/":
        path = path[len(route.prefix) :] or "/"
        if not path.startswith("/"):
            path = "/" + path
    target = backend_url(route.url).base + path
    return f"{target}?{request.query}" if request.query else target


def request_headers(
    route: ProxyRoute, request: Request, *, plain_html: bool = False
) -> list[tuple[str, str]]:
    """The request's fields as the backend gets them.

    ``plain_html``: a page the reload script goes into must come uncompressed,
    so a request that accepts HTML asks the backend for no content coding.
    """
    fields = request.headers.items()  # names are lower-case
    connection = request.headers.get("connection")
    dropped = _NOT_FORWARDED if connection is None else _NOT_FORWARDED | hop_by_hop(fields)
    strip_coding = plain_html and "text/html" in (request.headers.get("accept") or "")
    backend = backend_url(route.url)
    out: list[tuple[str, str]] = [("host", backend.netloc if route.change_origin else request.host)]
    forwarded_for: list[str] = []
    via: list[str] = []
    for name, value in fields:
        if _is_hop(name, dropped):
            continue
        if name == "x-forwarded-for":
            forwarded_for.append(value)
        elif name == "via":
            via.append(value)
        elif name != "accept-encoding" or not strip_coding:
            out.append((name, value))
    forwarded_for.append(request.client[0] if request.client else "unknown")
    via.append(VIA)
    out.append(("x-forwarded-for", ", ".join(forwarded_for)))
    out.append(("x-forwarded-proto", request.scheme))
    out.append(("x-forwarded-host", request.host))
    out.append(("via", ", ".join(via)))
    # Read as the parser read it ("5, 5" is 5: RFC 9110 section 8.6), sent once.
    body_length = declared_length(request.headers.get("content-length"))
    if body_length is not None:
        out.append(("content-length", str(body_length)))
    elif "chunked" in (request.headers.get("transfer-encoding") or "").lower():
        # Our hop's framing is gone; the backend's hop frames the streamed body its own way.
        out.append(("transfer-encoding", "chunked"))
    return out


def response_headers(
    route: ProxyRoute, request: Request, fields: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The backend's fields as the browser gets them: hop-by-hop gone, Via added,
    ``Location`` and cookies moved onto our origin."""
    hops = hop_by_hop(fields)
    out: list[tuple[str, str]] = []
    via: list[str] = []
    for name, value in fields:
        lowered = name.lower()
        if _is_hop(lowered, hops) or lowered in _WRITER_OWNS:
            continue
        if lowered == "via":
            via.append(value)
            continue
        if lowered in ("location", "content-location"):
            value = rewrite_location(route, request, value)
        elif lowered == "set-cookie":
            value = rewrite_cookie(route, value)
        out.append((name, value))
    out.append(("Via", ", ".join([*via, VIA])))
    return out


def _outside_path(route: ProxyRoute, backend_path: str) -> str:
    """A backend path as the browser must ask for it: the base path off, the prefix back on."""
    base = backend_url(route.url).base
    if base and (backend_path == base or backend_path.startswith(base + "/")):
        backend_path = backend_path[len(base) :] or "/"
    if route.strip_prefix and route.prefix != "/":
        return route.prefix if backend_path == "/" else route.prefix + backend_path
    return backend_path


def rewrite_location(route: ProxyRoute, request: Request, value: str) -> str:
    """A redirect to the backend itself (or a path on it) -> the same place through us.

    A redirect to anywhere else (a login provider) is left as it is.
    """
    parts = urlsplit(value)
    backend = backend_url(route.url)
    if parts.scheme or parts.netloc:
        same = (parts.scheme or backend.scheme) == backend.scheme and parts.netloc in (
            backend.netloc,
            request.host,
        )
        if not same:
            return value
    elif not value.startswith("/"):
        return value  # relative to the current URL: right through us as it is
    path = _outside_path(route, parts.path or "/")
    if parts.query:
        path += "?" + parts.query
    if parts.fragment:
        path += "#" + parts.fragment
    return path


def rewrite_cookie(route: ProxyRoute, value: str) -> str:
    """``Domain`` dropped (the cookie is then the proxy's host's, RFC 6265 section 5.3 step 6)
    and ``Path`` moved under the prefix the backend was reached through."""
    attributes = value.split(";")
    kept = [attributes[0]]
    for attribute in attributes[1:]:
        name, _, path = attribute.strip().partition("=")
        lowered = name.strip().lower()
        if lowered == "domain":
            continue
        if lowered == "path" and path.startswith("/"):
            attribute = f" Path={_outside_path(route, path)}"
        kept.append(attribute)
    return ";".join(kept)
