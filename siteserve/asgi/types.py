"""The ASGI 3 shapes this adapter reads and writes, as types mypy can check.

Only the keys the adapter uses are declared. A server hands over plain dicts;
the TypedDicts below say what the ASGI specification promises about them (the
HTTP and lifespan scopes, the messages ``receive`` answers), so the adapter
reads them without a check per key on every request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Literal, Required, TypedDict


class HttpScope(TypedDict, total=False):
    """An ``http`` connection scope (ASGI HTTP spec, "Connection Scope")."""

    type: Required[Literal["http"]]
    http_version: Required[str]
    method: Required[str]
    scheme: str
    path: Required[str]
    #: The path as it came, still percent-encoded (optional in the spec; uvicorn
    #: and granian give it).
    raw_path: bytes | None
    query_string: Required[bytes]
    headers: Required[Iterable[tuple[bytes, bytes]]]
    client: tuple[str, int] | list[str | int] | None
    server: tuple[str, int | None] | list[str | int] | None
    #: What the server offers beyond the spec: ``{"http.response.pathsend": {}}``.
    extensions: Mapping[str, object] | None


class LifespanScope(TypedDict, total=False):
    """The ``lifespan`` scope: startup and shutdown messages come through ``receive``."""

    type: Required[Literal["lifespan"]]


class WebSocketScope(TypedDict, total=False):
    """A ``websocket`` scope: refused here (live reload, the one WebSocket, is off)."""

    type: Required[Literal["websocket"]]
    path: str


class ReceivedMessage(TypedDict, total=False):
    """What ``receive`` answers: ``http.request``, ``http.disconnect``, ``lifespan.*``."""

    type: str
    body: bytes
    more_body: bool


Scope = HttpScope | LifespanScope | WebSocketScope
Message = Mapping[str, object]
Receive = Callable[[], Awaitable[ReceivedMessage]]
Send = Callable[[Message], Awaitable[None]]

#: The key of the extension that sends a whole file by its path.
PATHSEND = "http.response.pathsend"
