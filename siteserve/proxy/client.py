"""The backend side of the proxy: pooled keep-alive HTTP/1.1 connections on asyncio.

One ``BackendConnection`` carries one exchange at a time: it writes the request
head and streams the body (waiting for the socket to drain, so a slow backend
slows the browser's upload, not our memory), then parses the answer with
httptools and hands the body out as it comes, pausing the socket while the
browser's side has not taken what was read. A connection whose answer ended
cleanly and may be kept alive goes back to ``BackendPool``. After a ``101`` the
connection is handed over raw (``read``/``write``/``aclose``) for a tunnel.

Our own client and not httpx/httpcore: with a fixed JSON answer on this
machine, httpcore on anyio cost several milliseconds per request through the
proxy where a plain asyncio connection costs a tenth of one, and the proxy needs
none of a general client's features (cookie jar, redirects, environment proxies),
only framing, keep-alive, back-pressure, timeouts and the raw socket after 101.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from typing import cast

import httptools

from siteserve import bounds

#: Above this many unread body bytes the backend's socket is paused.
HIGH_WATER = 256 * 1024


class BackendError(Exception):
    """The backend refused, dropped the connection, or did not speak HTTP."""


class BackendTimeout(BackendError):
    """The backend did not connect or answer within the route's timeout."""


class BackendConnection(asyncio.Protocol):
    """One TCP connection to a backend (see the module's docstring)."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = False
        self.head_only = False
        self._parser = httptools.HttpResponseParser(self)
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._head_done: asyncio.Future[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._message_done = False
        self._upgraded = False
        self._lost: Exception | None = None
        self._paused = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but are one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._upgraded:
            self._push(data)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgraded = True
            rest = data[upgrade.args[0] :] if upgrade.args else b""
            if rest:
                self._push(rest)
        except httptools.HttpParserError as error:
            self._fail(BackendError(f"not an HTTP answer: {error}"))
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(BackendError(str(exc) if exc else "the backend closed the connection"))
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        if self.head_only:
            # llhttp cannot be told the answer is to a HEAD: it has no body, whatever it says.
            self._message_done = True
            self.keep_alive = False
        if self._head_done is not None and not self._head_done.done():
            self._head_done.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._push(body)

    def on_message_complete(self) -> None:
        self._message_done = True
        self._signal()

    # -- used by the proxy -----------------------------------------------------------

    async def send(
        self,
        head: bytes,
        body: AsyncIterable[bytes] | None,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._head_done = loop.create_future()
        self.transport.write(head)
        if body is not None:
            chunked = b"transfer-encoding: chunked" in head.lower()
            async for chunk in body:
                if not chunk:
                    continue
                self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                await self._drain()
            if chunked:
                self.transport.write(b"0\r\n\r\n")
        try:
            async with asyncio.timeout(timeout):
                await self._head_done
        except TimeoutError:
            self.transport.close()
            raise BackendTimeout(f"no answer within {timeout:g} s") from None
        if self._lost is not None and self.status == 0:
            raise self._lost

    async def _drain(self) -> None:
        if self._lost is not None:
            raise self._lost
        if self._writable is not None:
            await self._writable
            if self._lost is not None:
                raise self._lost

    def body(self, timeout: float) -> AsyncIterator[bytes]:
        return self._body(timeout)

    async def _body(self, timeout: float) -> AsyncIterator[bytes]:  # noqa: ASYNC109
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < HIGH_WATER // 2:
                    self._paused = False
                    assert self.transport is not None
                    self.transport.resume_reading()
                yield chunk
                continue
            if self._message_done:
                return
            if self._lost is not None:
                raise self._lost
            self._wake = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake
            except TimeoutError:
                raise BackendTimeout(f"the answer stalled for {timeout:g} s") from None
            finally:
                self._wake = None

    @property
    def reusable(self) -> bool:
        return (
            self._message_done
            and self.keep_alive
            and self._lost is None
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def reset(self) -> None:
        """Ready for the next exchange on the same connection."""
        self.status = 0
        self.headers = []
        self._message_done = False
        self._parser = httptools.HttpResponseParser(self)

    # -- the raw socket after 101 (``proxy.tunnel.BackendStream``) -------------------

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        while not self._chunks:
            if self._lost is not None:
                return b""
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await self._wake
            finally:
                self._wake = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        assert self.transport is not None
        self.transport.write(buffer)
        await self._drain()

    async def aclose(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- inside ----------------------------------------------------------------------

    def _push(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._signal()

    def _signal(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._lost is None:
            self._lost = error
        if self._head_done is not None and not self._head_done.done():
            self._head_done.set_exception(error)
            self._head_done.exception()  # retrieved: a late failure is not "never retrieved"
        self._signal()


class BackendPool:
    """Idle keep-alive connections per backend (host, port), reused most recent first."""

    def __init__(self, *, max_idle: int = bounds.PROXY_IDLE_PER_BACKEND) -> None:
        self._idle: dict[tuple[str, int], list[BackendConnection]] = {}
        self._max_idle = max_idle

    async def connect(
        self,
        host: str,
        port: int,
        timeout: float,  # noqa: ASYNC109
    ) -> tuple[BackendConnection, bool]:
        """A connection, and whether it was reused (a reused one may have been closed by
        the backend meanwhile: the caller may retry a body-less request once)."""
        idle = self._idle.get((host, port))
        while idle:
            connection = idle.pop()
            if connection.reusable:
                connection.reset()
                return connection, True
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(
                    lambda: BackendConnection((host, port)), host, port
                )
        except TimeoutError:
            raise BackendTimeout(f"could not connect within {timeout:g} s") from None
        except OSError as error:
            raise BackendError(error.strerror or str(error)) from None
        return protocol, False

    def release(self, connection: BackendConnection) -> None:
        if not connection.reusable:
            if connection.transport is not None:
                connection.transport.close()
            return
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= self._max_idle:
            old = idle.pop(0)
            if old.transport is not None:
                old.transport.close()
        idle.append(connection)

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()
