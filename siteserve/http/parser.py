"""Request parsing: bytes in, requests out, every limit enforced.

httptools (llhttp) does the tokenising; this module adds what llhttp leaves
to the server: size limits, version checks, the framing rules of ``framing``
(Host, Transfer-Encoding, persistence), and the mapping from parser errors to
the status a client should see.
"""

from __future__ import annotations

import re
from typing import Protocol

import httptools

from siteserve.http.authority import valid_authority
from siteserve.http.chunks import ChunkSizes
from siteserve.http.errors import ProtocolError
from siteserve.http.framing import check_host, declared_length, is_chunked, persists
from siteserve.http.headers import Headers
from siteserve.http.limits import ParserLimits

#: method SP request-target SP HTTP-version (RFC 9112 section 3), method a token (RFC 9110 5.6.2).
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ \r\n]+ HTTP/[0-9]\.[0-9]\r?\n")


class ParserSink(Protocol):
    """What the connection does with parser events."""

    def on_request_head(self, head: RequestHead) -> int | None:
        """A request's head is complete: answer its body bound (None: ``limits.max_body``).

        The bound is asked here, once, before any of the body is parsed: an
        app may let one request send more (an upload to a folder) than others.
        """
        ...

    def on_request_body(self, data: bytes) -> None: ...

    def on_request_end(self) -> None: ...


class RequestHead:
    """Everything known about a request once its header section is complete."""

    __slots__ = ("headers", "keep_alive", "method", "path", "query", "target", "upgrade", "version")

    def __init__(
        self,
        method: str,
        target: str,
        path: str,
        query: str,
        version: str,
        headers: Headers,
        keep_alive: bool,
        upgrade: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.upgrade = upgrade


def split_target(target: str) -> tuple[str, str]:
    """Split a request-target into (path, query), per RFC 9112 section 3.2.

    Origin-form is the norm; absolute-form must be accepted too (3.2.2), and
    asterisk-form only means something for OPTIONS (3.2.4).
    """
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    if target == "*":
        return "*", ""
    lowered = target[:8].lower()
    if lowered.startswith(("http://", "https://")):
        rest = target.split("//", 1)[1]
        _check_authority(rest)
        slash = rest.find("/")
        if slash < 0:
            question = rest.find("?")
            return "/", rest[question + 1 :] if question >= 0 else ""
        path, _, query = rest[slash:].partition("?")
        return path, query
    raise ProtocolError(400, "request-target must be a path")


def _check_authority(rest: str) -> None:
    """The authority of an absolute-form target: a host, a port, nothing else.

    RFC 9110 section 4.2.1 rejects an http(s) URI with an empty host, and 4.2.4
    has a recipient treat userinfo (``http://u@x/``) as an error.
    """
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter)
        if 0 <= found < end:
            end = found
    if not valid_authority(rest[:end], empty_host=False):
        raise ProtocolError(400, "invalid authority in the request-target")


