"""Driving HttpConnection with bytes: a fake transport, a clock the test moves, a scripted app.

No sockets. The connection gets a transport that records what is written and
every pause/resume, and a loop whose ``time()`` is a number the test sets; its
tasks run on the real event loop of the test (``asyncio.run``), so an async
handler, a streamed body or a request body behaves as it does in the server.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ParamSpec, cast

from siteserve.config import Limits
from siteserve.http.request import BodyIncomplete, Request
from siteserve.http.response import Channel, FileBody, Response, UpgradedConnection
from siteserve.layers import App
from siteserve.server.protocol import HttpConnection
from siteserve.server.state import AccessRecord, ServerState

P = ParamSpec("P")

#: Loop turns a test lets pass while it waits for something to happen (or not).
TURNS = 200


def on_loop(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an ``async def`` test on a fresh event loop (pytest itself stays synchronous)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def until(condition: Callable[[], bool], what: str = "condition") -> None:
    """Let the loop run until ``condition`` holds; fail after ``TURNS`` turns."""
    for _ in range(TURNS):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{what} never held within {TURNS} loop turns")


async def turns(count: int = TURNS) -> None:
    """Let the loop run ``count`` turns: long enough for anything already started to finish."""
    for _ in range(count):
        await asyncio.sleep(0)


# -- fakes -----------------------------------------------------------------------------


class FakeTransport:
    """An asyncio.Transport that writes into a buffer and records flow control."""

    def __init__(self, peer: tuple[str, int] = ("192.0.2.7", 50123)) -> None:
        self.peer = peer
        self.data = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True
        #: "pause" and "resume", in the order the connection asked for them.
        self.read_calls: list[str] = []
        self.writes_after_close = 0
        self.buffer_limits: tuple[int | None, int | None] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            self.writes_after_close += 1
        self.data += data

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.write(part)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False
        self.read_calls.append("pause")

    def resume_reading(self) -> None:
        self.reading = True
        self.read_calls.append("resume")

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peer if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.buffer_limits = (high, low)

    def get_write_buffer_size(self) -> int:
        return 0


class FakeLoop:
    """What the connection uses of its loop: ``time()`` from the test, tasks on the real loop."""

    def __init__(self) -> None:
        self._real = asyncio.get_running_loop()
        self.now = 1000.0
        self.tasks: list[asyncio.Task[Any]] = []

    def time(self) -> float:
        return self.now

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self._real.create_task(coro)
        self.tasks.append(task)
        return task

    def create_future(self) -> asyncio.Future[Any]:
        return self._real.create_future()


# -- what the client sees --------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def parse_replies(data: bytes | bytearray) -> tuple[list[Reply], bytes]:
    """Split what a server wrote into complete responses, and the rest.

    The rest is what follows a 101, or a response not yet complete. Bodies are
    framed by Content-Length, by chunked coding, else they run to the end of the
    data (close-delimited: wait for the close before reading one). 1xx, 204 and
    304 have none.
    """
    replies: list[Reply] = []
    rest = bytes(data)
    while b"\r\n\r\n" in rest:
        head, _, after = rest.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status < 200 or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if len(after) < length:
                break
            body, after = after[:length], after[length:]
        elif headers.get("transfer-encoding") == "chunked":
            decoded = _dechunk(after)
            if decoded is None:
                break
            body, after = decoded
        else:
            body, after = after, b""
        replies.append(Reply(status, headers, body))
        rest = after
        if status == 101:
            break
    return replies, rest


def _dechunk(data: bytes) -> tuple[bytes, bytes] | None:
    """(body, rest) of a chunked body at the start of ``data``, or None while it is partial."""
    chunks: list[bytes] = []
    while True:
        size_line, found, data = data.partition(b"\r\n")
        if not found:
            return None
        size = int(size_line, 16)
        if len(data) < size + 2:
            return None
        if size == 0:
            return b"".join(chunks), data[2:]
        chunks.append(data[:size])
        data = data[size + 2 :]


def get(path: str, *extra: str, version: str = "1.1") -> bytes:
    """A request head with a Host header, and ``extra`` header lines."""
    lines = [f"GET {path} HTTP/{version}", "Host: test", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(path: str, body: bytes, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


UPGRADE = ("Upgrade: echo", "Connection: Upgrade")


# -- the app -----------------------------------------------------------------------------


class RecordingUpgrade(UpgradedConnection):
    """The protocol after a 101: records what it is given."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.received: list[bytes] = []
        self.lost = False
        self.stopping = False

    def data_received(self, data: bytes) -> None:
        self.received.append(data)

    def connection_lost(self) -> None:
        self.lost = True

    def server_stopping(self) -> None:
        self.stopping = True


