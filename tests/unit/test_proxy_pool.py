"""The proxy's pool of idle backend connections, with a fake transport (no sockets)."""

from __future__ import annotations

import asyncio

from siteserve.http.response_parser import ResponseHead
from siteserve.proxy.client import BackendConnection, BackendPool


class FakeTransport(asyncio.Transport):
    """Records whether it was closed; nothing is written anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def answered_connection() -> tuple[BackendConnection, FakeTransport]:
    """A connection whose keep-alive answer has ended: one the pool may keep."""
    connection = BackendConnection(("127.0.0.1", 9))
    transport = FakeTransport()
    connection.connection_made(transport)
    connection.on_response_head(ResponseHead(200, [], keep_alive=True))
    connection.on_response_end()
    return connection, transport


def test_a_reusable_connection_is_kept_while_the_pool_is_open() -> None:
    pool = BackendPool()
    connection, transport = answered_connection()
    assert connection.reusable
    pool.release(connection)
    assert not transport.closed
    pool.close()
    assert transport.closed


def test_a_connection_released_after_the_pool_closed_is_closed() -> None:
    # An answer still streaming at shutdown releases its connection late: no pool
    # will ever hand it out or close it again.
    pool = BackendPool()
    pool.close()
    connection, transport = answered_connection()
    pool.release(connection)
    assert transport.closed
