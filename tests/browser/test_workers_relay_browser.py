"""Live reload with ``--workers 2``, a tab whose socket is held by the worker that never
served it anything.

Every HTTP request of the tabs goes to one worker: the test relays them over a
connection that worker accepted (``route``), so the only connections the browser makes
itself are the tabs' WebSockets, and the test sees which worker holds each. Tabs are
opened until one's socket is held by the other worker. Without the relay of page graphs
between workers (``server.workers``) that tab's page is unknown there, and a file no
page uses reloads it: this test then fails (checked by disabling the relay).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from tests.browser import test_workers_reload_browser as tabs_module
from tests.browser.conftest import CHROMIUM_ARGS, launched
from tests.browser.test_reload import shown, write
from tests.browser.test_workers_reload_browser import LAYOUT, color_is, text_is
from tests.integration.test_workers import Workers, connection_per_worker
from tests.integration.wire import Wire
from tests.integration.worker_processes import (
    DEADLINE,
    held_connections,
    holder,
    server_inode,
    until,
)

pytestmark = tabs_module.pytestmark
#: The same site and ``--workers 2`` server as the four-tab test.
site = tabs_module.site
server = tabs_module.server
#: Tabs opened at most, and the time they may take, until one's socket lands on the
#: other worker: each has an even chance (SO_REUSEPORT hashes the connection), so 24
#: tabs all landing on one worker is a one-in-16-million event; a tab can take
#: seconds on a loaded machine, hence a budget of its own rather than DEADLINE.
MAX_TABS = 24
TABS_DEADLINE = 120.0


class OneWorker:
    """Relays the tabs' HTTP requests to one worker, over connections it accepted."""

    def __init__(self, port: int, pids: list[int], pid: int, wire: Wire) -> None:
        self.port, self.pids, self.pid, self.wire = port, pids, pid, wire
        #: The server-side inodes of every connection this relay opened.
        self.inodes = set(held_connections(port, pids))

    def _reconnect(self) -> None:
        self.wire.close()
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            wire = Wire(self.port)
            wire.send(f"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
            wire.read_response()  # answered: accepted by a worker
            self.inodes.add(server_inode(wire.sock) or 0)
            if holder(wire.sock, self.pids) == self.pid:
                self.wire = wire
                return
            wire.close()
        raise AssertionError(f"no connection reached worker {self.pid}")

    def handle(self, route: Route) -> None:
        request = route.request
        url = urlsplit(request.url)
        target = url.path + (f"?{url.query}" if url.query else "")
        keep = ("accept", "referer", "if-none-match", "if-modified-since", "cache-control")
        lines = [f"{request.method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in request.headers.items() if name in keep]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
        for attempt in range(2):
            try:
                self.wire.send(raw)
                status, headers, body = self.wire.read_response()
                break
            except (OSError, AssertionError):
                if attempt:
                    raise
                self._reconnect()  # the keep-alive connection timed out meanwhile
        hop = {"connection", "keep-alive", "transfer-encoding", "content-length"}
        kept = {name: value for name, value in headers.items() if name not in hop}
        route.fulfill(status=status, headers=kept, body=body)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium that lets a page the test handed it (``route.fulfill``, no address of
    its own) open a socket to 127.0.0.1, which its local network checks refuse."""
    features = "--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets"
    with launched([*CHROMIUM_ARGS, features]) as instance:
        yield instance


def new_connections(port: int, pids: list[int], known: set[int]) -> dict[int, int]:
    return {inode: pid for inode, pid in held_connections(port, pids).items() if inode not in known}


def test_a_tab_whose_socket_is_on_the_worker_that_never_served_a_page(
    browser: Browser, server: Workers, site: Path
) -> None:
    pids = server.workers()
    held = connection_per_worker(server.port, pids, "/__siteserve/ws-token")
    (renderer, wire), (other, spare) = held.items()
    spare.close()
    relay = OneWorker(server.port, pids, renderer, wire)
    contexts: list[BrowserContext] = []
    tabs: dict[int, list[Page]] = {renderer: [], other: []}
    try:
        end = time.monotonic() + TABS_DEADLINE
        while not tabs[other] and len(contexts) < MAX_TABS and time.monotonic() < end:
            before = set(held_connections(server.port, pids))
            context = browser.new_context()
            contexts.append(context)
            context.route(f"http://127.0.0.1:{server.port}/**", relay.handle)
            tab = context.new_page()
            tab.goto(f"http://127.0.0.1:{server.port}/page")
            text_is(tab, "one")
            # The browser's only connection is the tab's socket: all else is relayed.
            until(
                lambda: len(new_connections(server.port, pids, before | relay.inodes)) == 1,  # noqa: B023
                "the tab's WebSocket",
            )
            (holder_pid,) = new_connections(server.port, pids, before | relay.inodes).values()
            tabs[holder_pid].append(tab)
        assert tabs[other], f"no tab's socket reached worker {other} (pages came from {renderer})"
        every = [tab for group in tabs.values() for tab in group]
        for tab in every:
            tab.evaluate("window.__kept = 'yes'")
        seen = [shown(tab) for tab in every]
        # A file no page uses, then the stylesheet: swapped in place, no load anywhere.
        write(site / "notes.txt", "still unused")
        write(site / "style.css", "#v { color: rgb(0, 128, 0); }\n")
        for tab in every:
            color_is(tab, "rgb(0, 128, 0)")
        assert seen == [[]] * len(every)
        assert [tab.evaluate("window.__kept") for tab in every] == ["yes"] * len(every)
        # The page's layout: every tab shows the page again, once (in place: its HTML).
        write(site / "_layouts" / "base.html", LAYOUT.format(text="two"))
        for tab in every:
            text_is(tab, "two")
        assert [len(load) for load in seen] == [1] * len(every)
    finally:
        for context in contexts:
            context.close()
        relay.wire.close()
