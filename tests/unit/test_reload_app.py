"""ReloadApp without sockets: injection around a fake site, conditional requests, the
client script, and who is told what when files change."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, TextMessage

from siteserve.config import build_config
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import FileBody, Response
from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import ChangeSet, Debouncer, RawEvent
from siteserve.reload.graph import GraphNote
from siteserve.reload.inject import SCRIPT_TAG
from siteserve.server.background import background_executor

HTML = "text/html; charset=utf-8"


class FakeSite:
    """Answers from a table of path -> response factory; records what it was asked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.routes: dict[str, Callable[[Request], Response]] = {}
        self.requests: list[Request] = []
        self.invalidated: list[frozenset[Path]] = []
        self.log: list[str] = []
        self.asynchronous = False
        self.started = self.stopped = False

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        self.requests.append(request)
        self.log.append(f"handle {request.path}")
        route = self.routes.get(request.path)
        response = route(request) if route else Response(404, [("Content-Type", HTML)], b"nf")
        if self.asynchronous:
            return _later(response)
        return response

    def invalidate(self, paths: Iterable[Path]) -> None:
        self.invalidated.append(frozenset(paths))
        self.log.append("invalidate")

    async def startup(self) -> None:
        self.started = True

    async def shutdown(self) -> None:
        self.stopped = True


async def _later(response: Response) -> Response:
    await asyncio.sleep(0)
    return response


class Channel:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Tab:
    """A browser tab's WebSocket, as the app sees it after the 101."""

    def __init__(self, app: ReloadApp, page: str | None, scripts: list[str] | None = None) -> None:
        response = app.handle(request(f"/__siteserve/ws?socket_token={app.token}", **WS_HEADERS))
        assert isinstance(response, Response) and response.status == 101
        assert response.upgrade is not None
        self.channel = Channel()
        self.socket = response.upgrade(self.channel)
        self.peer = Connection(ConnectionType.CLIENT)
        if page is not None:
            self.say({"type": "hello", "page": page, "scripts": scripts or []})

    def say(self, message: object) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.socket.data_received(self.peer.send(TextMessage(text)))

    def heard(self) -> list[object]:
        self.peer.receive_data(bytes(self.channel.written))
        self.channel.written.clear()
        out: list[object] = []
        for event in self.peer.events():
            out.append(json.loads(event.data) if isinstance(event, TextMessage) else event)
        return out


WS_HEADERS = {
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
}


def request(path: str, method: str = "GET", **fields: str) -> Request:
    headers = Headers(
        [("host", "127.0.0.1:8000"), *((k.replace("_", "-"), v) for k, v in fields.items())]
    )
    target, _, query = path.partition("?")
    return Request(method, path, target, query, headers)


def page(body: bytes = b"<html><head></head><body>hi</body></html>", *sources: Path) -> Response:
    return Response(200, [("Content-Type", HTML), ("ETag", '"p1"')], body, sources=sources)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def site(root: Path) -> FakeSite:
    return FakeSite(root)


@pytest.fixture
def app(site: FakeSite, root: Path) -> ReloadApp:
    return ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]


def answer(app: ReloadApp, req: Request) -> Response:
    result = app.handle(req)
    if isinstance(result, Response):
        return result
    return asyncio.run(_await(result))


async def _await(result: Awaitable[Response]) -> Response:
    return await result


# -- serving ----------------------------------------------------------------------------


def test_html_gets_the_script_and_other_types_do_not(app: ReloadApp, site: FakeSite) -> None:
    site.routes["/"] = lambda r: page()
    site.routes["/a.css"] = lambda r: Response(200, [("Content-Type", "text/css")], b"p{}")
    html = answer(app, request("/"))
    assert isinstance(html.body, bytes) and SCRIPT_TAG in html.body
    assert html.header("etag") == '"p1+reload"'
    assert answer(app, request("/a.css")).body == b"p{}"


def test_static_answers_stay_synchronous(app: ReloadApp, site: FakeSite) -> None:
    site.routes["/"] = lambda r: page()
    assert isinstance(app.handle(request("/")), Response)


def test_rendered_pages_are_injected_too(app: ReloadApp, site: FakeSite) -> None:
    site.asynchronous = True
    site.routes["/"] = lambda r: page()
    result = app.handle(request("/"))
    assert not isinstance(result, Response)
    body = asyncio.run(_await(result)).body
    assert isinstance(body, bytes) and SCRIPT_TAG in body


