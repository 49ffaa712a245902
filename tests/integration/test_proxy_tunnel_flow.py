"""The WebSocket tunnel holds a bounded amount for a side that does not read.

A backend (a thread here, a raw socket on port 0) switches protocols and then
either stops reading while the browser sends as fast as it can, or sends as fast
as it can to a browser that does not read. The sender must stall once the
sockets' kernel buffers and the server's own high-water marks are full; with no
bound in the server it would get all of ``FLOOD`` through. Then the slow side
reads, and every byte sent arrives, in order: the paused side was resumed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningServer

Serve = Callable[..., RunningServer]

#: What a sender tries to push through a side that does not read.
FLOOD = 96 * 1024 * 1024
#: A send that makes no progress for this long means the pipe is full.
STALL_S = 0.5
DEADLINE_S = 30.0
#: The tunnel's own allowance: the backend's unread bytes, one read toward the browser,
#: the browser's and the backend's transport buffers (generously).
SERVER_ALLOWANCE = 4 * 1024 * 1024
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: flood\r\nConnection: Upgrade\r\n\r\n"
SMALL_BUFFER = 64 * 1024
PATTERN = bytes(range(256)) * 256  # 64 KiB whose bytes say where they were in the stream


def _sysctl_max(name: str) -> int:
    return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])


def _bound() -> int:
    """What the kernel may hold between the two ends, plus the server's own allowance.

    The test's sockets have small buffers; the server's two sockets may grow to the
    system's maximum (receive on the side that sends, send on the side that does not read).
    """
    kernel = 4 * 2 * SMALL_BUFFER + _sysctl_max("tcp_rmem") + _sysctl_max("tcp_wmem")
    return kernel + SERVER_ALLOWANCE


class OneShotBackend:
    """Accepts one connection, answers its upgrade request with 101, then runs ``after``."""

    def __init__(self, after: Callable[[socket.socket], None]) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = int(self.listener.getsockname()[1])
        self._after = after
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.listener.settimeout(DEADLINE_S)
            conn, _ = self.listener.accept()
            with conn:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
                conn.settimeout(DEADLINE_S)
                head = b""
                while b"\r\n\r\n" not in head:
                    data = conn.recv(65536)
                    assert data, "closed before the upgrade request"
                    head += data
                conn.sendall(SWITCH)
                self._after(conn)
        except BaseException as error:  # reported by the test
            self.error = error

    def close(self) -> None:
        self.thread.join(DEADLINE_S)
        self.listener.close()
        if self.error is not None:
            raise self.error


def _send_until_stalled(sock: socket.socket, total: int) -> int:
    """Bytes of the repeating pattern sent before a send makes no progress for STALL_S."""
    sock.settimeout(STALL_S)
    sent = 0
    started = time.monotonic()
    while sent < total and time.monotonic() - started < DEADLINE_S:
        offset = sent % len(PATTERN)
        try:
            sent += sock.send(PATTERN[offset:])
        except TimeoutError:
            break
    return sent


def _receive_exactly(sock: socket.socket, count: int) -> None:
    """Read ``count`` bytes and check they are the pattern, in order."""
    sock.settimeout(DEADLINE_S)
    got = 0
    while got < count:
        data = sock.recv(min(1 << 20, count - got))
        assert data, f"closed after {got} of {count} bytes"
        offset = got % len(PATTERN)
        expected = (PATTERN * (len(data) // len(PATTERN) + 2))[offset : offset + len(data)]
        assert data == expected, f"wrong bytes at {got}"
        got += len(data)


def _browser(server: RunningServer) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    sock.connect(("127.0.0.1", server.port))
    sock.settimeout(DEADLINE_S)
    sock.sendall(
        f"GET /api/flood HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Connection: Upgrade\r\nUpgrade: flood\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)  # byte by byte: nothing after the head is taken here
        assert data, head
        head += data
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@pytest.fixture
def serve_proxy(serve_site: Serve, tmp_path: Path) -> Iterator[Callable[[int], RunningServer]]:
    root = tmp_path / "site"
    root.mkdir()

    def start(port: int) -> RunningServer:
        (root / "siteserve.toml").write_text(f'[proxy]\n"/api" = "http://127.0.0.1:{port}"\n')
        return serve_site(root)

    yield start


def test_a_fast_browser_into_a_backend_that_stops_reading_is_held_back(
    serve_proxy: Callable[[int], RunningServer],
) -> None:
    may_read = threading.Event()
    sent_total: list[int] = []

    def stop_reading_then_drain(conn: socket.socket) -> None:
        assert may_read.wait(DEADLINE_S)
        _receive_exactly(conn, sent_total[0])

    backend = OneShotBackend(stop_reading_then_drain)
    server = serve_proxy(backend.port)
    with _browser(server) as browser:
        sent = _send_until_stalled(browser, FLOOD)
        sent_total.append(sent)
        may_read.set()
        backend.close()
    assert sent < _bound() < FLOOD, (sent, _bound())


def test_a_fast_backend_into_a_browser_that_does_not_read_is_held_back(
    serve_proxy: Callable[[int], RunningServer],
) -> None:
    sent_total: list[int] = []
    stalled = threading.Event()
    drained = threading.Event()

    def flood(conn: socket.socket) -> None:
        sent_total.append(_send_until_stalled(conn, FLOOD))
        stalled.set()
        assert drained.wait(DEADLINE_S)  # keep the socket open until the browser read it all

    backend = OneShotBackend(flood)
    server = serve_proxy(backend.port)
    with _browser(server) as browser:
        assert stalled.wait(DEADLINE_S), backend.error  # the backend sends until it stalls
        _receive_exactly(browser, sent_total[0])
        drained.set()
        backend.close()
    assert sent_total[0] < _bound() < FLOOD, (sent_total[0], _bound())
