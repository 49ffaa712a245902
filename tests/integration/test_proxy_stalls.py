"""The proxy's backend connections when one side stalls or leaves, against a raw backend.

A backend that stops reading an upload is given the route's read timeout, then
504 and a closed connection; a browser that leaves mid-answer (its connection
reset) takes its backend connection with it, even while the backend sends
nothing. The backend counts its open connections: none may be left behind.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningServer
from tests.integration.waiting import until
from tests.integration.wire import Wire

Serve = Callable[..., RunningServer]
DEADLINE_S = 10.0
#: More than every buffer between the browser and a backend that reads nothing holds
#: (two sockets' kernel buffers each way, the transports', the request body's).
UPLOAD = 48 * 1024 * 1024
#: An answer's head and first piece, then nothing: a backend still thinking (a long poll).
STALLED_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 65536


class StallingBackend:
    """Reads each request's head, then stalls: without reading its body, or (``answer``)
    after sending ``STALLED_ANSWER``. ``open`` counts the connections the proxy has
    not closed; ``release`` lets a stalled reader drain its connection to the end."""

    def __init__(self, *, answer: bool) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.open = 0
        self.accepted = 0
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                with self._lock:
                    self.open += 1
                    self.accepted += 1
                thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.settimeout(3 * DEADLINE_S)
            data = b""
            while b"\r\n\r\n" not in data:
                more = connection.recv(65536)
                if not more:
                    break
                data += more
            if self.answer:
                connection.sendall(STALLED_ANSWER)
            else:
                self.release.wait(3 * DEADLINE_S)
            while connection.recv(1 << 20):
                pass  # until the proxy closes its end
        with self._lock:
            self.open -= 1

    def stop(self) -> None:
        self.release.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._accepting.join(DEADLINE_S)


@pytest.fixture
def stalling() -> Iterator[Callable[..., StallingBackend]]:
    made: list[StallingBackend] = []

    def make(*, answer: bool) -> StallingBackend:
        made.append(StallingBackend(answer=answer))
        return made[-1]

    yield make
    for backend in made:
        backend.stop()


def proxied_site(tmp_path: Path, port: int, read_timeout: float = 60.0) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "siteserve.toml").write_text(
        f'[proxy."/api"]\nurl = "http://127.0.0.1:{port}"\nread_timeout = {read_timeout}\n'
    )
    return site


def test_an_upload_the_backend_stops_reading_answers_504_and_closes_it(
    serve_site: Serve, tmp_path: Path, stalling: Callable[..., StallingBackend]
) -> None:
    backend = stalling(answer=False)
    server = serve_site(proxied_site(tmp_path, backend.port, read_timeout=0.5))
    wire = Wire(server.port)
    wire.send(b"POST /api/up HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % UPLOAD)

    def upload() -> None:
        with contextlib.suppress(OSError):  # the server closes once it has answered
            wire.sock.sendall(b"u" * UPLOAD)

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    status, _, body = wire.read_response()
    assert status == 504
    assert b"did not answer in time" in body
    backend.release.set()  # now it reads: to the end, if the proxy closed its connection
    until(lambda: backend.open == 0, "the proxy to close the stalled backend connection")
    wire.close()
    sender.join(DEADLINE_S)


@pytest.mark.parametrize("clients", [3])
def test_browsers_that_leave_mid_answer_leave_no_backend_connection_open(
    serve_site: Serve, tmp_path: Path, stalling: Callable[..., StallingBackend], clients: int
) -> None:
    backend = stalling(answer=True)
    server = serve_site(proxied_site(tmp_path, backend.port))
    for _ in range(clients):
        wire = Wire(server.port)
        wire.send(b"GET /api/poll HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, _, _ = wire.read_response(head_only=True)
        assert status == 200
        # Gone while the backend is still thinking, as a closed tab goes: a reset (a FIN
        # alone is a half-close, after which a client may still read its answer).
        wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        wire.close()
    until(lambda: backend.accepted == clients, "every request to reach the backend")
    until(lambda: backend.open == 0, "the proxy to close the backend connections")
