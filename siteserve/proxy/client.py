"""The backend side of the proxy: pooled keep-alive HTTP/1.1 connections on asyncio.

One ``BackendConnection`` carries one exchange at a time: it writes the request
head and streams the body (waiting for the socket to drain, so a slow backend
slows the browser's upload, not our memory), then reads the answer with
``http.response_parser`` and hands the body out as it comes, pausing the socket
while the browser's side has not taken what was read. An answer that came whole
with its head (a small JSON answer usually does) is taken in one piece, so it
goes to the browser in one write with its head. A connection whose answer ended
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
import contextlib
import socket
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from typing import cast

from siteserve import bounds
from siteserve.http.response_parser import ResponseHead, ResponseParseError, ResponseParser

#: Above this many unread body bytes the backend's socket is paused.
HIGH_WATER = 256 * 1024
#: An answer that came whole with its head and is at most this large is passed on in
#: one piece (one write with the head); a larger one is streamed chunk by chunk.
WHOLE_BELOW = 64 * 1024


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
        self._parser = ResponseParser(self)
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
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # A request head is one small write that must not wait for the ACK of the
            # previous answer (Nagle); both loops set this by default, we do not rely on it.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._upgraded:
            self._push(data)
            return
        try:
            offset = self._parser.feed(data)
        except ResponseParseError as error:
            self._fail(BackendError(str(error)))
            assert self.transport is not None
            self.transport.close()
            return
        if offset is not None:
            self._upgraded = True
            if offset < len(data):
                self._push(data[offset:])

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

    # -- http.response_parser.ResponseSink -------------------------------------------

    def on_response_head(self, head: ResponseHead) -> None:
        self.status = head.status
        self.headers = head.headers
        self.keep_alive = head.keep_alive
        if self._head_done is not None and not self._head_done.done():
            self._head_done.set_result(None)

    def on_response_body(self, data: bytes) -> None:
        self._push(data)

    def on_response_end(self) -> None:
        self._message_done = True
        self._signal()

    # -- used by the proxy -----------------------------------------------------------

    def expect_head_only(self) -> None:
        """The request is a HEAD: its answer has no body (``http.response_parser``)."""
        self._parser.expect_head_only()

    async def send(
        self,
        head: bytes,
        body: AsyncIterable[bytes] | None,
        timeout: float,  # noqa: ASYNC109
        *,
        chunked: bool,
    ) -> None:
        """Write ``head``, then ``body`` (chunk-framed when ``chunked``: the head said so),
        and wait for the answer's head."""
        transport = self.transport
        assert transport is not None
        head_done = self._head_done = asyncio.get_running_loop().create_future()
        transport.write(head)
        if body is not None:
            async for chunk in body:
                if not chunk:
                    continue
                transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                await self._drain(timeout)
            if chunked:
                transport.write(b"0\r\n\r\n")
        if not head_done.done():
            # A bare timer, not asyncio.timeout: this wait is on every request's path.
            timer = asyncio.get_running_loop().call_later(timeout, self._no_head, timeout)
            try:
                await head_done
            finally:
                timer.cancel()
        if self._lost is not None and self.status == 0:
            raise self._lost

    def _no_head(self, timeout: float) -> None:
        if self._head_done is not None and not self._head_done.done():
            self._head_done.set_exception(BackendTimeout(f"no answer within {timeout:g} s"))
        if self.transport is not None:
            self.transport.close()

    async def _drain(self, timeout: float) -> None:  # noqa: ASYNC109
        """Until the backend has taken what was written; a backend that takes nothing for
        ``timeout`` seconds (it stopped reading the upload) is a BackendTimeout, and its
        connection is closed: it holds half a request."""
        if self._lost is not None:
            raise self._lost
        writable = self._writable
        if writable is not None:
            timer = asyncio.get_running_loop().call_later(
                timeout, self._not_reading, writable, timeout
            )
            try:
                await writable
            finally:
                timer.cancel()
            if self._lost is not None:
                raise self._lost

    def _not_reading(self, writable: asyncio.Future[None], timeout: float) -> None:
        if not writable.done():
            writable.set_exception(BackendTimeout(f"took none of the body for {timeout:g} s"))
        if self.transport is not None:
            self.transport.close()

    def whole_body(self) -> bytes | None:
        """The answer's body when all of it has come and is small, else None (stream it)."""
        if not self._message_done or self._buffered > WHOLE_BELOW:
            return None
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        self._resume_reading()
        return body

    def body(self, timeout: float) -> AsyncIterator[bytes]:
        return self._body(timeout)

    async def _body(self, timeout: float) -> AsyncIterator[bytes]:  # noqa: ASYNC109
        while True:
            if self._chunks:
                yield self._take()
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
            and not self._chunks
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def reset(self) -> None:
        """Ready for the next exchange on the same connection (the parser goes on with it)."""
        self.status = 0
        self.headers = []
        self._message_done = False

    # -- the raw socket after 101 (``proxy.tunnel.BackendStream``) -------------------

    async def read(self, max_bytes: int) -> bytes:
        while not self._chunks:
            if self._lost is not None:
                return b""
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await self._wake
            finally:
                self._wake = None
        return self._take()

    def send_nowait(self, data: bytes) -> bool:
        """Write ``data``; False when the socket's buffer is now over its high-water mark
        (await ``drained`` before sending more). Bytes for a lost backend are dropped."""
        transport = self.transport
        if self._lost is not None or transport is None or transport.is_closing():
            return True
        transport.write(data)
        return self._writable is None

    async def drained(self) -> None:
        """Until the socket's buffer is below its low-water mark, or the socket is gone."""
        if self._writable is not None:
            await self._writable

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def aclose(self) -> None:
        self.close()

    # -- inside ----------------------------------------------------------------------

    def _push(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._signal()

    def _take(self) -> bytes:
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered < HIGH_WATER // 2:
            self._resume_reading()
        return chunk

    def _resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

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
        #: Once closed, a connection released late (an answer still streaming at
        #: shutdown) is closed instead of kept where nothing would close it.
        self._closed = False

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
        if self._closed or not connection.reusable:
            connection.close()
            return
        idle = self._idle.setdefault(connection.key, [])
        if len(idle) >= self._max_idle:
            idle.pop(0).close()
        idle.append(connection)

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