class RequestParser:
    """Feeds bytes to llhttp and reports complete request heads, bodies and ends.

    Head size is bounded even while llhttp buffers a half-read header: every
    byte fed while a head is incomplete is counted against the limit. The
    sink answers each head with that request's body bound.
    """

    def __init__(self, sink: ParserSink, limits: ParserLimits) -> None:
        self._sink = sink
        self._limits = limits
        self._max_body = limits.max_body
        self._parser = httptools.HttpRequestParser(self)
        self._url_parts: list[bytes] = []
        self._url_size = 0
        self._headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._in_head = False
        self._head_bytes = 0
        self._body_bytes = 0
        self._completed_in_feed = 0
        self._head_limit = limits.max_request_line + limits.max_header_bytes
        self._chunks = ChunkSizes()
        self.upgrade_offset: int | None = None

    # -- the only entry point --------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Parse ``data``; raise ProtocolError for anything a client must be told about."""
        began_in_head = self._in_head
        self._completed_in_feed = 0
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.upgrade_offset = int(upgrade.args[0]) if upgrade.args else len(data)
            return
        except httptools.HttpParserInvalidMethodError:
            # A well-formed request line with a method we do not know is 501
            # (RFC 9110 section 15.6.2); anything else is not HTTP at all: 400.
            # Only the start of this read is known to be the failing request's start.
            if self._completed_in_feed == 0 and _REQUEST_LINE.match(data):
                raise ProtocolError(501, "method not implemented") from None
            if data.startswith(b"\x16\x03"):
                raise ProtocolError(400, "TLS handshake on a plain HTTP port") from None
            raise ProtocolError(400, "malformed request line") from None
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, ProtocolError):
                raise cause from None
            raise ProtocolError(400, "malformed request") from None
        except httptools.HttpParserError as error:
            message = str(error)
            if "PRI" in message or "HTTP version" in message:
                raise ProtocolError(505, "HTTP version not supported") from None
            raise ProtocolError(400, f"malformed request: {message}") from None
        self._refuse_announced_chunk(data)
        if self._in_head:
            # A head split across reads: count what llhttp may be holding for it.
            # When a earlier request ended inside this same read, only the tail
            # belongs to the new head; it is counted from the next read on.
            if began_in_head or self._completed_in_feed == 0:
                self._head_bytes += len(data)
            if self._head_bytes > self._head_limit:
                status = 431 if self._headers else 414
                if self._url_size and self._url_size <= self._limits.max_request_line:
                    status = 431
                raise ProtocolError(status, "request head too large")

    def _refuse_announced_chunk(self, data: bytes) -> None:
        # A chunk that declares more than the body may still take is refused now,
        # not once its bytes have come (RFC 9110 section 15.5.14: 413).
        to_come = self._chunks.still_to_come(data)
        if to_come is not None and self._body_bytes + to_come > self._max_body:
            raise ProtocolError(413, "request body too large")

    @property
    def in_head(self) -> bool:
        """Whether a request head has begun and is not yet complete."""
        return self._in_head

    # -- llhttp callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._url_parts = []
        self._url_size = 0
        self._headers = []
        self._header_bytes = 0
        self._body_bytes = 0
        self._chunks.body_ends()

    def on_url(self, url: bytes) -> None:
        self._url_size += len(url)
        if self._url_size > self._limits.max_request_line:
            raise ProtocolError(414, "request-target too long")
        self._url_parts.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Names lower-cased here, once, as ``Headers`` keeps them.
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))
        if len(self._headers) > self._limits.max_headers:
            raise ProtocolError(431, "too many header fields")
        # A running total: summing the list again per field made a head cost O(n^2).
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self._limits.max_header_bytes:
            raise ProtocolError(431, "header section too large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            # HTTP/0.9 has no headers to frame a response with (RFC 9112 section 2.3).
            raise ProtocolError(505, "HTTP version not supported")
        headers = Headers.of_lowered(self._headers)
        check_host(headers.getall("host"), version)
        chunked = is_chunked(headers.get("transfer-encoding"), version)
        target = b"".join(self._url_parts).decode("latin-1")
        path, query = split_target(target)
        method = parser.get_method().decode("ascii")
        if path == "*" and method != "OPTIONS":
            raise ProtocolError(400, "asterisk-form is only for OPTIONS")
        head = RequestHead(
            method=method,
            target=target,
            path=path,
            query=query,
            version=version,
            headers=headers,
            keep_alive=self._persists(headers, version),
            upgrade=parser.should_upgrade(),
        )
        limit = self._sink.on_request_head(head)
        self._max_body = self._limits.max_body if limit is None else limit
        length = declared_length(headers.get("content-length"))
        if length is not None and length > self._max_body:
            raise ProtocolError(413, "request body too large")
        self._chunks.body_begins(chunked)

    def _persists(self, headers: Headers, version: str) -> bool:
        # llhttp's reading and RFC 9112 section 9.3's must both keep the connection:
        # llhttp lets a "close" beside "keep-alive" in HTTP/1.0 pass, and treats
        # Proxy-Connection as Connection.
        return self._parser.should_keep_alive() and persists(headers.get("connection"), version)

    def on_body(self, body: bytes) -> None:
        # A chunked body has no length up front: count it as it comes.
        self._body_bytes += len(body)
        if self._body_bytes > self._max_body:
            raise ProtocolError(413, "request body too large")
        self._chunks.chunk_data(len(body))
        self._sink.on_request_body(body)

    def on_chunk_header(self) -> None:
        self._chunks.chunk_header()

    def on_chunk_complete(self) -> None:
        self._chunks.chunk_complete()

    def on_message_complete(self) -> None:
        self._completed_in_feed += 1
        self._chunks.body_ends()
        self._sink.on_request_end()
