"""A WebSocket (or any upgrade) tunnelled to the backend after its ``101 Switching Protocols``.

Once the backend has switched, the bytes are no longer HTTP: the browser's go
to the backend's socket and the backend's come back, unchanged, until either
side closes (RFC 9110 section 7.8). HMR sockets and an app's own sockets both
work this way; the proxy reads no frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from siteserve.http.response import Channel, UpgradedConnection

#: Bytes read from the backend at a time.
_READ_SIZE = 64 * 1024


class BackendStream(Protocol):
    """The backend's socket after the upgrade (``proxy.client.BackendConnection``)."""

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes: ...  # noqa: ASYNC109

    async def write(self, buffer: bytes, timeout: float | None = None) -> None: ...  # noqa: ASYNC109

    async def aclose(self) -> None: ...


class Tunnel(UpgradedConnection):
    """Bytes both ways between the browser's connection and the backend's socket."""

    def __init__(self, channel: Channel, backend: BackendStream) -> None:
        self._channel = channel
        self._backend = backend
        self._outgoing: asyncio.Queue[bytes | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._tasks = (
            loop.create_task(self._to_browser()),
            loop.create_task(self._to_backend()),
        )
        self._closed = False

    def data_received(self, data: bytes) -> None:
        self._outgoing.put_nowait(data)

    def connection_lost(self) -> None:
        # The browser left: the writer sends what is queued, then closes the backend side.
        self._outgoing.put_nowait(None)
        self._tasks[0].cancel()

    def server_stopping(self) -> None:
        # No frame of ours to say goodbye with: the backend sees its socket close.
        self._outgoing.put_nowait(None)

    async def _to_browser(self) -> None:
        try:
            while True:
                data = await self._backend.read(_READ_SIZE)
                if not data or self._channel.is_closing():
                    break
                self._channel.write(data)
        except Exception:  # the backend's socket failed: the tunnel ends like a close
            pass
        finally:
            self._channel.close()
            self._outgoing.put_nowait(None)

    async def _to_backend(self) -> None:
        try:
            while (data := await self._outgoing.get()) is not None:
                await self._backend.write(data)
        except Exception:  # the backend's socket failed: end both sides
            self._channel.close()
        finally:
            with contextlib.suppress(Exception):
                await self._backend.aclose()
