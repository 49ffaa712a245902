"""``Location`` values that cannot leave the server: every redirect we make goes through here.

A redirect built from the request's own path (a folder's ``/a`` -> ``/a/``,
back to the listing after an upload) would point to another host if that path
began with two slashes: ``//evil.example/`` is a network-path reference (RFC
3986 section 4.2), and browsers read ``\\`` as ``/`` in http(s) URLs and drop
tabs, newlines and leading spaces or control characters (WHATWG URL standard),
so ``/\\evil.example`` and `` //evil.example`` go there too. An open redirect
like that lends our address to a phishing link.

So a relative location keeps exactly one leading slash: the whole run of
slashes and backslashes it starts with (``%2F`` and ``%5C`` included, should
a later step decode them) becomes one ``/``. An absolute URL with a scheme
(``https://example.com/``) is left as it is: a page that redirects there
chose to.
"""

from __future__ import annotations

import re

#: RFC 3986 section 3.1: a scheme, then ":" (an absolute URL; ours to leave alone).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
#: The run of separators a relative reference may start with, encoded forms included.
_SEPARATORS = re.compile(r"(?:[/\\]|%2[Ff]|%5[Cc])+")
#: What browsers drop from a URL before parsing: tab and newlines anywhere.
_DROPPED = str.maketrans("", "", "\t\n\r")
#: ... and C0 controls and spaces at either end.
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))


def safe_location(location: str) -> str:
    """``location`` with a leading run of ``/``, ``\\`` (or ``%2F``, ``%5C``) made one ``/``."""
    seen = location.translate(_DROPPED).strip(_C0_AND_SPACE)
    if _SCHEME.match(seen):
        return location
    run = _SEPARATORS.match(seen)
    if run is None or run.group() == "/":
        return seen
    return "/" + seen[run.end() :]
