"""HttpConnection's ends: graceful shutdown, the 101 hand-over, the client going away."""

from __future__ import annotations

from siteserve.http.request import BodyIncomplete
from siteserve.server.connection_state import CloseReason, State
from tests.unit.connection_support import (
    UPGRADE,
    Peer,
    Rig,
    get,
    on_loop,
    post,
    turns,
    until,
)


def stop(rig: Rig) -> None:
    """What Server.stop does first: mark the server stopping, tell every connection."""
    rig.server.shutting_down = True
    for connection in list(rig.server.connections):
        connection.shutdown()


# -- graceful shutdown ------------------------------------------------------------------


@on_loop
async def test_shutdown_closes_an_idle_connection_at_once() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/"))
    written = len(peer.transport.data)
    stop(rig)
    assert peer.closed and len(peer.transport.data) == written
    assert peer.connection.close_reason is CloseReason.SHUTDOWN


@on_loop
async def test_shutdown_lets_the_answer_in_flight_finish_and_says_close() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/slow") + get("/queued"))
    stop(rig)
    assert not peer.closed
    rig.app.gate("/").set()
    await until(lambda: peer.closed, "close")
    [reply] = peer.replies()  # the queued request is not answered
    assert reply.status == 200 and reply.header("connection") == "close"
    assert peer.connection.close_reason is CloseReason.SHUTDOWN
    assert rig.app.seen == ["/slow"]


@on_loop
async def test_shutdown_during_a_streamed_body_closes_after_it() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.connection.pause_writing()
    peer.send(get("/stream"))
    await turns()
    stop(rig)
    assert not peer.closed
    peer.connection.resume_writing()
    await until(lambda: peer.closed, "close")
    [reply] = peer.replies()
    assert reply.body == b"x" * 8 * 1024  # the whole body, then the close
    assert peer.connection.close_reason is CloseReason.SHUTDOWN


@on_loop
async def test_a_connection_made_during_shutdown_is_refused() -> None:
    rig = Rig.start()
    stop(rig)
    peer = rig.connect()
    assert peer.statuses() == [503] and peer.closed
    assert peer.connection.close_reason is CloseReason.SHUTDOWN


@on_loop
async def test_drained_resolves_when_the_last_connection_is_gone() -> None:
    rig = Rig.start()
    first, second = rig.connect(), rig.connect()
    first.send(get("/slow"))
    stop(rig)
    assert second.closed and not first.closed
    second.connection.connection_lost(None)
    assert not rig.server.drained.done()
    rig.app.gate("/").set()
    await until(lambda: first.closed, "close")
    first.connection.connection_lost(None)
    assert rig.server.drained.done()


@on_loop
async def test_shutdown_asks_an_upgraded_protocol_to_say_goodbye() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/ws", *UPGRADE))
    [upgraded] = rig.app.upgrades
    stop(rig)
    assert upgraded.stopping and peer.closed
    assert peer.connection.close_reason is CloseReason.SHUTDOWN


@on_loop
async def test_the_shutdown_timeout_aborts() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/slow"))
    stop(rig)
    peer.connection.abort()  # what Server.stop does when shutdown_timeout has passed
    assert peer.transport.aborted
    peer.connection.connection_lost(None)
    assert peer.connection.close_reason is CloseReason.SHUTDOWN
    assert peer.connection.state is State.CLOSED


# -- the 101 hand-over ----------------------------------------------------------------------


@on_loop
async def test_the_bytes_after_an_upgrade_request_go_to_the_new_protocol() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/ws", *UPGRADE) + b"early bytes")
    [reply] = peer.replies()
    assert reply.status == 101 and reply.header("upgrade") == "echo"
    [upgraded] = rig.app.upgrades
    assert upgraded.received == [b"early bytes"]
    peer.send(b"more")
    assert upgraded.received == [b"early bytes", b"more"]
    assert peer.connection.state is State.SWITCHED and peer.connection.deadline is None


@on_loop
async def test_bytes_held_while_an_async_101_is_prepared_are_handed_over_in_order() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/slow/ws", *UPGRADE) + b"one,")
    assert peer.connection.state is State.SWITCHING
    peer.send(b"two")  # not HTTP: held, not parsed
    rig.app.gate("/ws").set()
    await peer.replies_count(1)
    [upgraded] = rig.app.upgrades
    assert b"".join(upgraded.received) == b"one,two"


@on_loop
async def test_http_timeouts_end_with_the_upgrade() -> None:
    rig = Rig.start(header_timeout=1.0, keepalive_timeout=1.0)
    peer = rig.connect()
    peer.send(get("/ws", *UPGRADE))
    rig.advance(3600.0)
    assert not peer.closed


@on_loop
async def test_the_upgraded_protocol_learns_that_the_connection_is_gone() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/ws", *UPGRADE))
    [upgraded] = rig.app.upgrades
    peer.connection.connection_lost(None)
    assert upgraded.lost
    assert peer.connection.close_reason is CloseReason.PEER_CLOSED


# -- the client going away ----------------------------------------------------------------


@on_loop
async def test_a_client_gone_mid_body_fails_the_body_for_its_reader() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(post("/read", b"0123456789")[:-5])  # half the body
    await until(lambda: rig.app.seen == ["/read"], "dispatch")
    peer.connection.connection_lost(None)
    await until(lambda: bool(rig.app.bodies), "the reader's answer")
    assert isinstance(rig.app.bodies[0], BodyIncomplete)
    assert peer.connection.close_reason is CloseReason.PEER_CLOSED
    assert peer.transport.writes_after_close == 0


@on_loop
async def test_a_half_closed_client_still_gets_its_answers_rfc9112_9_6() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/slow"))
    assert peer.connection.eof_received() is True  # keep the transport open for the answer
    rig.app.gate("/").set()
    await peer.replies_count(1)


@on_loop
async def test_eof_mid_body_fails_the_body_and_closes() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(post("/read", b"0123456789")[:-5])
    assert peer.connection.eof_received() is None  # let the transport close
    await until(lambda: bool(rig.app.bodies), "the reader's answer")
    assert isinstance(rig.app.bodies[0], BodyIncomplete)


@on_loop
async def test_a_peer_that_leaves_while_a_stream_is_paused_ends_the_stream() -> None:
    rig = Rig.start()
    peer: Peer = rig.connect()
    peer.connection.pause_writing()
    peer.send(get("/stream"))
    await turns()
    peer.connection.connection_lost(None)
    await turns()
    assert rig.app.produced == 1  # the generator was closed, not drained
    assert all(task.done() for task in rig.loop.tasks)
    assert rig.log == []  # an answer never finished is not logged as sent
