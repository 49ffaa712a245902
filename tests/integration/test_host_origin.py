"""Host and origin on a real server, with raw requests as an attacker would send them.

Forged ``Host`` values (DNS rebinding), absolute-form targets, cross-origin
writes (``Origin``, ``Sec-Fetch-Site``, ``null``), the reload socket, and
``//`` paths that must never reach a ``Location``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from siteserve.reload.app import ReloadApp
from tests.conftest import RunningServer, find_layer
from tests.integration.wire import Wire

Serve = Callable[..., RunningServer]
SECRET = b"the secret"
WS_HEADERS = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "inbox").mkdir(parents=True)
    (site / "evil.example").mkdir()
    (site / "api" / "drop").mkdir(parents=True)
    (site / "secret.txt").write_bytes(SECRET)
    (site / "inbox" / "kept.txt").write_bytes(SECRET)
    (site / "index.html").write_text("<!doctype html><title>home</title><p>home</p>")
    (site / "page.html.jinja").write_text("page for {{ request.method }}")
    (site / "api" / "items.html.jinja").write_text("api {{ request.method }}")
    (site / "go.html.jinja").write_text('{% do redirect(request.path ~ "/next", 303) %}')
    (site / "away.html.jinja").write_text('{% do redirect("https://example.com/", 302) %}')
    return site


@pytest.fixture
def server(serve_site: Serve, root: Path) -> RunningServer:
    return serve_site(root, upload=True, reload=True, quiet=True, allowed_hosts=("tunnel.test",))


def exchange(
    server: RunningServer, head: str, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection: ``head`` without its final blank line."""
    wire = Wire(server.port)
    wire.send(head.replace("PORT", str(server.port)).encode("latin-1") + b"\r\n\r\n" + body)
    answer = wire.read_response()
    wire.close()
    return answer


def multipart(name: str, data: bytes) -> tuple[str, bytes]:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + data
        + b"\r\n--XyZ--\r\n"
    )
    head = f"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {len(body)}\r\n"
    return head, body


def upload(server: RunningServer, host: str, extra: str = "", name: str = "dropped.txt") -> int:
    fields, body = multipart(name, b"from elsewhere")
    return exchange(server, f"POST /inbox/ HTTP/1.1\r\nHost: {host}\r\n{extra}{fields}", body)[0]


def socket_status(server: RunningServer, host: str, origin: str | None = None) -> int:
    token = find_layer(server.app, ReloadApp).token
    origin_line = f"Origin: {origin}\r\n" if origin else ""
    head = f"GET /__siteserve/ws?socket_token={token} HTTP/1.1\r\nHost: {host}\r\n{origin_line}"
    return exchange(server, head + WS_HEADERS.rstrip("\r\n"))[0]


# -- the Host check ---------------------------------------------------------------------

FORGED = ["evil.example", "localhost.evil.example:PORT", "127.0.0.1.nip.io:PORT"]
READS = ["/secret.txt", "/page", "/inbox/?format=json", "/inbox/?download=zip", "/"]


@pytest.mark.parametrize("host", FORGED)
def test_a_forged_host_gets_nothing(server: RunningServer, root: Path, host: str) -> None:
    for target in READS:
        status, headers, body = exchange(server, f"GET {target} HTTP/1.1\r\nHost: {host}")
        assert status == 403, target
        assert SECRET not in body and b"home" not in body
        assert b"--allowed-host" in body
        assert headers["cache-control"] == "no-store"
    assert upload(server, host) == 403
    assert not (root / "inbox" / "dropped.txt").exists()
    mkdir = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n"
    status = exchange(server, f"POST /inbox/ HTTP/1.1\r\nHost: {host}\r\n{mkdir}", b"mkdir=made")
    assert status[0] == 403 and not (root / "inbox" / "made").exists()
    # The reload socket, even with the right token and an Origin that matches the Host.
    origin = "http://" + host.replace("PORT", str(server.port))
    assert socket_status(server, host, origin) == 403
    token = exchange(server, f"GET /__siteserve/ws-token HTTP/1.1\r\nHost: {host}")
    assert token[0] == 403 and find_layer(server.app, ReloadApp).token.encode() not in token[2]


