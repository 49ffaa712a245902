"""A Markdown site through the real server: pages, live reload of listings, warnings in the
tab, our favicon and highlight stylesheet, and CORS preflights that tell the truth."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from wsproto.events import AcceptConnection, TextMessage

from siteserve.reload.app import ReloadApp
from siteserve.site import assets
from siteserve.site.app import PAGE_METHODS
from tests.conftest import RunningServer, find_layer
from tests.integration.test_reload_http import Socket, until

LAYOUT = (
    "<!doctype html><html><head><title>{{ page.title }}</title></head>"
    "<body>{{ content }}</body></html>"
)
INDEX = (
    "<!doctype html><html><head><title>Blog</title></head><body><ul>"
    "{% for p in pages('blog/*.md')|sort(attribute='page.date', reverse=true) %}"
    "<li><a href='{{ p.url }}'>{{ p.page.title }}</a></li>{% endfor %}</ul></body></html>"
)


def post(title: str, date: str, extra: str = "") -> str:
    return f"---\nlayout: post\ntitle: {title}\ndate: {date}\n{extra}---\nAbout {title}.\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    files = {
        "_layouts/post.html": LAYOUT,
        "blog/index.html.jinja": INDEX,
        "blog/one.md": post("One", "2024-01-01"),
        "blog/two.md": post("Two", "2024-02-01"),
        "blog/later.md": post("Later", "2024-03-01", "draft: true\n"),
        "about.html": "<!doctype html><title>about</title><p>about</p>",
        "app.js": "console.log(1)",
    }
    for name, text in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return site


def test_markdown_pages_and_their_index(
    root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    server = serve_site(root)
    with httpx.Client(base_url=server.base_url) as client:
        page = client.get("/blog/one")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-cache"
        assert "<title>One</title>" in page.text and "<p>About One.</p>" in page.text
        assert client.get("/blog/one.html").text == page.text
        assert client.get("/blog/one.md").headers["content-type"].startswith("text/markdown")
        index = client.get("/blog/").text
        assert index.index("/blog/two") < index.index("/blog/one")
        assert "Later" not in index
        assert client.head("/blog/").headers["content-length"] == str(len(index.encode()))


def test_drafts_are_listed_with_drafts_on(
    root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    server = serve_site(root, drafts=True)
    assert "/blog/later" in httpx.get(server.url("/blog/")).text


def test_the_index_tab_reloads_when_a_post_changes_or_is_added(
    root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    server = serve_site(root, reload=True, quiet=True)
    app = find_layer(server.app, ReloadApp)
    httpx.get(server.url("/blog/"))
    httpx.get(server.url("/about"))
    index = Socket(server, origin=server.base_url)
    about = Socket(server, origin=server.base_url)
    for tab, path in ((index, "/blog/"), (about, "/about")):
        assert any(isinstance(e, AcceptConnection) for e in tab.events(AcceptConnection))
        tab.say({"type": "hello", "page": path, "scripts": []})
    until(lambda: len([c for c in list(app.clients) if c.page]) == 2, "both hellos")
    (root / "blog/one.md").write_text(post("One, edited", "2024-01-01"))
    heard = index.events(TextMessage)[-1]
    assert isinstance(heard, TextMessage) and json.loads(heard.data) == {"type": "reload"}
    assert "One, edited" in httpx.get(server.url("/blog/")).text  # not the kept render

    again = Socket(server, origin=server.base_url)
    again.events(AcceptConnection)
    again.say({"type": "hello", "page": "/blog/", "scripts": []})
    until(
        lambda: len([c for c in list(app.clients) if c.page == "/blog/" and not c.reloading]) == 1,
        "hello",
    )
    (root / "blog/three.md").write_text(post("Three", "2024-04-01"))
    heard = again.events(TextMessage)[-1]
    assert isinstance(heard, TextMessage) and json.loads(heard.data) == {"type": "reload"}
    assert "/blog/three" in httpx.get(server.url("/blog/")).text
    # The about page used none of it.
    assert not [c for c in list(app.clients) if c.page == "/about" and c.reloading]


def test_a_tab_is_told_about_undefined_names(
    root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    (root / "v.html.jinja").write_text("<html><head></head><body>v{{ app_version }}</body></html>")
    server = serve_site(root, reload=True, quiet=True)
    assert httpx.get(server.url("/v")).status_code == 200
    tab = Socket(server, origin=server.base_url)
    tab.events(AcceptConnection)
    tab.say({"type": "hello", "page": "/v", "scripts": []})
    heard = tab.events(TextMessage)[-1]
    assert isinstance(heard, TextMessage)
    assert json.loads(heard.data) == {
        "type": "warnings",
        "messages": ["v.html.jinja:1: 'app_version' is undefined (rendered as empty text)"],
    }


# -- our own files where the site has none --------------------------------------------


def test_a_default_favicon_unless_the_site_has_one(
    root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    server = serve_site(root)
    with httpx.Client(base_url=server.base_url) as client:
        icon = client.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/vnd.microsoft.icon"
        assert icon.content == assets.read_bytes("favicon.ico")
        assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
        again = client.get("/favicon.ico", headers={"If-None-Match": icon.headers["etag"]})
        assert again.status_code == 304
        assert client.post("/favicon.ico").status_code == 405
        css = client.get("/__siteserve/highlight.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert ".highlight .k {" in css.text
        (root / "favicon.ico").write_bytes(b"the site's own")
        assert client.get("/favicon.ico").content == b"the site's own"


def test_cors_preflights_list_what_the_target_takes(
    root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    (root / "drop").mkdir()
    server = serve_site(root, cors=True, upload=True)

    def preflight(path: str, method: str) -> list[str]:
        response = httpx.options(
            server.url(path),
            headers={"Origin": "https://elsewhere.test", "Access-Control-Request-Method": method},
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"
        return [m.strip() for m in response.headers["access-control-allow-methods"].split(",")]

    assert preflight("/app.js", "PUT") == ["GET", "HEAD", "OPTIONS"]
    assert preflight("/missing.txt", "GET") == ["GET", "HEAD", "OPTIONS"]
    assert preflight("/blog/one", "POST") == list(PAGE_METHODS)
    assert preflight("/drop/", "POST") == ["GET", "HEAD", "OPTIONS", "POST"]
    # What a preflight lists is what the target then answers (--cors opens reading only:
    # the browser's cross-origin PUT is refused before it gets there).
    assert httpx.put(server.url("/app.js")).status_code == 405
    assert (
        httpx.put(server.url("/app.js"), headers={"Origin": "https://elsewhere.test"}).status_code
        == 403
    )
