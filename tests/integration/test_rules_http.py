"""Rule files applied by a real server: redirects, rewrites, headers, safety, reload on change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer

REDIRECTS = """\
/old            /new.html        301
/temp           /new.html        302
/see            /new.html        303
/keep           /new.html        307
/perm           /new.html        308
/blog/*         /posts/:splat    301
/store id=:id   /items/:id       302
/app/*          /app/index.html  200
/fr/*           /fr/404.html     404
/page.html      /new.html        301
/forced.html    /new.html        301!
/go/*           /:splat          302
/sneak/*        /.env            200
/under/*        /_layouts/x.html 200
/listed/*       /posts/:splat    200
/what ever and more words
"""

HEADERS = """\
/*
  X-Frame-Options: DENY
/new.html
  Cache-Control: public, max-age=60
  X-Robots-Tag: noindex
/posts/*
  ! X-Frame-Options
  ! X-Content-Type-Options
"""


def make_site(root: Path) -> Path:
    (root / "new.html").write_text("<p>new</p>")
    (root / "page.html").write_text("<p>page</p>")
    (root / "forced.html").write_text("<p>forced</p>")
    (root / ".env").write_text("SECRET=1")
    (root / "_layouts").mkdir()
    (root / "_layouts" / "x.html").write_text("layout")
    (root / "app").mkdir()
    (root / "app" / "index.html").write_text("<p>app</p>")
    (root / "fr").mkdir()
    (root / "fr" / "404.html").write_text("<p>introuvable</p>")
    (root / "posts").mkdir()
    (root / "posts" / "a.txt").write_text("post a")
    (root / "_redirects").write_text(REDIRECTS)
    (root / "_headers").write_text(HEADERS)
    return root


@pytest.fixture
def site(tmp_path: Path, serve_site: Callable[..., RunningServer]) -> RunningServer:
    return serve_site(make_site(tmp_path))


def get(site: RunningServer, path: str) -> httpx.Response:
    return httpx.get(site.url(path), follow_redirects=False)


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/old", 301, "/new.html"),
        ("/temp", 302, "/new.html"),
        ("/see", 303, "/new.html"),
        ("/keep", 307, "/new.html"),
        ("/perm", 308, "/new.html"),
        ("/blog/2024/hello", 301, "/posts/2024/hello"),
        ("/store?id=42", 302, "/items/42"),
        ("/forced.html", 301, "/new.html"),
        ("/go//evil.example/x", 302, "/evil.example/x"),  # never //host
    ],
)
def test_redirects(site: RunningServer, path: str, status: int, location: str) -> None:
    response = get(site, path)
    assert response.status_code == status
    assert response.headers["location"] == location
    assert response.headers["x-content-type-options"] == "nosniff"


def test_rewrites_and_not_found_pages(site: RunningServer) -> None:
    app = get(site, "/app/users/1")
    assert (app.status_code, app.text) == (200, "<p>app</p>")
    missing = get(site, "/fr/rien")
    assert (missing.status_code, missing.text) == (404, "<p>introuvable</p>")
    assert get(site, "/listed/a.txt").text == "post a"


def test_a_file_shadows_a_rule_that_is_not_forced(site: RunningServer) -> None:
    assert get(site, "/page.html").text == "<p>page</p>"


@pytest.mark.parametrize("path", ["/sneak/x", "/under/x", "/_redirects", "/_headers"])
def test_rules_never_serve_private_files(site: RunningServer, path: str) -> None:
    response = get(site, path)
    assert response.status_code == 404
    assert "SECRET" not in response.text and response.text != "layout"


def test_headers(site: RunningServer) -> None:
    page = get(site, "/new.html")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "public, max-age=60"
    assert page.headers["x-robots-tag"] == "noindex"
    post = get(site, "/posts/a.txt")
    assert "x-frame-options" not in post.headers
    assert post.headers["x-content-type-options"] == "nosniff"  # cannot be removed


def test_start_line_counts_rules_and_names_lines_not_understood(
    tmp_path: Path, serve_site: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="siteserve.rules"):
        serve_site(make_site(tmp_path))
    messages = [record.getMessage() for record in caplog.records]
    assert "rules: 18 read from _redirects, _headers" in messages
    assert any(m.startswith("rules: not understood: _redirects:16: ") for m in messages)
    assert any(m.startswith("rules: not understood: _headers:8: ") for m in messages)


def test_rules_reload_when_the_file_changes(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    site = serve_site(make_site(tmp_path))
    assert get(site, "/old").headers["location"] == "/new.html"
    (tmp_path / "_redirects").write_text("/old /page.html 302\n")
    site.app.invalidate([tmp_path / "_redirects"])
    response = get(site, "/old")
    assert (response.status_code, response.headers["location"]) == (302, "/page.html")


def test_serve_json(tmp_path: Path, serve_site: Callable[..., RunningServer]) -> None:
    (tmp_path / "about.html").write_text("<p>about</p>")
    (tmp_path / "index.html").write_text("<p>home</p>")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("a")
    (tmp_path / "serve.json").write_text(
        '{"cleanUrls": true, "directoryListing": false,'
        ' "rewrites": [{"source": "/app/**", "destination": "/index.html"}],'
        ' "redirects": [{"source": "/from", "destination": "/about", "type": 307}],'
        ' "headers": [{"source": "**", "headers": [{"key": "X-Served", "value": "1"}]}]}'
    )
    site = serve_site(tmp_path)
    assert get(site, "/serve.json").status_code == 404
    clean = get(site, "/about.html")
    assert (clean.status_code, clean.headers["location"]) == (301, "/about")
    assert get(site, "/about").text == "<p>about</p>"
    assert get(site, "/app/x/y").text == "<p>home</p>"
    assert get(site, "/from").status_code == 307
    assert get(site, "/files/").status_code == 404  # no listing
    assert get(site, "/files/a.txt").headers["x-served"] == "1"
