"""The proxy against a real backend process (tests/integration/proxy_backend.py) on port 0."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Message, Request, TextMessage

from tests.conftest import RunningServer
from tests.integration.wire import Wire

BACKEND = Path(__file__).with_name("proxy_backend.py")
Serve = Callable[..., RunningServer]


class Backend:
    def __init__(self, port: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(BACKEND), str(port)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def backend() -> Iterator[Backend]:
    started = Backend()
    yield started
    started.stop()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "style.css").write_text("h1 { color: red }")
    (root / "index.html").write_text("<!doctype html><title>site</title><h1>site</h1>")
    return root


def _write_config(root: Path, text: str) -> None:
    (root / "siteserve.toml").write_text(text)


def served(serve_site: Serve, site: Path, backend: Backend, **route: Any) -> RunningServer:
    lines = ['[proxy."/api"]', f'url = "{backend.url}/base"']
    lines += [f"{key} = {str(value).lower()}" for key, value in route.items()]
    _write_config(site, "\n".join(lines) + "\n")
    return serve_site(site)


def test_requests_under_the_prefix_go_to_the_backend_with_forwarding_fields(
    serve_site: Serve, site: Path, backend: Backend
) -> None:
    server = served(serve_site, site, backend, strip_prefix=True)
    response = httpx.get(
        server.url("/api/echo?q=1"),
        headers={"Connection": "X-Gone", "X-Gone": "1", "TE": "trailers", "Via": "1.0 corp"},
    )
    assert response.status_code == 200
    echo = response.json()
    sent = dict(echo["headers"])
    assert echo["target"] == "/base/echo?q=1"  # the base path on, the prefix off
    assert sent["host"] == f"127.0.0.1:{server.port}"  # kept: change_origin is off
    assert sent["x-forwarded-for"] == "127.0.0.1"
    assert sent["x-forwarded-proto"] == "http"
    assert sent["x-forwarded-host"] == f"127.0.0.1:{server.port}"
    assert sent["via"] == "1.0 corp, 1.1 siteserve"
    assert "x-gone" not in sent and "te" not in sent
    # The backend's hop-by-hop fields stay on its hop; Via names us.
    assert "x-private" not in response.headers and "keep-alive" not in response.headers
    assert response.headers["via"] == "1.1 siteserve"
    # Everything else is still the site.
    assert httpx.get(server.url("/style.css")).text == "h1 { color: red }"


def test_change_origin_sends_the_backends_own_host(
    serve_site: Serve, site: Path, backend: Backend
) -> None:
    server = served(serve_site, site, backend, change_origin=True)
    sent = dict(httpx.get(server.url("/api/echo")).json()["headers"])
    assert sent["host"] == f"127.0.0.1:{backend.port}"


def test_redirects_and_cookies_are_moved_onto_the_proxy(
    serve_site: Serve, site: Path, backend: Backend
) -> None:
    server = served(serve_site, site, backend, strip_prefix=True)
    redirect = httpx.get(server.url("/api/redirect"))
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "/api/landing?x=1"
    with httpx.Client(base_url=server.base_url) as client:
        login = client.post("/api/login")
        assert login.headers["set-cookie"] == "sid=s3cret; Path=/api; HttpOnly"
        # The browser sends it back to us, and we to the backend.
        assert client.get("/api/me").json() == {"cookie": "sid=s3cret"}


def test_keep_alive_connections_to_the_backend_are_reused(
    serve_site: Serve, site: Path, backend: Backend
) -> None:
    server = served(serve_site, site, backend)
    peers = {tuple(httpx.get(server.url("/api/echo")).json()["peer"]) for _ in range(5)}
    assert len(peers) == 1  # one backend connection, from one local port


def test_large_bodies_stream_both_ways(serve_site: Serve, site: Path, backend: Backend) -> None:
    server = served(serve_site, site, backend)
    size = 0
    with httpx.stream("GET", server.url("/api/stream?mib=64"), timeout=30) as response:
        for chunk in response.iter_raw():
            size += len(chunk)
    assert size == 64 * 1024 * 1024

    def upload() -> Iterator[bytes]:
        for _ in range(1024):
            yield b"z" * 65536

    answer = httpx.post(server.url("/api/upload"), content=upload(), timeout=30)
    assert answer.json() == {"received": 64 * 1024 * 1024}  # above limits.max_body: ours
    sized = httpx.post(server.url("/api/upload"), content=b"a" * 100_000)
    assert sized.json() == {"received": 100_000}


def test_a_websocket_is_tunnelled_to_the_backend(
    serve_site: Serve, site: Path, backend: Backend
) -> None:
    server = served(serve_site, site, backend, strip_prefix=True)
    ws = WSConnection(ConnectionType.CLIENT)
    wire = Wire(server.port)
    wire.send(ws.send(Request(host=f"127.0.0.1:{server.port}", target="/api/ws")))
    deadline = time.monotonic() + 10
    events: list[object] = []
    while not any(isinstance(e, TextMessage) for e in events):
        assert time.monotonic() < deadline, events
        data = wire.sock.recv(65536)
        assert data
        ws.receive_data(data)
        for event in ws.events():
            events.append(event)
            if isinstance(event, AcceptConnection):
                wire.send(ws.send(Message(data="hello")))
    assert [e.data for e in events if isinstance(e, TextMessage)] == ["echo: hello"]


def test_a_backend_that_is_down_answers_502_naming_it(serve_site: Serve, site: Path) -> None:
    _write_config(site, '[proxy]\n"/api" = "http://127.0.0.1:9"\n')
    server = serve_site(site)
    response = httpx.get(server.url("/api/x"), headers={"Accept": "text/html"})
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "http://127.0.0.1:9" in response.text and "could not be reached" in response.text
    assert "setInterval" in response.text  # the page tries again by itself


def test_a_slow_backend_answers_504(serve_site: Serve, site: Path, backend: Backend) -> None:
    _write_config(site, f'[proxy."/api"]\nurl = "{backend.url}"\nread_timeout = 0.5\n')
    server = serve_site(site)
    response = httpx.get(server.url("/api/slow"), timeout=10)
    assert response.status_code == 504
    assert "did not answer in time" in response.text


def test_a_backend_killed_mid_answer_cuts_the_answer_short(
    serve_site: Serve, site: Path, backend: Backend
) -> None:
    server = served(serve_site, site, backend)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(server.url("/api/die"), timeout=10)
    backend.process.wait(10)
    # The server itself is fine, and says so for the next request.
    assert httpx.get(server.url("/api/echo")).status_code == 502
    assert httpx.get(server.url("/style.css")).status_code == 200


def test_root_route_serves_site_files_first_then_the_backend(
    serve_site: Serve, site: Path, backend: Backend
) -> None:
    _write_config(site, f'[proxy]\n"/" = "{backend.url}"\n')
    (site / "index.html").unlink()
    server = serve_site(site, reload=True)
    assert httpx.get(server.url("/style.css")).text == "h1 { color: red }"
    page = httpx.get(server.url("/"), headers={"Accept": "text/html"})
    assert "from the backend" in page.text  # not a listing of the site folder
    assert "/__siteserve/reload.js" in page.text  # the reload script went in
    other = httpx.get(server.url("/page"), headers={"Accept": "text/html"})
    assert "from the backend" in other.text and "/__siteserve/reload.js" in other.text
    # Our own URLs are never the backend's.
    assert httpx.get(server.url("/__siteserve/reload.js")).status_code == 200
    assert httpx.post(server.url("/upload"), content=b"abc").json() == {"received": 3}


def test_a_browser_that_leaves_mid_upload_leaves_the_proxy_working(
    serve_site: Serve, site: Path, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    server = served(serve_site, site, backend)
    wire = Wire(server.port)
    wire.send(b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
    wire.send(b"a" * 200_000)
    wire.close()
    assert httpx.get(server.url("/api/echo")).status_code == 200
    assert httpx.post(server.url("/api/upload"), content=b"abc").json() == {"received": 3}
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_an_injected_page_revalidates_through_the_backends_own_etag(
    serve_site: Serve, site: Path, backend: Backend
) -> None:
    _write_config(site, f'[proxy."/api"]\nurl = "{backend.url}"\n')
    server = serve_site(site, reload=True)
    html = {"Accept": "text/html"}
    first = httpx.get(server.url("/api/versioned"), headers=html)
    assert first.status_code == 200
    assert "/__siteserve/reload.js" in first.text and "version 1" in first.text
    assert first.headers["etag"] == '"v1+reload"'  # the injected page's own tag

    # The browser's stored copy revalidates: the backend is asked with its own tag.
    again = httpx.get(
        server.url("/api/versioned"), headers={**html, "If-None-Match": '"v1+reload"'}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == '"v1+reload"'
    assert again.headers["x-seen-if-none-match"] == '"v1"'
    weak = httpx.get(
        server.url("/api/versioned"), headers={**html, "If-None-Match": 'W/"v1+reload"'}
    )
    assert weak.status_code == 304 and weak.headers["x-seen-if-none-match"] == 'W/"v1"'

    # The backend's page changed: 200, the new page injected, its new tag derived.
    assert httpx.post(f"{backend.url}/bump").json() == {"version": 2}
    changed = httpx.get(
        server.url("/api/versioned"), headers={**html, "If-None-Match": '"v1+reload"'}
    )
    assert changed.status_code == 200
    assert "version 2" in changed.text and "/__siteserve/reload.js" in changed.text
    assert changed.headers["etag"] == '"v2+reload"'
    # A tag the backend made itself (an uninjected copy) still reaches it as it was.
    plain = httpx.get(server.url("/api/versioned"), headers={**html, "If-None-Match": '"v2"'})
    assert plain.status_code == 304 and plain.headers["etag"] == '"v2"'
    assert plain.headers["x-seen-if-none-match"] == '"v2"'
