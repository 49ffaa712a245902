"""Request bodies without a socket: the whole one of http/, the streamed one of server/."""

from __future__ import annotations

import asyncio

import pytest

from siteserve.http.headers import Headers
from siteserve.http.request import Body, BodyIncomplete, BytesBody, Request
from siteserve.server.request_body import RequestBody


def test_bytes_body_is_whole_and_readable() -> None:
    body = BytesBody(b"hello")
    assert (body.received, body.complete) == (5, True)
    assert asyncio.run(body.read()) == b"hello"

    async def chunks() -> list[bytes]:
        return [chunk async for chunk in body.stream()]

    assert asyncio.run(chunks()) == [b"hello"]
    assert asyncio.run(_collect(BytesBody())) == []


def test_a_request_without_a_body_has_an_empty_whole_one() -> None:
    request = Request("GET", "/", "/", "", Headers([]))
    assert (request.body.complete, request.body.received) == (True, 0)


def test_both_bodies_are_what_a_handler_reads() -> None:
    bodies: list[Body] = [BytesBody(b"x"), RequestBody(complete=True)]
    assert all(body.complete for body in bodies)


async def _collect(body: Body) -> list[bytes]:
    return [chunk async for chunk in body.stream()]


def test_streamed_body_waits_for_chunks_and_ends() -> None:
    async def run() -> list[bytes]:
        reads: list[bool] = []
        body = RequestBody(on_read=lambda: reads.append(True))
        reader = asyncio.ensure_future(_collect(body))
        await asyncio.sleep(0)
        assert reads == [True]  # reading began: the connection may now invite the body
        assert body.started and not body.complete
        body.feed(b"ab")
        body.feed(b"c")
        body.finish()
        chunks = await reader
        assert body.complete and body.received == 3
        return chunks

    assert asyncio.run(run()) == [b"ab", b"c"]


def test_streamed_body_reports_back_pressure_and_drains() -> None:
    async def run() -> None:
        drained: list[bool] = []
        body = RequestBody(on_drain=lambda: drained.append(True))
        assert not body.feed(b"x" * RequestBody.HIGH_WATER)
        assert body.feed(b"y")  # over the mark: the connection pauses reading
        body.finish()
        data = await body.read()
        assert len(data) == RequestBody.HIGH_WATER + 1
        assert drained

    asyncio.run(run())


def test_streamed_body_failure_reaches_the_reader() -> None:
    async def run() -> None:
        body = RequestBody()
        reader = asyncio.ensure_future(body.read())
        await asyncio.sleep(0)
        body.fail(BodyIncomplete("client left"))
        with pytest.raises(BodyIncomplete):
            await reader
        assert not body.complete

    asyncio.run(run())


def test_discarded_body_counts_but_keeps_nothing() -> None:
    body = RequestBody()
    body.feed(b"abc")
    body.discard()
    assert not body.feed(b"x" * (RequestBody.HIGH_WATER + 1))
    assert body.received == RequestBody.HIGH_WATER + 4
    body.finish()
    assert asyncio.run(body.read()) == b""


def test_a_finished_body_cannot_fail_afterwards() -> None:
    body = RequestBody(complete=True)
    body.fail(BodyIncomplete("late"))
    assert body.complete