def test_file_bodies_are_injected(app: ReloadApp, site: FakeSite, root: Path) -> None:
    index = root / "index.html"
    index.write_bytes(b"<title>t</title><p>x</p>")
    site.routes["/"] = lambda r: Response(
        200, [("Content-Type", HTML)], FileBody(index, 0, index.stat().st_size), sources=(index,)
    )
    assert answer(app, request("/")).body == SCRIPT_TAG + b"<title>t</title><p>x</p>"


def test_the_client_script_is_served_from_templates(app: ReloadApp) -> None:
    response = answer(app, request("/__siteserve/reload.js"))
    assert response.status == 200
    assert response.header("content-type") == "text/javascript; charset=utf-8"
    assert isinstance(response.body, bytes) and b"/__siteserve/ws" in response.body
    etag = response.header("etag")
    assert etag is not None
    again = answer(app, request("/__siteserve/reload.js", if_none_match=etag))
    assert again.status == 304 and again.body == b""
    assert answer(app, request("/__siteserve/reload.js", "POST")).status == 405


def test_the_in_place_update_module_is_served_beside_it(app: ReloadApp) -> None:
    response = answer(app, request("/__siteserve/morph.js"))
    assert response.status == 200
    assert response.header("content-type") == "text/javascript; charset=utf-8"
    assert isinstance(response.body, bytes) and b"export async function morphPage" in response.body
    etag = response.header("etag")
    assert etag is not None and etag != answer(app, request("/__siteserve/reload.js")).header(
        "etag"
    )
    assert answer(app, request("/__siteserve/morph.js", if_none_match=etag)).status == 304


def test_other_reserved_paths_go_to_the_site(app: ReloadApp, site: FakeSite) -> None:
    answer(app, request("/__siteserve/overlay.css"))
    assert [r.path for r in site.requests] == ["/__siteserve/overlay.css"]


def test_websocket_handshake_and_refusal(app: ReloadApp) -> None:
    socket = f"/__siteserve/ws?socket_token={app.token}"
    assert answer(app, request(socket, **WS_HEADERS)).status == 101
    assert answer(app, request("/__siteserve/ws")).status == 426


def test_plain_validators_are_left_to_the_site(app: ReloadApp, site: FakeSite) -> None:
    site.routes["/app.js"] = lambda r: Response(304, [("ETag", '"j1"')])
    assert answer(app, request("/app.js", if_none_match='"j1"')).status == 304
    assert site.requests[-1].headers.get("if-none-match") == '"j1"'


def test_requests_reach_the_site_once_and_as_they_came(app: ReloadApp, site: FakeSite) -> None:
    site.routes["/"] = lambda r: page()
    fields = {"accept_encoding": "br, gzip", "sec_fetch_dest": "document", "range": "bytes=0-1"}
    answer(app, request("/", if_none_match='"p1+reload"', **fields))
    assert len(site.requests) == 1
    asked = site.requests[0].headers
    assert asked.get("accept-encoding") == "br, gzip"
    assert asked.get("if-none-match") == '"p1+reload"' and asked.get("range") == "bytes=0-1"


def test_coded_or_partial_html_from_the_site_is_passed_on(app: ReloadApp, site: FakeSite) -> None:
    # The Site's pipeline decided these representations; the script is never put into them.
    coded = Response(200, [("Content-Type", HTML), ("Content-Encoding", "br")], b"\x1b")
    site.routes["/coded"] = lambda r: coded
    assert answer(app, request("/coded", accept_encoding="br")) is coded
    ranged = Response(206, [("Content-Type", HTML), ("Content-Range", "bytes 0-1/40")], b"<h")
    site.routes["/ranged"] = lambda r: ranged
    assert answer(app, request("/ranged", range="bytes=0-1")) is ranged
    assert len(site.requests) == 2


# -- change sets ------------------------------------------------------------------------


def test_invalidate_comes_before_any_notification(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    index = root / "index.html"
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)
    answer(app, request("/"))
    tab = Tab(app, "/")
    original_send = tab.socket.send

    def send(text: str) -> bool:
        site.log.append("notify")
        return original_send(text)

    tab.socket.send = send  # type: ignore[method-assign]
    app.apply(ChangeSet(frozenset({index})))
    assert site.log[-2:] == ["invalidate", "notify"]
    assert site.invalidated == [frozenset({index})]
    assert tab.heard() == [{"type": "reload"}]


