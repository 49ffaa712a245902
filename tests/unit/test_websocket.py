"""The WebSocket handshake (RFC 6455 section 4) and framing, with bytes and no sockets.

A wsproto client-side Connection plays the browser: it masks its frames as a
browser must, and parses what the server writes to the fake channel.
"""

from __future__ import annotations

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from siteserve.hosts import AllowedHosts
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.reload.websocket import WebSocket, accept, handshake_problem

# The example of RFC 6455 section 1.3.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


class FakeChannel:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def handshake(**overrides: str | None) -> Request:
    fields = {
        "host": "127.0.0.1:8000",
        "upgrade": "websocket",
        "connection": "keep-alive, Upgrade",
        "sec-websocket-key": KEY,
        "sec-websocket-version": "13",
        "origin": "http://127.0.0.1:8000",
    }
    fields.update(overrides)
    headers = Headers([(k, v) for k, v in fields.items() if v is not None])
    return Request("GET", "/__siteserve/ws", "/__siteserve/ws", "", headers)


# -- handshake --------------------------------------------------------------------------


def test_rfc6455_4_2_2_accept_key_and_switching_headers() -> None:
    response = accept(handshake(), lambda socket: None)
    assert response.status == 101
    assert response.header("sec-websocket-accept") == ACCEPT
    assert response.header("upgrade") == "websocket"
    assert response.header("connection") == "Upgrade"
    assert response.upgrade is not None
    # No extension or subprotocol is agreed to.
    assert response.header("sec-websocket-extensions") is None
    assert response.header("sec-websocket-protocol") is None


def test_the_upgrade_handler_opens_a_websocket_and_tells_the_app() -> None:
    opened: list[WebSocket] = []
    response = accept(handshake(), opened.append)
    assert response.upgrade is not None
    connection = response.upgrade(FakeChannel())
    assert opened == [connection]


def test_header_tokens_are_case_insensitive() -> None:
    assert handshake_problem(handshake(upgrade="WebSocket", connection="upgrade")) is None


def test_no_origin_header_is_allowed() -> None:
    # Non-browser clients send no Origin; only browsers can be tricked into connecting.
    assert handshake_problem(handshake(origin=None)) is None


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"upgrade": None}, 426),
        ({"upgrade": "h2c"}, 426),
        ({"connection": "keep-alive"}, 400),
        ({"sec-websocket-version": "8"}, 426),
        ({"sec-websocket-version": None}, 426),
        ({"sec-websocket-key": None}, 400),
        ({"sec-websocket-key": "not base64!"}, 400),
        ({"sec-websocket-key": "c2hvcnQ="}, 400),  # decodes to 5 bytes, not 16
        ({"origin": "http://evil.example"}, 403),
        ({"origin": "http://127.0.0.1:9999"}, 403),
    ],
)
def test_bad_handshakes_are_refused(overrides: dict[str, str | None], status: int) -> None:
    response = accept(handshake(**overrides), lambda socket: None)
    assert response.status == status
    assert response.upgrade is None


def test_426_names_what_to_speak() -> None:
    plain_get = handshake(upgrade=None)
    assert accept(plain_get, lambda s: None).header("upgrade") == "websocket"
    old = handshake(**{"sec-websocket-version": "8"})
    assert accept(old, lambda s: None).header("sec-websocket-version") == "13"


def test_post_is_not_a_handshake() -> None:
    request = handshake()
    request.method = "POST"
    assert accept(request, lambda s: None).status == 426


# -- frames -----------------------------------------------------------------------------


class Pair:
    """A server WebSocket on a fake channel, and a wsproto client talking to it."""

    def __init__(self, **options: int) -> None:
        self.channel = FakeChannel()
        self.server = WebSocket(self.channel, **options)
        self.client = Connection(ConnectionType.CLIENT)
        self.messages: list[str] = []
        self.closes = 0
        self.server.on_message = self.messages.append
        self.server.on_close = self._closed

    def _closed(self) -> None:
        self.closes += 1

    def send(self, *events: object) -> None:
        data = b"".join(self.client.send(event) for event in events)  # type: ignore[arg-type]
        self.server.data_received(data)

    def received(self) -> list[object]:
        self.client.receive_data(bytes(self.channel.written))
        self.channel.written.clear()
        return list(self.client.events())


def test_text_messages_both_ways() -> None:
    pair = Pair()
    pair.send(TextMessage('{"type": "hello"}'))
    assert pair.messages == ['{"type": "hello"}']
    assert pair.server.send('{"type": "reload"}') is True
    assert pair.received() == [TextMessage('{"type": "reload"}')]


def test_fragmented_message_is_delivered_whole() -> None:
    pair = Pair()
    pair.send(TextMessage("hel", message_finished=False), TextMessage("lo"))
    assert pair.messages == ["hello"]


