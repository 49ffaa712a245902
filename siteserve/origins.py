"""Whether a request comes from a page of this server's own origin (RFC 6454), in one place.

The same-origin policy keeps other pages from *reading* what we serve, but
not from *sending*: any page may submit a form to 127.0.0.1, or open a
WebSocket to it. So what changes things (an upload, a new folder, a page's
POST) and the live-reload socket ask here whether the page that sent the
request is one of ours.

A request's own origin is the scheme, host and port it was sent to: its
``Host`` (which the host check, the outermost layer, has already held to the
names this server is known by) and the scheme of the connection. A name given
with ``--allowed-host`` may sit behind a proxy or tunnel that speaks HTTPS
while we speak HTTP, so for those names either scheme counts as ours.

Browsers say where a request comes from in two ways:

- ``Origin`` (RFC 6454 section 7): sent with every WebSocket handshake, every
  cross-origin request and every POST. ``null`` is an opaque origin (a
  sandboxed frame, a ``data:`` page): never ours, except that a page of ours
  with ``Referrer-Policy: no-referrer`` sends ``null`` with its own POSTs
  (Fetch standard, "serializing a request origin"), which ``Sec-Fetch-Site``
  then tells apart;
- ``Sec-Fetch-Site`` (Fetch Metadata): ``same-origin``, ``same-site``,
  ``cross-site`` or ``none`` (the user typed the address). ``same-site`` is not
  ours: a site ignores ports, so another server on 127.0.0.1 is same-site, and
  so is ``other.localhost``; only ``same-origin`` and ``none`` are.

A request with neither (curl, a script) is not sent by a web page and passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from siteserve.console import printable
from siteserve.hosts import AllowedHosts, parse_authority
from siteserve.http.request import Request

#: RFC 9110 sections 4.2.1 and 4.2.2.
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Fetch Metadata values that name another origin.
FOREIGN_SITES = frozenset({"cross-site", "same-site"})

_SERIALIZED = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]+)")


@dataclass(frozen=True, slots=True)
class Origin:
    """A tuple origin: scheme, normalised host, port (the scheme's default when not given)."""

    scheme: str
    host: str
    port: int


def parse_origin(value: str) -> Origin | None:
    """An ``Origin`` value -> Origin; None for ``null`` and anything not an http(s) origin."""
    match = _SERIALIZED.fullmatch(value.strip())
    if match is None:
        return None
    scheme = match.group(1).lower()
    authority = parse_authority(match.group(2))
    if scheme not in DEFAULT_PORTS or authority is None or not authority.host:
        return None
    port = DEFAULT_PORTS[scheme] if authority.port is None else authority.port
    return Origin(scheme, authority.host, port)


def is_own_origin(value: str, request: Request, hosts: AllowedHosts | None = None) -> bool:
    """Whether the ``Origin`` value names the origin ``request`` was sent to.

    With ``hosts``, the origin's host must also be one of its names, and a name
    given with ``--allowed-host`` may come through a front that speaks HTTPS.
    """
    origin = parse_origin(value)
    own = parse_authority(request.headers.get("host") or "")
    if origin is None or own is None or origin.host != own.host:
        return False
    scheme = request.scheme
    if hosts is not None:
        if not hosts.allows(origin.host):
            return False
        if hosts.through_proxy(origin.host):
            scheme = origin.scheme  # the front's scheme, which we cannot see
    if origin.scheme != scheme:
        return False
    port = DEFAULT_PORTS.get(scheme, 0) if own.port is None else own.port
    return origin.port == port


def foreign_page(request: Request, hosts: AllowedHosts | None = None) -> str | None:
    """Why ``request`` comes from a page of another origin (the header that says so), or None."""
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() in FOREIGN_SITES:
        return f"Sec-Fetch-Site: {site.strip().lower()}"
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin.strip() == "null":
        # Our own page under Referrer-Policy: no-referrer; Fetch Metadata vouches for it.
        return None if site == "same-origin" else "Origin: null"
    if is_own_origin(origin, request, hosts):
        return None
    return f"Origin: {shown(origin)}"


def shown(value: str) -> str:
    """A client's value fit to repeat in a plain-text answer or the terminal."""
    text = printable(value)
    return text if len(text) <= 100 else text[:100] + "..."