def test_only_tabs_whose_page_used_the_file_reload(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    layout, partial, about = root / "_layout.html", root / "_nav.html", root / "about.html"
    site.routes["/"] = lambda r: page(b"<p>home</p>", root / "index.html.jinja", layout, partial)
    site.routes["/about"] = lambda r: page(b"<p>about</p>", about)
    answer(app, request("/"))
    answer(app, request("/about"))
    home, other = Tab(app, "/"), Tab(app, "/about")
    app.apply(ChangeSet(frozenset({partial})))
    assert home.heard() == [{"type": "reload"}]
    assert other.heard() == []
    # A file no open page uses reloads nothing.
    app.apply(ChangeSet(frozenset({root / "unused.html"})))
    assert other.heard() == []


def test_scripts_reported_by_the_tab_count(app: ReloadApp, site: FakeSite, root: Path) -> None:
    (root / "app.js").write_text("console.log(1)")
    site.routes["/"] = lambda r: page(b"<p>x</p>", root / "index.html")
    answer(app, request("/"))
    tab, bystander = Tab(app, "/", ["/app.js"]), Tab(app, "/", [])
    app.apply(ChangeSet(frozenset({root / "app.js"})))
    # A script that ran cannot be taken back: the page loads whole, never in place.
    assert tab.heard() == [{"type": "reload", "full": True}]
    assert bystander.heard() == []


def test_modules_and_fetched_data_count_through_referer(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    site.routes["/"] = lambda r: page(b"<p>x</p>", root / "index.html")
    for name in ("main.js", "lib.js", "data.json"):
        site.routes[f"/{name}"] = lambda r, n=name: Response(  # type: ignore[misc]
            200, [("Content-Type", "text/javascript")], b"x", sources=(root / n,)
        )
    answer(app, request("/"))
    answer(app, request("/main.js", referer="http://127.0.0.1:8000/"))
    answer(app, request("/lib.js", referer="http://127.0.0.1:8000/main.js"))
    answer(app, request("/data.json", referer="http://127.0.0.1:8000/"))
    # A cross-site referer records nothing.
    answer(app, request("/data.json", referer="http://evil.example/"))
    tab = Tab(app, "/")
    for name in ("lib.js", "data.json"):
        app.apply(ChangeSet(frozenset({root / name})))
        assert tab.heard() == [{"type": "reload", "full": True}]
        tab.socket.connection_lost()
        tab = Tab(app, "/")


def test_stylesheets_and_images_are_updated_in_place(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    site.routes["/"] = lambda r: page(b"<p>x</p>", root / "index.html")
    site.routes["/theme"] = lambda r: Response(
        200, [("Content-Type", "text/css")], b"", sources=(root / "css" / "theme.css",)
    )
    answer(app, request("/"))
    answer(app, request("/theme"))
    tab = Tab(app, "/")
    changed = {root / "css" / "theme.css", root / "img" / "a b.png"}
    app.apply(ChangeSet(frozenset(changed)))
    assert tab.heard() == [
        {"type": "update", "css": ["/css/theme.css", "/theme"], "images": ["/img/a%20b.png"]}
    ]


def test_a_stylesheet_the_page_template_includes_reloads(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    inline = root / "_inline.css"
    site.routes["/"] = lambda r: page(b"<p>x</p>", root / "index.html.jinja", inline)
    answer(app, request("/"))
    tab = Tab(app, "/")
    app.apply(ChangeSet(frozenset({inline})))
    assert tab.heard() == [{"type": "reload"}]


def test_pages_with_unknown_sources_reload_on_any_content_change(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    answer(app, request("/missing"))  # the 404 page: made from nothing we know
    tab = Tab(app, "/missing")
    app.apply(ChangeSet(frozenset({root / "style.css"})))
    assert tab.heard() == [{"type": "update", "css": ["/style.css"], "images": []}]
    app.apply(ChangeSet(frozenset({root / "missing.html"})))
    assert tab.heard() == [{"type": "reload", "full": True}]  # not known to be its HTML only


def test_early_notice_then_no_second_reload(app: ReloadApp, site: FakeSite, root: Path) -> None:
    index = root / "index.html"
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)
    answer(app, request("/"))
    tab = Tab(app, "/")
    app.progress(ChangeSet(frozenset({index})))
    assert tab.heard() == [{"type": "reload"}]
    app.progress(ChangeSet(frozenset({root / "other.js"})))
    app.apply(ChangeSet(frozenset({index, root / "other.js"})))
    # Told once: the tab is reloading; its next page arrives as a new connection.
    assert tab.heard() == []
    # The reloaded tab's next page, served after the change, comes up to date.
    answer(app, request("/"))
    fresh = Tab(app, "/")
    app.apply(ChangeSet(frozenset({root / "next.css"})))
    assert fresh.heard() == [{"type": "update", "css": ["/next.css"], "images": []}]


def _told_to_reload(app: ReloadApp, site: FakeSite, root: Path) -> tuple[Path, Tab]:
    """A tab on ``/`` (index.html, served once) told to reload by an edit of its page."""
    index = root / "index.html"
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)
    answer(app, request("/"))
    tab = Tab(app, "/")
    app.apply(ChangeSet(frozenset({index})))
    assert tab.heard() == [{"type": "reload"}]
    return index, tab


def test_a_tab_that_showed_a_change_in_place_is_told_again(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    index, tab = _told_to_reload(app, site, root)
    app.apply(ChangeSet(frozenset({index})))
    assert tab.heard() == []  # on its way: told once
    # It fetched the page and morphed it (no new socket), then says hello again.
    answer(app, request("/"))
    tab.say({"type": "hello", "page": "/", "scripts": []})
    assert tab.heard() == []  # up to date: nothing to catch up on
    app.apply(ChangeSet(frozenset({index})))
    assert tab.heard() == [{"type": "reload"}]


def test_a_change_between_the_fetch_and_the_second_hello_is_caught_up(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    index, tab = _told_to_reload(app, site, root)
    answer(app, request("/"))  # the tab's fetch
    app.apply(ChangeSet(frozenset({index})))  # saved again before it said hello
    assert tab.heard() == []
    tab.say({"type": "hello", "page": "/", "scripts": []})
    assert tab.heard() == [{"type": "reload"}]


def test_a_page_another_worker_served_after_the_burst_began_is_up_to_date(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    """With --workers, the tab's fetch may go to a worker that settled the burst first."""
    index = root / "index.html"
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)
    answer(app, request("/"))
    tab = Tab(app, "/")
    app.progress(ChangeSet(frozenset({index})))
    assert tab.heard() == [{"type": "reload"}]
    # The other worker's render, held there until its own copy of the burst settled.
    served = time.monotonic()
    app.graph.learn(GraphNote("/", (str(index),), True, served, (), None))
    app.apply(ChangeSet(frozenset({index})))  # this worker settles a little later
    tab.say({"type": "hello", "page": "/", "scripts": []})
    assert tab.heard() == []  # shown: not told again
    app.apply(ChangeSet(frozenset({index})))
    assert tab.heard() == [{"type": "reload"}]


def test_a_second_hello_is_told_of_a_change_set_once(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    """The other worker answered the tab's fetches again from a render it noted before
    this worker's burst began: this worker never hears of them, and must not tell the
    tab of the same change again on each of its hellos."""
    index = root / "index.html"
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)
    answer(app, request("/"))
    tab = Tab(app, "/")
    noted = time.monotonic()  # the other worker's render, noted before this burst began
    app.progress(ChangeSet(frozenset({index})))
    assert tab.heard() == [{"type": "reload"}]
    app.graph.learn(GraphNote("/", (str(index),), True, noted, (), None))
    app.apply(ChangeSet(frozenset({index})))
    tab.say({"type": "hello", "page": "/", "scripts": []})
    assert tab.heard() == [{"type": "reload"}]  # caught up on, as it may have missed it
    tab.say({"type": "hello", "page": "/", "scripts": []})
    assert tab.heard() == []  # once
    app.apply(ChangeSet(frozenset({index})))
    assert tab.heard() == [{"type": "reload"}]  # a later change set is told as ever


def test_a_tab_that_connects_late_catches_up(app: ReloadApp, site: FakeSite, root: Path) -> None:
    index = root / "index.html"
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)
    answer(app, request("/"))
    # Saved between the page's response and its WebSocket's hello: nobody listened.
    app.apply(ChangeSet(frozenset({index})))
    assert Tab(app, "/").heard() == [{"type": "reload"}]
    # Served again after the change: nothing to catch up on.
    answer(app, request("/"))
    assert Tab(app, "/").heard() == []


def test_a_hello_during_a_burst_from_an_older_page_is_told(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    index = root / "index.html"
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)
    answer(app, request("/"))
    app.progress(ChangeSet(frozenset({index})))  # the burst begins; nobody is connected
    tab = Tab(app, "/")  # a page served before the burst says hello during it
    assert tab.heard() == []
    app.apply(ChangeSet(frozenset({index})))
    assert tab.heard() == [{"type": "reload"}]


def test_unfinished_or_strange_hellos_are_ignored(app: ReloadApp) -> None:
    tab = Tab(app, None)
    tab.say("not json")
    tab.say([1, 2])
    tab.say({"type": "hello", "page": 42})
    tab.say({"type": "bye", "page": "/"})
    client = next(iter(app.clients))
    assert client.page is None
    app.apply(ChangeSet(frozenset({app.config.root / "x.html"})))
    assert tab.heard() == []


def test_closed_tabs_are_forgotten(app: ReloadApp) -> None:
    tab = Tab(app, "/")
    assert len(app.clients) == 1
    tab.socket.connection_lost()
    assert app.clients == set()


def test_startup_watches_and_shutdown_says_going_away(root: Path, site: FakeSite) -> None:
    app = ReloadApp(site, build_config(root, reload=True, poll=True))  # type: ignore[arg-type]

    async def go() -> Tab:
        await app.startup()
        assert site.started and app.watcher is not None and app.watcher.mode == "polling"
        tab = Tab(app, "/")
        await app.shutdown()
        return tab

    tab = asyncio.run(go())
    assert site.stopped and app.watcher is None
    assert tab.heard() == [CloseConnection(1001, "server stopping")]
    assert tab.channel.closed


def test_requests_during_a_burst_wait_for_its_change_set(root: Path, site: FakeSite) -> None:
    app = ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]
    index = root / "index.html"
    index.write_text("<p>new</p>")
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)

    async def go() -> None:
        await app.startup()
        try:
            assert app.debouncer is not None
            app.debouncer.add([RawEvent("closed", index)])
            result = app.handle(request("/"))
            assert not isinstance(result, Response)  # it waits
            await result
            assert site.log.index("invalidate") < site.log.index("handle /")
        finally:
            await app.shutdown()

    asyncio.run(go())


def test_a_held_request_waits_for_the_next_burst_begun_before_its_turn(
    root: Path, site: FakeSite
) -> None:
    app = ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]
    index = root / "index.html"
    index.write_text("<p>new</p>")
    site.routes["/"] = lambda r: page(b"<p>x</p>", index)

    async def go() -> None:
        await app.startup()
        try:
            debouncer = app.debouncer
            assert debouncer is not None
            handled: list[ChangeSet] = []
            app.listeners.append(handled.append)
            debouncer.add([RawEvent("closed", index)])
            result = app.handle(request("/"))
            assert not isinstance(result, Response)
            waiting = asyncio.ensure_future(_await(result))
            await debouncer.wait_settled(1.0)
            # The writer goes on before the held request's turn: a second burst begins.
            index.write_text("<p>newer</p>")
            debouncer.add([RawEvent("modified", index), RawEvent("closed", index)])
            await waiting
            assert len(handled) == 2
            assert site.log.count("invalidate") == 2
            assert site.log.index("handle /") > len(site.log) - 2  # after the second
        finally:
            await app.shutdown()

    asyncio.run(go())


def test_a_rebuild_holds_only_the_requests_under_its_folder(root: Path, site: FakeSite) -> None:
    app = ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]
    dist, other = root / "dist", root / "other.txt"
    dist.mkdir()
    other.write_text("other")
    chunk = dist / "x.js"
    chunk.write_text("old")
    site.routes["/other.txt"] = lambda r: Response(200, [], other.read_bytes(), sources=(other,))
    site.routes["/dist/x.js"] = lambda r: Response(200, [], chunk.read_bytes(), sources=(chunk,))

    async def go() -> None:
        # No watcher: the events are fed by hand, and the burst settles when the test says.
        debouncer = app.debouncer = Debouncer(app.apply, app.ignore, on_progress=app.progress)
        try:
            debouncer.add([RawEvent("deleted", dist / f"old-{i}.js") for i in range(3)])
            assert debouncer.settling and debouncer.pending().folders == {dist}
            waiting = app.handle(request("/dist/x.js"))
            assert not isinstance(waiting, Response)
            task = asyncio.ensure_future(waiting)
            # An unrelated file is answered at once, while the rebuild is still settling.
            free = app.handle(request("/other.txt"))
            assert isinstance(free, Response) and free.body == b"other"
            await asyncio.sleep(0)  # the task's first step: it starts waiting
            assert app.held == 1 and debouncer.settling and not task.done()
            chunk.write_text("new")
            debouncer.add([RawEvent("closed", chunk)])
            debouncer.flush()
            answered = await task
            assert answered.body == b"new"
            assert site.log.index("invalidate") < site.log.index("handle /dist/x.js")
            assert site.log.index("handle /other.txt") < site.log.index("invalidate")
        finally:
            debouncer.close()

    asyncio.run(go())