@pytest.mark.parametrize(
    "host", ["localhost:PORT", "127.0.0.1:PORT", "[::1]:PORT", "app.localhost:PORT", "tunnel.test"]
)
def test_the_names_of_the_server_are_served(server: RunningServer, host: str) -> None:
    for target in READS:
        assert exchange(server, f"GET {target} HTTP/1.1\r\nHost: {host}")[0] == 200, target
    assert exchange(server, f"GET /secret.txt HTTP/1.1\r\nHost: {host}")[2] == SECRET
    origin = "http://" + host.replace("PORT", str(server.port))
    assert socket_status(server, host, origin) == 101
    assert socket_status(server, host) == 101  # no Origin: not a browser


def test_an_absolute_form_target_with_a_foreign_authority_is_refused(
    server: RunningServer,
) -> None:
    foreign = "GET http://evil.example/secret.txt HTTP/1.1\r\nHost: localhost:PORT"
    status, _, body = exchange(server, foreign)
    assert status == 403 and SECRET not in body
    ours = "GET http://localhost:PORT/secret.txt HTTP/1.1\r\nHost: localhost:PORT"
    assert exchange(server, ours)[2] == SECRET


def test_a_lan_server_answers_to_its_addresses(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, host="0.0.0.0")  # the test server still listens on 127.0.0.1
    assert exchange(server, "GET /secret.txt HTTP/1.1\r\nHost: 192.0.2.7:PORT")[0] == 200
    assert exchange(server, "GET /secret.txt HTTP/1.1\r\nHost: [2001:db8::7]:PORT")[0] == 200
    assert exchange(server, "GET /secret.txt HTTP/1.1\r\nHost: evil.example:PORT")[0] == 403


def test_health_answers_a_probe_whatever_its_name(server: RunningServer) -> None:
    status, _, body = exchange(server, "GET /__siteserve/health HTTP/1.1\r\nHost: web:PORT")
    assert (status, body) == (200, b'{"status":"ok"}\n')


def test_allowed_host_star_turns_the_check_off(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, allowed_hosts=("*",))
    assert exchange(server, "GET /secret.txt HTTP/1.1\r\nHost: anything.example")[2] == SECRET


def test_one_log_line_for_many_refusals_of_one_name(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="siteserve.hosts")
    for _ in range(5):
        assert exchange(server, "GET / HTTP/1.1\r\nHost: flood.example")[0] == 403
    lines = [r.getMessage() for r in caplog.records if r.name == "siteserve.hosts"]
    assert len(lines) == 1 and "flood.example" in lines[0]


# -- writes come from our own pages ---------------------------------------------------------

FOREIGN = [
    "Origin: http://evil.example\r\n",
    "Origin: http://127.0.0.1:1\r\n",  # another server on this machine
    "Origin: null\r\n",
    "Sec-Fetch-Site: cross-site\r\n",
    "Sec-Fetch-Site: same-site\r\n",
    "Origin: http://127.0.0.1:PORT\r\nSec-Fetch-Site: same-site\r\n",
]


@pytest.mark.parametrize("extra", FOREIGN)
def test_writes_from_other_origins_are_refused(
    server: RunningServer, root: Path, extra: str
) -> None:
    assert upload(server, "127.0.0.1:PORT", extra) == 403
    assert sorted(p.name for p in (root / "inbox").iterdir()) == ["kept.txt"]
    mkdir = f"{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n"
    status = exchange(
        server, f"POST /inbox/ HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n{mkdir}", b"mkdir=made"
    )
    assert status[0] == 403 and not (root / "inbox" / "made").exists()
    form = f"{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"
    page = exchange(server, f"POST /page HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n{form}", b"x=1")
    assert page[0] == 403 and b"page for" not in page[2]


