"""The response a handler returns, and what an upgraded connection (a WebSocket) may do.

The app that returns responses is declared in ``siteserve.layers``.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class FileBody:
    """A slice of a file, sent with ``sendfile`` where the loop can.

    ``file`` is the open file the response's headers were made from, when the handler
    opened one (the static files always do): the bytes are sent from it whatever
    happens to ``path`` meanwhile, and ``stamp`` is its (size, mtime_ns) then, so a
    file rewritten or truncated in place while it is sent can be told from one that
    was not. The body owns ``file``: whoever sends the response closes it, sent or not
    (``close``). Without ``file`` the sender opens ``path`` itself, for handlers that
    only know a path. Two bodies are equal when they name the same slice of the same
    path.
    """

    path: Path
    offset: int
    length: int
    file: io.FileIO | None = field(default=None, compare=False, repr=False)
    stamp: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    def close(self) -> None:
        """Release the open file (a body that will not be sent, or has been)."""
        if self.file is not None:
            self.file.close()


class BodyChanged(OSError):
    """The file behind a body changed while it was being sent (rewritten or truncated
    in place): the rest cannot be sent with the length the head promised, so the
    connection must close. The message says which file, for the log."""


Body = bytes | FileBody | AsyncIterable[bytes]


class Channel(Protocol):
    """What an upgraded connection may do with its socket (an asyncio.Transport fits)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def is_closing(self) -> bool: ...


class UpgradedConnection(Protocol):
    """The protocol that takes over a connection after ``101 Switching Protocols``.

    A class that subclasses it gets the default ``server_stopping``.
    """

    def data_received(self, data: bytes) -> None:
        """Bytes from the client, as they come."""
        ...

    def connection_lost(self) -> None:
        """The connection is gone, whoever closed it."""
        ...

    def server_stopping(self) -> None:
        """The server shuts down and closes the connection right after this call.

        A chance to say goodbye in the protocol's own terms (a WebSocket sends
        close 1001 "going away"); by default nothing is said.
        """


UpgradeHandler = Callable[[Channel], UpgradedConnection]


@dataclass(frozen=True, slots=True)
class EncodedFields:
    """Header fields as the bytes of their lines, encoded once (``writer.encode_fields``).

    A handler that answers the same fields again and again (a file version's) keeps
    one and hands it over with each response; the writer uses ``lines`` only while
    the response's headers are still exactly ``fields`` (a layer that changed them
    gets them encoded afresh), so a stale encoding can never be sent.
    """

    fields: tuple[tuple[str, str], ...]
    lines: bytes

    def describes(self, headers: list[tuple[str, str]]) -> bool:
        """Whether ``headers`` are still the fields these lines were made from."""
        fields = self.fields
        # The pairs are usually the very objects ``fields`` holds: compared by identity.
        return len(headers) == len(fields) and tuple(headers) == fields


@dataclass(slots=True)
class Response:
    """Status, headers and a body; the writer decides framing, not the handler.

    ``headers`` must not carry Content-Length, Transfer-Encoding, Connection,
    Date or Server: the writer adds those. ``length`` gives the size of an
    async-iterable body when it is known (else the body is sent chunked).
    ``upgrade`` (with status 101) hands the connection to another protocol.
    ``sources`` names the files on disk the response was made from (the file
    itself, or every template and data file a page used), so live reload can
    tell which open pages a change affects. ``warnings`` are notes for the
    site's author about how it was made (an undefined name in a template),
    which live reload shows in the browser's console. ``inputs`` names what of
    the request a rendered body also depends on besides its URL (``request.args``,
    ``session``, ``now``), so ``siteserve build`` can say which pages differ per visitor.
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Body = b""
    length: int | None = None
    upgrade: UpgradeHandler | None = None
    close: bool = False
    sources: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    inputs: frozenset[str] = frozenset()
    #: ``headers`` encoded already, when the handler kept them so (the writer checks
    #: that they still describe ``headers`` before it uses them).
    encoded: EncodedFields | None = None
    #: Whether this very answer is still the one the app would give to the same request
    #: (the file it was made from is unchanged), set by a handler whose answer depends on
    #: nothing else; None: never reused. The server's answer cache (``server.answers``)
    #: asks it before each reuse, and only when every layer allows reuse
    #: (``App.reusable_answers``).
    still_valid: Callable[[], bool] | None = field(default=None, compare=False)

    def header(self, name: str) -> str | None:
        """The first value of ``name`` (case-insensitive), for tests and middleware."""
        lowered = name.lower()
        size = len(lowered)
        # Keys of another length are skipped before they are lowercased (the reload
        # layer asks this of every answer); lower() keeps a latin-1 name's length.
        for key, value in self.headers:
            if len(key) == size and key.lower() == lowered:
                return value
        return None