def test_a_small_edit_holds_the_file_it_changed_and_not_its_neighbours(
    root: Path, site: FakeSite
) -> None:
    app = ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]
    (root / "edit").mkdir()
    edited, beside, probe = root / "edit" / "a.txt", root / "edit" / "b.txt", root / "probe.txt"
    for path in (edited, beside, probe):
        path.write_text(path.name)
        site.routes["/" + path.relative_to(root).as_posix()] = lambda r, p=path: Response(
            200, [], p.read_bytes(), sources=(p,)
        )

    async def go() -> None:
        debouncer = app.debouncer = Debouncer(app.apply, app.ignore, on_progress=app.progress)
        try:
            debouncer.add([RawEvent("modified", edited)])
            assert debouncer.settling
            waiting = app.handle(request("/edit/a.txt"))
            assert not isinstance(waiting, Response)
            assert isinstance(app.handle(request("/edit/b.txt")), Response)
            assert isinstance(app.handle(request("/probe.txt")), Response)
            debouncer.flush()
            assert (await waiting).body == b"a.txt"
        finally:
            debouncer.close()

    asyncio.run(go())


def test_the_requests_a_burst_held_start_one_per_turn_of_the_loop(
    root: Path, site: FakeSite
) -> None:
    app = ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]
    edited = root / "edited.txt"
    edited.write_text("v1")
    turns = [0]
    started_at: list[int] = []

    def answer(r: Request) -> Response:
        started_at.append(turns[0])
        return Response(200, [], edited.read_bytes(), sources=(edited,))

    site.routes["/edited.txt"] = answer

    async def go() -> None:
        loop = asyncio.get_running_loop()

        def tick() -> None:  # counts the loop's turns: sockets are polled between two
            turns[0] += 1
            if len(started_at) < 3:
                loop.call_soon(tick)

        debouncer = app.debouncer = Debouncer(app.apply, app.ignore, on_progress=app.progress)
        try:
            debouncer.add([RawEvent("modified", edited)])
            held = [app.handle(request("/edited.txt")) for _ in range(3)]
            assert not any(isinstance(h, Response) for h in held)
            tasks = [asyncio.ensure_future(h) for h in held]  # type: ignore[arg-type]
            await asyncio.sleep(0)
            assert app.held == 3
            loop.call_soon(tick)
            debouncer.flush()
            answers = await asyncio.gather(*tasks)
            assert [a.body for a in answers] == [b"v1"] * 3
            assert len(set(started_at)) == 3, f"started on the same turn: {started_at}"
        finally:
            debouncer.close()

    asyncio.run(go())


