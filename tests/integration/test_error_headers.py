"""Every error the server writes itself carries ``nosniff`` and a charset.

A browser that guesses a type (MIME sniffing) may run an error body that
echoes the request as HTML or script; one that guesses a charset may read it
as UTF-7. So each refusal below, made by a different part of the server, is
checked for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siteserve.reload.app import ReloadApp
from tests.conftest import RunningServer, find_layer
from tests.integration.wire import Wire

Serve = Callable[..., RunningServer]
WS = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n"
)
FORM = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\nx=1"

#: (what, raw request with PORT and TOKEN to fill in, the status it must get)
BAD_REQUESTS = [
    ("a forged Host", "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", 403),
    ("a malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400),
    ("a foreign authority", "GET http://evil.example/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 403),
    (
        "a cross-site upload",
        "POST /inbox/ HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n" + FORM,
        403,
    ),
    (
        "a cross-site page POST",
        "POST /page HTTP/1.1\r\nHost: localhost\r\nSec-Fetch-Site: cross-site\r\n" + FORM,
        403,
    ),
    (
        "a socket without the token",
        "GET /__siteserve/ws HTTP/1.1\r\nHost: localhost\r\n" + WS.format(version=13) + "\r\n",
        403,
    ),
    (
        "a socket from another origin",
        "GET /__siteserve/ws?socket_token=TOKEN HTTP/1.1\r\nHost: localhost\r\n"
        "Origin: http://127.0.0.1:1\r\n" + WS.format(version=13) + "\r\n",
        403,
    ),
    (
        "an old WebSocket version",
        "GET /__siteserve/ws?socket_token=TOKEN HTTP/1.1\r\nHost: localhost\r\n"
        + WS.format(version=8)
        + "\r\n",
        426,
    ),
    ("a plain GET of the socket", "GET /__siteserve/ws HTTP/1.1\r\nHost: localhost\r\n\r\n", 426),
    (
        "the token for another site",
        "GET /__siteserve/ws-token HTTP/1.1\r\nHost: localhost\r\n"
        "Sec-Fetch-Site: cross-site\r\n\r\n",
        403,
    ),
    (
        "a POST of the token",
        "POST /__siteserve/ws-token HTTP/1.1\r\nHost: localhost\r\n" + FORM,
        405,
    ),
    (
        "a POST of the script",
        "POST /__siteserve/reload.js HTTP/1.1\r\nHost: localhost\r\n" + FORM,
        405,
    ),
    ("a POST of health", "POST /__siteserve/health HTTP/1.1\r\nHost: localhost\r\n" + FORM, 405),
    ("a POST of a file", "POST /secret.txt HTTP/1.1\r\nHost: localhost\r\n" + FORM, 405),
    ("nothing there", "GET /nothing HTTP/1.1\r\nHost: localhost\r\n\r\n", 404),
    ("a hidden file", "GET /_private.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", 404),
    (
        "an upload of the wrong type",
        "POST /inbox/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
        "Content-Length: 1\r\n\r\nx",
        415,
    ),
    (
        "a body too large",
        "POST /page HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999\r\n\r\n",
        413,
    ),
    ("a target too long", "GET /" + "a" * 9000 + " HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
    (
        "too many headers",
        "GET / HTTP/1.1\r\nHost: localhost\r\n" + "X-A: b\r\n" * 101 + "\r\n",
        431,
    ),
    ("not HTTP", "NONSENSE\r\n\r\n", 400),
    ("an unknown method", "BREW /pot HTTP/1.1\r\nHost: localhost\r\n\r\n", 501),
    ("an unknown version", "GET / HTTP/1.7\r\nHost: localhost\r\n\r\n", 505),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "inbox").mkdir(parents=True)
    (site / "secret.txt").write_text("secret")
    (site / "_private.txt").write_text("private")
    (site / "page.html.jinja").write_text("page for {{ request.method }}")
    return site


@pytest.fixture
def server(serve_site: Serve, root: Path) -> RunningServer:
    return serve_site(root, upload=True, reload=True, quiet=True, limits={"max_body": 1_000_000})


def answer(port: int, raw: str) -> tuple[int, dict[str, str], bytes]:
    wire = Wire(port)
    wire.send(raw.encode("latin-1"))
    got = wire.read_response()
    wire.close()
    return got


def assert_marked(what: str, headers: dict[str, str]) -> None:
    assert headers.get("x-content-type-options") == "nosniff", what
    assert "charset=utf-8" in headers.get("content-type", ""), what


@pytest.mark.parametrize(("what", "raw", "status"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_each_refusal_carries_nosniff_and_a_charset(
    server: RunningServer, what: str, raw: str, status: int
) -> None:
    token = find_layer(server.app, ReloadApp).token
    got, headers, body = answer(server.port, raw.replace("TOKEN", token))
    assert got == status, what
    assert body, what
    assert_marked(what, headers)


def test_the_password_prompt_too(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, auth=("ann:s3cret",))
    status, headers, _ = answer(server.port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 401
    assert_marked("401", headers)


@pytest.fixture
def busy(serve_site: Serve, root: Path) -> Iterator[tuple[RunningServer, Wire]]:
    server = serve_site(root, limits={"max_connections": 1, "header_timeout": 0.3})
    holder = Wire(server.port)  # the one connection allowed, sending nothing
    yield server, holder
    holder.close()


def test_too_many_connections_and_a_slow_head(busy: tuple[RunningServer, Wire]) -> None:
    server, holder = busy
    status, headers, _ = answer(server.port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert status == 503
    assert_marked("503", headers)
    holder.send(b"GET / HTTP/1.1\r\n")  # and never the rest: the header timeout answers
    status, headers, _ = holder.read_response()
    assert status == 408
    assert_marked("408", headers)
