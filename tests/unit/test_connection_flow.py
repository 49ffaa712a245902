"""HttpConnection's timeouts (driven by a fake clock) and back-pressure both ways."""

from __future__ import annotations

from pathlib import Path

from siteserve.server.connection_state import CloseReason, State
from siteserve.server.flow import MAX_PIPELINE
from siteserve.server.request_body import RequestBody
from tests.unit.connection_support import Rig, get, on_loop, post, turns

HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 5.0


def timed_rig() -> Rig:
    return Rig.start(header_timeout=HEADER_TIMEOUT, keepalive_timeout=IDLE_TIMEOUT)


# -- deadlines, checked by the server's sweeper (RFC 9112 section 9.5) ----------------


@on_loop
async def test_a_head_that_never_completes_gets_408_at_the_header_timeout() -> None:
    rig = timed_rig()
    peer = rig.connect()
    peer.send(b"GET / HTTP/1.1\r\nHo")
    rig.advance(HEADER_TIMEOUT - 0.5)
    assert not peer.closed  # not yet
    rig.advance(1.0)
    [reply] = peer.replies()
    assert reply.status == 408 and reply.header("connection") == "close"
    assert peer.closed and peer.connection.close_reason is CloseReason.HEADER_TIMEOUT


@on_loop
async def test_a_head_that_dribbles_in_keeps_the_deadline_of_its_first_byte() -> None:
    rig = timed_rig()
    peer = rig.connect()
    head = get("/", "X-Padding: " + "p" * 64)
    sent = 0
    while not peer.closed and sent < len(head) - 1:  # a slowloris: a byte a second
        peer.send(head[sent : sent + 1])
        sent += 1
        rig.advance(1.0)
    assert peer.closed and peer.statuses() == [408]
    assert sent == HEADER_TIMEOUT  # the deadline never moved


@on_loop
async def test_a_silent_connection_is_closed_at_the_header_timeout_without_an_answer() -> None:
    rig = timed_rig()
    peer = rig.connect()
    assert peer.connection.state is State.HEAD
    rig.advance(HEADER_TIMEOUT)
    assert peer.closed and peer.transport.data == b""
    assert peer.connection.close_reason is CloseReason.HEADER_TIMEOUT


@on_loop
async def test_an_idle_keep_alive_connection_closes_at_the_idle_timeout() -> None:
    rig = timed_rig()
    peer = rig.connect()
    peer.send(get("/"))
    assert peer.connection.state is State.IDLE
    assert peer.connection.deadline == rig.loop.now + IDLE_TIMEOUT
    written = len(peer.transport.data)
    rig.advance(IDLE_TIMEOUT - 0.5)
    assert not peer.closed
    rig.advance(1.0)
    assert peer.closed and len(peer.transport.data) == written  # no 408 for an idle client
    assert peer.connection.close_reason is CloseReason.IDLE_TIMEOUT