def test_bytes_fed_one_at_a_time() -> None:
    pair = Pair()
    data = pair.client.send(TextMessage("slow"))
    for index in range(len(data)):
        pair.server.data_received(data[index : index + 1])
    assert pair.messages == ["slow"]


def test_ping_is_answered_with_pong() -> None:
    pair = Pair()
    pair.send(Ping(b"are you there"))
    assert pair.received() == [Pong(b"are you there")]


def test_client_close_is_answered_and_the_connection_dropped() -> None:
    pair = Pair()
    pair.send(CloseConnection(1000, "bye"))
    assert pair.received() == [CloseConnection(1000, "bye")]
    assert pair.channel.closed
    assert pair.server.closed and pair.closes == 1
    assert pair.server.send("late") is False


def test_server_close_sends_going_away() -> None:
    pair = Pair()
    pair.server.close(1001, "server stopping")
    assert pair.received() == [CloseConnection(1001, "server stopping")]
    assert pair.channel.closed and pair.closes == 1
    pair.server.close()  # twice is harmless
    assert pair.closes == 1


def test_binary_messages_are_refused_with_1003() -> None:
    pair = Pair()
    pair.send(BytesMessage(b"\x00\x01"))
    assert pair.received() == [CloseConnection(1003, "text only")]
    assert pair.channel.closed


def test_oversized_messages_are_refused_with_1009() -> None:
    pair = Pair(max_message=100)
    pair.send(TextMessage("x" * 60, message_finished=False), TextMessage("y" * 60))
    assert pair.messages == []
    assert pair.received() == [CloseConnection(1009, "message too big")]


def test_unmasked_client_frame_is_a_protocol_error() -> None:
    pair = Pair()
    # A text frame "hi" without the mask bit, as only a server may send (RFC 6455 5.1).
    pair.server.data_received(b"\x81\x02hi")
    events = pair.received()
    assert len(events) == 1 and isinstance(events[0], CloseConnection)
    assert events[0].code == 1002
    assert pair.channel.closed and pair.messages == []


def test_connection_lost_calls_on_close_once() -> None:
    pair = Pair()
    pair.server.connection_lost()
    pair.server.connection_lost()
    assert pair.closes == 1
    assert pair.server.send("x") is False
    pair.server.data_received(b"\x81\x82")  # ignored after the end


def test_server_stopping_says_going_away() -> None:
    pair = Pair()
    pair.server.server_stopping()
    assert pair.received() == [CloseConnection(1001, "server stopping")]
    assert pair.channel.closed and pair.closes == 1


# -- origin and token (siteserve.origins, siteserve.hosts) ------------------------------


def test_refusals_carry_a_charset_and_nosniff() -> None:
    for overrides in ({"origin": "http://evil.example"}, {"upgrade": None}, {"connection": "x"}):
        refused = accept(handshake(**overrides), lambda socket: None)
        assert refused.header("content-type") == "text/plain; charset=utf-8"
        assert refused.header("x-content-type-options") == "nosniff"
        assert refused.header("cache-control") == "no-store"


def tokened(query: str, **overrides: str | None) -> Request:
    request = handshake(**overrides)
    request.query = query
    request.target = f"{request.path}?{query}"
    return request


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("socket_token=s3cret", 101),
        ("x=1&socket_token=s3cret", 101),
        ("socket_token=s3cre", 403),
        ("socket_token=s3cretX", 403),
        ("socket_token=", 403),
        ("", 403),
        ("socket_token=S3CRET", 403),
        ("token=s3cret", 403),  # a share link's parameter, not ours
        ("&".join(["a=1"] * 20) + "&socket_token=s3cret", 403),  # not a query of ours
    ],
)
def test_the_token_is_required(query: str, status: int) -> None:
    response = accept(tokened(query), lambda socket: None, token="s3cret")
    assert response.status == status
    if status == 403:
        assert response.upgrade is None
        assert response.header("x-content-type-options") == "nosniff"


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000", 101),
        ("localhost:8000", "http://localhost:8000", 101),
        ("[::1]:8000", "http://[::1]:8000", 101),
        ("127.0.0.1:8000", None, 101),  # not a browser
        ("127.0.0.1:8000", "http://127.0.0.1:9999", 403),  # another origin on this machine
        ("127.0.0.1:8000", "https://127.0.0.1:8000", 403),
        ("127.0.0.1:8000", "null", 403),
        # A rebinding page is same-origin with its request: its name is what gives it away.
        ("evil.example:8000", "http://evil.example:8000", 403),
        ("tunnel.example", "https://tunnel.example", 101),  # --allowed-host, behind TLS
    ],
)
def test_the_origin_is_one_of_the_servers_names(host: str, origin: str | None, status: int) -> None:
    names = AllowedHosts.for_bind("127.0.0.1", ["tunnel.example"])
    request = tokened("socket_token=t", host=host, origin=origin)
    assert accept(request, lambda socket: None, token="t", hosts=names).status == status