def test_session_database_is_not_watched(root: Path, site: FakeSite) -> None:
    app = ReloadApp(site, build_config(root, reload=True, sessions="_state/sessions.db"))  # type: ignore[arg-type]
    assert app.ignore(root / "_state" / "sessions.db")
    assert app.ignore(root / "_state" / "sessions.db-wal")
    assert not app.ignore(root / "_state" / "other.db")


def test_a_partial_download_of_a_page_stays_partial(app: ReloadApp, site: FakeSite) -> None:
    site.routes["/page.html"] = lambda r: Response(
        206,
        [
            ("Content-Type", HTML),
            ("Content-Disposition", 'attachment; filename="page.html"'),
            ("Content-Range", "bytes 0-1/40"),
        ],
        b"<h",
    )
    response = answer(app, request("/page.html?download", range="bytes=0-1"))
    assert response.status == 206 and response.body == b"<h"
    assert len(site.requests) == 1


# -- the socket's token -----------------------------------------------------------------


def test_the_socket_needs_the_token(app: ReloadApp) -> None:
    assert answer(app, request("/__siteserve/ws", **WS_HEADERS)).status == 403
    wrong = answer(app, request("/__siteserve/ws?socket_token=guess", **WS_HEADERS))
    assert wrong.status == 403 and wrong.header("x-content-type-options") == "nosniff"
    socket = f"/__siteserve/ws?socket_token={app.token}"
    assert answer(app, request(socket, **WS_HEADERS)).status == 101


