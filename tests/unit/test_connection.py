"""HttpConnection fed with bytes: pipelining order, keep-alive decisions, errors, limits.

Timeouts and back-pressure are in test_connection_flow.py; shutdown, upgrades
and disconnects in test_connection_lifecycle.py. No sockets: see connection_support.
"""

from __future__ import annotations

from siteserve.server.connection_state import CloseReason, State
from tests.unit.connection_support import (
    UPGRADE,
    Rig,
    get,
    on_loop,
    post,
    turns,
    until,
)

# -- the fast path and pipelining (RFC 9112 section 9.3.2) -----------------------------


@on_loop
async def test_an_answer_ready_at_once_is_written_at_once_without_a_task() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/hello"))
    # Nothing ran on the loop, yet the response is out: the static fast path.
    assert [(r.status, r.body) for r in peer.replies()] == [(200, b"GET /hello")]
    assert rig.loop.tasks == []
    assert peer.connection.state is State.IDLE and not peer.closed


@on_loop
async def test_pipelined_requests_are_answered_in_request_order() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/a") + get("/b") + get("/c"))
    assert peer.bodies() == [b"GET /a", b"GET /b", b"GET /c"]


@on_loop
async def test_a_slow_async_answer_holds_back_the_fast_one_behind_it() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/slow") + get("/fast"))
    await turns()
    # The fast request is not even dispatched until the slow one is out.
    assert peer.replies() == [] and rig.app.seen == ["/slow"]
    assert peer.connection.state is State.BUSY
    rig.app.gate("/").set()
    replies = await peer.replies_count(2)
    assert [reply.body for reply in replies] == [b"GET /", b"GET /fast"]
    assert rig.app.seen == ["/slow", "/fast"]


@on_loop
async def test_a_pipelined_head_split_across_reads_is_answered_after_the_first() -> None:
    rig = Rig.start()
    peer = rig.connect()
    second = get("/second")
    peer.send(get("/first") + second[:7])
    assert peer.bodies() == [b"GET /first"]
    assert peer.connection.state is State.HEAD  # the next head has begun
    peer.send(second[7:20])
    peer.send(second[20:])
    assert peer.bodies() == [b"GET /first", b"GET /second"]


@on_loop
async def test_a_response_that_is_streamed_finishes_before_the_next_starts() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/stream") + get("/after"))
    replies = await peer.replies_count(2)
    assert [reply.body for reply in replies] == [b"x" * 8 * 1024, b"GET /after"]
    assert replies[0].header("transfer-encoding") == "chunked"


@on_loop
async def test_every_response_is_logged_once() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/one") + get("/two?q=1"))
    assert [(r.method, r.path, r.status, r.size, r.client) for r in rig.log] == [
        ("GET", "/one", 200, 8, "192.0.2.7"),
        ("GET", "/two?q=1", 200, 8, "192.0.2.7"),
    ]


# -- keep-alive decisions ----------------------------------------------------------------


@on_loop
async def test_http11_stays_open_without_saying_so() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/"))
    [reply] = peer.replies()
    assert reply.header("connection") is None
    assert not peer.closed and peer.connection.close_reason is None


@on_loop
async def test_connection_close_closes_after_its_answer_rfc9112_9_6() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/", "Connection: close") + get("/never"))
    [reply] = peer.replies()  # the request after "close" is not answered
    assert reply.header("connection") == "close"
    assert peer.closed and peer.connection.close_reason is CloseReason.CLIENT_CLOSE
    assert rig.app.seen == ["/"]


@on_loop
async def test_http10_without_keep_alive_closes_rfc9112_9_3() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/", version="1.0"))
    [reply] = peer.replies()
    assert reply.header("connection") == "close"
    assert peer.closed and peer.connection.close_reason is CloseReason.HTTP10


@on_loop
async def test_http10_with_keep_alive_stays_open_and_says_so() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/a", "Connection: keep-alive", version="1.0"))
    peer.send(get("/b", "Connection: keep-alive", version="1.0"))
    assert [r.header("connection") for r in peer.replies()] == ["keep-alive", "keep-alive"]
    assert not peer.closed


@on_loop
async def test_http10_body_of_unknown_length_ends_with_the_close_rfc9112_6_3() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/stream", "Connection: keep-alive", version="1.0"))
    await until(lambda: peer.closed, "close")
    [reply] = peer.replies()
    assert reply.header("connection") == "close" and reply.header("transfer-encoding") is None
    assert reply.body == b"x" * 8 * 1024
    assert peer.connection.close_reason is CloseReason.CLOSE_DELIMITED


@on_loop
async def test_a_streamed_body_of_the_promised_length_keeps_the_connection() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/stream-sized"))
    [reply] = await peer.replies_count(1)
    await until(lambda: peer.connection.state is State.IDLE, "idle")
    assert reply.body == b"x" * 3 * 1024 and not peer.closed


@on_loop
async def test_a_streamed_body_shorter_than_its_length_closes_rfc9112_8() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/short") + get("/next"))
    await until(lambda: peer.closed, "close")
    # The head promised 10 KiB and went out first: only the close can tell the client.
    assert bytes(peer.transport.data).endswith(b"\r\n\r\n" + b"x" * 1024)
    assert peer.connection.close_reason is CloseReason.SHORT_BODY
    assert rig.app.seen == ["/short"]


