"""``--tls``: one port for HTTPS, and an answer for a plain ``http://`` request sent to it.

Someone types ``192.168.1.4:8443`` into a browser, or runs ``curl http://...``
out of habit: a plain TLS listener reads their request as a broken
handshake and closes the connection, so the browser shows "connection
reset", curl says "empty reply", and the terminal says nothing.

Instead, connections are accepted here and the first byte is looked at
without taking it off the socket (``MSG_PEEK``): a TLS connection always
starts with a handshake record, content type 22 (0x16, RFC 8446 section
5.1), and no HTTP request line starts with that byte. A TLS connection is
then handed, untouched, to the event loop with the TLS context
(``loop.connect_accepted_socket``, which both asyncio and uvloop have), as
``create_server`` would have done. Anything else gets one small answer and
a close: ``307 Temporary Redirect`` to the same address with ``https://``
(a redirect that is not remembered, since the same port may speak plain
HTTP in another run; RFC 9110 section 15.4.8), or a 400 page when the
request names no usable host; and one line in the log.

The redirect stays on the host the client asked for: the ``Host`` must be
a plain host name or address, with a port (ours when it has none), and the
path keeps exactly one leading ``/``, so it can never point elsewhere.

Where the loop cannot wait for a socket to be readable (Windows' proactor
loop), ``listen_tls`` falls back to ``create_server`` with the TLS context:
HTTPS works, a plain request is closed as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote

from siteserve.http.response import Response
from siteserve.http.writer import encode_response_head

log = logging.getLogger("siteserve.server")

#: The first byte of every TLS connection: a handshake record (RFC 8446 section 5.1).
TLS_HANDSHAKE = 0x16
#: A plain request's head is read up to this many bytes; the redirect needs only its start.
MAX_PLAIN_HEAD = 8 * 1024
# RFC 9110 section 7.2 / RFC 3986 section 3.2.2: a name, an IPv4 or an IP literal; a port.
_HOST = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?)(:[0-9]{1,5})?"
)
_SAFE_IN_TARGET = "/?&=%:@!$'()*+,;~-._"


class Listener(Protocol):
    """What the runner keeps of a listening server (``asyncio.Server`` fits)."""

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


async def listen_tls(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: Callable[[], asyncio.Protocol],
    sock: socket.socket,
    context: ssl.SSLContext,
    *,
    header_timeout: float,
    max_pending: int,
) -> Listener:
    """Serve TLS on ``sock``, answering plain HTTP too where the loop allows it."""
    try:
        loop.add_reader(sock.fileno(), lambda: None)
        loop.remove_reader(sock.fileno())
    except NotImplementedError:
        return await loop.create_server(protocol_factory, sock=sock, ssl=context, backlog=1024)
    listener = SniffingListener(
        loop,
        protocol_factory,
        sock,
        context,
        header_timeout=header_timeout,
        max_pending=max_pending,
    )
    listener.start()
    return listener


class SniffingListener:
    """Accepts connections and sends each to TLS or to the plain-HTTP answer."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        sock: socket.socket,
        context: ssl.SSLContext,
        *,
        header_timeout: float,
        max_pending: int,
    ) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self._sock = sock
        self._context = context
        self._timeout = header_timeout
        self._max_pending = max_pending
        self._port = int(sock.getsockname()[1])
        self._accepting: asyncio.Task[None] | None = None
        #: Connections whose first byte is awaited, or that get the plain answer.
        self._pending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._accepting = self._loop.create_task(self._accept())

    def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        for task in self._pending:
            task.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        tasks = [*self._pending, *([self._accepting] if self._accepting else [])]
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accept(self) -> None:
        while True:
            try:
                conn, _ = await self._loop.sock_accept(self._sock)
            except OSError as error:
                # Out of file descriptors, a connection reset before accept: keep listening.
                log.warning("accept failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            if len(self._pending) >= self._max_pending:
                conn.close()  # a flood of silent connections: they get nothing
                continue
            conn.setblocking(False)
            task = self._loop.create_task(self._route(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _route(self, conn: socket.socket) -> None:
        handed_on = False
        try:
            first = await asyncio.wait_for(self._first_byte(conn), self._timeout)
            if first == TLS_HANDSHAKE:
                await self._loop.connect_accepted_socket(self._factory, conn, ssl=self._context)
                handed_on = True
            elif first is not None:
                await asyncio.wait_for(self._answer_plain(conn), self._timeout)
        except (TimeoutError, OSError, ssl.SSLError):
            pass  # silent, gone, or a broken handshake: nothing to say
        finally:
            if not handed_on:
                conn.close()

    async def _first_byte(self, conn: socket.socket) -> int | None:
        """The first byte the client sent, left on the socket; None when it closed first."""
        while True:
            try:
                data = conn.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                await self._readable(conn)
                continue
            return data[0] if data else None

    async def _readable(self, conn: socket.socket) -> None:
        ready: asyncio.Future[None] = self._loop.create_future()
        fd = conn.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            self._loop.remove_reader(fd)

    async def _answer_plain(self, conn: socket.socket) -> None:
        head = bytearray()
        while b"\r\n\r\n" not in head and len(head) < MAX_PLAIN_HEAD:
            data = await self._loop.sock_recv(conn, MAX_PLAIN_HEAD)
            if not data:
                break
            head += data
        client = _peer(conn)
        location = https_location(bytes(head), self._port)
        response = plain_http_answer(location)
        framing = encode_response_head(response, method="GET", version="1.1", keep_alive=False)
        assert isinstance(response.body, bytes)
        await self._loop.sock_sendall(conn, framing.head + response.body)
        if location is not None:
            log.warning("plain HTTP from %s on the HTTPS port: sent to %s", client, location)
        else:
            log.warning("plain HTTP from %s on the HTTPS port: answered 400", client)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)


def https_location(head: bytes, port: int) -> str | None:
    """``https://`` + the request's Host + its path, or None when either is unusable."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    target = parts[1]
    if "://" in target:  # absolute form (RFC 9112 section 3.2.2): keep its path only
        target = "/" + target.partition("://")[2].partition("/")[2]
    if not target.startswith("/"):
        return None
    host = None
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "host":
            host = value.strip()
            break
    match = _HOST.fullmatch(host) if host is not None and len(host) <= 261 else None
    if host is None or match is None:
        return None
    if match.group(1) is None:
        host += f":{port}"
    # "//evil.example/" would start an authority (RFC 3986 section 4.2): one "/" only.
    path = "/" + target.lstrip("/\\")
    return f"https://{host}{quote(path, safe=_SAFE_IN_TARGET)}"


def plain_http_answer(location: str | None) -> Response:
    """The redirect to ``location``, or a 400 page when there is none."""
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    if location is None:
        body = (
            "<!doctype html><meta charset=utf-8><title>400 Bad Request</title>"
            "<h1>This port speaks HTTPS</h1><p>Open this address with https:// instead.</p>\n"
        )
        return Response(400, headers, body.encode(), close=True)
    shown = location.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    body = (
        "<!doctype html><meta charset=utf-8><title>307 Temporary Redirect</title>"
        f'<h1>This port speaks HTTPS</h1><p>Go to <a href="{shown}">{shown}</a>.</p>\n'
    )
    return Response(307, [("Location", location), *headers], body.encode(), close=True)


def _peer(conn: socket.socket) -> str:
    try:
        return str(conn.getpeername()[0])
    except OSError:
        return "a client"
