"""The HTTP/1.1 server on a real socket: persistence, pipelining, errors, limits, timeouts."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from siteserve.config import Config, Limits
from siteserve.http import Channel, FileBody, Request, Response, UpgradedConnection
from siteserve.http.request import BodyIncomplete
from siteserve.layers import App
from tests.conftest import RunningServer, running_server
from tests.integration.wire import Wire


class EchoChannel(UpgradedConnection):
    """An upgraded connection that echoes bytes back, to test the 101 hand-over."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def data_received(self, data: bytes) -> None:
        self.channel.write(b"echo:" + data)

    def connection_lost(self) -> None:
        pass


class ProtocolApp(App):
    """A tiny app exercising every body kind and timing the server must handle."""

    def __init__(self, big_file: Path) -> None:
        self.big_file = big_file
        self.produced = 0
        self.release = threading.Event()
        self.slow_started = threading.Event()

    def handle(self, request: Request) -> Response | asyncio.Future[Response] | object:
        path = request.path
        if path == "/echo":
            return self._echo(request)
        if path == "/slow":
            return self._slow(request)
        if path == "/wait":
            return self._wait_for_release()
        if path == "/big":
            return Response(200, [], FileBody(self.big_file, 0, self.big_file.stat().st_size))
        if path == "/endless":
            return Response(200, [("Content-Type", "application/octet-stream")], self._endless())
        if path == "/ws":
            return Response(
                101, [("Upgrade", "echo"), ("Connection", "Upgrade")], upgrade=EchoChannel
            )
        if path == "/boom":
            raise RuntimeError("handler failed")
        text = f"{request.method} {path} {request.query}".encode()
        return Response(200, [("Content-Type", "text/plain; charset=utf-8")], text)

    async def _echo(self, request: Request) -> Response:
        try:
            body = await request.body.read()
        except BodyIncomplete:
            return Response(400, [], b"incomplete")
        return Response(200, [("Content-Type", "application/octet-stream")], body)

    async def _slow(self, request: Request) -> Response:
        self.slow_started.set()
        for _ in range(20):
            await asyncio.sleep(0)
        return Response(200, [], b"slow " + request.path.encode())

    async def _wait_for_release(self) -> Response:
        self.slow_started.set()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.release.wait, 10)
        return Response(200, [], b"released")

    async def _endless(self) -> AsyncIterator[bytes]:
        chunk = b"x" * 65536
        for _ in range(4096):  # 256 MiB if nobody stopped us
            self.produced += len(chunk)
            yield chunk


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    block = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB of varied bytes
    with path.open("wb") as out:
        for _ in range(160):  # 20 MiB
            out.write(block)
    return path


@pytest.fixture
def app(big_file: Path) -> ProtocolApp:
    return ProtocolApp(big_file)


def config_with(tmp_path: Path, **limits: float) -> Config:
    return Config(root=tmp_path, limits=replace(Limits(), **limits))  # type: ignore[arg-type]


