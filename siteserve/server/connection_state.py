"""The HTTP connection's states, every transition in one table, and why it closes.

A connection is in exactly one ``State``; ``Event``s move it, and only as
``TRANSITIONS`` says (an event the table does not list for a state is a bug,
raised as ``InvalidTransition``). Reading and answering overlap (pipelining,
RFC 9112 section 9.3.2), so the states say what the connection waits for:

- ``HEAD``: a request head, or the rest of one. The header timeout runs (it
  stops a client that never finishes its head: slowloris).
- ``BUSY``: requests are queued or being answered. No HTTP deadline: a slow
  handler or a slow reader is bounded by other means (back-pressure).
- ``IDLE``: everything is answered and no byte of the next request has come.
  The keep-alive timeout runs (RFC 9112 section 9.5: a server may close an
  idle connection at any time).
- ``SWITCHING``: the parser stopped at an Upgrade request; the bytes after it
  are held for the protocol that may take over (RFC 9110 section 7.8).
- ``SWITCHED``: ``101 Switching Protocols`` is out; the upgraded protocol owns
  the connection and HTTP's timeouts end.
- ``FAILING``: a request was malformed. The ones before it are answered in
  order, then the error, then the connection closes.

Each state carries its deadline, set when the state is entered: staying in
``HEAD`` keeps the deadline the head started with.

Whether the connection stays open after a response is decided below, by
``close_reason`` and, for the two facts only the framing and the sending of a
body reveal, ``after_framing`` and ``after_body``. Every reason has a name in
``CloseReason``, so a test can ask why a connection closed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Final

from siteserve.http.errors import ProtocolError
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.server.request_body import RequestBody


class State(enum.IntEnum):
    # IntEnum: its members hash as ints, which keeps the table's lookups cheap.
    NEW = 0
    HEAD = 1
    BUSY = 2
    IDLE = 3
    SWITCHING = 4
    SWITCHED = 5
    FAILING = 6
    CLOSED = 7


class Event(enum.IntEnum):
    ACCEPT = 0  # the connection is made and taken (not refused with a 503)
    BYTES = 1  # bytes arrived for the HTTP parser
    HEAD_DONE = 2  # a complete request head was parsed
    UPGRADE = 3  # the parser stopped at an Upgrade request
    PROTOCOL_ERROR = 4  # the bytes cannot be parsed as a request
    ANSWERED = 5  # every queued request is answered; no next head has begun
    ANSWERED_MID_HEAD = 6  # every queued request is answered; the next head has begun
    SWITCH = 7  # 101 is written and the upgraded protocol takes over
    CLOSE = 8  # we close, or the peer went away


# Module-level names for the members: on Python 3.11 ``State.HEAD`` is a slow
# descriptor lookup, and the connection compares states on every request.
NEW: Final = State.NEW
HEAD: Final = State.HEAD
BUSY: Final = State.BUSY
IDLE: Final = State.IDLE
SWITCHING: Final = State.SWITCHING
SWITCHED: Final = State.SWITCHED
FAILING: Final = State.FAILING
CLOSED: Final = State.CLOSED

ACCEPT: Final = Event.ACCEPT
BYTES: Final = Event.BYTES
HEAD_DONE: Final = Event.HEAD_DONE
UPGRADE: Final = Event.UPGRADE
PROTOCOL_ERROR: Final = Event.PROTOCOL_ERROR
ANSWERED: Final = Event.ANSWERED
ANSWERED_MID_HEAD: Final = Event.ANSWERED_MID_HEAD
SWITCH: Final = Event.SWITCH
CLOSE: Final = Event.CLOSE

TRANSITIONS: Final[dict[State, dict[Event, State]]] = {
    NEW: {ACCEPT: HEAD, CLOSE: CLOSED},
    HEAD: {
        BYTES: HEAD,
        HEAD_DONE: BUSY,
        PROTOCOL_ERROR: FAILING,
        # Bytes that began no request (a stray CRLF, RFC 9112 section 2.2).
        ANSWERED: IDLE,
        ANSWERED_MID_HEAD: HEAD,
        CLOSE: CLOSED,
    },
    BUSY: {
        BYTES: BUSY,
        HEAD_DONE: BUSY,
        UPGRADE: SWITCHING,
        PROTOCOL_ERROR: FAILING,
        ANSWERED: IDLE,
        ANSWERED_MID_HEAD: HEAD,
        # A 101 to a request the parser did not stop at: the handler's choice.
        SWITCH: SWITCHED,
        CLOSE: CLOSED,
    },
    IDLE: {BYTES: HEAD, ANSWERED: IDLE, CLOSE: CLOSED},
    SWITCHING: {SWITCH: SWITCHED, CLOSE: CLOSED},
    SWITCHED: {CLOSE: CLOSED},
    FAILING: {CLOSE: CLOSED},
    CLOSED: {CLOSE: CLOSED},
}


def _after_one_request(state: State) -> State | None:
    for event in (BYTES, HEAD_DONE, ANSWERED):
        following = TRANSITIONS[state].get(event)
        if following is None:
            return None
        state = following
    return state


#: Where BYTES, HEAD_DONE and ANSWERED in a row lead from each state (None: not from
#: there): a whole request read and answered in one go, from a kept answer.
AFTER_ONE_REQUEST: Final = {state: _after_one_request(state) for state in State}

#: States in which bytes go to the HTTP parser.
PARSING: Final = frozenset({HEAD, BUSY, IDLE})
#: States in which queued requests are dispatched.
ANSWERING: Final = frozenset({BUSY, SWITCHING, FAILING})


class InvalidTransition(RuntimeError):
    """An event arrived in a state that cannot take it: a bug in the connection."""

    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"{event.name} in state {state.name}")
        self.state = state
        self.event = event


class ConnectionState:
    """Where one connection is, and the loop time at which it times out there.

    ``HttpConnection`` inherits it rather than holding one, so reading its state
    on the per-request path costs no extra attribute lookup.
    """

    __slots__ = ("_clock", "_header_timeout", "_idle_timeout", "deadline", "state")

    def __init__(
        self, clock: Callable[[], float], header_timeout: float, idle_timeout: float
    ) -> None:
        self._clock = clock
        self._header_timeout = header_timeout
        self._idle_timeout = idle_timeout
        self.state: State = NEW
        #: Loop time after which the server's sweeper closes the connection.
        self.deadline: float | None = None

    def fire(self, event: Event) -> State:
        state = self.state
        try:
            new = TRANSITIONS[state][event]
        except KeyError:
            raise InvalidTransition(state, event) from None
        if new is not state:
            self.state = new
            if new is HEAD:
                self.deadline = self._clock() + self._header_timeout
            elif new is IDLE:
                self.deadline = self._clock() + self._idle_timeout
            else:
                self.deadline = None
        return new

    def fire_one_request(self) -> State:
        """``fire`` BYTES, HEAD_DONE and ANSWERED, in one look-up (``AFTER_ONE_REQUEST``)."""
        state = self.state
        new = AFTER_ONE_REQUEST[state]
        if new is None:
            raise InvalidTransition(state, BYTES)
        self.state = new
        # Where the three lead, the deadline is the one ``fire`` sets on entering it.
        self.deadline = self._clock() + self._idle_timeout if new is IDLE else None
        return new


class Exchange:
    """One request, and what the connection knows about answering it."""

    __slots__ = (
        "answered",
        "body",
        "expects_continue",
        "keep_alive",
        "refusal",
        "request",
        "started",
        "stops_parsing",
    )

    def __init__(self, request: Request, keep_alive: bool, body: RequestBody) -> None:
        self.request = request
        #: The streamed body behind ``request.body``, as the connection feeds it.
        self.body = body
        #: What the request asked for: HTTP/1.1 without ``Connection: close``, or
        #: HTTP/1.0 with ``Connection: keep-alive`` (RFC 9112 section 9.3).
        self.keep_alive = keep_alive
        self.expects_continue = (request.headers.get("expect") or "").lower() == "100-continue"
        #: perf_counter() when the handler was called, for the request log.
        self.started = 0.0
        #: The response head is out: too late to invite the body with a 100.
        self.answered = False
        #: The parser stopped after this request (an Upgrade): nothing after it is HTTP.
        self.stops_parsing = False
        #: The protocol error its body ran into while its handler ran: that is its answer.
        self.refusal: ProtocolError | None = None


# -- keep-alive: whether the connection stays open after a response ------------------


class CloseReason(enum.Enum):
    """Why a connection closed; the first reason that applied is the one kept."""

    # After a response (close_reason, after_framing, after_body):
    CLIENT_CLOSE = "the request said Connection: close"  # RFC 9112 section 9.6
    HTTP10 = "HTTP/1.0 without keep-alive"  # RFC 9112 section 9.3
    SHUTDOWN = "the server is stopping"  # RFC 9112 section 9.6: say close, then close
    BODY_NOT_INVITED = "Expect: 100-continue and the body was never read"
    UPGRADE_DECLINED = "the parser stopped at an Upgrade that was not taken"
    RESPONSE_CLOSE = "the response asked to close"
    CLOSE_DELIMITED = "an HTTP/1.0 body of unknown length ends with the close"
    SHORT_BODY = "a streamed body was shorter than its Content-Length"
    # Instead of (or after) an answer:
    PROTOCOL_ERROR = "a malformed request"
    HEADER_TIMEOUT = "the request head did not arrive in time"
    IDLE_TIMEOUT = "keep-alive idle timeout"
    TOO_MANY_CONNECTIONS = "too many connections"
    SEND_FAILED = "the response could not be sent whole"
    PEER_CLOSED = "the client closed the connection"


def close_reason(exchange: Exchange, response: Response, shutting_down: bool) -> CloseReason | None:
    """Why the connection must close after this response, or None: it stays open.

    Asked once per response, before its head is written, so the head can say
    ``Connection: close``. Requests answered before a pending protocol error
    stay open: the error follows them on the same connection (RFC 9112
    section 9.3.2), and the connection closes after it.
    """
    if not exchange.keep_alive:
        # RFC 9112 section 9.3: HTTP/1.0 persists only with keep-alive; section
        # 9.6: after "close" the server must not read further requests.
        return CloseReason.HTTP10 if exchange.request.version == "1.0" else CloseReason.CLIENT_CLOSE
    if shutting_down:
        return CloseReason.SHUTDOWN
    if exchange.refusal is not None:
        # Its body broke the framing while its handler ran: the error is its answer,
        # and nothing after it can be parsed (RFC 9112 section 6.3).
        return CloseReason.PROTOCOL_ERROR
    if exchange.expects_continue and not exchange.body.started:
        # RFC 9110 section 10.1.1: the client may or may not send the body it
        # offered, so the next request's first byte cannot be found (RFC 9112
        # section 9.6 lets the server close instead of reading on).
        return CloseReason.BODY_NOT_INVITED
    if exchange.stops_parsing and not (response.status == 101 and response.upgrade is not None):
        # llhttp stops at an Upgrade request; what follows is not parsed as HTTP,
        # so a server that declines the upgrade (RFC 9110 section 7.8) must close.
        return CloseReason.UPGRADE_DECLINED
    if response.close:
        return CloseReason.RESPONSE_CLOSE
    return None


def after_framing(reason: CloseReason | None) -> CloseReason:
    """The reason to close once the writer framed the head without keep-alive.

    The writer has one reason of its own: a body of unknown length to an
    HTTP/1.0 client cannot be chunked, so the close marks its end (RFC 9112
    section 6.3, last rule).
    """
    return CloseReason.CLOSE_DELIMITED if reason is None else reason


def after_body(
    reason: CloseReason | None,
    exchange: Exchange,
    response: Response,
    sent: int,
    *,
    chunked: bool,
) -> CloseReason | None:
    """Add what sending a streamed body revealed, or what happened while it was sent.

    A body shorter than the Content-Length its head promised would make the
    client read the next response as the rest of this one: close, so it sees
    the message as incomplete (RFC 9112 section 8). And the request's own body
    may have broken the framing meanwhile: its error is not answered a second
    time, but nothing after it can be parsed (RFC 9112 section 6.3).
    """
    if reason is not None:
        return reason
    if exchange.refusal is not None:
        return CloseReason.PROTOCOL_ERROR
    if not chunked and response.length is not None and sent != response.length:
        return CloseReason.SHORT_BODY
    return None