@pytest.mark.parametrize(
    "extra",
    [
        "",  # curl
        "Origin: http://127.0.0.1:PORT\r\nSec-Fetch-Site: same-origin\r\n",
        "Origin: http://127.0.0.1:PORT\r\n",
        "Origin: null\r\nSec-Fetch-Site: same-origin\r\n",  # Referrer-Policy: no-referrer
    ],
)
def test_writes_from_our_own_pages_pass(server: RunningServer, root: Path, extra: str) -> None:
    assert upload(server, "127.0.0.1:PORT", extra) == 303
    assert (root / "inbox" / "dropped.txt").read_bytes() == b"from elsewhere"
    form = f"{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"
    page = exchange(server, f"POST /page HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n{form}", b"x=1")
    assert page[2].endswith(b"page for POST")  # after the reload script


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_cached_login_does_not_let_another_site_upload(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True, auth=("ann:s3cret",), cors=True)
    login = f"Authorization: {basic('ann', 's3cret')}\r\n"
    fields, body = multipart("sent.txt", b"x")
    head = (
        f"POST /inbox/ HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n{login}Origin: http://evil.example\r\n"
    )
    status, headers, _ = exchange(server, head + fields, body)
    # --cors opens reading, not writing; the refusal has no CORS headers to read it by.
    assert status == 403 and "access-control-allow-origin" not in headers
    assert not (root / "inbox" / "sent.txt").exists()
    assert (
        exchange(server, f"POST /inbox/ HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n{login}{fields}", body)[
            0
        ]
        == 303
    )


def test_a_site_opens_its_api_to_other_origins(serve_site: Serve, root: Path) -> None:
    (root / "siteserve.toml").write_text('[server]\ncross_origin_writes = ["/api/*"]\n')
    server = serve_site(root, upload=True, cors=True)
    form = "Origin: http://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    api = exchange(
        server, f"POST /api/items HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 3", b"x=1"
    )
    assert api[0] == 200 and api[2] == b"api POST"
    assert api[1]["access-control-allow-origin"] == "*"
    # A listed folder under an open path still takes uploads from our pages only.
    fields, body = multipart("sneaky.txt", b"x")
    head = "POST /api/drop/ HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n"
    assert exchange(server, head + fields, body)[0] == 403
    assert not (root / "api" / "drop" / "sneaky.txt").exists()
    assert (
        exchange(
            server, f"POST /page HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 3", b"x=1"
        )[0]
        == 403
    )


def test_the_socket_takes_only_pages_of_ours(server: RunningServer) -> None:
    host = "127.0.0.1:PORT"
    assert socket_status(server, host, "http://127.0.0.1:PORT") == 101
    assert socket_status(server, host, "http://127.0.0.1:1") == 403
    assert socket_status(server, host, "http://localhost:PORT") == 403
    assert socket_status(server, host, "null") == 403
    no_token = f"GET /__siteserve/ws HTTP/1.1\r\nHost: {host}\r\nOrigin: http://127.0.0.1:PORT\r\n"
    assert exchange(server, no_token + WS_HEADERS.rstrip("\r\n"))[0] == 403
    given = exchange(
        server, f"GET /__siteserve/ws-token HTTP/1.1\r\nHost: {host}\r\nSec-Fetch-Site: cross-site"
    )
    assert given[0] == 403


# -- redirects stay on this server ----------------------------------------------------------


@pytest.mark.parametrize(
    ("request_line", "location"),
    [
        ("GET //evil.example HTTP/1.1", "/evil.example/"),  # a folder: add the slash
        ("GET ///evil.example HTTP/1.1", "/evil.example/"),
        ("GET //go HTTP/1.1", "/go/next"),  # a page's redirect built from its own path
        ("GET /away HTTP/1.1", "https://example.com/"),  # the page's own choice
    ],
)
def test_no_redirect_points_to_another_host(
    server: RunningServer, request_line: str, location: str
) -> None:
    status, headers, _ = exchange(server, f"{request_line}\r\nHost: 127.0.0.1:PORT")
    assert 300 <= status < 400 and headers["location"] == location


@pytest.mark.parametrize(
    ("target", "location"),
    [("//evil.example/", "/evil.example/"), ("///evil.example//", "/evil.example//")],
)
def test_an_upload_never_sends_the_browser_elsewhere(
    server: RunningServer, root: Path, target: str, location: str
) -> None:
    # A visitor may create the folder that makes "//evil.example/" a listed folder.
    fields, body = multipart("there.txt", b"x")
    status, headers, _ = exchange(
        server, f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n{fields}", body
    )
    assert (status, headers["location"]) == (303, location)
    assert (root / "evil.example" / "there.txt").exists()


@pytest.mark.parametrize("target", ["/\\evil.example", "/%5Cevil.example", "/%5cevil.example/"])
def test_backslash_paths_get_no_location(server: RunningServer, target: str) -> None:
    status, headers, _ = exchange(server, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:PORT")
    assert status in (400, 404) and "location" not in headers
