"""Sending a slice of a file: zero-copy where the socket allows it, one file version always.

The body carries the open file its response's headers were made from (``FileBody``),
so what goes out is that file's bytes whatever happens to its path. What can still
happen is a rewrite or a truncation *in place*, of that very file. The rule: the body
completes only if a check of the file's size and mtime against the body's stamp,
made after the last bytes were read, passes. A file that changed ends the response
early (BodyChanged): the connection closes short of the promised Content-Length,
which a client can tell from a complete body (RFC 9112 section 8), instead of a body
of the right length holding two versions.

Why a small tail is enough. ``os.sendfile`` reads and sends in one call, so a check
after it comes too late to hold back the bytes it sent; the last ``TAIL`` bytes of
every body are therefore read with ``pread``, checked, and only then written. Each
check compares against the one stamp of the head, and a change of the file leaves
the stamp changed, so the one check made after the tail was read covers every byte
read before it too, sendfile's included; the checks after earlier pieces only stop
a changed body sooner. What the tail must do is keep the body short of its length
when that last check fails, and one byte would; its size only sets what a failed
check withholds and what each body pays for the copy. One page (4 KiB) keeps the
copy cheap: the 64 KiB tail this replaced was a third of a 100 KB answer's time.
For the same reason a body whose zero-copy part takes one sendfile call is checked
once, after its tail, not also after the call.

``os.sendfile`` is called on the socket itself, on either loop (uvloop has no
``loop.sendfile``), but only while the transport's own buffer is empty, so bytes stay
in order; when the socket is full one ordinary chunk goes through the transport,
whose pause/resume signals then tell when there is room again. TLS, or a platform
without ``os.sendfile``, gets plain reads and writes.
"""

from __future__ import annotations

import asyncio
import io
import os

from siteserve.http.response import BodyChanged, FileBody
from siteserve.server.flow import ConnectionClosed, WriteFlow

#: Bytes per read (and per buffered write when the socket is full).
CHUNK = 256 * 1024
#: Bytes per ``os.sendfile`` call, after each of which the loop takes its turn: on
#: loopback the call itself copies the bytes into the peer's buffer, at about a
#: millisecond per MiB, and a client reading fast would otherwise keep the loop for a
#: whole large body while every other connection's request waits (nginx bounds the same
#: with ``sendfile_max_chunk``).
SENDFILE_CHUNK = CHUNK
#: The end of every body is read, checked and written rather than sent by sendfile,
#: so a file rewritten in place during the send never completes its body (any size
#: above zero does that: see the module's docstring).
TAIL = 4 * 1024


async def send_file(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.Transport,
    flow: WriteFlow,
    body: FileBody,
) -> None:
    """Send ``body``, then close its file (also when sending fails).

    Raises ConnectionClosed when the peer is gone and BodyChanged when the file was
    rewritten or truncated in place meanwhile; either way the connection must close.
    """
    file = body.file
    if file is None:
        # A handler that gave only a path: the version is the one opened now.
        file = io.FileIO(body.path, "rb")
    try:
        stamp = body.stamp
        if stamp is None:
            info = os.fstat(file.fileno())
            stamp = (info.st_size, info.st_mtime_ns)
        sending = _Sending(transport, flow, body, file.fileno(), stamp)
        await sending.run(sendfile_socket(transport))
    finally:
        file.close()


def sendfile_socket(transport: asyncio.Transport) -> int:
    """The socket to call ``os.sendfile`` on, or -1 where bytes must pass through the transport."""
    if not hasattr(os, "sendfile") or transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    return sock.fileno() if sock is not None else -1


class _Sending:
    """One file body on its way out."""

    __slots__ = ("_body", "_fd", "_flow", "_stamp", "_transport", "offset", "remaining")

    def __init__(
        self,
        transport: asyncio.Transport,
        flow: WriteFlow,
        body: FileBody,
        fd: int,
        stamp: tuple[int, int],
    ) -> None:
        self._transport = transport
        self._flow = flow
        self._body = body
        self._fd = fd
        self._stamp = stamp
        self.offset = body.offset
        self.remaining = body.length

    async def run(self, socket_fd: int) -> None:
        if socket_fd >= 0:
            await self._zero_copy(socket_fd, self.remaining - min(self.remaining, TAIL))
        while self.remaining > 0:
            await self._ready()
            self._write_chunk()

    async def _ready(self) -> None:
        await self._flow.drain()
        if self._transport.is_closing():
            raise ConnectionClosed  # gone before connection_lost reached the flow

    def _changed(self) -> BodyChanged:
        return BodyChanged(f"{self._body.path} changed while it was being sent")

    def _check(self) -> None:
        info = os.fstat(self._fd)
        if (info.st_size, info.st_mtime_ns) != self._stamp:
            raise self._changed()

    async def _zero_copy(self, socket_fd: int, count: int) -> None:
        """Send ``count`` bytes with ``os.sendfile``, checking the file after each call."""
        end = self.remaining - count
        transport = self._transport
        while self.remaining > end:
            # No await between this check and the call: the socket is still the transport's.
            await self._ready()
            if transport.get_write_buffer_size():
                self._write_chunk()  # wait for the transport to empty its buffer first
                continue
            try:
                sent = os.sendfile(
                    socket_fd, self._fd, self.offset, min(self.remaining - end, SENDFILE_CHUNK)
                )
            except (BlockingIOError, InterruptedError):
                # The socket is full: one buffered chunk, so the transport's flow
                # control wakes us when the peer has read it.
                self._write_chunk()
                continue
            except OSError as error:
                raise ConnectionClosed from error
            if sent == 0:
                raise self._changed()  # the end of the file came early: truncated
            self.offset += sent
            self.remaining -= sent
            if self.remaining > end:
                # More to send by sendfile: stop a changed body now rather than at the
                # tail, whose check alone decides whether the body completes.
                self._check()
                await asyncio.sleep(0)  # the other connections' turn (SENDFILE_CHUNK)

    def _write_chunk(self) -> None:
        """Read a chunk, check the file still is the version sent, then write it."""
        data = os.pread(self._fd, min(self.remaining, CHUNK), self.offset)
        if not data:
            raise self._changed()
        self._check()
        self._transport.write(data)
        self.offset += len(data)
        self.remaining -= len(data)
