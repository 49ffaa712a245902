"""What the proxy sends a backend and passes back, against a raw backend socket on port 0.

The request body is framed as the head sent says, whatever else the head holds;
an answer the browser did not ask for (a 101 to a plain request) never reaches it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.conftest import RunningServer
from tests.integration.wire import Wire

Serve = Callable[..., RunningServer]
DEADLINE_S = 10.0


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"


class RecordingBackend:
    """Accepts one connection, reads one request framed by its Content-Length, answers ``reply``."""

    def __init__(self, reply: bytes = NO_CONTENT) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.body = b""
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(DEADLINE_S)
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(DEADLINE_S)
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
            length = int(fields.get(b"content-length", b"0"))
            while len(rest) < length:
                rest += connection.recv(65536)
            self.body = rest[:length]
            connection.sendall(self.reply)

    def join(self) -> None:
        self._thread.join(DEADLINE_S)
        self.listener.close()


def proxied_site(tmp_path: Path, port: int) -> Path:
    """A site folder whose /api goes to the backend on ``port``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "siteserve.toml").write_text(f'[proxy."/api"]\nurl = "http://127.0.0.1:{port}"\n')
    return site


def test_a_field_value_naming_chunked_does_not_chunk_a_sized_body(
    serve_site: Serve, tmp_path: Path
) -> None:
    backend = RecordingBackend()
    server = serve_site(proxied_site(tmp_path, backend.port))
    answer = httpx.post(
        server.url("/api/upload"),
        content=b"hello",
        headers={"X-Note": "transfer-encoding: chunked"},
    )
    backend.join()
    assert answer.status_code == 204
    # Chunk framing on a Content-Length body would give the backend "5\r\nhe" here, and
    # the rest would be read as a second request on a reused connection.
    assert backend.body == b"hello"


def test_a_switch_the_browser_did_not_ask_for_answers_502(
    serve_site: Serve, tmp_path: Path
) -> None:
    # RFC 9110 section 15.2.2: a server switches only to a protocol the client's Upgrade
    # named; a 101 to a request without one is no answer to give the browser.
    switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\nConnection: Upgrade\r\n\r\n"
    backend = RecordingBackend(switch)
    server = serve_site(proxied_site(tmp_path, backend.port))
    wire = Wire(server.port)
    wire.send(b"GET /api/page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, _, _ = wire.read_response()
    wire.close()
    backend.join()
    assert status == 502


class DroppingBackend:
    """Answers the first request on its first connection (keep-alive), then drops that
    connection after reading its second request; answers every request on later ones.
    ``methods`` records each request line's method, in the order they came."""

    OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(DEADLINE_S)
        self.port = int(self.listener.getsockname()[1])
        self.methods: list[str] = []
        self._current: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _heads(self, connection: socket.socket) -> Iterator[bytes]:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                more = connection.recv(65536)
                if not more:
                    return
                data += more
            head, _, data = data.partition(b"\r\n\r\n")
            self.methods.append(head.split(b" ", 1)[0].decode())
            yield head

    def _serve(self) -> None:
        first = True
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                self._current = connection
                with connection:
                    connection.settimeout(DEADLINE_S)
                    for number, _head in enumerate(self._heads(connection)):
                        if first and number == 1:
                            break  # gone without an answer, the request read
                        connection.sendall(self.OK)
                    first = False

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread's accept now
        self.listener.close()
        if self._current is not None:
            with contextlib.suppress(OSError):
                self._current.shutdown(socket.SHUT_RDWR)  # ends the thread's recv now
        self._thread.join(DEADLINE_S)


def test_a_non_idempotent_request_is_not_sent_again_when_its_connection_drops(
    serve_site: Serve, tmp_path: Path
) -> None:
    # RFC 9110 section 9.2.2: a proxy must not retry a non-idempotent request by itself;
    # the backend may have acted on it before the connection went.
    backend = DroppingBackend()
    server = serve_site(proxied_site(tmp_path, backend.port))
    wire = Wire(server.port)
    try:
        wire.send(b"GET /api/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert wire.read_response()[0] == 200  # its backend connection is pooled now
        wire.send(b"POST /api/b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, _ = wire.read_response()
    finally:
        wire.close()
        backend.stop()
    assert backend.methods == ["GET", "POST"]
    assert status == 502
