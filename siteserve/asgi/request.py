"""An ASGI HTTP scope and its ``receive`` as the project's ``Request``.

The request body is read from ``receive`` only as the handler asks for it, one
message at a time: the ASGI server holds back the rest (it stops reading the
socket), so an upload is never whole in memory here. The body bound is the
app's (``App.body_limit``), checked as the built-in server's parser checks it:
a declared length over the bound is refused before the handler runs, a body
that grows past it fails while it is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from siteserve.asgi.types import HttpScope, Receive
from siteserve.http.headers import Headers
from siteserve.http.request import BodyIncomplete, BodyTooLarge, Request

#: What a path from ``scope["path"]`` keeps when it is percent-encoded again (the
#: characters RFC 3986 section 3.3 allows in a path, besides unreserved ones).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class ReceivedBody:
    """A request body (``http.request.Body``) pulled from ASGI ``receive`` as its reader asks.

    ``stream`` and ``read`` behave as the built-in server's body does: a
    disconnect raises ``BodyIncomplete``, a body past ``limit`` raises
    ``BodyTooLarge`` (and ``too_large`` says so afterwards, so the adapter
    answers 413 as the built-in server does).
    """

    __slots__ = ("_limit", "_receive", "complete", "finished", "received", "too_large")

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self.received = 0
        #: Whether no more ``http.request`` message will be read (the last came, or an error).
        self.finished = False
        #: Whether every byte arrived, within the bound.
        self.complete = False
        self.too_large = False

    async def stream(self) -> AsyncIterator[bytes]:
        while not self.finished:
            message = await self._receive()
            if message.get("type") == "http.disconnect":
                self.finished = True
                raise BodyIncomplete("client disconnected")
            chunk = message.get("body", b"")
            self.received += len(chunk)
            if self.received > self._limit:
                self.finished = self.too_large = True
                raise BodyTooLarge("request body too large")
            if not message.get("more_body", False):
                self.finished = self.complete = True
            if chunk:
                yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.stream()])


def request_from_scope(scope: HttpScope) -> Request:
    """The ``Request`` for an ``http`` scope; its body is empty until the adapter gives it one."""
    raw_path = scope.get("raw_path")
    # Request.path is still percent-encoded, as on the wire: ASGI's raw_path is that,
    # and scope["path"] (decoded) is encoded once more only when a server omits it.
    path = raw_path.decode("latin-1") if raw_path else quote(scope["path"], safe=_PATH_SAFE)
    query = scope["query_string"].decode("latin-1")
    client = scope.get("client")
    return Request(
        method=scope["method"],
        target=f"{path}?{query}" if query else path,
        path=path,
        query=query,
        headers=Headers(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
        ),
        version=scope["http_version"],
        # granian gives the client's port as a string.
        client=(str(client[0]), int(client[1])) if client else None,
        scheme=scope.get("scheme", "http"),
    )


def expects_body(request: Request, length: int | None) -> bool:
    """Whether content may follow the head (RFC 9112 section 6.3 for HTTP/1.x).

    ``length`` is the request's Content-Length (``http.framing.declared_length``).
    HTTP/2 and 3 frame a body without either header; there a request has one
    unless it says Content-Length: 0 or is a GET or HEAD without a length.
    """
    if request.version in ("1.1", "1.0"):
        return "transfer-encoding" in request.headers or bool(length)
    if length is not None:
        return length != 0
    return request.method not in ("GET", "HEAD")