class ScriptedApp(App):
    """Answers by path, at once or when the test opens a gate; records what it was asked."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.upgrades: list[RecordingUpgrade] = []
        self.produced = 0
        self.bodies: list[bytes | BodyIncomplete] = []
        self.file: Path | None = None

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        path = request.path
        self.seen.append(path)
        if path.startswith("/slow"):
            return self._after(path.removeprefix("/slow") or "/", request)
        return self._answer(path, request)

    async def _after(self, path: str, request: Request) -> Response:
        await self.gate(path).wait()
        answer = self._answer(path, request)
        return await answer if not isinstance(answer, Response) else answer

    def _answer(self, path: str, request: Request) -> Response | Awaitable[Response]:
        if path == "/ws":
            return Response(101, [("Upgrade", "echo"), ("Connection", "Upgrade")], upgrade=self._up)
        if path == "/close":
            return Response(200, [], b"bye", close=True)
        if path == "/boom":
            raise RuntimeError("handler failed")
        if path == "/stream":
            return Response(200, [], self._chunks(8))
        if path == "/stream-sized":
            return Response(200, [], self._chunks(3), length=3 * 1024)
        if path == "/short":
            return Response(200, [], self._chunks(1), length=10 * 1024)
        if path == "/file":
            assert self.file is not None
            return Response(200, [], FileBody(self.file, 0, self.file.stat().st_size))
        if path == "/read":
            return self._read(request)
        return Response(200, [("Content-Type", "text/plain")], f"{request.method} {path}".encode())

    def _up(self, channel: Channel) -> RecordingUpgrade:
        upgrade = RecordingUpgrade(channel)
        self.upgrades.append(upgrade)
        return upgrade

    async def _chunks(self, count: int) -> AsyncIterator[bytes]:
        for _ in range(count):
            self.produced += 1
            yield b"x" * 1024

    async def _read(self, request: Request) -> Response:
        try:
            body = await request.body.read()
        except BodyIncomplete as error:
            self.bodies.append(error)
            return Response(400, [], b"incomplete")
        self.bodies.append(body)
        return Response(200, [], b"read %d" % len(body))


# -- the rig -----------------------------------------------------------------------------


@dataclass
class Rig:
    """One server's shared state, and the connections a test opens to it."""

    app: ScriptedApp
    loop: FakeLoop
    server: ServerState
    log: list[AccessRecord] = field(default_factory=list)

    @classmethod
    def start(cls, **limits: Any) -> Rig:
        app = ScriptedApp()
        loop = FakeLoop()
        log: list[AccessRecord] = []
        server = ServerState(
            app=app,
            limits=replace(Limits(), **limits),
            loop=cast(asyncio.AbstractEventLoop, loop),
            access_log=log.append,
        )
        return cls(app, loop, server, log)

    def connect(self) -> Peer:
        connection = HttpConnection(self.server)
        transport = FakeTransport()
        connection.connection_made(cast(asyncio.Transport, transport))
        return Peer(self, connection, transport)

    def advance(self, seconds: float) -> None:
        """Move the clock, then run the server's sweeper once, as it would."""
        self.loop.now += seconds
        for connection in list(self.server.connections):
            connection.check_deadline(self.loop.now)


@dataclass
class Peer:
    """The client end of one connection."""

    rig: Rig
    connection: HttpConnection
    transport: FakeTransport

    def send(self, data: bytes) -> None:
        self.connection.data_received(data)

    def replies(self) -> list[Reply]:
        return parse_replies(self.transport.data)[0]

    def statuses(self) -> list[int]:
        return [reply.status for reply in self.replies()]

    def bodies(self) -> list[bytes]:
        return [reply.body for reply in self.replies()]

    async def replies_count(self, count: int) -> list[Reply]:
        await until(lambda: len(self.replies()) >= count, f"{count} replies")
        return self.replies()

    @property
    def closed(self) -> bool:
        return self.transport.closed
