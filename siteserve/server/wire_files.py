"""A large kept answer as one private in-memory file, sent whole by one ``os.sendfile``.

A kept answer (``answers``) with a body of 64 KiB or more went out as two buffers
in one ``writev``: the kernel copied every byte of the body into the socket each
time, which was most of a 100 KB answer's cost. Here the whole answer, head with
its Date line and body, is written once into an anonymous file of our own
(``memfd_create``), and each request is then one ``sendfile`` from it: the kernel
hands the file's pages to the socket without a copy.

Nobody else can open or change that file, so what goes out is always the one
version the answer was made from (issue #16's rule holds without a check). The
Date line changes once a second (RFC 9110 section 6.6.1): a file is made for one
Date line and a new one when the line moves on; the old one is closed, never
written again, because pages already handed to a socket may still be on their
way. Only plain TCP sockets, while the transport holds nothing unsent (bytes stay
in order); otherwise, and on platforms without ``memfd_create``, the answer goes
through the transport as before. Open files are bounded (``bounds.ANSWER_WIRE_FILES``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Final

from siteserve import bounds
from siteserve.http.writer import date_cache

#: How many wire files may be open at once (each holds one answer, up to ``ANSWER_BODY``).
MAX_OPEN: Final = bounds.ANSWER_WIRE_FILES

#: How often open files are looked at, to close those of a Date line gone by.
SWEEP_SECONDS: Final = 1.0

#: Whether this platform can make them.
AVAILABLE: Final = hasattr(os, "memfd_create") and hasattr(os, "sendfile")


class WireFile:
    """One answer's bytes for one Date line, in a file only this process holds."""

    __slots__ = ("date_line", "fd", "length")

    def __init__(self, date_line: bytes, parts: tuple[bytes, ...]) -> None:
        fd = os.memfd_create("siteserve-answer", os.MFD_CLOEXEC)
        try:
            length = 0
            for part in parts:
                view = memoryview(part)
                while view:
                    written = os.pwrite(fd, view, length)
                    length += written
                    view = view[written:]
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.date_line = date_line
        self.length = length

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


class WireFiles:
    """The open wire files of one answer cache, at most ``MAX_OPEN``.

    A file serves one Date line, so once its second is over it is closed
    (``_sweep``, on the loop, about once a second while any is open): a server that
    goes quiet after a burst of large answers holds no descriptor for them.
    """

    __slots__ = ("_open", "_sweep_handle")

    def __init__(self) -> None:
        self._open: set[WireFile] = set()
        self._sweep_handle: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._open)

    def make(self, date_line: bytes, parts: tuple[bytes, ...]) -> WireFile | None:
        """A new wire file of ``parts`` for ``date_line``, or None when too many are open
        (files made for an earlier Date line are closed first) or none can be made."""
        if not AVAILABLE:
            return None
        if len(self._open) >= MAX_OPEN:
            for stale in [wire for wire in self._open if wire.date_line != date_line]:
                self.close(stale)
            if len(self._open) >= MAX_OPEN:
                return None
        try:
            wire = WireFile(date_line, parts)
        except OSError:
            return None  # no memory or no descriptor left: the transport sends it
        self._open.add(wire)
        self._sweep_soon()
        return wire

    def close(self, wire: WireFile | None) -> None:
        if wire is not None:
            self._open.discard(wire)
            wire.close()

    def _sweep_soon(self) -> None:
        if self._sweep_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # made outside a loop (a test): closed by the bound or by hand
            self._sweep_handle = loop.call_later(SWEEP_SECONDS, self._sweep)

    def _sweep(self) -> None:
        self._sweep_handle = None
        current = date_cache.line()
        for stale in [wire for wire in self._open if wire.date_line != current]:
            self.close(stale)
        if self._open:
            self._sweep_soon()


def send_wire(transport: asyncio.Transport, socket_fd: int, wire: WireFile) -> None:
    """Send ``wire`` whole: by ``sendfile`` as far as the socket takes it, the rest
    through the transport (which then waits for room, as for any write).

    The caller checked that ``socket_fd`` is the transport's plain socket and that the
    transport holds nothing unsent."""
    length = wire.length
    try:
        sent = os.sendfile(socket_fd, wire.fd, 0, length)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        # The peer is gone (EPIPE, ECONNRESET): the transport's write finds out the same
        # way and closes the connection as for any failed write.
        sent = 0
    if sent < length:
        transport.write(os.pread(wire.fd, length - sent, sent))
