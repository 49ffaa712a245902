"""Sending a slice of a file: zero-copy where the loop allows it.

asyncio's own loop implements ``loop.sendfile`` with os.sendfile; uvloop does
not. Under uvloop the sender calls os.sendfile on the socket itself, but only
while the transport's own buffer is empty (so bytes stay in order), and when
the socket is full it writes one ordinary chunk through the transport, whose
pause/resume signals then tell when there is room again.
"""

from __future__ import annotations

import asyncio
import os
from typing import BinaryIO

from siteserve.http.response import FileBody
from siteserve.server.flow import ConnectionClosed, WriteFlow

CHUNK = 256 * 1024


def _native_sendfile_ok(loop: asyncio.AbstractEventLoop, transport: asyncio.Transport) -> bool:
    return (
        isinstance(loop, asyncio.BaseEventLoop) and transport.get_extra_info("sslcontext") is None
    )


async def send_file(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.Transport,
    flow: WriteFlow,
    body: FileBody,
) -> None:
    # Opening a local file takes microseconds; a thread hop per file would cost more.
    with open(body.path, "rb") as file:  # noqa: ASYNC230
        if _native_sendfile_ok(loop, transport):
            await flow.drain()
            await loop.sendfile(transport, file, body.offset, body.length)
            return
        sock = transport.get_extra_info("socket")
        fd = sock.fileno() if sock is not None and hasattr(os, "sendfile") else -1
        if fd < 0 or transport.get_extra_info("sslcontext") is not None:
            await _copy(transport, flow, file, body.offset, body.length)
            return
        await _zero_copy(transport, flow, file, fd, body.offset, body.length)


async def _zero_copy(
    transport: asyncio.Transport,
    flow: WriteFlow,
    file: BinaryIO,
    fd: int,
    offset: int,
    remaining: int,
) -> None:
    file_fd = file.fileno()
    while remaining > 0:
        if transport.is_closing():
            raise ConnectionClosed
        await flow.drain()
        sent = 0
        if transport.get_write_buffer_size() == 0:
            try:
                sent = os.sendfile(fd, file_fd, offset, min(remaining, 4 * CHUNK))
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as error:
                raise ConnectionClosed from error
            if sent == 0 and remaining > 0 and os.fstat(file_fd).st_size <= offset:
                raise ConnectionClosed  # the file shrank under us: end the response early.
        if sent:
            offset += sent
            remaining -= sent
            continue
        # The socket is full (or the transport holds bytes): one buffered chunk,
        # so the transport's flow control wakes us when the peer has read it.
        data = os.pread(file_fd, min(remaining, CHUNK), offset)
        if not data:
            raise ConnectionClosed
        transport.write(data)
        offset += len(data)
        remaining -= len(data)


async def _copy(
    transport: asyncio.Transport, flow: WriteFlow, file: BinaryIO, offset: int, remaining: int
) -> None:
    file.seek(offset)
    while remaining > 0:
        await flow.drain()
        data = file.read(min(remaining, CHUNK))
        if not data:
            raise ConnectionClosed  # the file shrank under us.
        transport.write(data)
        remaining -= len(data)