def test_pages_of_ours_get_the_token_and_no_one_else(app: ReloadApp) -> None:
    given = answer(app, request("/__siteserve/ws-token", sec_fetch_site="same-origin"))
    assert given.status == 200
    assert isinstance(given.body, bytes) and json.loads(given.body) == {"token": app.token}
    assert given.header("cache-control") == "no-store"
    assert given.header("x-content-type-options") == "nosniff"
    for fields in (
        {"sec_fetch_site": "cross-site"},
        {"sec_fetch_site": "same-site"},
        {"origin": "http://evil.example"},
        {"origin": "http://127.0.0.1:9999"},
    ):
        refused = answer(app, request("/__siteserve/ws-token", **fields))
        assert refused.status == 403, fields
        assert isinstance(refused.body, bytes) and app.token.encode() not in refused.body
    assert answer(app, request("/__siteserve/ws-token", "POST")).status == 405


def test_each_server_has_its_own_token(site: FakeSite, root: Path) -> None:
    config = build_config(root, reload=True)
    first = ReloadApp(site, config)  # type: ignore[arg-type]
    second = ReloadApp(site, config)  # type: ignore[arg-type]
    assert first.token != second.token and len(first.token) >= 32


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
def test_the_watchers_threads_keep_the_loops_priority_beside_the_background_pool(
    root: Path, site: FakeSite
) -> None:
    # Started from a pool thread, the observers inherited the pool's lower priority and
    # a burst of saves reached the debouncer late, as several change sets.
    app = ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]

    def nice(thread: threading.Thread) -> int:
        assert thread.native_id is not None
        return os.getpriority(os.PRIO_PROCESS, thread.native_id)

    async def go() -> tuple[int, list[int]]:
        asyncio.get_running_loop().set_default_executor(background_executor())
        before = set(threading.enumerate())
        await app.startup()
        try:
            started = [t for t in threading.enumerate() if t not in before and t.is_alive()]
            assert started, "the watcher started no thread"
            return nice(threading.current_thread()), [nice(t) for t in started]
        finally:
            await app.shutdown()

    loop_nice, watcher_nice = asyncio.run(go())
    assert watcher_nice == [loop_nice] * len(watcher_nice)


