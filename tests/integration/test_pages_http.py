"""Pages over real HTTP: a real server on port 0 and httpx as the client."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from siteserve.layers import innermost
from siteserve.site.app import Site
from siteserve.site.pages import Pages
from tests.conftest import RunningServer
from tests.unit.page_support import write_site

Serve = Callable[..., RunningServer]

LAYOUT = (
    "<!doctype html><title>{% block title %}{% endblock %}</title>"
    "<main>{% block body %}{% endblock %}</main>"
)


def serve(serve_site: Serve, root: Path, files: dict[str, str], **options: Any) -> RunningServer:
    write_site(root, files)
    return serve_site(root, **options)


def test_route_precedence_file_then_template_then_param(tmp_path: Path, serve_site: Serve) -> None:
    server = serve(
        serve_site,
        tmp_path,
        {
            "blog/static.html": "static file",
            "blog/static.html.jinja": "template that loses",
            "blog/named.html.jinja": "named template",
            "blog/[slug].html.jinja": "param {{ params.slug }}",
            "docs/[...path].html.jinja": "rest {{ params.path }}",
        },
    )
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/blog/static").text == "static file"
        assert client.get("/blog/named").text == "named template"
        assert client.get("/blog/other").text == "param other"
        assert client.get("/blog/other.html").text == "param other"
        assert client.get("/docs/a/b/c").text == "rest a/b/c"


def test_query_form_and_cookies_round_trip(tmp_path: Path, serve_site: Serve) -> None:
    page = (
        "{% if request.method == 'POST' %}"
        "{% do response.set_cookie('name', request.form.name) %}posted {{ request.form.name }}"
        "{% else %}hello {{ request.cookies.name or 'stranger' }} q={{ request.args.q }}"
        "{% endif %}"
    )
    server = serve(serve_site, tmp_path, {"form.html.jinja": page})
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/form", params={"q": "<b>"}).text == "hello stranger q=&lt;b&gt;"
        posted = client.post("/form", data={"name": "Zoë & co"})
        assert posted.status_code == 200
        assert posted.text == "posted Zoë &amp; co"
        assert client.get("/form").text == "hello Zoë &amp; co q="


def test_a_session_counter_and_a_multipart_upload(tmp_path: Path, serve_site: Serve) -> None:
    page = (
        "{% if request.method == 'POST' %}{% do session.update(n=session.get('n', 0) + 1) %}"
        "{% endif %}n={{ session.get('n', 0) }}"
        "{% for f in request.files.getlist('doc') %} {{ f.filename }}:{{ f.size }}{% endfor %}"
    )
    server = serve(serve_site, tmp_path, {"count.html.jinja": page})
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/count").text == "n=0"
        assert "set-cookie" not in client.get("/count").headers
        first = client.post("/count", files={"doc": ("notes.txt", b"12345", "text/plain")})
        assert first.text == "n=1 notes.txt:5"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        assert client.post("/count").text == "n=2"
        assert client.get("/count").text == "n=2"
    with httpx.Client(base_url=server.base_url) as stranger:
        assert stranger.get("/count").text == "n=0"


def test_sessions_in_sqlite_survive_a_restart(tmp_path: Path, serve_site: Serve) -> None:
    root = tmp_path / "site"
    files = {"c.html.jinja": "{% do session.update(n=session.get('n', 0) + 1) %}{{ session.n }}"}
    server = serve(serve_site, root, files, sessions=str(tmp_path / "s.db"))
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/c").text == "1"
        cookies = dict(client.cookies)
    server.stop()
    again = serve_site(root, sessions=str(tmp_path / "s.db"))
    with httpx.Client(base_url=again.base_url, cookies=cookies) as client:
        assert client.get("/c").text == "2"


def test_custom_404_and_500_pages(tmp_path: Path, serve_site: Serve) -> None:
    server = serve(
        serve_site,
        tmp_path,
        {
            "404.html.jinja": "not here: {{ request.path }} ({{ error.status }})",
            "500.html.jinja": "our 500",
            "gone.html.jinja": "{% do abort(404) %}",
            "broken.html.jinja": "{% do abort(500) %}",
        },
    )
    with httpx.Client(base_url=server.base_url) as client:
        missing = client.get("/no/such/page")
        assert (missing.status_code, missing.text) == (404, "not here: /no/such/page (404)")
        aborted = client.get("/gone")
        assert (aborted.status_code, aborted.text) == (404, "not here: /gone (404)")
        failed = client.get("/broken")
        assert (failed.status_code, failed.text) == (500, "our 500")


def test_abort_falls_back_to_a_plain_404_html(tmp_path: Path, serve_site: Serve) -> None:
    server = serve(
        serve_site,
        tmp_path,
        {"404.html": "<p>plain 404</p>", "g.html.jinja": "{% do abort(404) %}"},
    )
    with httpx.Client(base_url=server.base_url) as client:
        response = client.get("/g")
        assert (response.status_code, response.text) == (404, "<p>plain 404</p>")


def test_a_template_error_answers_the_error_page(tmp_path: Path, serve_site: Serve) -> None:
    server = serve(
        serve_site,
        tmp_path,
        {
            "_layouts/base.html": LAYOUT,
            "bad.html.jinja": '{% extends "_layouts/base.html" %}\n'
            "{% block body %}\n{{ oops( }}\n{% endblock %}",
        },
    )
    with httpx.Client(base_url=server.base_url) as client:
        response = client.get("/bad")
    assert response.status_code == 500
    assert "bad.html.jinja, line 3" in response.text
    assert "{{ oops( }}" in response.text


def test_data_changes_show_on_the_next_request(tmp_path: Path, serve_site: Serve) -> None:
    files = {
        "_data/menu.toml": '[[item]]\nname = "tea"\n',
        "menu.html.jinja": "{% for i in data.menu.item %}{{ i.name }};{% endfor %}",
    }
    server = serve(serve_site, tmp_path, files)
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/menu").text == "tea;"
        data = tmp_path / "_data/menu.toml"
        data.write_text('[[item]]\nname = "tea"\n[[item]]\nname = "cake"\n')
        assert client.get("/menu").text == "tea;cake;"


def test_render_globs_and_plain_html_untouched_without_them(
    tmp_path: Path, serve_site: Serve
) -> None:
    files = {"raw.html": "{{ 6 * 7 }}"}
    plain = serve(serve_site, tmp_path / "plain", files)
    rendered = serve(serve_site, tmp_path / "rendered", files, render=["*.html"])
    with httpx.Client() as client:
        assert client.get(plain.url("/raw")).text == "{{ 6 * 7 }}"
        assert client.get(rendered.url("/raw")).text == "42"


def test_private_files_and_template_sources_are_unreachable(
    tmp_path: Path, serve_site: Serve
) -> None:
    files = {
        "_layouts/base.html": LAYOUT,
        "_partials/nav.html": "nav",
        "_data/secret.json": "{}",
        "index.html.jinja": "home",
    }
    server = serve(serve_site, tmp_path, files)
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/").text == "home"
        for path in (
            "/_layouts/base.html",
            "/_partials/nav",
            "/_data/secret.json",
            "/index.html.jinja",
            "/_layouts/",
        ):
            assert client.get(path).status_code == 404, path


def test_head_matches_get_without_a_body(tmp_path: Path, serve_site: Serve) -> None:
    server = serve(serve_site, tmp_path, {"p.html.jinja": "hello {{ request.method }}"})
    with httpx.Client(base_url=server.base_url) as client:
        got = client.get("/p")
        head = client.head("/p")
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["cache-control"] == "no-cache"


def test_a_redirect_after_post(tmp_path: Path, serve_site: Serve) -> None:
    files = {
        "save.html.jinja": "{% do session.update(saved=request.form.v) %}"
        "{% do redirect(url('done', v=request.form.v), 303) %}",
        "done.html.jinja": "saved {{ session.saved }} / {{ request.args.v }}",
    }
    server = serve(serve_site, tmp_path, files)
    with httpx.Client(base_url=server.base_url, follow_redirects=True) as client:
        response = client.post("/save", data={"v": "x y"})
        assert response.history[0].status_code == 303
        assert response.history[0].headers["location"] == "/done?v=x+y"
        assert response.text == "saved x y / x y"


def test_a_slow_page_does_not_stop_other_requests(tmp_path: Path, serve_site: Serve) -> None:
    release = threading.Event()
    server = serve(serve_site, tmp_path, {"slow.html.jinja": "{{ wait() }}", "p.html.jinja": "p"})
    site = innermost(server.app)
    assert isinstance(site, Site) and isinstance(site.pages, Pages)
    site.pages.environment.globals["wait"] = lambda: "slow" if release.wait(20) else "late"
    results: list[str] = []

    def fetch_slow() -> None:
        results.append(httpx.get(server.url("/slow"), timeout=30).text)

    slow = threading.Thread(target=fetch_slow)
    slow.start()
    try:
        started = time.monotonic()
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(5):
                assert client.get("/p").text == "p"
        assert time.monotonic() - started < 10
        assert results == []  # the slow page is still rendering
    finally:
        release.set()
        slow.join(30)
    assert results == ["slow"]


def test_an_edited_layout_shows_without_a_restart(tmp_path: Path, serve_site: Serve) -> None:
    files = {"_layouts/base.html": LAYOUT, "p.html.jinja": '{% extends "_layouts/base.html" %}'}
    server = serve(serve_site, tmp_path, files)
    with httpx.Client(base_url=server.base_url) as client:
        assert "<main></main>" in client.get("/p").text
        layout = tmp_path / "_layouts/base.html"
        layout.write_text("<section>{% block body %}{% endblock %}</section>")
        stamp = layout.stat().st_mtime_ns + 2_000_000_000
        os.utime(layout, ns=(stamp, stamp))
        assert client.get("/p").text == "<section></section>"


def test_pages_take_other_methods_and_branch_on_them(tmp_path: Path, serve_site: Serve) -> None:
    page = "{{ request.method }} {{ request.json.id if request.json else '-' }}"
    server = serve(serve_site, tmp_path, {"item.json.jinja": page, "plain.txt": "x"})
    with httpx.Client(base_url=server.base_url) as client:
        assert client.put("/item.json", json={"id": 7}).text == "PUT 7"
        assert client.patch("/item.json", json={"id": 8}).text == "PATCH 8"
        assert client.delete("/item.json").text == "DELETE -"
        trace = client.request("TRACE", "/item.json")
        assert trace.status_code == 405
        assert "TRACE" not in trace.headers["allow"]
        # Plain files stay read-only.
        assert client.put("/plain.txt", content=b"y").status_code == 405
