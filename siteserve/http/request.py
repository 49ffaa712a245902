"""The request object a handler sees, and the kinds of body it may carry.

Nothing here waits: a body that streams in while the handler runs is the
server's (``siteserve.server.request_body``); this module says what any body
offers a handler (``Body``) and holds one that is already whole (``BytesBody``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from siteserve.http.headers import Headers


class BodyTooLarge(Exception):
    """The request body grew past the configured limit."""


class BodyIncomplete(Exception):
    """The client went away before the request body was complete."""


class Body(Protocol):
    """A request body as a handler reads it: whole (``read``) or as it comes (``stream``).

    Reading may raise ``BodyIncomplete`` (the client left) or ``BodyTooLarge``.
    """

    @property
    def received(self) -> int:
        """Bytes of the body that have arrived so far."""
        ...

    @property
    def complete(self) -> bool:
        """Whether every byte has arrived (and none will be missing)."""
        ...

    def stream(self) -> AsyncIterator[bytes]: ...

    async def read(self) -> bytes: ...


class BytesBody:
    """A body that is whole already: for tests, and for adapters handed the bytes."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes = b"") -> None:
        self._data = data

    @property
    def received(self) -> int:
        return len(self._data)

    @property
    def complete(self) -> bool:
        return True

    async def stream(self) -> AsyncIterator[bytes]:
        if self._data:
            yield self._data

    async def read(self) -> bytes:
        return self._data


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
    body: Body = field(default_factory=BytesBody)
    #: Set by the access check (``share.auth``) for a read-only user or share link:
    #: the request may read, and uploads and new folders are refused.
    read_only: bool = False

    @property
    def host(self) -> str:
        return self.headers.get("host") or "localhost"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.target}"
