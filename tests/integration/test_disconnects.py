"""Clients that go away in the middle of an answer are normal: counted, never an error.

A file sent from disk (whole and as a range), a streamed zip, a large listing and a
page still being rendered, each abandoned by clients at different points, on both
event loops. Nothing is logged as an error, nothing reaches the loop's exception
handler (the autouse check in tests/conftest.py), the server's disconnect counter
moves, and the server keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import uvloop

from tests.conftest import LOOP_ERRORS, RunningServer, record_loop_errors, wait_until

DEADLINE = 10.0
HANG_UPS = 8
BIG = 4 * 1024 * 1024


def hang_up(port: int, target: str, *, after: int, extra: str = "") -> None:
    """Ask for ``target``, read ``after`` bytes of the answer, then reset the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        client.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        received = 0
        while received < after:
            data = client.recv(65536)
            if not data:
                break
            received += len(data)
        # An abrupt close (RST), as a closed tab or a cancelled download.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def make_site(root: Path) -> None:
    root.mkdir()
    (root / "big.bin").write_bytes(bytes(range(256)) * (BIG // 256))
    many = root / "many"
    many.mkdir()
    for number in range(300):
        (many / f"file-with-a-longish-name-{number:05}.txt").write_text("x")
    # Slow enough to be rendered in the pool, and large.
    (root / "slow.html.jinja").write_text(
        "<html><body>{% for i in range(20000) %}{{ i }} {% endfor %}</body></html>"
    )


@pytest.mark.parametrize(
    "loop_factory", [uvloop.new_event_loop, asyncio.new_event_loop], ids=["uvloop", "asyncio"]
)
def test_clients_leaving_mid_answer_are_counted_not_logged(
    tmp_path: Path,
    serve_site: Callable[..., RunningServer],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    monkeypatch.setattr("tests.conftest.new_event_loop", loop_factory)
    root = tmp_path / "site"
    make_site(root)
    server = serve_site(root)
    with caplog.at_level(logging.WARNING):
        # Streamed bodies: the sender finds the client gone.
        for target, extra in (
            ("/big.bin", ""),
            ("/big.bin", "Range: bytes=1000-\r\n"),
            ("/big.bin", "Range: bytes=0-9,2000000-3999999\r\n"),
            ("/?download=zip", ""),
        ):
            before = server.server.disconnects
            for number in range(HANG_UPS):
                hang_up(server.port, target, after=1 + number * 40_000, extra=extra)
            wait_until(lambda before=before: server.server.disconnects > before)  # type: ignore[misc]
        # Bodies written at once, and a page the client leaves before it is rendered.
        for number in range(HANG_UPS):
            hang_up(server.port, "/many/", after=number * 4_000)
            hang_up(server.port, "/slow", after=number * 4_000)
        assert (
            httpx.get(server.url("/big.bin"), timeout=DEADLINE).content
            == (root / "big.bin").read_bytes()
        )
        assert httpx.get(server.url("/slow"), timeout=DEADLINE).status_code == 200
        server.stop()
    problems = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert problems == []


def test_the_loop_check_sees_what_reaches_the_exception_handler() -> None:
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, _context: None)
    record_loop_errors(loop)
    try:
        loop.call_exception_handler({"message": "a task failed unseen"})
    finally:
        loop.close()
    assert [context["message"] for context in LOOP_ERRORS] == ["a task failed unseen"]
    LOOP_ERRORS.clear()  # seen: this test is not to fail for it
