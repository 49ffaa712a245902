"""Write-side back-pressure: wait while the transport's buffer is above its high mark."""

from __future__ import annotations

import asyncio


class ConnectionClosed(Exception):
    """The peer went away while a response was still being written."""


class WriteFlow:
    """Tracks asyncio's pause_writing/resume_writing so a sender can await room.

    A slow reader then costs one buffer of memory, never the whole file.
    """

    __slots__ = ("_closed", "_paused", "_waiter")

    def __init__(self) -> None:
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

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
