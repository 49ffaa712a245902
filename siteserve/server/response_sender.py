"""Putting one response on the wire: its head, then its body as bytes, a file or a stream.

``http/writer.py`` frames the head (Content-Length, chunked or close-delimited);
this module writes head and body to the transport, waits for room while the peer
reads slowly (WriteFlow), and reports how each response ended, so the connection
can log it and decide what comes next. A bytes body is written at once, with no
task; only a file or a stream costs one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Protocol

from siteserve.http.request import Request
from siteserve.http.response import BodyChanged, FileBody, Response
from siteserve.http.writer import LAST_CHUNK, Framing, encode_chunk, encode_response_head
from siteserve.server.connection_state import CloseReason, Exchange, after_body, after_framing
from siteserve.server.file_sender import send_file
from siteserve.server.flow import ConnectionClosed, WriteFlow

log = logging.getLogger("siteserve.server")

#: Below this size head and body go out as one write; above it, without the copy.
JOIN_BELOW = 64 * 1024


class SendListener(Protocol):
    """What the sender tells its connection (HttpConnection is one)."""

    def response_sent(
        self, exchange: Exchange, response: Response, size: int, reason: CloseReason | None
    ) -> None:
        """``response`` is out, ``size`` body bytes; ``reason``: why the connection now closes."""

    def send_failed(self, reason: CloseReason) -> None:
        """The response could not be sent whole: the connection must close."""


def frame(request: Request, response: Response, reason: CloseReason | None) -> Framing:
    """The head ``ResponseSender.send`` writes for ``response`` (``reason``: why it is the
    connection's last), and how its body is framed."""
    return encode_response_head(
        response, method=request.method, version=request.version, keep_alive=reason is None
    )


class ResponseSender:
    """Writes the responses of one connection, one at a time."""

    __slots__ = ("_flow", "_gone", "_listener", "_loop", "_transport", "_waiting")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        flow: WriteFlow,
        listener: SendListener,
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._flow = flow
        self._listener = listener
        #: The task of a stream while it waits for its body's next chunk, else None.
        self._waiting: asyncio.Task[None] | None = None
        self._gone = False
        flow.on_close(self._peer_gone)

    def _peer_gone(self) -> None:
        # A stream waiting on its body (a proxied backend still thinking, a long poll)
        # would hold what the body holds until the next chunk came: it stops now.
        self._gone = True
        if self._waiting is not None:
            self._waiting.cancel()

    def send(
        self,
        exchange: Exchange,
        response: Response,
        reason: CloseReason | None,
        framing: Framing | None = None,
    ) -> None:
        """Write ``response`` to ``exchange``; ``reason`` says why it is the last one.

        ``framing``: its head as ``frame`` made it already (for the answer cache), if so."""
        transport = self._transport
        if framing is None:
            framing = frame(exchange.request, response, reason)
        exchange.answered = True
        if not framing.keep_alive:
            reason = after_framing(reason)
        body = response.body
        if not framing.send_body:
            transport.write(framing.head)
            discard(body)
            self._listener.response_sent(exchange, response, 0, reason)
        elif isinstance(body, bytes):
            if len(body) < JOIN_BELOW:
                transport.write(framing.head + body)
            else:
                transport.writelines((framing.head, body))
            self._listener.response_sent(exchange, response, len(body), reason)
        else:
            transport.write(framing.head)
            self._loop.create_task(self._stream(exchange, response, framing.chunked, reason))

    async def _stream(
        self, exchange: Exchange, response: Response, chunked: bool, reason: CloseReason | None
    ) -> None:
        transport = self._transport
        flow = self._flow
        body = response.body
        sent = 0
        try:
            if isinstance(body, FileBody):
                await send_file(self._loop, transport, flow, body)
                sent = body.length
            else:
                assert not isinstance(body, bytes)
                task = asyncio.current_task()
                try:
                    if self._gone:
                        raise ConnectionClosed
                    self._waiting = task  # cancelled (``_peer_gone``) only while it waits
                    async for chunk in body:
                        self._waiting = None
                        if chunk:
                            await flow.drain()
                            _write_open(transport, encode_chunk(chunk) if chunked else chunk)
                            sent += len(chunk)
                        self._waiting = task
                finally:
                    self._waiting = None
                    await close_iterable(body)
                if chunked:
                    _write_open(transport, LAST_CHUNK)
        except (ConnectionClosed, ConnectionError):
            # The client went away mid-answer: normal (a closed tab, a cancelled download).
            self._listener.send_failed(CloseReason.PEER_CLOSED)
            return
        except asyncio.CancelledError:
            if not self._gone:
                raise  # not ours: the loop is being torn down
            # Ours (``_peer_gone``): the body's wait ended by the client leaving, as above.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            self._listener.send_failed(CloseReason.PEER_CLOSED)
            return
        except BodyChanged as error:
            # A file rewritten or truncated in place under its send: cut short, one line.
            request = exchange.request
            log.warning("%s %s: %s; connection closed", request.method, request.target, error)
            self._listener.send_failed(CloseReason.SHORT_BODY)
            return
        except Exception:
            log.exception("error sending %s", exchange.request.target)
            self._listener.send_failed(CloseReason.SEND_FAILED)
            return
        reason = after_body(reason, exchange, response, sent, chunked=chunked)
        self._listener.response_sent(exchange, response, sent, reason)


def _write_open(transport: asyncio.Transport, data: bytes) -> None:
    """Write after an await: the peer may have gone meanwhile (uvloop raises RuntimeError
    on a closed transport, before ``connection_lost`` has told the flow)."""
    if transport.is_closing():
        raise ConnectionClosed
    transport.write(data)


def write_final(transport: asyncio.Transport, response: Response) -> None:
    """Write a short bytes response that ends the connection (503, 408, protocol errors)."""
    if transport.is_closing():
        return
    framing = encode_response_head(response, method="GET", version="1.1", keep_alive=False)
    body = response.body if isinstance(response.body, bytes) else b""
    transport.write(framing.head + body)


def discard(body: bytes | FileBody | AsyncIterable[bytes]) -> None:
    """Release what a body that will not be sent holds (an open file, a generator)."""
    if isinstance(body, FileBody):
        body.close()
    elif not isinstance(body, bytes):
        asyncio.get_running_loop().create_task(close_iterable(body))


async def close_iterable(body: AsyncIterable[bytes]) -> None:
    """Let an async generator's ``finally`` run when its body is not (or no longer) sent."""
    # An async generator (or any body with ``aclose``) releases what it holds now.
    close: Callable[[], Awaitable[object]] | None = getattr(body, "aclose", None)
    if close is not None:
        await close()
