"""One asyncio Protocol per connection: parse, dispatch in order, hand over, time out.

Responses go out in request order (pipelining, RFC 9112 section 9.3.2); the
handler's answer is written at once when it is ready at once (a static file
costs no task), else from a task. Where the connection is, and what may happen
next, is the state machine of ``connection_state``; writing a response is
``response_sender``'s. Timeouts are deadlines checked by the server's sweeper,
so the per-request path arms no timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable
from typing import cast

from siteserve.http.errors import ProtocolError
from siteserve.http.parser import RequestHead, RequestParser
from siteserve.http.request import BodyIncomplete, Request
from siteserve.http.response import Response, UpgradedConnection, UpgradeHandler
from siteserve.http.writer import CONTINUE, Framing, date_cache, simple_response
from siteserve.server.answers import Answer, AnswerCache
from siteserve.server.connection_state import (
    ACCEPT,
    ANSWERED,
    ANSWERED_MID_HEAD,
    ANSWERING,
    BYTES,
    CLOSE,
    CLOSED,
    FAILING,
    HEAD,
    HEAD_DONE,
    PARSING,
    PROTOCOL_ERROR,
    SWITCH,
    SWITCHING,
    UPGRADE,
    CloseReason,
    ConnectionState,
    Exchange,
    close_reason,
)
from siteserve.server.file_sender import sendfile_socket
from siteserve.server.flow import MAX_PIPELINE, ReadFlow, WriteFlow
from siteserve.server.request_body import RequestBody
from siteserve.server.response_sender import ResponseSender, discard, frame, write_final
from siteserve.server.state import AccessRecord, ServerState
from siteserve.server.wire_files import send_wire

log = logging.getLogger("siteserve.server")


class HttpConnection(ConnectionState, asyncio.Protocol):
    """One client's connection: its state (``self.state``, ``self.deadline``) is the machine
    it inherits from ``ConnectionState``; every change of state is a ``self.fire(event)``."""

    # Slots: one connection is made per accepted socket, so its set-up is on the path
    # of every new connection (a client that closes after each request makes one each time).
    __slots__ = (
        "_active",
        "_answers",
        "_client",
        "_client_addr",
        "_cut_short",
        "_flow",
        "_fresh",
        "_held",
        "_loop",
        "_parser",
        "_parsing",
        "_pending_error",
        "_pumping",
        "_queue",
        "_reads",
        "_sender",
        "_server",
        "_socket_fd",
        "_transport",
        "_upgraded",
        "close_reason",
    )

    def __init__(self, server: ServerState) -> None:
        limits = server.limits
        super().__init__(server.loop.time, limits.header_timeout, limits.keepalive_timeout)
        self._server = server
        self._loop = server.loop
        self._answers = server.answers
        #: The bytes of the read being answered, when they are one whole request that
        #: came between requests (what ``answers`` keeps its answer by).
        self._fresh: bytes | None = None
        #: Made with the first request that must be parsed (``_parse``): a connection
        #: whose requests are all kept answers, or none, never needs one.
        self._parser: RequestParser | None = None
        self._flow = WriteFlow()
        #: Parsed requests not yet dispatched, oldest first.
        self._queue: deque[Exchange] = deque()
        #: The request whose body the parser is reading.
        self._parsing: Exchange | None = None
        #: The request being answered; the next one waits for it.
        self._active: Exchange | None = None
        self._pumping = False
        #: Bytes that followed an Upgrade request, for the protocol that takes over.
        self._held: bytearray | None = None
        self._upgraded: UpgradedConnection | None = None
        self._pending_error: ProtocolError | None = None
        #: The client left in the middle of an answer (counted once per connection).
        self._cut_short = False
        self._client = ""
        self._client_addr: tuple[str, int] | None = None
        #: The socket a large kept answer is sent on with ``sendfile`` (-1: none), once asked.
        self._socket_fd: int | None = None
        #: Why the connection closed (the first reason), once it has.
        self.close_reason: CloseReason | None = None
        # Set by connection_made:
        self._transport: asyncio.Transport | None = None
        self._reads: ReadFlow
        #: Made with the first response the normal path sends (``_send``).
        self._sender: ResponseSender | None = None

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        self._reads = ReadFlow(transport)
        server = self._server
        if server.shutting_down or len(server.connections) >= server.limits.max_connections:
            write_final(
                transport,
                simple_response(503, "too many connections", extra=[("Retry-After", "1")]),
            )
            self._close(
                CloseReason.SHUTDOWN if server.shutting_down else CloseReason.TOO_MANY_CONNECTIONS
            )
            return
        server.connections.add(self)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client_addr = (str(peer[0]), int(peer[1]))
            self._client = str(peer[0])
        # Resume writing only when the buffer is empty, so zero-copy sends can go on.
        transport.set_write_buffer_limits(high=64 * 1024, low=0)
        self.fire(ACCEPT)  # the header timeout runs from now

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state is not CLOSED:  # the peer went first (else _close already did this)
            if self._active is not None and self._upgraded is None:
                self._client_gone()  # an answer was still being made or sent
            if self.close_reason is None:
                self.close_reason = CloseReason.PEER_CLOSED
            self.fire(CLOSE)
        server = self._server
        server.connections.discard(self)
        if server.shutting_down and not server.connections and not server.drained.done():
            server.drained.set_result(None)
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
        state = self.state
        if state is SWITCHING:
            assert self._held is not None
            self._held += data
            return
        if state not in PARSING:
            return  # closing, or failing: nothing more is read as HTTP
        answers = self._answers
        parser = self._parser
        fresh: bytes | None = None
        if (
            answers is not None
            and self._active is None
            and not self._queue
            and self._parsing is None
            and (parser is None or not parser.in_head)
            # A client that does not read: the normal path waits for room before it
            # writes (and stops reading past MAX_PIPELINE), so its buffer stays bounded.
            and not self._flow.paused
            and not self._reads.paused
            and not self._server.shutting_down
        ):
            # Between requests: these bytes are a request of their own, maybe one seen before.
            answer = answers.get(data)
            if answer is not None:
                if self._answer_again(answers, answer):
                    return
                answers.forget(data)  # its file changed: made anew below, and kept again
            fresh = data
        self.fire(BYTES)  # after an idle wait, the header timeout runs from now
        if parser is None:
            parser = self._parser = RequestParser(self, self._server.parser_limits)
        try:
            parser.feed(data)
        except ProtocolError as error:
            self._protocol_error(error)
            return
        offset = parser.upgrade_offset
        if offset is not None:
            self._hold_after_upgrade(data[offset:])
            fresh = None
        elif len(self._queue) != 1 or parser.in_head:
            fresh = None  # not one whole request: more, less, or a body still to come
        self._fresh = fresh
        try:
            self._pump()
        finally:
            self._fresh = None

    def _answer_again(self, answers: AnswerCache, answer: Answer) -> bool:
        """Send a kept answer to a request that repeats the one it was made for, when it
        still holds; False: it no longer does (the request takes the normal path)."""
        server = self._server
        access_log = server.access_log
        started = time.perf_counter() if access_log is not None else 0.0  # for the log only
        if not answer.still_valid():
            return False
        transport = self._transport
        assert transport is not None
        answers.reused += 1  # counted before the client can see it (tests read it then)
        large = answer.large_body
        if large is None:
            transport.write(answer.status_line + date_cache.line() + answer.after_date)
        else:
            date_line = date_cache.line()
            socket_fd = self._socket_fd
            if socket_fd is None:
                socket_fd = self._socket_fd = sendfile_socket(transport)
            # From a wire file, without copying the body, while the transport holds
            # nothing unsent (bytes stay in order)...
            wire = (
                answers.wire(answer, date_line)
                if socket_fd >= 0 and not transport.get_write_buffer_size()
                else None
            )
            if wire is not None:
                send_wire(transport, socket_fd, wire)
            else:  # ...else as the sender writes a large bytes body: without a copy into it
                transport.writelines((answer.status_line + date_line + answer.after_date, large))
        if access_log is not None:
            access_log(
                AccessRecord(
                    method=answer.method,
                    path=answer.target,
                    status=answer.status,
                    size=answer.size,
                    duration_ms=(time.perf_counter() - started) * 1000.0,
                    client=self._client,
                )
            )
        closes = answer.closes
        if closes is None:
            # The states the normal path goes through for one request answered at once.
            self.fire_one_request()
        else:
            self.fire(BYTES)
            self.fire(HEAD_DONE)
            self._close(closes)
        return True

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
        exchange: Exchange  # bound below, before the body's reader can call back
        body = (
            RequestBody(
                on_read=lambda: self._invite_body(exchange),
                on_drain=lambda: self._reads.body_drained(body, len(self._queue)),
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
            scheme=self._server.scheme,
            body=body,
        )
        exchange = Exchange(request, head.keep_alive, body)
        # Asked once, before any of the body is read (an upload may be larger than max_body);
        # a request without a body has nothing to bound (the layers' handle sees it all).
        body_limit = self._server.app.body_limit(request) if has_body else None
        self._queue.append(exchange)
        self._parsing = exchange if has_body else None
        self.fire(HEAD_DONE)
        if len(self._queue) > MAX_PIPELINE:
            self._reads.pause()  # too many parsed ahead of the one being answered
        return body_limit

    def on_request_body(self, data: bytes) -> None:
        if self._parsing is not None and self._parsing.body.feed(data):
            # The handler reads slower than the client sends: stop reading until it
            # catches up (only the body's reader, or its end, may resume: see ReadFlow).
            self._reads.body_behind(self._parsing.body)

    def on_request_end(self) -> None:
        if self._parsing is not None:
            self._parsing.body.finish()
            self._parsing = None

    def _hold_after_upgrade(self, rest: bytes) -> None:
        # llhttp parses nothing after an Upgrade request: the bytes that followed it
        # belong to the new protocol if the handler switches, and to nobody if not.
        if self._queue:
            self._queue[-1].stops_parsing = True
        self._held = bytearray(rest)
        self.fire(UPGRADE)

    # -- dispatch --------------------------------------------------------------

    def _pump(self) -> None:
        """Answer queued requests one after another, in request order."""
        if self._pumping:
            return
        self._pumping = True
        try:
            queue = self._queue
            while self._active is None and queue and self.state in ANSWERING:
                exchange = queue.popleft()
                self._active = exchange
                self._dispatch(exchange)
            if self._active is None and not queue:
                # Everything is answered: close, or wait for the next request.
                state = self.state
                if state is FAILING:
                    # The requests before the bad one are answered: the error, then close.
                    self._answer_protocol_error()
                elif state not in PARSING:
                    pass  # switching, switched or closed: no HTTP request to wait for
                elif self._server.shutting_down:
                    self._close(CloseReason.SHUTDOWN)
                elif self._in_head():
                    self.fire(ANSWERED_MID_HEAD)
                else:
                    self.fire(ANSWERED)
            if self._reads.paused:
                self._reads.caught_up(len(queue))
        finally:
            self._pumping = False

    def _dispatch(self, exchange: Exchange) -> None:
        if self._server.access_log is not None:
            exchange.started = time.perf_counter()  # for the log's duration only
        request = exchange.request
        try:
            result = self._server.app.handle(request)
        except Exception:
            log.exception("error handling %s %s", request.method, request.target)
            result = simple_response(500, "internal server error")
        if isinstance(result, Response):
            self._respond(exchange, result)
        else:
            self._loop.create_task(self._await_response(exchange, result))

    async def _await_response(self, exchange: Exchange, pending: Awaitable[Response]) -> None:
        try:
            response = await pending
        except Exception:
            request = exchange.request
            log.exception("error handling %s %s", request.method, request.target)
            response = simple_response(500, "internal server error")
        transport = self._transport
        if self.state is CLOSED or transport is None or transport.is_closing():
            # The client went away while its answer was being made.
            self._client_gone()
            discard(response.body)
            self._close(CloseReason.PEER_CLOSED)
            return
        self._respond(exchange, response)

    def _respond(self, exchange: Exchange, response: Response) -> None:
        if exchange.refusal is not None:  # its body broke while the handler ran
            response = simple_response(exchange.refusal.status, exchange.refusal.detail)
        reason = close_reason(exchange, response, self._server.shutting_down)
        fresh = self._fresh
        if (
            fresh is not None
            and response.still_valid is not None
            and not self._queue
            and self._parsing is None
            and not self._in_head()
        ):
            # The only request of the read it came in, answered at once: keep the answer,
            # with the head the sender then writes.
            assert self._answers is not None
            framing = frame(exchange.request, response, reason)
            self._answers.keep(fresh, exchange.request, response, reason, framing)
            self._send(exchange, response, reason, framing)
            return
        self._send(exchange, response, reason)

    def _send(
        self,
        exchange: Exchange,
        response: Response,
        reason: CloseReason | None,
        framing: Framing | None = None,
    ) -> None:
        sender = self._sender
        if sender is None:
            transport = self._transport
            assert transport is not None
            sender = self._sender = ResponseSender(self._loop, transport, self._flow, self)
        sender.send(exchange, response, reason, framing)

    def _in_head(self) -> bool:
        """Whether the parser holds part of a request head (read, not yet complete)."""
        parser = self._parser
        return parser is not None and parser.in_head

    # -- what the sender reports --------------------------------------------------

    def response_sent(
        self, exchange: Exchange, response: Response, size: int, reason: CloseReason | None
    ) -> None:
        """A response is out: log it, then close, switch, or answer the next request."""
        access_log = self._server.access_log
        if access_log is not None:
            request = exchange.request
            access_log(
                AccessRecord(
                    method=request.method,
                    path=request.target,
                    status=response.status,
                    size=size,
                    duration_ms=(time.perf_counter() - exchange.started) * 1000.0,
                    client=self._client,
                )
            )
        body = exchange.body
        if not body.complete:
            body.discard()  # nobody will read it: drop the rest as it comes
        if self._reads.paused:  # (a body is behind only while reading is paused)
            self._reads.body_ended(body)
        self._active = None
        if reason is not None:
            self._close(reason)
        elif response.upgrade is not None and response.status == 101:
            self._switch(response.upgrade)
        if not self._pumping:
            self._pump()  # a response sent from a task: the next request's turn

    def send_failed(self, reason: CloseReason) -> None:
        if reason is CloseReason.PEER_CLOSED:
            self._client_gone()
        self._close(reason)

    def _client_gone(self) -> None:
        """A client leaving mid-answer is normal: counted (once), never logged as an error."""
        if not self._cut_short:
            self._cut_short = True
            self._server.disconnects += 1

    def _switch(self, upgrade: UpgradeHandler) -> None:
        transport = self._transport
        assert transport is not None
        self._upgraded = upgrade(transport)
        self.fire(SWITCH)  # the upgraded protocol owns the connection now
        held, self._held = self._held, None
        if held:
            self._upgraded.data_received(bytes(held))

    # -- body flow ---------------------------------------------------------------

    def _invite_body(self, exchange: Exchange) -> None:
        # RFC 9110 section 10.1.1: send 100 only when the body is wanted and not yet sent.
        if (
            exchange.expects_continue
            and not exchange.answered
            and exchange.body.received == 0
            and self._transport is not None
        ):
            self._transport.write(CONTINUE)

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
                # Answered already, the rest of its body unread: no second answer.
                self._close(CloseReason.PROTOCOL_ERROR)
                return
        # Requests before the bad one are still answered, in order; then the error, then close.
        self._pending_error = error
        self.fire(PROTOCOL_ERROR)
        self._pump()

    def _answer_protocol_error(self) -> None:
        error = self._pending_error
        assert error is not None and self._transport is not None
        write_final(self._transport, simple_response(error.status, error.detail))
        self._close(CloseReason.PROTOCOL_ERROR)

    def check_deadline(self, now: float) -> None:
        """Called by the server's sweeper: enforce header and keep-alive timeouts."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return
        if self.state is HEAD:
            if self._in_head() and self._transport is not None:
                write_final(self._transport, simple_response(408, "request header timeout"))
            self._close(CloseReason.HEADER_TIMEOUT)
        else:
            self._close(CloseReason.IDLE_TIMEOUT)

    def shutdown(self) -> None:
        """Server is stopping: close when idle, else after the response in flight."""
        if self._upgraded is not None:
            # An upgraded protocol may say goodbye first (a WebSocket sends close 1001).
            self._upgraded.server_stopping()
            self._close(CloseReason.SHUTDOWN)
        elif self._active is None and not self._queue:
            self._close(CloseReason.SHUTDOWN)

    def abort(self) -> None:
        if self.close_reason is None:
            self.close_reason = CloseReason.SHUTDOWN
        if self._transport is not None:
            self._transport.abort()

    def _close(self, reason: CloseReason) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
        self.fire(CLOSE)
