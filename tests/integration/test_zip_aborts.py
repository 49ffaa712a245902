"""Clients that go away in the middle of a ``?download=zip`` are normal: nothing is
logged as an error and no exception reaches the event loop's exception handler.

Half the clients hang up at some point in the body, half just after the zip's last
record arrived, while the server is finishing the archive and has still to send the
chunked body's end (RFC 9112 section 7.1): that is where the write to a connection
already closed used to raise.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from siteserve.share import archive
from tests.conftest import RunningServer

DEADLINE = 10.0
ABORTS = 120
#: The zip's end of central directory record: the last bytes of the archive.
END_OF_ARCHIVE = b"PK\x05\x06"


def hang_up(port: int, *, after: int | None) -> None:
    """GET a zip, read ``after`` bytes (None: up to the archive's last record), reset."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        client.sendall(b"GET /?download=zip HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while (END_OF_ARCHIVE not in received) if after is None else (len(received) < after):
            data = client.recv(65536)
            if not data:
                break
            received += data
        # An abrupt close (RST), as a browser's cancelled download or a killed curl.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize(
    "loop_factory", [uvloop.new_event_loop, asyncio.new_event_loop], ids=["uvloop", "asyncio"]
)
def test_aborted_zip_downloads_log_no_error(
    tmp_path: Path,
    serve_site: Callable[..., RunningServer],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    unhandled: list[dict[str, Any]] = []

    def recording_loop() -> asyncio.AbstractEventLoop:
        loop = loop_factory()
        loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
        return loop

    monkeypatch.setattr("tests.conftest.new_event_loop", recording_loop)
    # Small blocks: each archive is several blocks, so hang-ups land between them too.
    monkeypatch.setattr(archive, "BLOCK", 16 * 1024)
    root = tmp_path / "site"
    root.mkdir()
    for number in range(4):
        (root / f"data{number}.bin").write_bytes(bytes(range(256)) * 160)
    (root / "notes.txt").write_text("words " * 5000)
    server = serve_site(root)
    whole = httpx.get(server.url("/?download=zip"), timeout=DEADLINE)
    assert whole.status_code == 200 and END_OF_ARCHIVE in whole.content
    size = len(whole.content)

    with caplog.at_level(logging.WARNING):
        for number in range(ABORTS):
            after = None if number % 2 else (number * 7919) % size
            hang_up(server.port, after=after)
        # The server still answers, then stops cleanly: every aborted response is over.
        assert httpx.get(server.url("/?download=zip"), timeout=DEADLINE).content == whole.content
        server.stop()
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [record.getMessage() for record in errors]
    assert unhandled == []
