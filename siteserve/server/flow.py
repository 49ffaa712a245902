"""Back-pressure both ways: a sender waits for room, the socket is read only while we keep up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: Pipelined requests parsed ahead of the one being answered before reading pauses.
MAX_PIPELINE = 16


class ConnectionClosed(Exception):
    """The peer went away while a response was still being written."""


class WriteFlow:
    """Tracks asyncio's pause_writing/resume_writing so a sender can await room.

    A slow reader then costs one buffer of memory, never the whole file.
    """

    __slots__ = ("_closed", "_on_close", "_paused", "_waiter")

    def __init__(self) -> None:
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        #: Told when the connection is gone (``ResponseSender``: a stream may be waiting
        #: on its body, not on room, and would not notice).
        self._on_close: Callable[[], None] | None = None

    def on_close(self, callback: Callable[[], None]) -> None:
        self._on_close = callback

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()
        if self._on_close is not None:
            self._on_close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def paused(self) -> bool:
        return self._paused

    async def drain(self) -> None:
        if self._closed:
            raise ConnectionClosed
        while self._paused:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
            if self._closed:
                raise ConnectionClosed


class ReadFlow:
    """Stops reading the socket while the server is behind, and resumes when it caught up.

    Two things pause reading: more than ``MAX_PIPELINE`` requests waiting to be
    answered, and a request body with more buffered than its reader took. Reading
    resumes once the queue is down to half and no body is behind. A body's backlog
    is cleared only by that body's reader (draining it) or by the end of that
    body's response (after which nobody reads it), never by the queue alone.
    """

    __slots__ = ("_behind", "_transport", "paused")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        #: The request body whose reader fell behind (the connection's RequestBody).
        self._behind: object | None = None
        self.paused = False

    def body_behind(self, body: object) -> None:
        """The handler reads ``body`` slower than the client sends it."""
        self._behind = body
        self.pause()

    def body_drained(self, body: object, waiting: int) -> None:
        """The reader of ``body`` caught up; ``waiting`` requests wait to be answered."""
        if body is self._behind:
            self._behind = None
            self.caught_up(waiting)

    def body_ended(self, body: object) -> None:
        """The response to ``body``'s request is out: nobody will read the rest."""
        if body is self._behind:
            self._behind = None

    def caught_up(self, waiting: int) -> None:
        """Requests were answered; ``waiting`` are left."""
        if self.paused and self._behind is None and waiting <= MAX_PIPELINE // 2:
            self._resume()

    def pause(self) -> None:
        """More than ``MAX_PIPELINE`` requests wait to be answered."""
        if not self.paused:
            self.paused = True
            self._transport.pause_reading()

    def _resume(self) -> None:
        if self.paused and not self._transport.is_closing():
            self.paused = False
            self._transport.resume_reading()
