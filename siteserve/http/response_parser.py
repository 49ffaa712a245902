"""Response parsing, for the proxy's backend side: bytes in, answer heads and bodies out.

The mirror of ``parser`` for the other direction: llhttp tokenises, this module
keeps what a client of a server needs from it. Interim 1xx answers other than
101 are skipped (RFC 9110 section 15.2: a client must be ready for any number of
them before the final answer), a head is bounded in size, and the answer to a
HEAD has no body whatever its Content-Length says (RFC 9110 section 9.3.2),
which llhttp cannot be told, so the exchange ends at its head and the parser is
not used again. After a ``101`` the rest of the bytes belong to the new protocol.
"""

from __future__ import annotations

from typing import Protocol

import httptools

#: A backend's answer head larger than this is not taken as HTTP.
MAX_HEAD_BYTES = 256 * 1024


class ResponseParseError(Exception):
    """The bytes are not an HTTP/1.1 answer (or its head is too large)."""


class ResponseHead:
    """An answer's status line and fields, once its header section is complete."""

    __slots__ = ("headers", "keep_alive", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], keep_alive: bool) -> None:
        self.status = status
        self.headers = headers
        self.keep_alive = keep_alive


class ResponseSink(Protocol):
    """What the reader of answers does with the parser's events."""

    def on_response_head(self, head: ResponseHead) -> None: ...

    def on_response_body(self, data: bytes) -> None: ...

    def on_response_end(self) -> None: ...


class ResponseParser:
    """Answers on one connection, one after another (keep-alive reuses the parser)."""

    __slots__ = (
        "_head_bytes",
        "_head_only",
        "_headers",
        "_in_head",
        "_parser",
        "_sink",
        "_skipping",
    )

    def __init__(self, sink: ResponseSink) -> None:
        self._sink = sink
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._in_head = False
        self._head_only = False
        #: The answer being parsed is an interim 1xx: none of it is reported.
        self._skipping = False

    def expect_head_only(self) -> None:
        """The next answer is to a HEAD: it ends with its head (and the connection is
        spent, since llhttp would read the body its Content-Length announces)."""
        self._head_only = True

    def feed(self, data: bytes) -> int | None:
        """Parse ``data``. Returns None, or after a 101 the offset in ``data`` where the
        new protocol's bytes begin. Raises ResponseParseError for anything else than HTTP."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            return int(upgrade.args[0]) if upgrade.args else len(data)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, ResponseParseError):
                raise cause from None
            raise ResponseParseError(f"not an HTTP answer: {error}") from None
        except httptools.HttpParserError as error:
            raise ResponseParseError(f"not an HTTP answer: {error}") from None
        if self._in_head:
            # A head split across reads: llhttp holds the unfinished field, so what was
            # fed while the head is open counts (an over-estimate is harmless).
            self._count(len(data))
        return None

    # -- llhttp callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        self._headers = []
        self._head_bytes = 0
        self._in_head = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise ResponseParseError("answer head too large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        status = parser.get_status_code()
        self._skipping = 100 <= status < 200 and status != 101
        if self._skipping:
            return
        keep_alive = parser.should_keep_alive() and not self._head_only
        self._sink.on_response_head(ResponseHead(status, self._headers, keep_alive))
        if self._head_only:
            self._skipping = True  # whatever llhttp thinks follows is not this answer's
            self._sink.on_response_end()

    def on_body(self, body: bytes) -> None:
        if not self._skipping:
            self._sink.on_response_body(body)

    def on_message_complete(self) -> None:
        if not self._skipping:
            self._sink.on_response_end()
