"""The server side of a WebSocket over our own HTTP connection (RFC 6455).

The opening handshake is an ordinary request answered with
``101 Switching Protocols`` whose ``upgrade`` hands the connection to a
``WebSocket``; from then on the server feeds it raw bytes and wsproto does the
framing. The reload channel needs text messages only: no extensions, no
subprotocols.

A WebSocket is not held to the same-origin policy: any page may open one to
any address, 127.0.0.1 included. So a handshake is refused (403) unless its
``Origin`` is the origin it was sent to (``siteserve.origins``; a browser
always sends one, RFC 6455 section 4.1), and, when the app asks for one, it
carries the app's secret ``token`` in its query: a page of another origin
can neither read nor guess it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from urllib.parse import parse_qs

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, generate_accept_token

from siteserve.hosts import AllowedHosts
from siteserve.http.request import Request
from siteserve.http.response import Channel, Response
from siteserve.http.writer import text_response
from siteserve.origins import is_own_origin

#: A reload client says hello and little else; anything larger is a mistake or abuse.
MAX_MESSAGE = 64 * 1024
#: The query parameter that carries the token (not ``token``: a share link's is called that).
TOKEN_PARAMETER = "socket_token"


def _tokens(value: str | None) -> set[str]:
    return {token.strip().lower() for token in (value or "").split(",")}


def _plain(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return text_response(status, text, headers=headers or ())


def handshake_problem(request: Request, hosts: AllowedHosts | None = None) -> Response | None:
    """The error response for a request that is not a valid opening handshake, else None.

    ``hosts`` (the server's names) also holds the ``Origin`` to one of them.
    """
    headers = request.headers
    if request.method != "GET" or "websocket" not in _tokens(headers.get("upgrade")):
        # RFC 9110 section 15.5.22: a 426 names the protocol to switch to.
        return _plain(426, "this address speaks WebSocket only", [("Upgrade", "websocket")])
    if "upgrade" not in _tokens(headers.get("connection")):
        return _plain(400, "Connection: Upgrade expected")
    if headers.get("sec-websocket-version") != "13":
        # RFC 6455 section 4.4: answer with the versions we do speak.
        return _plain(426, "WebSocket version 13 expected", [("Sec-WebSocket-Version", "13")])
    key = headers.get("sec-websocket-key", "") or ""
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError(key)
    except (binascii.Error, ValueError):
        return _plain(400, "bad Sec-WebSocket-Key")
    origin = headers.get("origin")
    if origin is not None and not is_own_origin(origin, request, hosts):
        # Only pages from this server may listen (RFC 6455 section 10.2); no Origin
        # at all is a client that is not a browser, which no web page can drive.
        return _plain(403, "cross-origin WebSocket refused")
    return None


def accept(
    request: Request,
    on_open: Callable[[WebSocket], None],
    *,
    token: str | None = None,
    hosts: AllowedHosts | None = None,
) -> Response:
    """Answer an opening handshake: 101 with a WebSocket taking over, or an error.

    ``on_open`` runs with the new WebSocket once the server has switched the
    connection over, so it can attach its callbacks before any frame arrives.
    With ``token``, the handshake's query must carry ``socket_token=`` that value.
    """
    problem = handshake_problem(request, hosts)
    if problem is not None:
        return problem
    if token is not None and not _carries(request, token):
        return _plain(403, "this WebSocket needs the token its page was given")
    key = (request.headers.get("sec-websocket-key") or "").encode("ascii")

    def upgrade(channel: Channel) -> WebSocket:
        socket = WebSocket(channel)
        on_open(socket)
        return socket

    return Response(
        status=101,
        headers=[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", generate_accept_token(key).decode("ascii")),
        ],
        upgrade=upgrade,
    )


def _carries(request: Request, token: str) -> bool:
    try:
        given = parse_qs(request.query, max_num_fields=8).get(TOKEN_PARAMETER, [""])[0]
    except ValueError:
        return False
    # In constant time: how long a comparison takes says nothing of the token.
    return hmac.compare_digest(given.encode(), token.encode())


class WebSocket:
    """One open WebSocket: bytes in through ``data_received``, text out through ``send``."""

    def __init__(self, channel: Channel, *, max_message: int = MAX_MESSAGE) -> None:
        self._channel = channel
        self._ws = Connection(ConnectionType.SERVER)
        self._max_message = max_message
        self._parts: list[str] = []
        self._size = 0
        self._closed = False
        #: Called with each complete text message.
        self.on_message: Callable[[str], None] | None = None
        #: Called once when the connection is gone, whoever closed it.
        self.on_close: Callable[[], None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    # -- UpgradedConnection ------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            self._ws.receive_data(data)
        except LocalProtocolError:
            self._finish()
            return
        for event in self._ws.events():
            if isinstance(event, TextMessage):
                self._take_text(event)
            elif isinstance(event, BytesMessage):
                self.close(CloseReason.UNSUPPORTED_DATA, "text only")
            elif isinstance(event, Ping):
                self._write(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                # wsproto never answers a close frame itself (RFC 6455 section 5.5.1);
                # in state OPEN the "close" is its report of a malformed frame (7.4.1).
                if self._ws.state in (ConnectionState.REMOTE_CLOSING, ConnectionState.OPEN):
                    self._write(self._ws.send(event.response()))
                self._finish()
            if self._closed:
                return

    def connection_lost(self) -> None:
        self._finish()

    def server_stopping(self) -> None:
        """The server shuts down (called by it before it closes the connection)."""
        self.close(CloseReason.GOING_AWAY, "server stopping")

    # -- used by the app ---------------------------------------------------------

    def send(self, text: str) -> bool:
        """Send one text message; False when the connection is no longer open."""
        if self._closed or self._ws.state is not ConnectionState.OPEN:
            return False
        return self._write(self._ws.send(TextMessage(data=text)))

    def close(self, code: int = CloseReason.NORMAL_CLOSURE, reason: str = "") -> None:
        """Send a close frame and drop the connection (1001 "going away" at shutdown)."""
        if self._closed:
            return
        if self._ws.state is ConnectionState.OPEN:
            self._write(self._ws.send(CloseConnection(code=code, reason=reason)))
        self._finish()

    # -- internals ---------------------------------------------------------------

    def _take_text(self, event: TextMessage) -> None:
        self._size += len(event.data)
        if self._size > self._max_message:
            self.close(CloseReason.MESSAGE_TOO_BIG, "message too big")
            return
        self._parts.append(event.data)
        if not event.message_finished:
            return
        text = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        if self.on_message is not None:
            self.on_message(text)

    def _write(self, data: bytes) -> bool:
        if self._channel.is_closing():
            return False
        self._channel.write(data)
        return True

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._channel.is_closing():
            self._channel.close()
        if self.on_close is not None:
            self.on_close()
