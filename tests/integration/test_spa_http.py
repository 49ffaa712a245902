"""The history fallback on a real server: deep links get the entry page, the rest stays 404."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer

HTML = "text/html,application/xhtml+xml,*/*;q=0.8"
ENTRY = b"<!doctype html><title>app</title><div id=app></div>\n"
ADMIN = b"<!doctype html><title>admin</title>\n"


def make_app(root: Path) -> Path:
    (root / "index.html").write_bytes(ENTRY)
    (root / "app.js").write_bytes(b"console.log(1)\n")
    (root / "about.html").write_bytes(b"<p>about</p>\n")
    (root / "admin").mkdir()
    (root / "admin" / "index.html").write_bytes(ADMIN)
    return root


@pytest.fixture
def spa(tmp_path: Path, serve_site: Callable[..., RunningServer]) -> RunningServer:
    return serve_site(make_app(tmp_path), spa=True)


def test_a_deep_link_gets_the_entry_with_its_validators(spa: RunningServer) -> None:
    response = httpx.get(spa.url("/users/42/edit"), headers={"Accept": HTML})
    assert response.status_code == 200
    assert response.content == ENTRY
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]
    again = httpx.get(spa.url("/users/7"), headers={"Accept": HTML, "If-None-Match": etag})
    assert again.status_code == 304


def test_files_and_pages_still_answer_themselves(spa: RunningServer) -> None:
    assert httpx.get(spa.url("/about"), headers={"Accept": HTML}).content == b"<p>about</p>\n"
    assert httpx.get(spa.url("/app.js"), headers={"Accept": HTML}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "accept"),
    [
        ("GET", "/missing.js", HTML),
        ("GET", "/img/x.png", HTML),
        ("GET", "/users/42", "application/json"),
        ("GET", "/users/42", "*/*"),
        ("POST", "/users/42", HTML),
        ("GET", "/__siteserve/nothing", HTML),
        ("GET", "/.git/config", HTML),
    ],
)
def test_what_stays_404(spa: RunningServer, method: str, path: str, accept: str) -> None:
    response = httpx.request(method, spa.url(path), headers={"Accept": accept})
    assert response.status_code in (404, 405)
    assert response.content != ENTRY


def test_head_equals_get_without_the_body(spa: RunningServer) -> None:
    head = httpx.head(spa.url("/users/42"), headers={"Accept": HTML})
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(ENTRY))


def test_entries_by_prefix(tmp_path: Path, serve_site: Callable[..., RunningServer]) -> None:
    root = make_app(tmp_path)
    (root / "siteserve.toml").write_text(
        '[spa]\n"/" = "index.html"\n"/admin/" = "admin/index.html"\n'
    )
    site = serve_site(root)
    assert httpx.get(site.url("/admin/users/1"), headers={"Accept": HTML}).content == ADMIN
    assert httpx.get(site.url("/shop/cart"), headers={"Accept": HTML}).content == ENTRY


def test_a_missing_entry_is_a_404(tmp_path: Path, serve_site: Callable[..., RunningServer]) -> None:
    root = make_app(tmp_path)
    (root / "siteserve.toml").write_text('spa = "nothing.html"\n')
    site = serve_site(root)
    assert httpx.get(site.url("/users"), headers={"Accept": HTML}).status_code == 404


def test_the_entry_gets_the_reload_script(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    site = serve_site(make_app(tmp_path), spa=True, reload=True)
    body = httpx.get(site.url("/users/42"), headers={"Accept": HTML}).content
    assert b'src="/__siteserve/reload.js"' in body
    assert b"<title>app</title><div id=app></div>" in body


def test_off_by_default(tmp_path: Path, serve_site: Callable[..., RunningServer]) -> None:
    site = serve_site(make_app(tmp_path))
    assert httpx.get(site.url("/users/42"), headers={"Accept": HTML}).status_code == 404
