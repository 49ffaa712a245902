"""A strict reading of RFC 9112's request framing, written apart from siteserve's parser.

The property tests compare siteserve with it: for a byte stream, ``read_requests``
says which requests a server that holds to every MUST of RFC 9112 may act on, and
with which bodies. Where the RFC leaves a choice (a MAY, or "reject or replace"),
this reading takes the one that reads fewer requests, with four exceptions that
cannot shift a request boundary and that llhttp allows: more than one SP between
the parts of the request-line (section 3), any visible character in a target, any
run of CR and LF before a request-line (section 2.2 has a server ignore empty lines
there and lets it take a lone LF as one; llhttp skips lone CRs too), and an empty
chunk extension value (``;a=``, section 7.1.1: extensions are ignored).
It knows nothing of siteserve: no import from the package.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") +([\x21-\x7e]+) +HTTP/([0-9])\.([0-9])")
_FIELD_LINE = re.compile(
    rb"(" + _TOKEN + rb"):[ \t]*((?:[\t \x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)[ \t]*"
)
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*"
    + _TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _TOKEN
    + rb"|"
    + _QUOTED
    + rb")?)?)*"
)
_CODING = re.compile(
    _TOKEN
    + rb"(?:[ \t]*;[ \t]*"
    + _TOKEN
    + rb"[ \t]*=[ \t]*(?:"
    + _TOKEN
    + rb"|"
    + _QUOTED
    + rb"))*"
)
_LIST_ITEM = re.compile(rb'(?:[^,"]|' + _QUOTED + rb")+")
_REG_NAME = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_IP_FUTURE = re.compile(rb"v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+")


@dataclass(frozen=True)
class Read:
    """One request a strict server may act on."""

    method: str
    target: str
    #: The whole body; None when the head may be acted on but its body is refused or cut short.
    body: bytes | None


class _Stop(Exception):
    """Nothing after this point is a request."""


def read_requests(data: bytes, max_body: int) -> list[Read]:
    """The requests in ``data`` a strict server may act on, in order."""
    reads: list[Read] = []
    pos = 0
    while True:
        while data[pos : pos + 1] in (b"\r", b"\n"):
            pos += 1  # empty lines before a request-line are ignored (section 2.2)
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return reads  # no complete head (or a broken one nobody needs to act on)
        try:
            method, target, persists, framing = _head(data[pos:end], max_body)
        except _Stop:
            return reads
        pos = end + 4
        if framing == "none":
            body: bytes | None = b""
        elif framing == "chunked":
            body, pos = _chunked(data, pos, max_body)
        else:
            length = int(framing)
            body = data[pos : pos + length] if len(data) - pos >= length else None
            pos += length
        reads.append(Read(method, target, body))
        if body is None or not persists:
            return reads


def _head(head: bytes, max_body: int) -> tuple[str, str, bool, str]:
    lines = head.split(b"\r\n")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise _Stop
    method, target, major, minor = match.groups()
    version = (int(major), int(minor))
    if version not in ((1, 0), (1, 1)):
        raise _Stop
    fields: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        field = _FIELD_LINE.fullmatch(line)  # obs-fold, CR, LF, NUL, space before ":" all fail
        if field is None:
            raise _Stop
        fields.setdefault(field.group(1).lower(), []).append(field.group(2))
    hosts = fields.get(b"host", [])
    if len(hosts) > 1 or (version == (1, 1) and not hosts):
        raise _Stop  # section 3.2
    if hosts and not _authority(hosts[0], empty_host=True):
        raise _Stop
    if not _target(method, target):
        raise _Stop
    connection = {item.lower() for item in _items(fields.get(b"connection", []))}
    if method == b"CONNECT" or (b"upgrade" in connection and b"upgrade" in fields):
        # A tunnel or another protocol: what follows the head is no HTTP request.
        return method.decode(), target.decode(), False, "none"
    persists = b"close" not in connection and (version == (1, 1) or b"keep-alive" in connection)
    codings = fields.get(b"transfer-encoding")
    lengths = fields.get(b"content-length")
    if codings is not None:
        if version == (1, 0) or lengths is not None:
            raise _Stop  # section 6.1; 6.3 item 3 (a server may refuse the pair)
        items = _items(codings)
        if any(_CODING.fullmatch(item) is None for item in items):
            raise _Stop  # not a transfer-coding at all
        if [item.lower() for item in items] != [b"chunked"]:
            raise _Stop  # anything but chunked alone: 400 or 501 (sections 6.1, 6.3, 7)
        return method.decode(), target.decode(), persists, "chunked"
    if lengths is not None:
        if len(lengths) > 1 or not lengths[0].isdigit():
            raise _Stop  # section 6.3 item 5
        length = int(lengths[0])
        if length > max_body:
            raise _Stop  # refused (413) before anything is acted on
        return method.decode(), target.decode(), persists, str(length)
    return method.decode(), target.decode(), persists, "none"


def _items(values: list[bytes]) -> list[bytes]:
    """A list field's elements over all its lines, empty ones dropped (RFC 9110 5.6.1)."""
    items = []
    for value in values:
        for item in _LIST_ITEM.findall(value):
            item = item.strip(b" \t")
            if item:
                items.append(item)
    return items


def _target(method: bytes, target: bytes) -> bool:
    if target.startswith(b"/"):
        return True
    if target == b"*":
        return method == b"OPTIONS"
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        return False
    authority = re.split(rb"[/?#]", rest, maxsplit=1)[0]
    return _authority(authority, empty_host=False)


def _authority(text: bytes, *, empty_host: bool) -> bool:
    """uri-host [ ":" port ], RFC 3986 section 3.2.2 and 3.2.3."""
    if text.startswith(b"["):
        inner, bracket, rest = text[1:].partition(b"]")
        if not bracket or (rest and re.fullmatch(rb":[0-9]*", rest) is None):
            return False
        if _IP_FUTURE.fullmatch(inner):
            return True
        try:
            ipaddress.IPv6Address(inner.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return False
        return b"%" not in inner
    host, _, port = text.rpartition(b":") if b":" in text else (text, b"", b"")
    if _REG_NAME.fullmatch(host) is None or (port and not port.isdigit()):
        return False
    return empty_host or bool(host)


def _chunked(data: bytes, pos: int, max_body: int) -> tuple[bytes | None, int]:
    """RFC 9112 section 7.1: chunks, the last chunk, trailer fields, CRLF."""
    body = bytearray()
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None, len(data)
        match = _CHUNK_LINE.fullmatch(data[pos:end])
        if match is None:
            return None, len(data)
        size = int(match.group(1), 16)
        pos = end + 2
        if len(body) + size > max_body:
            return None, len(data)  # refused once the size is known (413)
        if size == 0:
            break
        if len(data) - pos < size + 2 or data[pos + size : pos + size + 2] != b"\r\n":
            return None, len(data)
        body += data[pos : pos + size]
        pos += size + 2
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None, len(data)
        if end == pos:
            return bytes(body), pos + 2
        if _FIELD_LINE.fullmatch(data[pos:end]) is None:
            return None, len(data)
        pos = end + 2
