"""Property, through a real socket: mutated requests never get more answers than allowed.

A sample of the unit property's cases (tests/request_fuzz.py) is sent to a real
server on 127.0.0.1, each on its own connection, which the client then half-closes.
The app answers every request it is handed with a header naming it and the size
of the body it read. The requests
it answers must be the first ones tests/strict_http.py allows, in order, at most
one refusal may follow, and the server must close the connection: no hang.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from siteserve.config import Config, Limits
from siteserve.http import Request, Response
from siteserve.http.request import BodyIncomplete
from siteserve.layers import App
from tests.conftest import RunningServer, running_server
from tests.request_fuzz import Case, cases
from tests.strict_http import read_requests

SEED = 17
COUNT = 600
DEADLINE = 10.0


class NamingApp(App):
    """Answers each request with ``X-Acted: METHOD TARGET BODY-LENGTH``, and no body."""

    async def handle(self, request: Request) -> Response:
        try:
            size = len(await request.body.read())
        except BodyIncomplete:
            size = -1
        acted = f"{request.method} {request.target} {size}"
        return Response(200, [("X-Acted", acted)], b"")


@pytest.fixture(params=[1_000_000, 64], ids=["max_body=1M", "max_body=64"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    # A short idle timeout: a half-closed client's connection is closed soon after its answers.
    limits = replace(Limits(), max_body=request.param, keepalive_timeout=0.05)
    with running_server(NamingApp(), Config(root=tmp_path, limits=limits)) as running:
        yield running


def exchange(port: int, data: bytes) -> tuple[bytes, bool]:
    """Send ``data``, half-close, read to EOF: (what came back, whether EOF came in time)."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse and close before it has read everything
        received = b""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
        return received, False


def answers(stream: bytes) -> list[tuple[int, str | None]]:
    """(status, X-Acted) of each response; every one is framed by Content-Length."""
    found = []
    while stream:
        head, separator, rest = stream.partition(b"\r\n\r\n")
        if not separator:
            raise AssertionError(f"a cut-off response: {stream!r}")
        lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(": ")
            fields[name.lower()] = value
        length = int(fields.get("content-length", "0"))
        found.append((int(lines[0].split()[1]), fields.get("x-acted")))
        stream = rest[length:]
    return found


def problem(server: RunningServer, case: Case) -> str | None:
    max_body = server.config.limits.max_body
    strict = read_requests(case.data, max_body)
    received, closed = exchange(server.port, case.data)
    if not closed:
        return "the server neither answered nor closed"
    got = answers(received)
    acted = [name for _, name in got if name is not None]
    allowed = [
        f"{read.method} {read.target} " + ("" if read.body is None else str(len(read.body)))
        for read in strict
    ]
    if len(acted) > len(allowed) or any(
        not name.startswith(expected) for name, expected in zip(acted, allowed, strict=False)
    ):
        return f"the app answered {acted}, a strict server at most {allowed}"
    if len(got) > len(acted) + 1 or any(name is None for _, name in got[: len(acted)]):
        return f"answers {got}: more than one refusal, or a refusal before an answer"
    if case.pristine and len(acted) != 2:
        return f"a valid pair got {got}"
    return None


def test_mutated_requests_on_a_socket_get_no_more_answers_than_allowed(
    server: RunningServer,
) -> None:
    sample = [case for case in cases(SEED, COUNT) if case.max_body == server.config.limits.max_body]
    assert len(sample) > 150
    with ThreadPoolExecutor(max_workers=8) as pool:
        problems = list(pool.map(lambda case: problem(server, case), sample))
    failures = [
        f"{found}\n    {case.data!r}"
        for case, found in zip(sample, problems, strict=True)
        if found is not None
    ]
    assert not failures, f"{len(failures)} of {len(sample)}:\n" + "\n".join(failures[:10])
