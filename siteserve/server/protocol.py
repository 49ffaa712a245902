"""One asyncio Protocol per connection: parse, dispatch in order, write, time out.

Responses go out in request order (pipelining, RFC 9112 section 9.3.2); the
handler's answer is written at once when it is ready at once (a static file
costs no task), else from a task. Timeouts are deadlines checked by the
server's sweeper, so the per-request path arms no timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import cast

from siteserve.http.errors import ProtocolError
from siteserve.http.parser import RequestHead, RequestParser
from siteserve.http.request import BodyIncomplete, Request
from siteserve.http.response import FileBody, Response, UpgradedConnection
from siteserve.http.writer import (
    CONTINUE,
    LAST_CHUNK,
    encode_chunk,
    encode_response_head,
    simple_response,
)
from siteserve.server.file_sender import send_file
from siteserve.server.flow import ConnectionClosed, WriteFlow
from siteserve.server.request_body import RequestBody
from siteserve.server.state import AccessRecord, ServerState

log = logging.getLogger("siteserve.server")

#: Pipelined requests parsed ahead of the one being answered before reading pauses.
MAX_PIPELINE = 16


class _Exchange:
    """One request and what the connection knows about answering it."""

    __slots__ = ("body", "expects_continue", "head", "refusal", "request", "started")

    def __init__(self, request: Request, head: RequestHead, body: RequestBody) -> None:
        self.request = request
        self.head = head
        #: The streamed body behind ``request.body``, as the connection feeds it.
        self.body = body
        self.started = 0.0
        #: The protocol error its body ran into while its handler ran: that is its answer.
        self.refusal: ProtocolError | None = None
        self.expects_continue = (head.headers.get("expect") or "").lower() == "100-continue"


class HttpConnection(asyncio.Protocol):
    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._loop = state.loop
        self._transport: asyncio.Transport | None = None
        self._parser = RequestParser(self, state.parser_limits)
        self._flow = WriteFlow()
        self._queue: deque[_Exchange] = deque()
        self._parsing: _Exchange | None = None
        self._active: _Exchange | None = None
        self._pumping = False
        self._closed = False
        self._reading_paused = False
        #: A request body has more buffered than its reader took: reading waits for it.
        self._body_backlog = False
        self._response_started = False
        self._upgraded: UpgradedConnection | None = None
        self._upgrade_pending: bytearray | None = None
        self._pending_error: ProtocolError | None = None
        self._client = ""
        self._client_addr: tuple[str, int] | None = None
        #: (loop time, reason) after which the sweeper closes the connection.
        self.deadline: float | None = None
        self._deadline_is_head = False

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        state = self._state
        if len(state.connections) >= state.limits.max_connections or state.shutting_down:
            self._write_simple(
                simple_response(503, "too many connections", extra=[("Retry-After", "1")])
            )
            transport.close()
            self._closed = True
            return
        state.connections.add(self)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client_addr = (str(peer[0]), int(peer[1]))
            self._client = str(peer[0])
        # Resume writing only when the buffer is empty, so zero-copy sends can go on.
        transport.set_write_buffer_limits(high=64 * 1024, low=0)
        self._arm(state.limits.header_timeout, head=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        state = self._state
        state.connections.discard(self)
        if state.shutting_down and not state.connections and not state.drained.done():
            state.drained.set_result(None)
        self._flow.close()
        for exchange in (self._active, self._parsing, *self._queue):
            if exchange is not None:
                exchange.body.fail(BodyIncomplete("client disconnected"))
        self._queue.clear()
        if self._upgraded is not None:
            upgraded, self._upgraded = self._upgraded, None
            upgraded.connection_lost()

    def pause_writing(self) -> None:
        self._flow.pause()

    def resume_writing(self) -> None:
        self._flow.resume()

    def data_received(self, data: bytes) -> None:
        if self._upgraded is not None:
            self._upgraded.data_received(data)
            return
        if self._upgrade_pending is not None:
            self._upgrade_pending += data
            return
        if self._closed or self._pending_error is not None:
            return
        if self.deadline is not None and not self._deadline_is_head:
            # First bytes of a new request: the idle deadline becomes the head deadline.
            self._arm(self._state.limits.header_timeout, head=True)
        try:
            self._parser.feed(data)
        except ProtocolError as error:
            self._protocol_error(error)
            return
        offset = self._parser.upgrade_offset
        if offset is not None:
            self._upgrade_pending = bytearray(data[offset:])
        self._pump()

    def eof_received(self) -> bool | None:
        if self._parsing is not None:
            # The body can never be completed now (RFC 9112 section 8): its reader must
            # learn so (an upload deletes what it wrote), and nothing is left to answer.
            self._parsing.body.fail(BodyIncomplete("client closed mid-body"))
            return None
        # A half-closed client still gets its answers (RFC 9112 section 9.6).
        return True if self._active is not None or self._queue else None

    # -- parser events ---------------------------------------------------------

    def on_request_head(self, head: RequestHead) -> int | None:
        headers = head.headers
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        exchange_box: list[_Exchange] = []
        body = (
            RequestBody(
                on_read=lambda: self._invite_body(exchange_box[0]),
                on_drain=self._body_drained,
            )
            if has_body
            else RequestBody(complete=True)
        )
        request = Request(
            method=head.method,
            target=head.target,
            path=head.path,
            query=head.query,
            headers=headers,
            version=head.version,
            client=self._client_addr,
            scheme=self._state.scheme,
            body=body,
        )
        # Asked once, before any of the body is read (an upload may be larger than max_body).
        body_limit = self._state.app.body_limit(request)
        exchange = _Exchange(request, head, body)
        exchange_box.append(exchange)
        self._queue.append(exchange)
        self._parsing = exchange if has_body else None
        self.deadline = None
        if len(self._queue) > MAX_PIPELINE:
            self._pause_reading()
        return body_limit

    def on_request_body(self, data: bytes) -> None:
        if self._parsing is not None and self._parsing.body.feed(data):
            # The handler reads slower than the client sends: stop reading until it
            # catches up (only the body's reader, or its end, may resume: see _pump).
            self._body_backlog = True
            self._pause_reading()

    def on_request_end(self) -> None:
        if self._parsing is not None:
            self._parsing.body.finish()
            self._parsing = None

    # -- dispatch --------------------------------------------------------------

    def _pump(self) -> None:
        """Answer queued requests one after another, in order."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._active is None and self._queue and not self._closed:
                exchange = self._queue.popleft()
                self._active = exchange
                self._dispatch(exchange)
            if self._active is None and not self._queue and not self._closed:
                if self._pending_error is not None:
                    error = self._pending_error
                    self._write_simple(simple_response(error.status, error.detail))
                    self._close()
                elif self._state.shutting_down:
                    self._close()
                elif self._parser.in_head:
                    if not self._deadline_is_head or self.deadline is None:
                        self._arm(self._state.limits.header_timeout, head=True)
                elif self._upgrade_pending is None:
                    self._arm(self._state.limits.keepalive_timeout, head=False)
            caught_up = not self._body_backlog and len(self._queue) <= MAX_PIPELINE // 2
            if self._reading_paused and caught_up:
                self._resume_reading()
        finally:
            self._pumping = False

    def _dispatch(self, exchange: _Exchange) -> None:
        exchange.started = time.perf_counter()
        self._response_started = False
        try:
            result = self._state.app.handle(exchange.request)
        except Exception:
            log.exception("error handling %s %s", exchange.head.method, exchange.head.target)
            result = simple_response(500, "internal server error")
        if isinstance(result, Response):
            self._respond(exchange, result)
        else:
            self._loop.create_task(self._await_response(exchange, result))

    async def _await_response(self, exchange: _Exchange, pending: Awaitable[Response]) -> None:
        try:
            response = await pending
        except Exception:
            log.exception("error handling %s %s", exchange.head.method, exchange.head.target)
            response = simple_response(500, "internal server error")
        if self._closed:
            return
        self._respond(exchange, response)
        self._pump()

    def _respond(self, exchange: _Exchange, response: Response) -> None:
        transport = self._transport
        assert transport is not None
        request = exchange.request
        if exchange.refusal is not None:
            response = simple_response(exchange.refusal.status, exchange.refusal.detail)
        keep_alive = exchange.head.keep_alive and not self._state.shutting_down
        if exchange.expects_continue and not exchange.body.started:
            keep_alive = False  # The body was never invited; it may or may not follow.
        if self._upgrade_pending is not None and response.upgrade is None:
            keep_alive = False  # llhttp stopped at the Upgrade; we cannot go on parsing.
        framing = encode_response_head(
            response, method=request.method, version=exchange.head.version, keep_alive=keep_alive
        )
        self._response_started = True
        body = response.body
        if response.upgrade is not None and response.status == 101:
            transport.write(framing.head)
            self._finish(exchange, response, 0, keep_alive=True)
            self._upgraded = response.upgrade(transport)
            # The upgraded protocol owns the connection now: no HTTP idle deadline.
            self.deadline = None
            pending, self._upgrade_pending = self._upgrade_pending, None
            if pending:
                self._upgraded.data_received(bytes(pending))
            return
        if not framing.send_body:
            transport.write(framing.head)
            if not isinstance(body, (bytes, FileBody)):
                self._loop.create_task(_close_iterable(body))
            self._finish(exchange, response, 0, keep_alive=framing.keep_alive)
        elif isinstance(body, bytes):
            if len(body) < 64 * 1024:
                transport.write(framing.head + body)
            else:
                transport.writelines((framing.head, body))
            self._finish(exchange, response, len(body), keep_alive=framing.keep_alive)
        else:
            transport.write(framing.head)
            self._active = exchange  # stays active until the body is out
            self._loop.create_task(
                self._stream_body(exchange, response, framing.chunked, framing.keep_alive)
            )

    async def _stream_body(
        self, exchange: _Exchange, response: Response, chunked: bool, keep_alive: bool
    ) -> None:
        transport = self._transport
        assert transport is not None
        body = response.body
        sent = 0
        try:
            if isinstance(body, FileBody):
                await send_file(self._loop, transport, self._flow, body)
                sent = body.length
            else:
                assert not isinstance(body, bytes)
                try:
                    async for chunk in body:
                        if not chunk:
                            continue
                        await self._flow.drain()
                        _write_open(transport, encode_chunk(chunk) if chunked else chunk)
                        sent += len(chunk)
                finally:
                    await _close_iterable(body)
                if chunked:
                    _write_open(transport, LAST_CHUNK)
        except (ConnectionClosed, ConnectionError):
            self._close()
            return
        except Exception:
            log.exception("error sending %s", exchange.head.target)
            self._close()
            return
        if response.length is not None and sent != response.length and not chunked:
            keep_alive = False  # A short body would desynchronise the next response.
        self._finish(exchange, response, sent, keep_alive=keep_alive)
        self._pump()

    def _finish(
        self, exchange: _Exchange, response: Response, size: int, *, keep_alive: bool
    ) -> None:
        access_log = self._state.access_log
        if access_log is not None:
            access_log(
                AccessRecord(
                    method=exchange.head.method,
                    path=exchange.head.target,
                    status=response.status,
                    size=size,
                    duration_ms=(time.perf_counter() - exchange.started) * 1000.0,
                    client=self._client,
                )
            )
        body = exchange.body
        if not body.complete:
            body.discard()
            self._body_backlog = False  # nobody will read it: drop the rest as it comes
        self._active = None
        if not keep_alive or exchange.refusal is not None:
            self._close()

    # -- body flow ---------------------------------------------------------------

    def _invite_body(self, exchange: _Exchange) -> None:
        # RFC 9110 section 10.1.1: send 100 only when the body is wanted and not yet sent.
        if (
            exchange.expects_continue
            and not self._response_started
            and exchange.body.received == 0
            and self._transport is not None
        ):
            self._transport.write(CONTINUE)

    def _body_drained(self) -> None:
        self._body_backlog = False
        if len(self._queue) <= MAX_PIPELINE // 2:
            self._resume_reading()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None and not self._closed:
            self._reading_paused = False
            self._transport.resume_reading()

    # -- errors, deadlines, closing --------------------------------------------

    def _protocol_error(self, error: ProtocolError) -> None:
        parsing, self._parsing = self._parsing, None
        if parsing is not None:
            parsing.body.fail(BodyIncomplete(error.detail))
            if parsing in self._queue:
                self._queue.remove(parsing)  # never dispatched: the error answers it
            elif parsing is self._active:
                # Its handler is running (the error replaces its answer) or its response is
                # going out (the connection closes after it): one answer per request.
                parsing.refusal = error
            else:
                self._close()  # answered already, the rest of its body unread: no second answer
                return
        # Requests before the bad one are still answered, in order; then the error, then close.
        self._pending_error = error
        self._pump()

    def _write_simple(self, response: Response) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        framing = encode_response_head(response, method="GET", version="1.1", keep_alive=False)
        body = response.body if isinstance(response.body, bytes) else b""
        self._transport.write(framing.head + body)

    def _arm(self, seconds: float, *, head: bool) -> None:
        if self._upgraded is not None:
            return  # HTTP timeouts end with the upgrade; the new protocol owns the connection.
        self.deadline = self._loop.time() + seconds
        self._deadline_is_head = head

    def check_deadline(self, now: float) -> None:
        """Called by the server's sweeper: enforce header and keep-alive timeouts."""
        if self.deadline is None or now < self.deadline or self._closed:
            return
        if self._deadline_is_head and self._parser.in_head:
            self._write_simple(simple_response(408, "request header timeout"))
        self._close()

    def shutdown(self) -> None:
        """Server is stopping: close when idle, else after the response in flight."""
        if self._upgraded is not None:
            # An upgraded protocol may say goodbye first (a WebSocket sends close 1001).
            self._upgraded.server_stopping()
            self._close()
        elif self._active is None and not self._queue:
            self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        self._closed = True
        self.deadline = None


def _write_open(transport: asyncio.Transport, data: bytes) -> None:
    """Write after an await: the peer may have gone meanwhile (uvloop raises RuntimeError
    on a closed transport, before ``connection_lost`` has told the flow)."""
    if transport.is_closing():
        raise ConnectionClosed
    transport.write(data)


async def _close_iterable(body: AsyncIterable[bytes]) -> None:
    # An async generator (or any body with ``aclose``) releases what it holds now.
    close: Callable[[], Awaitable[object]] | None = getattr(body, "aclose", None)
    if close is not None:
        await close()