def test_a_files_answer_is_given_again_but_not_while_a_burst_can_change_it_and_a_pages_never(
    root: Path, site: FakeSite
) -> None:
    app = ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]
    style = root / "style.css"
    style.write_text("p {}")
    unchanged = [True]
    site.routes["/style.css"] = lambda r: Response(
        200,
        [("Content-Type", "text/css")],
        b"p {}",
        sources=(style,),
        still_valid=lambda: unchanged[0],
    )
    site.routes["/"] = lambda r: Response(
        200, [("Content-Type", HTML)], b"<p>x</p>", still_valid=lambda: True
    )

    async def go() -> None:
        await app.startup()
        try:
            answer = app.handle(request("/style.css", referer="http://127.0.0.1:8000/"))
            assert isinstance(answer, Response) and answer.still_valid is not None
            assert answer.still_valid(), "unchanged, no burst: given again"
            assert app.graph.used_by("/") == frozenset({style})
            assert app.debouncer is not None
            app.debouncer.add([RawEvent("closed", root / "other.txt")])
            assert app.debouncer.settling
            assert answer.still_valid(), "a burst that cannot change it: given again"
            await app.debouncer.wait_settled(10.0)
            app.debouncer.add([RawEvent("closed", style)])
            assert app.debouncer.settling
            assert not answer.still_valid(), "its own file settles: the normal path holds it"
            await app.debouncer.wait_settled(10.0)
            assert answer.still_valid()
            app.debouncer.add([RawEvent("closed", root / "_layout.html.jinja")])
            assert not answer.still_valid(), "a burst that can change any answer"
            await app.debouncer.wait_settled(10.0)
            unchanged[0] = False
            assert not answer.still_valid(), "the file changed"
            shown = app.handle(request("/"))
            assert isinstance(shown, Response) and shown.still_valid is None, "a page: anew"
        finally:
            await app.shutdown()

    asyncio.run(go())
