"""The bounds the request parser enforces: the protocol layer's own limits type.

The server's configuration builds one of these (``config.Limits.parser_limits``);
the parser knows nothing of the configuration, its timeouts or its connection count.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParserLimits:
    """How large a request may be, part by part; a request over a bound gets 4xx."""

    #: Bytes of the request-target (414 beyond, RFC 9112 section 3).
    max_request_line: int = 8 * 1024
    #: Bytes of header names and values together (431 beyond, RFC 6585 section 5).
    max_header_bytes: int = 64 * 1024
    #: Header field lines (431 beyond).
    max_headers: int = 100
    #: Bytes of a request body unless the app bounds a request otherwise (413 beyond).
    max_body: int = 16 * 1024 * 1024
