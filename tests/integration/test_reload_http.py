"""Live reload through the real server on port 0: injected pages with exact headers, the
client script, the WebSocket, and caches that never serve a page from before a change."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import ChangeSet
from siteserve.reload.inject import SCRIPT_TAG
from tests.conftest import RunningServer, find_layer
from tests.integration.waiting import DEADLINE, until
from tests.integration.wire import Wire

# Larger than the compression threshold, so a client asking for gzip could get it.
FILLER = "<p>" + "lorem ipsum " * 300 + "</p>"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(f"<html><head><title>t</title></head><body>{FILLER}</body>")
    (site / "app.css").write_text("p { color: red }")
    return site


@pytest.fixture
def live(root: Path, serve_site: Callable[..., RunningServer]) -> RunningServer:
    return serve_site(root, reload=True, quiet=True)


def handled(server: RunningServer) -> list[ChangeSet]:
    app = find_layer(server.app, ReloadApp)
    changes: list[ChangeSet] = []
    lock = threading.Lock()

    def record(change: ChangeSet) -> None:
        with lock:
            changes.append(change)

    app.listeners.append(record)
    return changes


def test_pages_carry_the_script_with_exact_length_and_their_own_etag(live: RunningServer) -> None:
    # Identity: with httpx's own Accept-Encoding the page now comes coded (see below).
    response = httpx.get(live.url("/"), headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert SCRIPT_TAG + b"</head>" in response.content
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["etag"].endswith('+reload"')
    assert "accept-ranges" not in response.headers
    # Other types are untouched.
    css = httpx.get(live.url("/app.css"))
    assert css.content == b"p { color: red }"
    assert not css.headers["etag"].endswith('+reload"')


def test_head_matches_get(live: RunningServer) -> None:
    get, head = httpx.get(live.url("/")), httpx.head(live.url("/"))
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["etag"] == get.headers["etag"]
    assert head.content == b""


def test_revalidation_uses_the_injected_etag(live: RunningServer, root: Path) -> None:
    changes = handled(live)
    first = httpx.get(live.url("/"))
    etag = first.headers["etag"]
    again = httpx.get(live.url("/"), headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert again.content == b""
    (root / "index.html").write_text("<html><head></head><body>changed</body>")
    until(lambda: any(root / "index.html" in c.paths for c in list(changes)), "the change set")
    fresh = httpx.get(live.url("/"), headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert b"changed" in fresh.content and fresh.headers["etag"] != etag


def test_compressed_requests_get_a_compressed_injected_page(live: RunningServer) -> None:
    plain = httpx.get(live.url("/"), headers={"Accept-Encoding": "identity"})
    for coding in ("gzip", "br"):
        response = httpx.get(live.url("/"), headers={"Accept-Encoding": coding})
        assert response.headers["content-encoding"] == coding
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.content == plain.content  # decoded by httpx
        assert SCRIPT_TAG in response.content
        assert response.headers["etag"] == plain.headers["etag"][:-1] + f'-{coding[:2]}"'
        again = httpx.get(live.url("/"), headers={"Accept-Encoding": coding})
        assert again.headers["etag"] == response.headers["etag"]
        revalidated = httpx.get(
            live.url("/"),
            headers={"Accept-Encoding": coding, "If-None-Match": response.headers["etag"]},
        )
        assert revalidated.status_code == 304


def test_a_range_of_a_page_is_answered_with_the_whole_page(live: RunningServer) -> None:
    response = httpx.get(live.url("/"), headers={"Range": "bytes=0-9"})
    assert response.status_code == 200
    assert SCRIPT_TAG in response.content


def test_the_client_script(live: RunningServer) -> None:
    response = httpx.get(live.url("/__siteserve/reload.js"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"new WebSocket" in response.content
    assert int(response.headers["content-length"]) == len(response.content)


def test_without_reload_there_is_no_script(
    root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    server = serve_site(root, reload=False)
    assert b"/__siteserve/" not in httpx.get(server.url("/")).content
    assert httpx.get(server.url("/__siteserve/reload.js")).status_code == 404


def test_a_request_during_a_burst_waits_and_gets_the_new_content(
    live: RunningServer, root: Path
) -> None:
    app = find_layer(live.app, ReloadApp)
    assert app.debouncer is not None
    httpx.get(live.url("/"))  # cached by now, in the site and the injector
    with (root / "index.html").open("w") as handle:
        handle.write("<html><head></head><body>")
        handle.flush()
        # Half written, and the watcher has seen it: the burst is settling.
        until(lambda: app.debouncer is not None and app.debouncer.settling, "the first event")
        result: list[httpx.Response] = []
        request = threading.Thread(target=lambda: result.append(httpx.get(live.url("/"))))
        request.start()
        handle.write("complete</body>")
    request.join(DEADLINE)
    assert result and result[0].content.endswith(b"complete</body>")


class Socket:
    """A WebSocket client over a raw socket, with wsproto."""

    def __init__(self, server: RunningServer, origin: str | None = None) -> None:
        self.wire = Wire(server.port)
        self.ws = WSConnection(ConnectionType.CLIENT)
        extra = [("Origin", origin)] if origin else []
        token = find_layer(server.app, ReloadApp).token
        self.wire.send(
            self.ws.send(
                Request(
                    host=f"127.0.0.1:{server.port}",
                    target=f"/__siteserve/ws?socket_token={token}",
                    extra_headers=extra,
                )
            )
        )

    def events(self, until_kind: type, within: float = DEADLINE) -> list[object]:
        deadline = time.monotonic() + within
        seen: list[object] = []
        while time.monotonic() < deadline:
            if self.wire.buffer:
                self.ws.receive_data(self.wire.buffer)
                self.wire.buffer = b""
            for event in self.ws.events():
                seen.append(event)
                if isinstance(event, until_kind):
                    return seen
            if not self.wire._fill(deadline):
                self.ws.receive_data(None)
        raise AssertionError(f"no {until_kind.__name__}; got {seen}")

    def say(self, message: dict[str, object]) -> None:
        self.wire.send(self.ws.send(TextMessage(json.dumps(message))))


def test_websocket_hello_then_reload_on_change(live: RunningServer, root: Path) -> None:
    httpx.get(live.url("/"))  # the page is served (and its sources recorded) first
    tab = Socket(live, origin=live.base_url)
    assert any(isinstance(e, AcceptConnection) for e in tab.events(AcceptConnection))
    tab.say({"type": "hello", "page": "/", "scripts": []})
    app = find_layer(live.app, ReloadApp)
    until(lambda: any(c.page == "/" for c in list(app.clients)), "the hello")
    (root / "app.css").write_text("p { color: blue }")
    update = tab.events(TextMessage)[-1]
    assert isinstance(update, TextMessage)
    assert json.loads(update.data) == {"type": "update", "css": ["/app.css"], "images": []}
    (root / "index.html").write_text("<p>new</p>")
    reload = tab.events(TextMessage)[-1]
    assert isinstance(reload, TextMessage) and json.loads(reload.data) == {"type": "reload"}


def test_websocket_stays_open_past_the_keepalive_timeout(
    root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    server = serve_site(root, reload=True, quiet=True, limits={"keepalive_timeout": 0.2})
    tab = Socket(server, origin=server.base_url)
    tab.events(AcceptConnection)
    tab.say({"type": "hello", "page": "/", "scripts": []})
    # Five times the idle timeout of an HTTP connection: the socket stays, and carries news.
    assert not tab.wire.closed_by_peer(within=1.0)
    (root / "index.html").write_text("<p>late news</p>")
    message = tab.events(TextMessage)[-1]
    assert isinstance(message, TextMessage)


def test_cross_origin_pages_cannot_listen(live: RunningServer) -> None:
    tab = Socket(live, origin="http://evil.example")
    status, _, _ = tab.wire.read_response()
    assert status == 403


def test_shutdown_says_going_away(root: Path, serve_site: Callable[..., RunningServer]) -> None:
    server = serve_site(root, reload=True, quiet=True)
    tab = Socket(server)
    tab.events(AcceptConnection)
    server.stop()
    close = tab.events(CloseConnection)[-1]
    assert isinstance(close, CloseConnection) and close.code == 1001
