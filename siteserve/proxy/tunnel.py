"""A WebSocket (or any upgrade) tunnelled to the backend after its ``101 Switching Protocols``.

Once the backend has switched, the bytes are no longer HTTP: the browser's go
to the backend's socket and the backend's come back, unchanged, until either
side closes (RFC 9110 section 7.8). HMR sockets and an app's own sockets both
work this way; the proxy reads no frame.

Neither side can make the server hold more than a bounded amount for the other.
Toward the backend, the browser's socket stops being read while the backend's
socket buffer is over its high-water mark (the backend's connection tells when it
has room again). Toward the browser, the backend's bytes are read only while the
browser's socket buffer is under ``BROWSER_HIGH_WATER``; above it, the backend's
connection stops reading its socket once ``client.HIGH_WATER`` is unread. The
server tells only its HTTP protocol when the browser's socket drains, so the
tunnel looks at that buffer again every ``_DRAIN_POLL`` seconds while it is full.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from siteserve.http.response import Channel, UpgradedConnection

#: Bytes read from the backend at a time.
_READ_SIZE = 64 * 1024
#: Above this many bytes waiting in the browser's socket buffer, the backend is not read.
BROWSER_HIGH_WATER = 256 * 1024
#: How often a full browser buffer is looked at again.
_DRAIN_POLL = 0.005


class FlowChannel(Channel, Protocol):
    """The browser's connection with its flow control (an asyncio.Transport is one)."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_write_buffer_size(self) -> int: ...


class BackendStream(Protocol):
    """The backend's socket after the upgrade (``proxy.client.BackendConnection``)."""

    async def read(self, max_bytes: int) -> bytes: ...

    def send_nowait(self, data: bytes) -> bool: ...

    async def drained(self) -> None: ...

    @property
    def lost(self) -> bool: ...

    def close(self) -> None: ...


class Tunnel(UpgradedConnection):
    """Bytes both ways between the browser's connection and the backend's socket."""

    def __init__(self, channel: FlowChannel, backend: BackendStream) -> None:
        self._channel = channel
        self._backend = backend
        self._browser_paused = False
        self._closed = False
        loop = asyncio.get_running_loop()
        self._to_browser_task = loop.create_task(self._to_browser())
        self._resume_task: asyncio.Task[None] | None = None

    # -- from the browser (UpgradedConnection) -------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self._backend.lost:
            self._close()
            return
        if not self._backend.send_nowait(data) and not self._browser_paused:
            # The backend reads slower than the browser sends: stop reading the browser
            # until the backend's socket has room again.
            self._browser_paused = True
            self._channel.pause_reading()
            self._resume_task = asyncio.get_running_loop().create_task(self._resume_browser())

    def connection_lost(self) -> None:
        # The browser left: what was written to the backend still goes out, then it closes.
        self._close()

    def server_stopping(self) -> None:
        # No frame of ours to say goodbye with: the backend sees its socket close.
        self._close()

    # -- inside ----------------------------------------------------------------------

    async def _resume_browser(self) -> None:
        await self._backend.drained()
        self._browser_paused = False
        if self._closed or self._channel.is_closing():
            return
        if self._backend.lost:
            self._close()
            return
        self._channel.resume_reading()

    async def _to_browser(self) -> None:
        channel = self._channel
        try:
            while True:
                data = await self._backend.read(_READ_SIZE)
                if not data or channel.is_closing():
                    break
                channel.write(data)
                # A browser that reads slower than the backend sends: wait for it.
                while (  # noqa: ASYNC110 (the server says only its HTTP protocol when it drained)
                    channel.get_write_buffer_size() > BROWSER_HIGH_WATER
                    and not channel.is_closing()
                ):
                    await asyncio.sleep(_DRAIN_POLL)
        except Exception:  # the backend's socket failed: the tunnel ends like a close
            pass
        finally:
            self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._channel.close()
        current = asyncio.current_task()
        for task in (self._to_browser_task, self._resume_task):
            if task is not None and task is not current:
                task.cancel()
        self._backend.close()  # its transport sends what is buffered first
