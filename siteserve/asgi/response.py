"""The project's ``Response`` as ASGI messages: a start, then the body in bounded pieces.

Framing follows the built-in server's writer (``http.writer.content_length``
and ``has_no_body``): Content-Length whenever the length is known, no body for
HEAD, 1xx, 204 and 304. Without a length the ASGI server chunks the body
itself. A file goes out with ``http.response.pathsend`` when the server offers
it and the answer is the whole file with status 200; otherwise, and for every
range, in pieces of ``CHUNK`` bytes, each sent (and so each waited for by the
server's own flow control) before the next is read, so a slow client costs
one piece of memory, never a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterable

from siteserve.asgi.types import PATHSEND, Receive, Send
from siteserve.http.response import FileBody, Response
from siteserve.http.writer import content_length, has_no_body
from siteserve.server.response_sender import close_iterable

#: The largest piece of a file read and sent at once.
CHUNK = 64 * 1024

_START = "http.response.start"
_BODY = "http.response.body"


class _Disconnect:
    """Watches ``receive`` for ``http.disconnect`` while a long body goes out.

    uvicorn's ``send`` returns quietly once the client is gone, so without a
    watch a zip of a large folder would be made whole for nobody. Started only
    once the request body is read (or there was none): no message the handler
    wanted is taken from it.
    """

    __slots__ = ("_task", "gone")

    def __init__(self, receive: Receive | None) -> None:
        self.gone = False
        self._task = None if receive is None else asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        try:
            while (await receive()).get("type") != "http.disconnect":
                pass  # the rest of a body nobody reads
        except Exception:
            pass  # a server whose receive fails once the client is gone: gone all the same
        self.gone = True

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def encoded_headers(
    response: Response, method: str, *, http1: bool
) -> tuple[list[tuple[bytes, bytes]], bool]:
    """The start message's headers (names lower-cased, as ASGI wants) and whether a body follows."""
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers
    ]
    length = content_length(response)
    if length is not None:
        headers.append((b"content-length", b"%d" % length))
    if response.close and http1:
        # A hint the server honours: this connection ends here (HTTP/2 has no such field).
        headers.append((b"connection", b"close"))
    return headers, not has_no_body(response.status, method)


async def send_response(
    send: Send,
    response: Response,
    *,
    method: str,
    http1: bool,
    pathsend: bool,
    receive: Receive | None,
) -> None:
    """Send ``response``; ``receive`` (when the request body is done) watches for a disconnect.

    The body's file or generator is released however the sending ends: a server
    whose ``send`` raises once the client is gone (hypercorn does) must not leave
    it open.
    """
    headers, with_body = encoded_headers(response, method, http1=http1)
    start = {"type": _START, "status": response.status, "headers": headers}
    body = response.body
    try:
        if not with_body:
            await send(start)
            await send({"type": _BODY, "body": b""})
        elif isinstance(body, bytes):
            await send(start)
            await send({"type": _BODY, "body": body})
        elif isinstance(body, FileBody):
            pathsend = pathsend and response.status == 200
            await _send_file_body(send, start, body, pathsend=pathsend, receive=receive)
        else:
            await send(start)
            await _send_stream(send, body, receive)
    finally:
        await release_body(body)


async def release_body(body: bytes | FileBody | AsyncIterable[bytes]) -> None:
    """Release what a body holds (the open file, a generator's ``finally``), sent or not."""
    if isinstance(body, FileBody):
        body.close()
    elif not isinstance(body, bytes):
        await close_iterable(body)


async def _send_file_body(
    send: Send, start: dict[str, object], body: FileBody, *, pathsend: bool, receive: Receive | None
) -> None:
    if pathsend and body.offset == 0 and _names_the_body(body):
        # The whole file: the server reads it itself (pathsend sends a file whole,
        # so a range never goes this way).
        await send(start)
        await send({"type": PATHSEND, "path": os.fspath(body.path)})
        return
    # The open file the headers were made from, when the handler gave one (else the
    # path, opened here: microseconds, less than a thread hop; the built-in server too).
    with contextlib.ExitStack() as stack:
        file = body.file or stack.enter_context(open(body.path, "rb"))  # noqa: ASYNC230
        fd = file.fileno()
        stamp = body.stamp or _stamp(os.fstat(fd))
        await send(start)
        if body.length <= CHUNK:
            data = os.pread(fd, body.length, body.offset)
            if len(data) == body.length and _stamp(os.fstat(fd)) == stamp:
                await send({"type": _BODY, "body": data})
            # else: the file shrank or was rewritten under us; ending without the last
            # message makes the server close the connection, as the built-in server does.
            return
        watch = _Disconnect(receive)
        try:
            offset, remaining = body.offset, body.length
            while remaining > 0 and not watch.gone:
                data = os.pread(fd, min(remaining, CHUNK), offset)
                if not data or _stamp(os.fstat(fd)) != stamp:
                    return  # changed: end without the last message (the server closes)
                offset += len(data)
                remaining -= len(data)
                await send({"type": _BODY, "body": data, "more_body": remaining > 0})
        finally:
            watch.stop()


def _names_the_body(body: FileBody) -> bool:
    """Whether the path is (still) the very file of the whole body, for pathsend."""
    try:
        info = os.stat(body.path)
    except OSError:
        return False
    if info.st_size != body.length:
        return False
    if body.file is None:
        return True
    held = os.fstat(body.file.fileno())
    return (info.st_dev, info.st_ino) == (held.st_dev, held.st_ino) and body.stamp == _stamp(info)


def _stamp(info: os.stat_result) -> tuple[int, int]:
    return (info.st_size, info.st_mtime_ns)


async def _send_stream(send: Send, body: AsyncIterable[bytes], receive: Receive | None) -> None:
    watch = _Disconnect(receive)
    try:
        async for chunk in body:
            if watch.gone:
                return
            if chunk:
                await send({"type": _BODY, "body": chunk, "more_body": True})
        await send({"type": _BODY, "body": b""})
    finally:
        watch.stop()