@on_loop
async def test_the_first_byte_of_the_next_request_starts_the_header_deadline() -> None:
    rig = timed_rig()
    peer = rig.connect()
    peer.send(get("/"))
    rig.advance(IDLE_TIMEOUT - 1.0)
    peer.send(b"GE")
    assert peer.connection.state is State.HEAD
    assert peer.connection.deadline == rig.loop.now + HEADER_TIMEOUT
    rig.advance(IDLE_TIMEOUT)  # past the idle deadline, inside the header one
    assert not peer.closed
    peer.send(b"T / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert peer.statuses() == [200, 200]


@on_loop
async def test_no_deadline_runs_while_a_request_is_being_answered() -> None:
    rig = timed_rig()
    peer = rig.connect()
    peer.send(get("/slow"))
    assert peer.connection.state is State.BUSY and peer.connection.deadline is None
    rig.advance(HEADER_TIMEOUT * 10)
    assert not peer.closed
    rig.app.gate("/").set()
    await peer.replies_count(1)
    assert peer.connection.deadline == rig.loop.now + IDLE_TIMEOUT


# -- write back-pressure: a slow reader costs one buffer, not the whole body ------------


@on_loop
async def test_pause_writing_stops_a_streamed_body_and_resume_writing_continues_it() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.connection.pause_writing()  # the transport's buffer is full before we begin
    peer.send(get("/stream"))
    await turns()
    # The head is out; the generator made its first chunk and waits for room to write it.
    assert peer.transport.data.endswith(b"\r\n\r\n") and rig.app.produced == 1
    peer.connection.resume_writing()
    [reply] = await peer.replies_count(1)
    assert reply.body == b"x" * 8 * 1024 and rig.app.produced == 8


@on_loop
async def test_a_file_body_waits_for_room_too(tmp_path: Path) -> None:
    rig = Rig.start()
    rig.app.file = tmp_path / "data.bin"
    rig.app.file.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    peer = rig.connect()
    peer.connection.pause_writing()
    peer.send(get("/file"))
    await turns()
    assert peer.transport.data.endswith(b"\r\n\r\n")
    peer.connection.resume_writing()
    [reply] = await peer.replies_count(1)
    assert reply.body == rig.app.file.read_bytes()


@on_loop
async def test_the_write_buffer_resumes_only_when_empty() -> None:
    # So zero-copy sends, which need an empty transport buffer, can go on.
    rig = Rig.start()
    peer = rig.connect()
    assert peer.transport.buffer_limits == (64 * 1024, 0)


# -- read back-pressure: pipelining depth, and request bodies ---------------------------


@on_loop
async def test_reading_pauses_when_too_many_requests_wait_and_resumes_at_half() -> None:
    rig = Rig.start()
    peer = rig.connect()
    peer.send(get("/slow") + get("/q") * (MAX_PIPELINE + 1))
    assert peer.transport.read_calls == ["pause"]
    rig.app.gate("/").set()
    await peer.replies_count(MAX_PIPELINE + 2)
    assert peer.transport.read_calls == ["pause", "resume"]
    assert peer.bodies()[1:] == [b"GET /q"] * (MAX_PIPELINE + 1)


@on_loop
async def test_a_body_read_slowly_pauses_reading_until_its_reader_catches_up() -> None:
    rig = Rig.start()
    peer = rig.connect()
    size = RequestBody.HIGH_WATER * 2
    peer.send(post("/slow/read", b"y" * size) + get("/behind"))
    # The whole body is buffered and nobody reads it yet: stop reading the socket.
    assert peer.transport.read_calls == ["pause"]
    await turns()
    assert peer.transport.read_calls == ["pause"]  # and nothing but its reader resumes it
    rig.app.gate("/read").set()
    await peer.replies_count(2)
    assert peer.transport.read_calls == ["pause", "resume"]
    assert rig.app.bodies == [b"y" * size]
    assert peer.bodies() == [b"read %d" % size, b"GET /behind"]


@on_loop
async def test_the_end_of_an_unread_bodys_response_resumes_reading() -> None:
    rig = Rig.start()
    peer = rig.connect()
    size = RequestBody.HIGH_WATER * 2
    peer.send(post("/slow/ignored", b"z" * size))
    assert peer.transport.read_calls == ["pause"]
    rig.app.gate("/ignored").set()  # answers without reading the body
    await peer.replies_count(1)
    assert peer.transport.read_calls == ["pause", "resume"]
    assert not peer.closed


@on_loop
async def test_a_body_still_arriving_after_its_answer_is_dropped_as_it_comes() -> None:
    rig = Rig.start()
    peer = rig.connect()
    body = b"w" * (RequestBody.HIGH_WATER * 2)
    request = post("/ignored", body)
    peer.send(request[: len(request) - len(body) + 10])  # the head and a little of the body
    [reply] = peer.replies()  # answered at once, without reading
    assert reply.status == 200
    peer.send(body[10:])  # the rest comes in and is dropped, never buffered
    assert peer.transport.read_calls == []
    peer.send(get("/next"))
    assert peer.bodies() == [b"POST /ignored", b"GET /next"]
