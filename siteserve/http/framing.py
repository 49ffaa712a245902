"""The MUSTs of RFC 9112 about a request's head that llhttp leaves to the server.

llhttp tokenises the head and frames the body; what it lets through and the
RFC refuses is refused here, each rule beside the section it comes from:
the Host field's count and syntax, the Content-Length value, transfer
codings other than chunked, and whether the connection persists. Every
refusal is a ``ProtocolError``, which the connection answers and then closes
on, so nothing after the refused head is ever read as a request.
"""

from __future__ import annotations

import functools
import re

from siteserve.http.authority import valid_authority
from siteserve.http.errors import ProtocolError

#: OWS (RFC 9110 section 5.6.3): what surrounds a field value or a list element.
_OWS = " \t"

#: token (RFC 9110 section 5.6.2).
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
#: quoted-string (RFC 9110 section 5.6.4): qdtext and quoted-pairs between DQUOTEs.
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
#: transfer-coding = token *( OWS ";" OWS transfer-parameter ) (RFC 9112 section 7),
#: transfer-parameter = token BWS "=" BWS ( token / quoted-string ).
#: A list element with its quoted-strings (whose commas separate nothing) kept whole.
_LIST_ELEMENT = re.compile(r'(?:[^,"]+|"(?:[^"\\]|\\.)*"?)+')
_TRANSFER_CODING = re.compile(
    rf"{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}[ \t]*=[ \t]*(?:{_TOKEN}|{_QUOTED}))*"
)


def check_host(values: list[str], version: str) -> None:
    """RFC 9112 section 3.2: 400 for a missing Host in HTTP/1.1, more than one, or a bad one."""
    if len(values) == 1:
        if not _valid_host(values[0]):
            raise ProtocolError(400, "invalid Host header")
    elif values:
        raise ProtocolError(400, "more than one Host header")  # in any version
    elif version == "1.1":
        raise ProtocolError(400, "a Host header is required")


@functools.lru_cache(maxsize=64)
def _valid_host(value: str) -> bool:
    # Remembered: a connection, and a browser, sends the same few Host values again and again.
    return valid_authority(value.strip(_OWS), empty_host=True)


def list_elements(value: str) -> list[str]:
    """A comma-separated list field's elements (RFC 9110 section 5.6.1).

    ``value`` is the field's lines joined with commas (``Headers.get``), which
    means the same (5.3). Empty elements are dropped, as a recipient must
    (``, chunked`` is ``chunked``).
    """
    pieces = _LIST_ELEMENT.findall(value) if '"' in value else value.split(",")
    return [element for piece in pieces if (element := piece.strip(_OWS))]


def declared_length(value: str | None) -> int | None:
    """The length a Content-Length field value (all its lines joined) declares; None if absent.

    ``Content-Length = 1*DIGIT`` (RFC 9110 section 8.6); a list of identical
    values, as a recipient may find when a sender repeated the field, is that
    one length (8.6 again). Anything else is invalid framing, which a server
    must answer with 400 (RFC 9112 section 6.3 item 5): ``ProtocolError(400)``.
    Every reader of the field (the parser, the ASGI adapter, uploads, the
    proxy) reads it here, so each gives the same answer for the same bytes.
    """
    if value is None:
        return None
    if not _is_digits(value):
        lengths = set(list_elements(value))
        if len(lengths) != 1:
            raise ProtocolError(400, "invalid Content-Length")
        (value,) = lengths
        if not _is_digits(value):
            raise ProtocolError(400, "invalid Content-Length")
    if len(value) > _MAX_LENGTH_DIGITS:
        value = value.lstrip("0") or "0"
        if len(value) > _MAX_LENGTH_DIGITS:
            # 8.6: a recipient must not fail on large numerals. Like llhttp, which refuses
            # a length past 64 bits, this refuses one of 10**18 bytes and more, before
            # int() (which refuses over 4300 digits) is asked.
            raise ProtocolError(400, "invalid Content-Length")
    return int(value)


#: Digits in the largest length read, leading zeros aside (2**63 has 19).
_MAX_LENGTH_DIGITS = 18


def _is_digits(text: str) -> bool:
    # str.isdigit alone also takes non-ASCII digits ("\xb2"), which int() refuses.
    return text.isascii() and text.isdigit()


def is_chunked(value: str | None, version: str) -> bool:
    """Check Transfer-Encoding (all its lines joined); answer whether the body is chunked.

    llhttp has already refused what it reads as framing it cannot follow; the
    rules it leaves open are these:
    - HTTP/1.0 with Transfer-Encoding is faulty framing (RFC 9112 section 6.1): 400.
    - chunked must be the final coding, once (6.3 item 4, section 7): else 400.
    - any coding before it is one this server does not implement (only chunked
      is): 501 (section 6.1), since the body could not be decoded.
    """
    if value is None:
        return False
    if version == "1.0":
        raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
    if value == "chunked":
        return True  # what every client sends: nothing to split
    codings = list_elements(value)
    if not codings or codings[-1].lower() != "chunked":
        raise ProtocolError(400, "chunked must be the final transfer coding")
    for coding in codings[:-1]:
        if not _TRANSFER_CODING.fullmatch(coding):
            raise ProtocolError(400, "malformed Transfer-Encoding")
        if coding.lower() == "chunked":
            raise ProtocolError(400, "chunked applied more than once")
    if len(codings) > 1:
        raise ProtocolError(501, "transfer coding not implemented")
    return True


_SINGLE_OPTIONS = {
    spelling: {spelling.lower()} for spelling in ("keep-alive", "Keep-Alive", "close", "Close")
}


def persists(connection: str | None, version: str) -> bool:
    """Whether the connection stays open after this request's answer (RFC 9112 section 9.3).

    The ``close`` option wins in any version (section 9.6: the server must not
    read on after it); else HTTP/1.1 persists, and HTTP/1.0 only with ``keep-alive``.
    """
    if connection is None:
        return version == "1.1"
    options = _SINGLE_OPTIONS.get(connection)  # what browsers send, without a list to split
    if options is None:
        options = {element.lower() for element in list_elements(connection)}
    if "close" in options:
        return False
    return version == "1.1" or "keep-alive" in options