@on_loop
async def test_a_response_may_ask_to_close() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/close"))
    [reply] = peer.replies()
    assert reply.header("connection") == "close"
    assert peer.connection.close_reason is CloseReason.RESPONSE_CLOSE


@on_loop
async def test_an_uninvited_100_continue_body_closes_rfc9110_10_1_1() -> None:
    rig = Rig.start()
    peer = rig.connect()
    # The handler answers without reading: the client may or may not send the body now.
    peer.send(
        b"POST /ignored HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    [reply] = peer.replies()
    assert reply.status == 200 and reply.header("connection") == "close"
    assert b"100 Continue" not in peer.transport.data
    assert peer.connection.close_reason is CloseReason.BODY_NOT_INVITED


@on_loop
async def test_an_invited_100_continue_body_keeps_the_connection() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(
        b"POST /read HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    await until(lambda: b"100 Continue" in peer.transport.data, "100 Continue")
    peer.send(b"hello")
    replies = await peer.replies_count(2)
    assert [(r.status, r.body) for r in replies] == [(100, b""), (200, b"read 5")]
    assert replies[1].header("connection") is None and not peer.closed


@on_loop
async def test_a_request_before_an_upgrade_keeps_the_connection_for_it() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/first") + get("/ws", *UPGRADE))
    assert peer.statuses() == [200, 101]
    assert peer.replies()[0].header("connection") is None
    assert peer.connection.state is State.SWITCHED


@on_loop
async def test_a_declined_upgrade_closes_and_what_followed_is_not_parsed() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/plain", *UPGRADE) + get("/after"))
    [reply] = peer.replies()
    assert reply.status == 200 and reply.header("connection") == "close"
    assert peer.connection.close_reason is CloseReason.UPGRADE_DECLINED
    assert rig.app.seen == ["/plain"]


# -- errors and limits --------------------------------------------------------------------


@on_loop
async def test_a_protocol_error_alone_is_answered_then_closed() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(b"NOT HTTP AT ALL\r\n\r\n")
    [reply] = peer.replies()
    assert reply.status == 400 and reply.header("connection") == "close"
    assert peer.closed and peer.connection.close_reason is CloseReason.PROTOCOL_ERROR


@on_loop
async def test_a_protocol_error_after_pipelined_requests_comes_after_their_answers() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/a") + get("/slow") + b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    await turns()
    # /a is out; the error waits behind the slow answer, and the connection stays open.
    assert peer.statuses() == [200] and not peer.closed
    assert peer.connection.state is State.FAILING
    peer.send(get("/ignored"))  # nothing is parsed after the bad bytes
    rig.app.gate("/").set()
    await until(lambda: peer.closed, "close")
    assert peer.statuses() == [200, 200, 400]
    assert [r.header("connection") for r in peer.replies()] == [None, None, "close"]
    assert rig.app.seen == ["/a", "/slow"]
    assert peer.connection.close_reason is CloseReason.PROTOCOL_ERROR


@on_loop
async def test_a_body_over_the_limit_is_413_after_the_requests_before_it() -> None:
    rig = Rig.start(max_body=10)
    peer = rig.connect()
    peer.send(get("/a") + post("/read", b"x" * 11))
    assert peer.statuses() == [200, 413]
    assert peer.closed and rig.app.seen == ["/a"]


@on_loop
async def test_a_body_over_the_limit_while_its_handler_reads_is_its_one_answer() -> None:
    rig = Rig.start(max_body=10)
    peer = rig.connect()
    peer.send(b"POST /read HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n")
    await until(lambda: rig.app.seen == ["/read"], "dispatch")
    peer.send(b"6\r\nfghijk\r\n0\r\n\r\n" + get("/after"))
    await until(lambda: peer.closed, "close")
    # The handler saw its body break; the 413 replaces whatever it answered.
    assert peer.statuses() == [413]
    assert peer.connection.close_reason is CloseReason.PROTOCOL_ERROR
    assert rig.app.seen == ["/read"]


@on_loop
async def test_a_body_over_the_limit_after_its_answer_brings_no_second_answer() -> None:
    rig = Rig.start(max_body=10)
    peer = rig.connect()
    peer.send(b"POST /plain HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert peer.statuses() == [200]  # answered at once, without reading the body
    peer.send(b"b\r\n" + b"z" * 11 + b"\r\n")
    assert peer.closed and peer.statuses() == [200]
    assert peer.connection.close_reason is CloseReason.PROTOCOL_ERROR


@on_loop
async def test_a_handler_that_raises_is_a_500_and_the_connection_closes() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/boom") + get("/next"))
    [reply] = peer.replies()
    assert reply.status == 500 and reply.header("connection") == "close"
    assert peer.connection.close_reason is CloseReason.RESPONSE_CLOSE


@on_loop
async def test_connections_over_the_limit_get_503_and_are_closed() -> None:
    rig = Rig.start(max_connections=2)
    first, second = rig.connect(), rig.connect()
    third = rig.connect()
    [reply] = third.replies()
    assert reply.status == 503 and reply.header("retry-after") == "1"
    assert third.closed and third.connection.close_reason is CloseReason.TOO_MANY_CONNECTIONS
    assert rig.server.connections == {first.connection, second.connection}
    first.connection.connection_lost(None)
    fourth = rig.connect()  # a place is free again
    assert not fourth.closed and fourth.replies() == []
