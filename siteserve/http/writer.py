"""Response heads as bytes: status line, headers, and the framing decision.

The handler never frames its own body; this module decides between
Content-Length, chunked and close-delimited (RFC 9112 section 6), and which
responses carry no body at all (RFC 9110 sections 9.3.2, 15.3.5, 15.4.5).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

from siteserve import __version__
from siteserve.http.dates import http_date
from siteserve.http.response import EncodedFields, FileBody, Response

SERVER_HEADER = f"Server: siteserve/{__version__}\r\n".encode()

_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode()
        _STATUS_LINES[status] = line
    return line


class _DateCache:
    """The Date header changes once a second; format it once a second (RFC 9110 6.6.1)."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._line = f"Date: {http_date(now)}\r\n".encode()
        return self._line


date_cache = _DateCache()


def has_no_body(status: int, method: str) -> bool:
    """HEAD, 1xx, 204 and 304 responses never carry content."""
    return method == "HEAD" or status < 200 or status in (204, 304)


def body_length(response: Response) -> int | None:
    body = response.body
    if isinstance(body, bytes):
        return len(body)
    if isinstance(body, FileBody):
        return body.length
    return response.length


def content_length(response: Response) -> int | None:
    """The Content-Length the head of ``response`` carries; None when it carries none.

    1xx and 204 never carry one (RFC 9110 section 8.6), nor a 304, which has no
    content (section 15.4.5); otherwise it is the body's length when known. HEAD
    carries the length a GET would have (section 9.3.2). Our own writer and the
    ASGI adapter both frame with this rule; what to do without a length
    (chunked, or close) is each transport's own.
    """
    status = response.status
    if status < 200 or status in (204, 304):
        return None
    return body_length(response)


@dataclass(slots=True)
class Framing:
    head: bytes
    send_body: bool
    chunked: bool
    keep_alive: bool


def encode_fields(fields: Iterable[tuple[str, str]]) -> EncodedFields:
    """Encode header fields once, for responses that carry them again and again."""
    pairs = tuple(fields)
    return EncodedFields(pairs, _field_lines(pairs))


def _field_lines(fields: Iterable[tuple[str, str]]) -> bytes:
    return b"".join([f"{name}: {value}\r\n".encode("latin-1") for name, value in fields])


def encode_response_head(
    response: Response, *, method: str, version: str, keep_alive: bool
) -> Framing:
    """Build the head for ``response`` and decide how its body is framed."""
    status = response.status
    keep_alive = keep_alive and not response.close
    headers = response.headers
    encoded = response.encoded
    if encoded is not None and encoded.describes(headers):
        lines = encoded.lines  # made once, for a file version and coding
    else:
        lines = _field_lines(headers)
    length = content_length(response)
    chunked = False
    framing = b""
    if status == 101:
        keep_alive = True
    elif length is not None:
        framing = b"Content-Length: %d\r\n" % length
    elif status < 200 or status in (204, 304):
        pass  # No content and no length (see content_length).
    elif method == "HEAD":
        pass  # The length is only known by generating the content: omitted (RFC 9110 9.3.2).
    elif version == "1.1":
        framing = b"Transfer-Encoding: chunked\r\n"
        chunked = True
    else:
        keep_alive = False  # HTTP/1.0 without a length: the close ends the body.
    if status == 101:
        persistence = b""
    elif not keep_alive:
        persistence = b"Connection: close\r\n"
    elif version == "1.0":
        persistence = b"Connection: keep-alive\r\n"
    else:
        persistence = b""
    head = b"".join(
        (
            status_line(status),
            date_cache.line(),
            SERVER_HEADER,
            lines,
            framing,
            persistence,
            b"\r\n",
        )
    )
    return Framing(
        head=head,
        send_body=not has_no_body(status, method),
        chunked=chunked,
        keep_alive=keep_alive,
    )


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


#: What every answer the server writes itself carries: a charset (so a browser never
#: guesses one), nosniff (so it never guesses a type) and no-store (it is about now).
TEXT_HEADERS = (
    ("Content-Type", "text/plain; charset=utf-8"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)


def text_response(
    status: int,
    message: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    close: bool = False,
) -> Response:
    """A short plain-text answer the server writes itself: ``426 Upgrade Required: ...``.

    Every refusal made outside the Site (protocol errors, the host and origin
    checks, the WebSocket handshake, reserved paths) is made here, so each
    carries the same headers.
    """
    body = f"{status} {reason_phrase(status)}: {message}\n".encode()
    return Response(status=status, headers=[*TEXT_HEADERS, *headers], body=body, close=close)


def simple_response(
    status: int, message: str, *, extra: list[tuple[str, str]] | None = None
) -> Response:
    """A short plain-text answer for protocol-level errors; the connection closes after it."""
    return text_response(status, message, headers=extra or (), close=True)


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