@pytest.fixture
def server(app: ProtocolApp, tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(app, config_with(tmp_path, max_body=1_000_000)) as running:
        yield running


def test_keep_alive_reuses_one_connection(server: RunningServer) -> None:
    wire = Wire(server.port)
    for i in range(3):
        wire.send(b"GET /k%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
        status, headers, body = wire.read_response()
        assert status == 200 and body == f"GET /k{i} ".encode()
        assert "connection" not in headers
    wire.close()


def test_date_and_server_headers_rfc9110_6_6_1(server: RunningServer) -> None:
    response = httpx.get(server.url("/x"))
    assert response.headers["server"].startswith("siteserve/")
    assert response.headers["date"].endswith(" GMT")


def test_pipelined_responses_in_request_order_rfc9112_9_3_2(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(
        b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /last HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    bodies = [wire.read_response()[2] for _ in range(4)]
    assert bodies == [b"slow /slow", b"GET /fast ", b"abc", b"GET /last "]
    wire.close()


def test_http10_closes_unless_keep_alive_rfc9112_9_3(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(b"GET /a HTTP/1.0\r\n\r\n")
    status, headers, _ = wire.read_response()
    assert status == 200 and headers["connection"] == "close"
    assert wire.closed_by_peer()
    wire = Wire(server.port)
    wire.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert wire.read_response()[1]["connection"] == "keep-alive"
    wire.send(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert wire.read_response()[2] == b"GET /b "


def test_connection_close_is_honoured_rfc9112_9_6(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert wire.read_response()[1]["connection"] == "close"
    assert wire.closed_by_peer()


def test_head_has_get_headers_and_no_body_rfc9110_9_3_2(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(b"HEAD /big HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, _ = wire.read_response(head_only=True)
    assert status == 200 and headers["content-length"] == str(160 * 128 * 1024)
    # The next response starts right after the head: no body bytes were sent.
    assert wire.read_response()[2] == b"GET /after "


def test_content_length_and_chunked_request_bodies(server: RunningServer) -> None:
    assert httpx.post(server.url("/echo"), content=b"payload").content == b"payload"

    def chunks() -> Iterator[bytes]:
        yield b"one,"
        yield b"two"

    assert httpx.post(server.url("/echo"), content=chunks()).content == b"one,two"


def test_expect_100_continue_rfc9110_10_1_1(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    )
    status, _, _ = wire.read_response()
    assert status == 100
    wire.send(b"data")
    assert wire.read_response()[:1] == (200,)


def test_expect_100_continue_not_sent_when_body_is_not_wanted(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(
        b"POST /plain HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    )
    status, headers, _ = wire.read_response()
    assert status == 200 and headers["connection"] == "close"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        (b"GET / HTTP/1.7\r\nHost: t\r\n\r\n", 505),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 70000 + b"\r\n\r\n", 431),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413),
    ],
)
def test_bad_requests_get_an_answer_and_the_server_keeps_serving(
    server: RunningServer, request_bytes: bytes, status: int
) -> None:
    wire = Wire(server.port)
    wire.send(request_bytes)
    got, headers, _ = wire.read_response()
    assert got == status
    assert headers["connection"] == "close"
    assert wire.closed_by_peer()
    assert httpx.get(server.url("/still")).status_code == 200


def test_chunked_body_over_limit_is_413(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (100_000, b"z" * 100_000)
    try:
        for _ in range(12):
            wire.send(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert wire.read_response()[0] in (400, 413)


def test_handler_exception_is_500_and_server_survives(server: RunningServer) -> None:
    assert httpx.get(server.url("/boom")).status_code == 500
    assert httpx.get(server.url("/fine")).status_code == 200


def test_error_after_good_pipelined_request_answers_both(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\nNONSENSE\r\n\r\n")
    assert wire.read_response()[2] == b"slow /slow"
    assert wire.read_response()[0] == 400
    assert wire.closed_by_peer()


def test_header_read_timeout_stops_slowloris(app: ProtocolApp, tmp_path: Path) -> None:
    config = config_with(tmp_path, header_timeout=0.3, keepalive_timeout=5.0)
    with running_server(app, config) as server:
        wire = Wire(server.port)
        started = time.monotonic()
        wire.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
        for _ in range(3):  # a trickle of header lines that never ends the head
            wire.send(b"X-Drip: 1\r\n")
        status, _, _ = wire.read_response()
        assert status == 408
        assert wire.closed_by_peer()
        assert time.monotonic() - started < 5.0


def test_keep_alive_idle_timeout_closes(app: ProtocolApp, tmp_path: Path) -> None:
    config = config_with(tmp_path, keepalive_timeout=0.3)
    with running_server(app, config) as server:
        wire = Wire(server.port)
        wire.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert wire.read_response()[0] == 200
        started = time.monotonic()
        assert wire.closed_by_peer(within=5.0)
        assert time.monotonic() - started >= 0.25


def test_silent_connection_is_closed_after_header_timeout(app: ProtocolApp, tmp_path: Path) -> None:
    with running_server(app, config_with(tmp_path, header_timeout=0.3)) as server:
        assert Wire(server.port).closed_by_peer(within=5.0)


def test_max_connections(app: ProtocolApp, tmp_path: Path) -> None:
    with running_server(app, config_with(tmp_path, max_connections=2)) as server:
        first, second = Wire(server.port), Wire(server.port)
        for wire in (first, second):
            wire.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert wire.read_response()[0] == 200
        third = Wire(server.port)
        status, headers, _ = third.read_response()
        assert status == 503 and headers["retry-after"] == "1"
        first.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            wire = Wire(server.port)
            wire.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            if wire.read_response()[0] == 200:
                break
        else:
            raise AssertionError("a slot never freed up")


def test_large_file_arrives_whole(server: RunningServer, big_file: Path) -> None:
    with httpx.stream("GET", server.url("/big")) as response:
        digest = hashlib.sha256()
        for chunk in response.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(big_file.read_bytes()).hexdigest()


def test_slow_reader_of_large_file_gets_it_all(server: RunningServer, big_file: Path) -> None:
    wire = Wire(server.port)
    wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    wire.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
    status, _, body = wire.read_response()
    assert status == 200 and body == big_file.read_bytes()


def test_back_pressure_bounds_what_a_stream_produces(
    server: RunningServer, app: ProtocolApp
) -> None:
    wire = Wire(server.port)
    wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    wire.send(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
    # Read nothing; poll until production has stalled (unchanged for 3 polls), bounded.
    deadline = time.monotonic() + 5
    last, unchanged = -1, 0
    while time.monotonic() < deadline and unchanged < 3:
        threading.Event().wait(0.05)  # polling interval, not a wait for an outcome
        current = app.produced
        unchanged = unchanged + 1 if current == last else 0
        last = current
    assert unchanged >= 3, "the stream never stalled behind the unread socket"
    assert 0 < app.produced < 16 * 1024 * 1024
    wire.close()


def test_upgrade_hands_the_connection_over(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly")
    status, headers, _ = wire.read_response()
    assert status == 101 and headers["upgrade"] == "echo"
    deadline = time.monotonic() + 5
    while b"echo:early" not in wire.buffer and time.monotonic() < deadline:
        wire._fill(deadline)
    assert b"echo:early" in wire.buffer
    wire.send(b"more")
    while b"echo:more" not in wire.buffer and time.monotonic() < deadline:
        wire._fill(deadline)
    assert b"echo:more" in wire.buffer


def test_graceful_shutdown_finishes_in_flight_and_refuses_new(
    app: ProtocolApp, tmp_path: Path
) -> None:
    with running_server(app, config_with(tmp_path)) as server:
        wire = Wire(server.port)
        wire.send(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
        assert app.slow_started.wait(5)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        deadline = time.monotonic() + 5
        refused = False
        while time.monotonic() < deadline and not refused:
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            except OSError:
                refused = True
        app.release.set()
        status, headers, body = wire.read_response()
        stopper.join(10)
        assert refused
        assert (status, body) == (200, b"released")
        assert headers["connection"] == "close"
        assert not stopper.is_alive()


# -- framing refusals: one answer, then the connection closes (RFC 9112 sections 3.2, 6, 9) --

SECOND = b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n"


def answers_until_eof(wire: Wire) -> list[int]:
    """The status of every final answer on the connection, once the server has closed it."""
    assert wire.closed_by_peer(), f"the server kept the connection open; got {wire.buffer!r}"
    statuses = []
    while wire.buffer:
        status, _, _ = wire.read_response()
        if status >= 200:
            statuses.append(status)
    return statuses


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: u@x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        (b"GET http://u@t/ HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n",
            501,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            501,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"FFFFFFFFFFFFFFFF\r\nabc",
            413,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"F4241;ext=1\r\n",  # one byte over the million this server takes
            413,
        ),
    ],
)
def test_framing_refusal_is_the_only_answer_on_its_connection(
    server: RunningServer, request_bytes: bytes, status: int
) -> None:
    wire = Wire(server.port)
    wire.send(request_bytes + SECOND)
    assert answers_until_eof(wire) == [status]
    assert httpx.get(server.url("/still")).status_code == 200


def test_close_beside_keep_alive_in_http10_is_the_last_answer_rfc9112_9_6(
    server: RunningServer,
) -> None:
    wire = Wire(server.port)
    wire.send(b"GET /first HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n" + SECOND)
    assert answers_until_eof(wire) == [200]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /a HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: Example.COM\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: 192.0.2.7:80\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: , chunked\r\n\r\n"
        b"3;x=y\r\nabc\r\n0\r\n\r\n",
    ],
)
def test_valid_spellings_are_served_and_the_connection_goes_on(
    server: RunningServer, request_bytes: bytes
) -> None:
    wire = Wire(server.port)
    wire.send(request_bytes + SECOND)
    status, _, body = wire.read_response()
    assert status == 200 and body in (b"GET /a ", b"abc")
    assert wire.read_response()[:3:2] == (200, b"GET /second ")


def _over_the_limit(wire: Wire) -> None:
    """A chunked body one byte over the server's million, that byte the last one sent.

    Nothing follows it: bytes the server has not read when it closes would turn its
    close into a reset, which may drop the answer before the client reads it.
    """
    chunk = b"%x\r\n%s\r\n" % (100_000, b"z" * 100_000)
    wire.send(chunk * 10)
    wire.send(b"1\r\nz")


def test_chunked_body_over_limit_while_its_handler_reads_is_one_413(
    server: RunningServer,
) -> None:
    wire = Wire(server.port)
    wire.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    assert wire.read_response()[0] == 100  # the handler has begun to read the body
    _over_the_limit(wire)
    # It used to be answered twice: 400 by the handler that saw the body break, then 413.
    assert answers_until_eof(wire) == [413]


def test_body_over_limit_after_the_answer_brings_no_second_answer(server: RunningServer) -> None:
    wire = Wire(server.port)
    wire.send(b"POST /plain HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert wire.read_response()[0] == 200  # answered without reading the body
    _over_the_limit(wire)
    assert answers_until_eof(wire) == []
