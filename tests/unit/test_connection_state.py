"""The connection's state machine on its own: the table, the deadlines, the keep-alive rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from siteserve.http.errors import ProtocolError
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.server.connection_state import (
    TRANSITIONS,
    CloseReason,
    ConnectionState,
    Event,
    Exchange,
    InvalidTransition,
    State,
    after_body,
    after_framing,
    close_reason,
)
from siteserve.server.request_body import RequestBody
from tests.unit.connection_support import RecordingUpgrade


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def machine(clock: Clock) -> ConnectionState:
    return ConnectionState(clock, 10.0, 5.0)


def test_every_state_is_in_the_table_and_every_state_can_close() -> None:
    assert set(TRANSITIONS) == set(State)
    for state, moves in TRANSITIONS.items():
        assert moves[Event.CLOSE] is State.CLOSED, state


def test_an_event_the_table_does_not_list_is_a_bug() -> None:
    clock = Clock()
    connection = machine(clock)
    with pytest.raises(InvalidTransition, match="HEAD_DONE in state NEW"):
        connection.fire(Event.HEAD_DONE)
    connection.fire(Event.ACCEPT)
    connection.fire(Event.CLOSE)
    for event in set(Event) - {Event.CLOSE}:
        with pytest.raises(InvalidTransition):
            connection.fire(event)


def test_each_state_carries_its_own_deadline() -> None:
    clock = Clock()
    connection = machine(clock)
    assert connection.deadline is None
    connection.fire(Event.ACCEPT)  # the header timeout runs from the accept
    assert (connection.state, connection.deadline) == (State.HEAD, 60.0)
    connection.fire(Event.HEAD_DONE)  # answering: no deadline
    assert (connection.state, connection.deadline) == (State.BUSY, None)
    clock.now = 70.0
    connection.fire(Event.ANSWERED)  # keep-alive idle timeout from the answer
    assert (connection.state, connection.deadline) == (State.IDLE, 75.0)
    clock.now = 72.0
    connection.fire(Event.BYTES)  # the next request's first byte: header timeout from now
    assert (connection.state, connection.deadline) == (State.HEAD, 82.0)


def test_staying_in_a_state_keeps_its_deadline() -> None:
    # A head that dribbles in byte by byte must not push its own deadline back (slowloris).
    clock = Clock()
    connection = machine(clock)
    connection.fire(Event.ACCEPT)
    clock.now = 58.0
    connection.fire(Event.BYTES)
    connection.fire(Event.ANSWERED_MID_HEAD)
    assert (connection.state, connection.deadline) == (State.HEAD, 60.0)


def test_switching_and_failing_have_no_deadline_and_lead_only_forward() -> None:
    clock = Clock()
    connection = machine(clock)
    connection.fire(Event.ACCEPT)
    connection.fire(Event.HEAD_DONE)
    connection.fire(Event.UPGRADE)
    assert (connection.state, connection.deadline) == (State.SWITCHING, None)
    assert set(TRANSITIONS[State.SWITCHING].values()) == {State.SWITCHED, State.CLOSED}
    assert set(TRANSITIONS[State.FAILING].values()) == {State.CLOSED}
    assert set(TRANSITIONS[State.SWITCHED].values()) == {State.CLOSED}


# -- keep-alive rules ------------------------------------------------------------------


def exchange(
    *,
    version: str = "1.1",
    keep_alive: bool = True,
    expect: bool = False,
    body_started: bool = False,
) -> Exchange:
    headers = Headers([("Host", "t")] + ([("Expect", "100-continue")] if expect else []))
    body = RequestBody(complete=True)
    if body_started:
        asyncio.run(body.read())  # a handler read it, and so invited it
    request = Request("POST", "/", "/", "", headers, version=version, body=body)
    return Exchange(request, keep_alive, body)


async def _nothing() -> AsyncIterator[bytes]:
    yield b""


OK = Response(200, [], b"ok")


@pytest.mark.parametrize(
    ("case", "response", "shutting_down", "expected"),
    [
        (exchange(), OK, False, None),
        (exchange(keep_alive=False), OK, False, CloseReason.CLIENT_CLOSE),
        (exchange(version="1.0", keep_alive=False), OK, False, CloseReason.HTTP10),
        (exchange(version="1.0", keep_alive=True), OK, False, None),
        (exchange(), OK, True, CloseReason.SHUTDOWN),
        (exchange(expect=True), OK, False, CloseReason.BODY_NOT_INVITED),
        (exchange(expect=True, body_started=True), OK, False, None),
        (exchange(), Response(200, [], b"", close=True), False, CloseReason.RESPONSE_CLOSE),
    ],
    ids=[
        "http11-stays-open",
        "connection-close",
        "http10-without-keep-alive",
        "http10-with-keep-alive",
        "shutdown",
        "100-continue-never-invited",
        "100-continue-invited",
        "response-asks",
    ],
)
def test_close_reason_names_each_rule(
    case: Exchange, response: Response, shutting_down: bool, expected: CloseReason | None
) -> None:
    assert close_reason(case, response, shutting_down) is expected


def test_the_request_the_parser_stopped_at_closes_unless_switched() -> None:
    stopped = exchange()
    stopped.stops_parsing = True
    assert close_reason(stopped, OK, False) is CloseReason.UPGRADE_DECLINED
    switch = Response(101, [], upgrade=RecordingUpgrade)
    assert close_reason(stopped, switch, False) is None


def test_the_client_reasons_come_first() -> None:
    # The head says why in the terms of the request that asked.
    case = exchange(keep_alive=False, expect=True)
    assert close_reason(case, OK, True) is CloseReason.CLIENT_CLOSE


def test_close_delimited_framing_is_named_unless_a_reason_came_first() -> None:
    assert after_framing(None) is CloseReason.CLOSE_DELIMITED
    assert after_framing(CloseReason.HTTP10) is CloseReason.HTTP10


def test_a_short_body_is_named_only_when_its_length_was_promised() -> None:
    sized = Response(200, [], _nothing(), length=10)
    case = exchange()
    assert after_body(None, case, sized, 4, chunked=False) is CloseReason.SHORT_BODY
    assert after_body(None, case, sized, 10, chunked=False) is None
    assert after_body(CloseReason.SHUTDOWN, case, sized, 4, chunked=False) is CloseReason.SHUTDOWN
    unsized = Response(200, [], _nothing())
    assert after_body(None, case, unsized, 4, chunked=True) is None


def test_a_body_that_broke_while_its_request_was_answered_closes_after_the_answer() -> None:
    # RFC 9112 section 6.3: once a body's framing is broken nothing after it can be parsed.
    case = exchange()
    case.refusal = ProtocolError(413, "request body too large")
    assert close_reason(case, OK, False) is CloseReason.PROTOCOL_ERROR
    sized = Response(200, [], _nothing(), length=10)
    assert after_body(None, case, sized, 10, chunked=False) is CloseReason.PROTOCOL_ERROR


@pytest.mark.parametrize("start", list(State))
def test_one_request_at_once_goes_where_its_three_events_go(start: State) -> None:
    # The answer cache (server.answers) moves the machine in one step: the same place,
    # with the same deadline, as BYTES, HEAD_DONE and ANSWERED fired one by one.
    by_events, at_once = machine(Clock()), machine(Clock())
    by_events.state = at_once.state = start
    try:
        for event in (Event.BYTES, Event.HEAD_DONE, Event.ANSWERED):
            by_events.fire(event)
    except InvalidTransition:
        with pytest.raises(InvalidTransition):
            at_once.fire_one_request()
        return
    assert at_once.fire_one_request() is by_events.state
    assert at_once.deadline == by_events.deadline
