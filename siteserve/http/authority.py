"""The authority grammar (``uri-host [ ":" port ]``), in one place.

RFC 9110 section 7.2 gives ``Host`` this syntax, and section 4.2.1 gives it to
an ``http`` URI's authority, both by way of RFC 3986 section 3.2. The parser
checks a request's Host and absolute-form target with it (``http.framing``);
the host check and the origin rule (``siteserve.hosts``) take it apart with it
before they normalise the name.
"""

from __future__ import annotations

import ipaddress
import re

#: reg-name (RFC 3986 section 3.2.2: unreserved, pct-encoded and sub-delims, possibly
#: empty), then an optional port (3.2.3: any run of digits, the empty one included).
#: An IPv4address is also a reg-name: one rule covers both.
_REG_NAME_PORT = re.compile(r"((?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::([0-9]*))?")
#: What may follow an IP-literal: an optional port.
_PORT = re.compile(r"(?::([0-9]*))?")
#: IPvFuture (RFC 3986 section 3.2.2), inside the brackets of an IP-literal.
_IP_FUTURE = re.compile(r"v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+")


def split_authority(text: str) -> tuple[str, str] | None:
    """``text`` as (host, port digits); None when it is not ``uri-host [ ":" port ]``.

    The host is as written (an IP-literal keeps its brackets; it may be empty);
    the port is "" when there is none or it is empty (``port = *DIGIT``).
    No userinfo (``u@x``), no path (``x/y``), nothing outside the grammar.
    """
    if text.startswith("["):
        literal, bracket, rest = text[1:].partition("]")
        if not bracket or not _ip_literal(literal):
            return None
        port = _PORT.fullmatch(rest)
        if port is None:
            return None
        return f"[{literal}]", port.group(1) or ""
    match = _REG_NAME_PORT.fullmatch(text)
    if match is None:
        return None
    return match.group(1), match.group(2) or ""


def valid_authority(text: str, *, empty_host: bool) -> bool:
    """Whether ``text`` is ``uri-host [ ":" port ]`` (RFC 9110 section 7.2, RFC 3986 3.2.2).

    An empty host is a valid Host value (RFC 9112 section 3.2: the client of a
    URI without authority sends one) but not the authority of an ``http`` URI
    (RFC 9110 section 4.2.1): ``empty_host`` says which is being read. An empty
    port after the colon is in the grammar and is accepted.
    """
    parts = split_authority(text)
    return parts is not None and (empty_host or parts[0] != "")


def _ip_literal(text: str) -> bool:
    if _IP_FUTURE.fullmatch(text):
        return True
    if "%" in text:
        return False  # a zone identifier (RFC 6874) is not in RFC 3986's IP-literal
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
