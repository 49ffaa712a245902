"""Kept renders with live reload on, through the real server on port 0.

A page whose render read only its templates, data files and query is answered again
without a render, with the reload script in every answer (the reload layer's copy of
it: ``reload.repeats``); the next answer after its template, layout, partial or data
file changed is a new render; a page that read the clock, the session or a cookie is
rendered every time; and a tab showing a page answered again still gets its
stylesheet swapped and its reload.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from wsproto.events import AcceptConnection, TextMessage

from siteserve.layers import innermost
from siteserve.reload.app import ReloadApp
from siteserve.reload.inject import SCRIPT_TAG
from siteserve.site.app import Site
from siteserve.site.pages import Pages
from tests.conftest import RunningServer, find_layer
from tests.integration.test_reload_http import Socket
from tests.integration.waiting import until

LAYOUT = (
    "<html><head><title>t</title>"
    '<link rel="stylesheet" href="/app.css"></head>'
    "<body>{% block content %}{% endblock %}</body></html>"
)
PAGE = (
    '{% extends "_layouts/base.html" %}{% block content %}'
    "<h1>{{ request.args.q }}</h1>"
    '{% for item in data["items"] %}{% include "_partials/item.html" %}{% endfor %}'
    "{% endblock %}"
)
VOLATILE = {
    "clock.html.jinja": "<p>{{ now().year }}</p>",
    "visits.html.jinja": "{% do session.update(n=session.get('n', 0) + 1) %}<p>{{ session.n }}</p>",
    "cookie.html.jinja": "<p>{{ request.cookies.get('who', 'nobody') }}</p>",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    for folder in ("_layouts", "_partials", "_data"):
        (site / folder).mkdir(parents=True)
    (site / "_layouts" / "base.html").write_text(LAYOUT)
    (site / "_partials" / "item.html").write_text("<i>{{ item }}</i>")
    (site / "_data" / "items.json").write_text('["a", "b"]')
    (site / "page.html.jinja").write_text(PAGE)
    (site / "app.css").write_text("p { color: red }")
    for name, text in VOLATILE.items():
        (site / name).write_text(text)
    then = time.time_ns() - 60 * 10**9  # not just written: a render of it may be kept
    for path in site.rglob("*"):
        os.utime(path, ns=(then, then))
    return site


class Renders:
    """Counts the page handler's renders (a render answered again is not one)."""

    def __init__(self, server: RunningServer) -> None:
        site = innermost(server.app)
        assert isinstance(site, Site) and isinstance(site.pages, Pages)
        content = site.pages.content
        render = content.render
        self.count = 0
        self._lock = threading.Lock()

        def counted(*args: Any, **kwargs: Any) -> str:
            with self._lock:
                self.count += 1
            return render(*args, **kwargs)

        content.render = counted  # type: ignore[method-assign]


@pytest.fixture
def live(root: Path, serve_site: Callable[..., RunningServer]) -> RunningServer:
    return serve_site(root, reload=True, quiet=True)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(headers={"Accept-Encoding": "identity"}) as client:
        yield client


def test_a_reusable_page_is_answered_again_without_a_render_and_with_the_script(
    live: RunningServer, client: httpx.Client
) -> None:
    renders = Renders(live)
    first = client.get(live.url("/page?q=x"))
    assert first.status_code == 200
    assert "<h1>x</h1><i>a</i><i>b</i>" in first.text
    answers = [client.get(live.url("/page?q=x")) for _ in range(5)]
    assert renders.count == 1, "rendered once, then answered again"
    for answer in answers:
        assert answer.content == first.content
        assert answer.content.count(SCRIPT_TAG) == 1
        assert answer.headers["content-length"] == str(len(first.content))
    head = client.head(live.url("/page?q=x"))
    assert head.status_code == 200 and head.headers["content-length"] == str(len(first.content))
    assert renders.count == 1
    reload_app = find_layer(live.app, ReloadApp)
    assert len(reload_app.repeats) >= 1, "the reload layer's copy was given"
    assert reload_app.graph.page_sources("/page") == frozenset(
        live.config.root / name
        for name in ("page.html.jinja", "_layouts/base.html", "_partials/item.html")
    ) | {live.config.root / "_data" / "items.json"}


@pytest.mark.parametrize(
    ("name", "text", "shows"),
    [
        ("page.html.jinja", PAGE.replace("<h1>", "<h1 id=new>"), "<h1 id=new>x</h1>"),
        ("_layouts/base.html", LAYOUT.replace("<body>", "<body><nav>n</nav>"), "<nav>n</nav>"),
        ("_partials/item.html", "<b>{{ item }}</b>", "<b>a</b>"),
        ("_data/items.json", '["a", "b", "c"]', "<i>c</i>"),
    ],
)
def test_a_reused_page_gives_way_to_its_changed_files(
    live: RunningServer, client: httpx.Client, name: str, text: str, shows: str
) -> None:
    renders = Renders(live)
    for _ in range(3):
        assert shows not in client.get(live.url("/page?q=x")).text
    assert renders.count == 1
    (live.config.root / name).write_text(text)
    until(
        lambda: shows in client.get(live.url("/page?q=x")).text,
        f"the page to show the new {name}",
    )
    after = client.get(live.url("/page?q=x"))
    assert shows in after.text and after.content.count(SCRIPT_TAG) == 1

    def answered_again() -> bool:
        counted = renders.count
        again = client.get(live.url("/page?q=x"))
        return renders.count == counted and again.content == after.content

    # (A render of a file written in the last 50 ms is not kept: ``site.reuse``.)
    until(answered_again, "the new render to be kept in its turn")


@pytest.mark.parametrize("name", sorted(VOLATILE))
def test_a_page_that_read_the_clock_the_session_or_a_cookie_is_rendered_every_time(
    live: RunningServer, client: httpx.Client, name: str
) -> None:
    renders = Renders(live)
    target = live.url("/" + name.removesuffix(".jinja"))
    cookie = {"Cookie": "who=ann"} if name == "cookie.html.jinja" else {}
    for _ in range(3):
        answer = client.get(target, headers=cookie)
        assert answer.status_code == 200 and answer.content.count(SCRIPT_TAG) == 1
    assert renders.count == 3
    if name == "visits.html.jinja":
        assert "<p>3</p>" in answer.text, "each visit counted"
    if name == "cookie.html.jinja":
        assert "<p>ann</p>" in answer.text
        assert "<p>bob</p>" in client.get(target, headers={"Cookie": "who=bob"}).text


def test_a_tab_on_a_page_answered_again_gets_its_swaps_and_its_reload(
    live: RunningServer, client: httpx.Client
) -> None:
    renders = Renders(live)
    for _ in range(3):
        client.get(live.url("/page?q=x"))
    assert renders.count == 1
    tab = Socket(live, origin=live.base_url)
    assert any(isinstance(e, AcceptConnection) for e in tab.events(AcceptConnection))
    tab.say({"type": "hello", "page": "/page", "scripts": []})
    app = find_layer(live.app, ReloadApp)
    until(lambda: any(c.page == "/page" for c in list(app.clients)), "the hello")
    root = live.config.root
    (root / "app.css").write_text("p { color: blue }")
    update = tab.events(TextMessage)[-1]
    assert isinstance(update, TextMessage)
    assert json.loads(update.data) == {"type": "update", "css": ["/app.css"], "images": []}
    (root / "_partials" / "item.html").write_text("<b>{{ item }}</b>")
    reload = tab.events(TextMessage)[-1]
    assert isinstance(reload, TextMessage) and json.loads(reload.data) == {"type": "reload"}
