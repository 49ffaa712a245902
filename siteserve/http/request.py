"""The request object a handler sees, and its streamed body."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from siteserve.http.headers import Headers


class BodyTooLarge(Exception):
    """The request body grew past the configured limit."""


class BodyIncomplete(Exception):
    """The client went away before the request body was complete."""


class RequestBody:
    """A request body that arrives in chunks while the handler runs.

    The connection feeds it; a handler reads it whole (``read``) or as it
    comes (``stream``), so an upload need never sit in memory. Reading is
    also the signal to answer ``Expect: 100-continue`` (RFC 9110 section
    10.1.1): a handler that never reads never invites the body.
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_discarding",
        "_done",
        "_error",
        "_on_drain",
        "_on_read",
        "_started",
        "_waiter",
        "received",
    )

    #: Above this many buffered bytes the connection stops reading the socket.
    HIGH_WATER = 256 * 1024

    def __init__(
        self,
        on_read: Callable[[], None] | None = None,
        on_drain: Callable[[], None] | None = None,
        *,
        complete: bool = False,
    ) -> None:
        self._chunks: deque[bytes] = deque()
        self._done = complete
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._buffered = 0
        self._on_read = on_read
        self._on_drain = on_drain
        self._started = False
        self._discarding = False
        self.received = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> RequestBody:
        """A finished body, for tests and for the ASGI adapter."""
        body = cls(complete=True)
        if data:
            body._chunks.append(data)
            body._buffered = len(data)
            body.received = len(data)
        return body

    # -- fed by the connection -------------------------------------------------

    def feed(self, data: bytes) -> bool:
        """Add a chunk; answer whether the reader has fallen behind."""
        self.received += len(data)
        if self._discarding:
            return False
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake()
        return self._buffered > self.HIGH_WATER

    def discard(self) -> None:
        """The response is out and nobody will read the rest: drop it as it comes."""
        self._discarding = True
        self._chunks.clear()
        self._buffered = 0

    def finish(self) -> None:
        self._done = True
        self._wake()

    def fail(self, error: Exception) -> None:
        if not self._done:
            self._error = error
            self._done = True
            self._wake()

    @property
    def started(self) -> bool:
        """Whether a handler has begun to read (and so invited the body)."""
        return self._started

    @property
    def complete(self) -> bool:
        return self._done and self._error is None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- read by the handler ---------------------------------------------------

    async def stream(self) -> AsyncIterator[bytes]:
        if not self._started:
            self._started = True
            if self._on_read is not None:
                self._on_read()
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= self.HIGH_WATER // 2 and self._on_drain is not None:
                    self._on_drain()
                yield chunk
                continue
            if self._error is not None:
                raise self._error
            if self._done:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.stream()])


@dataclass(slots=True)
class Request:
    """One parsed HTTP request; ``path`` and ``query`` are still percent-encoded."""

    method: str
    target: str
    path: str
    query: str
    headers: Headers
    version: str = "1.1"
    client: tuple[str, int] | None = None
    scheme: str = "http"
    body: RequestBody = field(default_factory=lambda: RequestBody(complete=True))
    #: Set by the access check (``share.auth``) for a read-only user or share link:
    #: the request may read, and uploads and new folders are refused.
    read_only: bool = False

    @property
    def host(self) -> str:
        return self.headers.get("host") or "localhost"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.target}"
